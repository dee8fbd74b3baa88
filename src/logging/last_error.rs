//! Remembers, per endpoint, the newest warning or error logged with an `endpoint` field, so
//! `/status` can show "last error" without the pipeline keeping one: whatever the code
//! logs about an endpoint (retries, drops, connection failures, a failed reader) is it.

use super::format::{logfmt_value, Fields, Value};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Fields that describe the log line rather than the error.
const SKIPPED: &[&str] = &["endpoint", "suppressed"];

type Table = Mutex<HashMap<String, (String, f64)>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The newest warning or error about `endpoint`: its text (message, then the other fields
/// as `key=value`) and when it was logged (seconds since the epoch).
pub fn last_error(endpoint: &str) -> Option<(String, f64)> {
    let t = table().lock().unwrap_or_else(|p| p.into_inner());
    t.get(endpoint).cloned()
}

/// Forgets an endpoint that left the configuration.
pub fn forget_endpoint(endpoint: &str) {
    let mut t = table().lock().unwrap_or_else(|p| p.into_inner());
    t.remove(endpoint);
}

pub(crate) fn remember(fields: &Fields, now: f64) {
    let Some(Value::Str(endpoint)) = fields.get("endpoint") else {
        return;
    };
    let mut text = fields.message.clone();
    for (k, v) in fields.pairs.iter().filter(|(k, _)| !SKIPPED.contains(k)) {
        text.push(' ');
        text.push_str(k);
        text.push('=');
        logfmt_value(&mut text, &v.to_string());
    }
    let mut t = table().lock().unwrap_or_else(|p| p.into_inner());
    t.insert(endpoint.clone(), (text, now));
}

/// The layer; installed with a WARN filter by [`super::init`].
pub(crate) struct LastErrorLayer;

impl<S: Subscriber> Layer<S> for LastErrorLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        remember(&Fields::of(event), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_per_endpoint_and_forgets() {
        let f = |ep: &str, msg: &str| Fields {
            message: msg.into(),
            pairs: vec![
                ("endpoint", Value::Str(ep.into())),
                ("error", Value::Str("HTTP status 503".into())),
                ("suppressed", Value::U64(4)),
                ("attempt", Value::U64(2)),
            ],
        };
        remember(&f("le-test-a", "first"), 1.0);
        remember(&f("le-test-a", "Failed to send batch; retrying."), 2.0);
        remember(&f("le-test-b", "other"), 3.0);
        // No endpoint field: not remembered anywhere.
        remember(
            &Fields {
                message: "global".into(),
                pairs: vec![],
            },
            4.0,
        );
        assert_eq!(
            last_error("le-test-a"),
            Some((
                "Failed to send batch; retrying. error=\"HTTP status 503\" attempt=2".into(),
                2.0
            ))
        );
        assert_eq!(last_error("le-test-b").map(|e| e.1), Some(3.0));
        forget_endpoint("le-test-a");
        assert_eq!(last_error("le-test-a"), None);
    }
}
