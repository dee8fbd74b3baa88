//! Reloading the configuration of a running `ringwrite run` (SIGHUP and `POST /-/reload`),
//! end to end: the real binary tails a WAL written with the Prometheus-layout writer and
//! ships it to in-process receivers, one per endpoint, which decode every request.
//!
//! Each endpoint sends a header naming the config generation (`X-Gen`), so a receiver shows
//! which config every request was sent with. The test asserts that an unchanged endpoint
//! keeps running untouched (never restarted per `/api/v1/status`, every sample exactly once
//! across all reloads), that changed and added endpoints start with their new config and a
//! removed one stops, that a bad file is refused with its error (HTTP 500, log line,
//! `prometheus_config_last_reload_successful 0`) while shipping continues, and that an
//! external-labels change restarts every endpoint.

mod common;

use common::prom::http_get;
use common::ringwrite::spawn_run;
use common::walgen::{indexed_labels, log_scrape, log_series};
use prost::Message;
use ringwrite::encode::proto::v1;
use ringwrite::record::encode;
use ringwrite::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERIES: u64 = 20;
const T0: i64 = 1_700_000_000_000;

/// One sample as a receiver got it: `X-Gen` header, sorted label text, timestamp.
type Got = (String, String, i64);

#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<Got>>,
}

impl Handler for Recorder {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        let body = match &req.decompressed {
            Some(Ok(b)) => b,
            other => panic!("undecodable body: {other:?}"),
        };
        let gen = req
            .headers
            .get("x-gen")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let r = v1::WriteRequest::decode(&body[..]).expect("RW 1.0 body");
        let mut got = self.got.lock().unwrap();
        for ts in r.timeseries {
            let mut labels: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            labels.sort();
            for s in ts.samples {
                got.push((gen.clone(), labels.join(","), s.timestamp));
            }
        }
        Some(Reply::no_content())
    }
}

struct Receiver {
    rec: Arc<Recorder>,
    sink: Sink,
}

impl Receiver {
    fn start() -> Receiver {
        let rec = Arc::new(Recorder::default());
        let sink = Sink::builder(SinkTransport::Http1)
            .handler(rec.clone())
            .start()
            .unwrap();
        Receiver { rec, sink }
    }

    fn got(&self) -> Vec<Got> {
        self.rec.got.lock().unwrap().clone()
    }

    /// Samples with timestamps in `scrapes` (scrape numbers), per (gen, labels, t).
    fn count_in(&self, scrapes: std::ops::Range<i64>) -> usize {
        self.got()
            .iter()
            .filter(|(_, _, t)| scrapes.contains(&((t - T0) / 1000)))
            .count()
    }
}

/// Appends scrapes `from..to` of every series (one samples record each).
fn write_scrapes(w: &mut WalWriter, from: i64, to: i64) {
    for s in from..to {
        log_scrape(w, SERIES, T0 + s * 1000, |i| (s * 100 + i as i64) as f64);
    }
}

fn endpoint_yaml(name: &str, url: &str, gen: &str) -> String {
    format!(
        "  - name: {name}\n    url: {url}\n    headers: {{X-Gen: '{gen}'}}\n    queue_config: {{max_samples_per_send: 100, batch_send_deadline: 50ms, min_backoff: 10ms, max_backoff: 100ms}}\n"
    )
}

fn request(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).unwrap().parse().unwrap();
    let body = resp.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// `name -> (starts, started_seconds, config_hash)` from `/api/v1/status`.
fn endpoints(port: u16) -> BTreeMap<String, (u64, f64, String)> {
    let (status, body) = http_get(port, "/api/v1/status").unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    v["data"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                (
                    e["starts"].as_u64().unwrap(),
                    e["started_seconds"].as_f64().unwrap(),
                    e["config_hash"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

fn metric(port: u16, series: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics").unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_config(path: &Path, text: &str) {
    // Write then rename, so ringwrite never reads a half-written file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn sighup_and_post_reload_restart_only_what_changed() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    let mut w = WalWriter::create(&wal, 0, 16 * PAGE_SIZE, Compression::Snappy).unwrap();
    log_series(&mut w, &indexed_labels("reload_test", &[], SERIES, 2));
    write_scrapes(&mut w, 0, 10);

    let (a, bb, c, dd) = (
        Receiver::start(),
        Receiver::start(),
        Receiver::start(),
        Receiver::start(),
    );
    let cfg = d.path().join("ringwrite.yml");
    let v1 = format!(
        "remote_write:\n{}{}{}",
        endpoint_yaml("a", &a.sink.url(), "1"),
        endpoint_yaml("b", &bb.sink.url(), "1"),
        endpoint_yaml("c", &c.sink.url(), "1"),
    );
    write_config(&cfg, &v1);
    let log_path = d.path().join("ringwrite.log");
    let (mut child, port) = spawn_run(
        Command::new(env!("CARGO_BIN_EXE_ringwrite"))
            .args(["run", "--config.file"])
            .arg(&cfg)
            .arg("--wal.dir")
            .arg(&wal)
            .arg("--storage.path")
            .arg(d.path().join("state"))
            .args([
                "--web.enable-lifecycle",
                "--cores",
                "0",
                "--from-start",
                "--flush-deadline",
                "10s",
                "--log.format",
                "json",
            ]),
        &log_path,
    );
    let long = Duration::from_secs(30);
    wait_for("/-/ready", long, || {
        http_get(port, "/-/ready").is_ok_and(|(s, _)| s == 200)
    });
    let first = 10 * SERIES as usize;
    wait_for("the first 10 scrapes at a, b and c", long, || {
        [&a, &bb, &c].iter().all(|r| r.count_in(0..10) >= first)
    });
    let before = endpoints(port);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        ["a", "b", "c"],
        "{before:?}"
    );
    assert!(before.values().all(|e| e.0 == 1), "{before:?}");
    assert_eq!(
        metric(port, "prometheus_config_last_reload_successful"),
        Some(1.0)
    );
    let t_start = metric(
        port,
        "prometheus_config_last_reload_success_timestamp_seconds",
    )
    .unwrap();

    // 1. SIGHUP: a unchanged (written differently), b changed, c removed, d added.
    let a_reformatted = format!(
        "  - url: {}\n    queue_config:\n      batch_send_deadline: 50ms\n      max_samples_per_send: 100\n      min_backoff: 10ms\n      max_backoff: 100ms\n      capacity: 10000\n    headers:\n      X-Gen: '1'\n    name: a\n",
        a.sink.url()
    );
    let v2 = format!(
        "# v2\nremote_write:\n{}{}{}",
        endpoint_yaml("b", &bb.sink.url(), "2"),
        a_reformatted,
        endpoint_yaml("d", &dd.sink.url(), "2"),
    );
    write_config(&cfg, &v2);
    std::thread::sleep(Duration::from_millis(1100)); // a visibly newer reload timestamp
    child.signal(libc::SIGHUP);
    wait_for("the SIGHUP reload", long, || {
        endpoints(port).keys().collect::<Vec<_>>() == ["a", "b", "d"]
    });
    let after = endpoints(port);
    assert_eq!(after["a"], before["a"], "a must keep running untouched");
    assert_eq!(after["b"].0, 2, "b restarted: {after:?}");
    assert_ne!(after["b"].2, before["b"].2, "b has a new config hash");
    assert_eq!(after["d"].0, 1, "{after:?}");
    assert_eq!(
        metric(port, "prometheus_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(
        metric(
            port,
            "prometheus_config_last_reload_success_timestamp_seconds"
        )
        .unwrap()
            > t_start
    );
    let (_, m) = http_get(port, "/metrics").unwrap();
    assert!(
        !m.contains("remote_name=\"c\""),
        "c's series must be gone from /metrics"
    );
    assert!(m.contains("remote_name=\"d\""), "d exports its series");
    let c_before = c.got().len();
    write_scrapes(&mut w, 10, 20);
    wait_for("scrapes 10..20 at a, b (gen 2) and d", long, || {
        a.count_in(10..20) >= first
            && bb
                .got()
                .iter()
                .filter(|(g, _, t)| g == "2" && (10..20).contains(&((t - T0) / 1000)))
                .count()
                >= first
            && dd.count_in(10..20) >= first
    });

    // 2. A bad file over POST /-/reload: refused with its error, nothing restarts, and
    // shipping goes on with the running config.
    let bad = v2.replace(
        "batch_send_deadline: 50ms,",
        "max_shard: 5, batch_send_deadline: 50ms,",
    );
    assert_ne!(bad, v2);
    write_config(&cfg, &bad);
    let (status, body) = request(port, "POST", "/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with("failed to reload config: ") && body.contains("max_shard"),
        "{body}"
    );
    assert!(body.contains("line "), "the error has a location: {body}");
    assert_eq!(
        metric(port, "prometheus_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(endpoints(port), after, "nothing restarted");
    // Valid YAML that cannot run (a password file that does not exist): refused before anything
    // is stopped.
    let missing_password = d.path().join("no-such-password");
    let unrunnable = v2.replace(
        "    headers: {X-Gen: '2'}\n",
        &format!(
            "    headers: {{X-Gen: '3'}}\n    basic_auth: {{username: u, password_file: {}}}\n",
            missing_password.display()
        ),
    );
    assert_ne!(unrunnable, v2);
    write_config(&cfg, &unrunnable);
    let (status, body) = request(port, "POST", "/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("no-such-password"), "{body}");
    assert_eq!(endpoints(port), after, "nothing restarted");
    write_scrapes(&mut w, 20, 30);
    wait_for(
        "scrapes 20..30 at a, b and d after the bad reload",
        long,
        || {
            a.count_in(20..30) >= first
                && bb.count_in(20..30) >= first
                && dd.count_in(20..30) >= first
        },
    );

    // 3. External labels change: every endpoint restarts and sends them.
    write_config(
        &cfg,
        &format!("global:\n  external_labels: {{dc: two}}\n{v2}"),
    );
    let (status, body) = request(port, "POST", "/-/reload");
    assert_eq!((status, body.as_str()), (200, ""));
    let restarted = endpoints(port);
    assert_eq!(
        restarted
            .iter()
            .map(|(k, v)| (k.as_str(), v.0))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 3), ("d", 2)]
    );
    assert_eq!(
        metric(port, "prometheus_config_last_reload_successful"),
        Some(1.0)
    );
    write_scrapes(&mut w, 30, 40);
    wait_for("scrapes 30..40 with dc=two at a, b and d", long, || {
        [&a, &bb, &dd].iter().all(|r| {
            r.got()
                .iter()
                .filter(|(_, l, t)| l.contains(",dc=two,") && (30..40).contains(&((t - T0) / 1000)))
                .count()
                >= first
        })
    });
    // c was stopped at the first reload: nothing reached it since.
    assert_eq!(c.got().len(), c_before, "c received samples after removal");

    // a was never restarted before step 3: every sample of scrapes 0..30 arrived exactly once
    // from its first pipeline (the one without the external label).
    let got_a: Vec<Got> = a
        .got()
        .into_iter()
        .filter(|(_, l, t)| (t - T0) / 1000 < 30 && !l.contains("dc=two"))
        .collect();
    let unique: BTreeSet<&Got> = got_a.iter().collect();
    assert_eq!(unique.len(), got_a.len(), "a got duplicates");
    assert_eq!(got_a.len(), 30 * SERIES as usize);
    assert!(got_a.iter().all(|(g, _, _)| g == "1"));

    // Progress is saved every few seconds: the status shows a's saved position.
    wait_for("a saved position in /api/v1/status", long, || {
        let (_, body) = http_get(port, "/api/v1/status").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["endpoints"][0]["saved_position"]
            .as_str()
            .is_some_and(|p| p.starts_with("0000000"))
    });
    let (exit, clean) = child.terminate(Duration::from_secs(20));
    assert!(clean && exit.success(), "exit {exit:?}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let json: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let with_msg = |m: &'static str| json.iter().filter(move |v| v["msg"] == m);
    assert_eq!(
        with_msg("Completed loading of configuration file.").count(),
        2,
        "two successful reloads logged"
    );
    let failed: Vec<_> =
        with_msg("Error reloading config; the running configuration stays.").collect();
    assert_eq!(failed.len(), 2);
    assert!(failed[0]["error"].as_str().unwrap().contains("max_shard"));
    // Every endpoint state change names its endpoint.
    for m in ["Endpoint started.", "Stopping endpoint (reload)."] {
        assert!(with_msg(m).count() > 0, "no {m:?} line");
        assert!(
            with_msg(m).all(|v| v["endpoint"].is_string()),
            "{m:?} without an endpoint field"
        );
    }
}

#[test]
fn not_ready_while_shutting_down() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    let mut w = WalWriter::create(&wal, 0, 16 * PAGE_SIZE, Compression::Snappy).unwrap();
    let labels = vec![("__name__".to_string(), "x".to_string())];
    let mut b = Vec::new();
    encode::series(&mut b, [(1u64, &labels)]);
    w.log(&[&b]).unwrap();
    write_scrapes(&mut w, 0, 5);
    // A receiver that never answers: the shutdown flush waits for the whole deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // A second endpoint whose connections are refused, so errors get logged; both carry
    // secrets that must never show in /status, /api/v1/status, /metrics or the log.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = d.path().join("ringwrite.yml");
    write_config(
        &cfg,
        &format!(
            "remote_write:\n  - url: http://user:pw-s3cr3t@{}/push\n    remote_timeout: 30s\n    headers: {{X-Api-Key: hdr-s3cr3t}}\n  - url: http://{refused}/push\n    name: refused\n    authorization: {{credentials: tok-s3cr3t}}\n    queue_config: {{min_backoff: 10ms, max_backoff: 50ms}}\n",
            silent.local_addr().unwrap()
        ),
    );
    let log_path = d.path().join("ringwrite.log");
    let (mut child, port) = spawn_run(
        Command::new(env!("CARGO_BIN_EXE_ringwrite"))
            .args(["run", "--config.file"])
            .arg(&cfg)
            .arg("--wal.dir")
            .arg(&wal)
            .arg("--storage.path")
            .arg(d.path().join("state"))
            .args([
                "--web.enable-lifecycle",
                "--cores",
                "0",
                "--from-start",
                "--flush-deadline",
                "3s",
            ]),
        &log_path,
    );
    wait_for("/-/ready", Duration::from_secs(30), || {
        http_get(port, "/-/ready").is_ok_and(|(s, _)| s == 200)
    });
    wait_for(
        "a last error for the refused endpoint",
        Duration::from_secs(30),
        || {
            let (_, body) = http_get(port, "/api/v1/status").unwrap();
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            v["data"]["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["name"] == "refused" && e["last_error"]["message"].is_string())
        },
    );
    let (status, page) = http_get(port, "/status").unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("<td>n/a</td>") && page.contains("/push"),
        "{page}"
    );
    assert!(page.contains("http://user:xxxxx@"), "redacted URL: {page}");
    assert!(page.contains("<h2>Cores</h2>\n<table>\n<tr><th>Core</th><th>I/O driver</th><th>Busy</th></tr>\n<tr><td>0</td>"), "{page}");
    let (_, json) = http_get(port, "/api/v1/status").unwrap();
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    for (what, text) in [
        ("/status", &page),
        ("/api/v1/status", &json),
        ("/metrics", &metrics),
    ] {
        assert!(!text.contains("s3cr3t"), "a secret in {what}:\n{text}");
    }
    // The container HEALTHCHECK probe against the live server.
    let probe = |path: &str| {
        Command::new(env!("CARGO_BIN_EXE_ringwrite"))
            .args([
                "healthcheck",
                "--url",
                &format!("http://127.0.0.1:{port}{path}"),
            ])
            .output()
            .unwrap()
    };
    let ok = probe("/-/healthy");
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "200 ringwrite is Healthy.\n"
    );
    // POST /-/quit (--web.enable-lifecycle) stops like SIGTERM: flush, then exit.
    assert_eq!(
        request(port, "POST", "/-/quit"),
        (200, "Requesting termination... Goodbye!".to_string())
    );
    wait_for(
        "503 from /-/ready during the flush",
        Duration::from_secs(3),
        || http_get(port, "/-/ready").is_ok_and(|(s, _)| s == 503),
    );
    assert!(
        http_get(port, "/-/healthy").is_ok_and(|(s, _)| s == 200),
        "still healthy while flushing"
    );
    let not_ready = probe("/-/ready");
    assert_eq!(not_ready.status.code(), Some(1), "{not_ready:?}");
    assert!(String::from_utf8_lossy(&not_ready.stderr).contains("answered 503"));
    let start = Instant::now();
    while child.is_running() {
        assert!(start.elapsed() < Duration::from_secs(20), "did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(silent);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("endpoint=refused"), "{log}");
    assert!(!log.contains("s3cr3t"), "a secret in the log:\n{log}");
}
