//! The two line formats, logfmt (Prometheus's default) and JSON, written by one tracing
//! layer. A line is built in a buffer and written with one `write_all` on a locked stderr,
//! so lines from different threads never interleave.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// `--log.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs (Prometheus's default).
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// A field value, typed so JSON keeps numbers and booleans.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// The message and fields of one event, in the order they were written.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    pub message: String,
    pub pairs: Vec<(&'static str, Value)>,
}

impl Fields {
    pub(crate) fn of(event: &Event<'_>) -> Fields {
        let mut f = Fields::default();
        event.record(&mut f);
        f
    }

    /// The value of field `name`, if the event has it.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.pairs.push((field.name(), Value::Str(text)));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.pairs
                .push((field.name(), Value::Str(value.to_owned())));
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.pairs
            .push((field.name(), Value::Str(value.to_string())));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pairs.push((field.name(), Value::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pairs.push((field.name(), Value::U64(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.pairs.push((field.name(), Value::F64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pairs.push((field.name(), Value::Bool(value)));
    }
}

/// Writes each event as one line.
pub(crate) struct LineLayer {
    format: LogFormat,
}

impl LineLayer {
    pub(crate) fn stderr(format: LogFormat) -> LineLayer {
        LineLayer { format }
    }
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let line = format_line(
            self.format,
            now_secs(),
            &caller(meta.file(), meta.line()),
            *meta.level(),
            &Fields::of(event),
        );
        // Nothing sensible can be done when stderr is gone.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `dir/file.rs:line` relative to the crate's `src/` (Prometheus logs `file.go:line`).
fn caller(file: Option<&str>, line: Option<u32>) -> String {
    let file = file.unwrap_or("?");
    let short = file
        .rsplit_once("src/")
        .map_or(file, |(_, rest)| rest)
        .trim_start_matches('/');
    match line {
        Some(l) => format!("{short}:{l}"),
        None => short.to_owned(),
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// One complete line, newline included.
pub(crate) fn format_line(
    format: LogFormat,
    ts: f64,
    caller: &str,
    level: Level,
    fields: &Fields,
) -> String {
    let ts = rfc3339(ts, true);
    match format {
        LogFormat::Logfmt => {
            let mut out = String::with_capacity(128);
            let _ = write!(out, "ts={ts} caller={caller} level={}", level_name(level));
            out.push_str(" msg=");
            logfmt_value(&mut out, &fields.message);
            for (k, v) in &fields.pairs {
                let _ = write!(out, " {k}=");
                logfmt_value(&mut out, &v.to_string());
            }
            out.push('\n');
            out
        }
        LogFormat::Json => {
            let mut map = serde_json::Map::new();
            map.insert("ts".into(), ts.into());
            map.insert("caller".into(), caller.into());
            map.insert("level".into(), level_name(level).into());
            map.insert("msg".into(), fields.message.clone().into());
            for (k, v) in &fields.pairs {
                let json = match v {
                    Value::Str(s) => s.clone().into(),
                    Value::I64(i) => (*i).into(),
                    Value::U64(u) => (*u).into(),
                    // NaN and infinities have no JSON number: written as strings.
                    Value::F64(f) => serde_json::Number::from_f64(*f)
                        .map_or_else(|| f.to_string().into(), serde_json::Value::Number),
                    Value::Bool(b) => (*b).into(),
                };
                map.insert((*k).to_owned(), json);
            }
            let mut s = serde_json::Value::Object(map).to_string();
            s.push('\n');
            s
        }
    }
}

/// Appends `v` bare when it is a plain token, else double-quoted with `\"`, `\\`, `\n`,
/// `\r`, `\t` escaped (go-logfmt's rules).
pub(crate) fn logfmt_value(out: &mut String, v: &str) {
    let needs_quotes = v.is_empty()
        || v.chars()
            .any(|c| c <= ' ' || c == '=' || c == '"' || c == '\\' || c == '\u{7f}');
    if !needs_quotes {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// RFC 3339 UTC for seconds since the epoch: `2026-11-27T16:30:00Z`, or with
/// milliseconds `2026-11-27T16:30:00.123Z`.
pub fn rfc3339(secs: f64, millis: bool) -> String {
    let total_ms = (secs.max(0.0) * 1000.0) as i64;
    let (days, ms_of_day) = (
        total_ms.div_euclid(86_400_000),
        total_ms.rem_euclid(86_400_000),
    );
    let (y, m, d) = civil_from_days(days);
    let s = ms_of_day / 1000;
    let (hh, mm, ss) = (s / 3600, s / 60 % 60, s % 60);
    if millis {
        format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:03}Z",
            ms_of_day % 1000
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days` algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_table() {
        let table: &[(f64, bool, &str)] = &[
            (0.0, false, "1970-01-01T00:00:00Z"),
            (951_782_400.0, false, "2000-02-29T00:00:00Z"),
            (1_700_000_000.123, true, "2023-11-14T22:13:20.123Z"),
            (4_102_444_799.0, false, "2099-12-31T23:59:59Z"),
            (1_709_164_800.0, false, "2024-02-29T00:00:00Z"),
        ];
        for &(secs, millis, want) in table {
            assert_eq!(rfc3339(secs, millis), want, "{secs}");
        }
    }

    #[test]
    fn logfmt_quoting_table() {
        let table = [
            ("plain", "plain"),
            ("", "\"\""),
            ("two words", "\"two words\""),
            ("a=b", "\"a=b\""),
            ("say \"hi\"\n", "\"say \\\"hi\\\"\\n\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("tab\there", "\"tab\\there\""),
            ("ünïcode", "ünïcode"),
        ];
        for (input, want) in table {
            let mut out = String::new();
            logfmt_value(&mut out, input);
            assert_eq!(out, want, "{input:?}");
        }
    }

    fn fields() -> Fields {
        Fields {
            message: "Failed to send batch; retrying.".into(),
            pairs: vec![
                ("endpoint", Value::Str("mimir eu".into())),
                ("shard", Value::U64(3)),
                ("ratio", Value::F64(0.5)),
                ("ok", Value::Bool(false)),
                ("delta", Value::I64(-2)),
                ("nan", Value::F64(f64::NAN)),
            ],
        }
    }

    #[test]
    fn logfmt_line() {
        let line = format_line(
            LogFormat::Logfmt,
            1_700_000_000.0,
            "http/retry.rs:173",
            Level::WARN,
            &fields(),
        );
        assert_eq!(
            line,
            "ts=2023-11-14T22:13:20.000Z caller=http/retry.rs:173 level=warn \
             msg=\"Failed to send batch; retrying.\" endpoint=\"mimir eu\" shard=3 ratio=0.5 \
             ok=false delta=-2 nan=NaN\n"
        );
    }

    #[test]
    fn json_line_keeps_types() {
        let line = format_line(
            LogFormat::Json,
            1_700_000_000.0,
            "x.rs:1",
            Level::ERROR,
            &fields(),
        );
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "Failed to send batch; retrying.");
        assert_eq!(v["endpoint"], "mimir eu");
        assert_eq!(v["shard"], 3);
        assert_eq!(v["ratio"], 0.5);
        assert_eq!(v["ok"], false);
        assert_eq!(v["delta"], -2);
        assert_eq!(v["nan"], "NaN");
        assert_eq!(v["ts"], "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn caller_is_relative_to_src() {
        assert_eq!(
            caller(Some("src/http/retry.rs"), Some(7)),
            "http/retry.rs:7"
        );
        assert_eq!(
            caller(
                Some("/root/.cargo/registry/src/x/h2-0.4/src/proto.rs"),
                None
            ),
            "proto.rs"
        );
        assert_eq!(caller(None, None), "?");
    }
}
