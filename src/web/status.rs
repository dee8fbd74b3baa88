//! `/status` (a small HTML page) and `/api/v1/status` (the same as JSON): per endpoint its
//! redacted URL, protocol, shards, lag, pending samples, last error and saved WAL position.
//!
//! The data is a plain [`StatusReport`] built by whoever implements
//! [`Control::status`](super::Control::status); this module only renders it. Nothing here
//! can show a secret unless the report carries one: URLs arrive redacted, and headers,
//! credentials and TLS keys are not part of the report at all.

use serde::Serialize;
use std::fmt::Write;

/// Everything `/status` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusReport {
    pub version: String,
    pub revision: String,
    /// Process start, seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// What `/-/ready` answers.
    pub ready: bool,
    pub config_file: String,
    pub wal_dir: String,
    pub last_reload_successful: bool,
    pub last_reload_success_timestamp_seconds: f64,
    pub endpoints: Vec<EndpointStatus>,
    pub cores: Vec<CoreStatus>,
}

/// One pinned core's event loop.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CoreStatus {
    pub core: usize,
    /// `io_uring` or `epoll`.
    pub driver: String,
    /// Share of the last second the loop spent running tasks (0..1).
    pub busy_ratio: f64,
}

/// One `remote_write` endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EndpointStatus {
    pub name: String,
    /// With any password replaced by `xxxxx`.
    pub url: String,
    /// `protocol:` (auto, h2, h2c, http1).
    pub protocol: String,
    pub protobuf_message: String,
    /// First 6 hex digits of the config hash (changes when a reload restarts the endpoint).
    pub config_hash: String,
    /// When the endpoint (re)started, seconds since the Unix epoch.
    pub started_seconds: f64,
    /// Starts of an endpoint of this name in this process (1: never restarted by a reload).
    pub starts: u64,
    pub shards: u64,
    pub shards_min: usize,
    pub shards_max: usize,
    pub shards_desired: Option<f64>,
    /// Newest timestamp read from the WAL minus newest timestamp sent, in seconds (what
    /// the `PrometheusRemoteWriteBehind` alert computes); `None` before the first send.
    pub lag_seconds: Option<f64>,
    /// Samples queued or in flight.
    pub pending: i64,
    pub samples_in: u64,
    pub samples_acked: u64,
    pub samples_failed: u64,
    pub retries: u64,
    /// The WAL segment being read.
    pub current_segment: Option<u64>,
    /// Where this endpoint resumes after a restart, `SEGMENT:OFFSET`; `None` when no
    /// position is kept.
    pub saved_position: Option<String>,
    pub last_error: Option<LastError>,
}

/// The newest warning or error logged for an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LastError {
    pub message: String,
    /// Seconds since the Unix epoch.
    pub timestamp_seconds: f64,
}

/// `/api/v1/status`: Prometheus's API envelope, `{"status":"success","data":{...}}`.
pub fn render_json(report: &StatusReport) -> String {
    #[derive(Serialize)]
    struct Envelope<'a> {
        status: &'static str,
        data: &'a StatusReport,
    }
    serde_json::to_string(&Envelope {
        status: "success",
        data: report,
    })
    // Plain structs of strings and numbers serialize; NaN/inf floats become null.
    .unwrap_or_else(|e| format!("{{\"status\":\"error\",\"error\":{:?}}}", e.to_string()))
}

/// `/status`: one table, no scripts, no external resources.
pub fn render_html(r: &StatusReport) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ringwrite status</title>\n\
         <style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
         .err{color:#a00}</style></head><body>\n<h1>ringwrite</h1>\n<table>\n",
    );
    let rows: [(&str, String); 7] = [
        ("Version", format!("{} ({})", r.version, r.revision)),
        ("Started", format_unix(r.start_time_seconds)),
        ("Ready", yes_no(r.ready).to_string()),
        ("Configuration file", r.config_file.clone()),
        ("WAL directory", r.wal_dir.clone()),
        (
            "Last reload",
            if r.last_reload_successful {
                "successful".to_string()
            } else {
                "FAILED (the previous configuration is running)".to_string()
            },
        ),
        (
            "Last successful reload",
            format_unix(r.last_reload_success_timestamp_seconds),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", k, escape(&v));
    }
    out.push_str("</table>\n<h2>Endpoints</h2>\n<table>\n<tr>");
    for h in [
        "Name",
        "URL",
        "Protocol",
        "Shards (min/desired/max)",
        "Lag",
        "Pending",
        "Samples in / acked / failed",
        "Retries",
        "Segment",
        "Saved position",
        "Started",
        "Last error",
    ] {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr>\n");
    for e in &r.endpoints {
        let desired = e
            .shards_desired
            .map_or_else(|| "-".to_string(), |d| format!("{d:.1}"));
        let cells = [
            format!("{} (config {})", e.name, e.config_hash),
            e.url.clone(),
            format!("{}, {}", e.protocol, e.protobuf_message),
            format!(
                "{} ({}/{}/{})",
                e.shards, e.shards_min, desired, e.shards_max
            ),
            e.lag_seconds
                .map_or_else(|| "n/a".to_string(), |l| format!("{l:.1}s")),
            e.pending.to_string(),
            format!(
                "{} / {} / {}",
                e.samples_in, e.samples_acked, e.samples_failed
            ),
            e.retries.to_string(),
            e.current_segment
                .map_or_else(|| "n/a".to_string(), |s| s.to_string()),
            e.saved_position
                .clone()
                .unwrap_or_else(|| "n/a".to_string()),
            format!("{} (start #{})", format_unix(e.started_seconds), e.starts),
        ];
        out.push_str("<tr>");
        for c in cells {
            let _ = write!(out, "<td>{}</td>", escape(&c));
        }
        match &e.last_error {
            Some(le) => {
                let _ = write!(
                    out,
                    "<td class=\"err\">{}: {}</td>",
                    escape(&format_unix(le.timestamp_seconds)),
                    escape(&le.message)
                );
            }
            None => out.push_str("<td>none</td>"),
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n<h2>Cores</h2>\n<table>\n<tr><th>Core</th><th>I/O driver</th><th>Busy</th></tr>\n");
    for c in &r.cores {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.0}%</td></tr>",
            c.core,
            escape(&c.driver),
            c.busy_ratio * 100.0
        );
    }
    out.push_str("</table>\n<p><a href=\"/api/v1/status\">JSON</a> &middot; <a href=\"/metrics\">metrics</a></p>\n</body></html>\n");
    out
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// HTML text and attribute escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2026-11-27T16:30:00Z` for seconds since the epoch; `never` for 0.
fn format_unix(secs: f64) -> String {
    if secs <= 0.0 || !secs.is_finite() {
        return "never".to_string();
    }
    crate::logging::rfc3339(secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            revision: "abc".into(),
            start_time_seconds: 1_700_000_000.0,
            ready: true,
            config_file: "/etc/ringwrite/<x>.yml".into(),
            wal_dir: "/prometheus/wal".into(),
            last_reload_successful: false,
            last_reload_success_timestamp_seconds: 1_700_000_100.0,
            endpoints: vec![EndpointStatus {
                name: "mimir".into(),
                url: "https://u:xxxxx@mimir/api/v1/push".into(),
                protocol: "auto".into(),
                protobuf_message: "prometheus.WriteRequest".into(),
                config_hash: "a1b2c3".into(),
                shards: 3,
                shards_min: 1,
                shards_max: 50,
                shards_desired: Some(2.5),
                lag_seconds: None,
                last_error: Some(LastError {
                    message: "HTTP status 503 <b>".into(),
                    timestamp_seconds: 1_700_000_200.0,
                }),
                ..EndpointStatus::default()
            }],
            cores: vec![CoreStatus {
                core: 2,
                driver: "epoll".into(),
                busy_ratio: 0.25,
            }],
        }
    }

    #[test]
    fn html_escapes_and_shows_every_endpoint_field() {
        let html = render_html(&report());
        for want in [
            "/etc/ringwrite/&lt;x&gt;.yml",
            "https://u:xxxxx@mimir/api/v1/push",
            "3 (1/2.5/50)",
            "HTTP status 503 &lt;b&gt;",
            "FAILED",
            "2023-11-14T22:13:20Z",
            "<td>n/a</td>",
            "<tr><td>2</td><td>epoll</td><td>25%</td></tr>",
        ] {
            assert!(html.contains(want), "missing {want:?} in\n{html}");
        }
        assert!(!html.contains("<b>"), "unescaped error text");
    }

    #[test]
    fn json_is_prometheus_api_envelope_with_nulls_for_unknowns() {
        let json = render_json(&report());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["status"], "success");
        let e = &v["data"]["endpoints"][0];
        assert_eq!(e["name"], "mimir");
        assert_eq!(e["shards_desired"], 2.5);
        assert!(e["lag_seconds"].is_null());
        assert!(e["saved_position"].is_null());
        assert_eq!(e["last_error"]["message"], "HTTP status 503 <b>");
        assert_eq!(v["data"]["last_reload_successful"], false);
        assert_eq!(v["data"]["cores"][0]["driver"], "epoll");
    }

    #[test]
    fn escape_table() {
        let table = [
            ("plain", "plain"),
            ("a<b>&\"'", "a&lt;b&gt;&amp;&quot;&#39;"),
            ("", ""),
        ];
        for (input, want) in table {
            assert_eq!(escape(input), want, "{input}");
        }
    }
}
