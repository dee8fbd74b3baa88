//! Issue 7's "done when": a `prometheus.yml` as people write it — scrape configs ringwrite
//! ignores, `global.external_labels`, and a `remote_write` entry with relabeling, basic
//! auth from a password file, TLS with a private CA, `queue_config` and `metadata_config` —
//! passes `ringwrite check` and runs unchanged with `ringwrite run`: the receiver (TLS h2,
//! checking the credentials) gets exactly the relabeled series and every sample.

mod common;

use common::recorder::Recorder;
use common::ringwrite::{start_run, wait_for};
use ringwrite::record::{encode, RefSample};
use ringwrite::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Answers 401 unless the request carries the expected basic credentials.
struct BasicAuth {
    want: String,
    rejected: AtomicU64,
    inner: Arc<Recorder>,
}

impl Handler for BasicAuth {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        let got = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if got != self.want {
            self.rejected.fetch_add(1, Ordering::SeqCst);
            return Some(Reply::status(401));
        }
        self.inner.handle(req)
    }
}

/// base64 of `s` (standard alphabet, padded).
fn base64(s: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_real_prometheus_remote_write_section_runs_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("data/wal");
    // Three metric names; `go_*` is dropped by relabeling, `tmp` is a dropped label.
    let series: Vec<Vec<(String, String)>> = (0..30)
        .map(|i| {
            let name = ["go_goroutines", "http_requests_total", "up"][i % 3];
            vec![
                ("__name__".to_string(), name.to_string()),
                ("instance".to_string(), format!("host-{i}:9100")),
                ("tmp".to_string(), "scratch".to_string()),
            ]
        })
        .collect();
    let mut w = WalWriter::create(&wal, 0, 8 * PAGE_SIZE, Compression::Snappy).unwrap();
    let mut b = Vec::new();
    encode::series(
        &mut b,
        series.iter().enumerate().map(|(i, l)| (i as u64 + 1, l)),
    );
    w.log(&[&b]).unwrap();
    let mut want: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for s in 0..20i64 {
        let batch: Vec<RefSample> = (0..series.len() as u64)
            .map(|i| RefSample {
                sref: i + 1,
                t: 1_000 * s,
                st: 0,
                v: (s + i as i64) as f64,
            })
            .collect();
        for r in &batch {
            let l = &series[(r.sref - 1) as usize];
            if l[0].1.starts_with("go_") {
                continue;
            }
            let key = format!("__name__={},cluster=eu-1,instance={}", l[0].1, l[1].1);
            want.entry(key).or_default().push((r.t, r.v.to_bits()));
        }
        b.clear();
        encode::samples_v1(&mut b, &batch);
        w.log(&[&b]).unwrap();
    }
    w.close().unwrap();

    let rec = Arc::new(Recorder::new(0));
    let auth = Arc::new(BasicAuth {
        want: format!("Basic {}", base64(b"ringwrite:s3cret")),
        rejected: AtomicU64::new(0),
        inner: rec.clone(),
    });
    let sink = Sink::builder(SinkTransport::TlsH2)
        .handler(auth.clone())
        .start()
        .unwrap();
    std::fs::write(tmp.path().join("ca.pem"), sink.ca_pem().unwrap()).unwrap();
    std::fs::write(tmp.path().join("password"), "s3cret\n").unwrap();
    let cfg = tmp.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            r#"# A prometheus.yml as deployed: ringwrite ignores what it has no use for.
global:
  scrape_interval: 15s
  evaluation_interval: 15s
  external_labels:
    cluster: eu-1
rule_files: ["rules/*.yml"]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["alertmanager:9093"]}}]
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ["node:9100"]}}]
remote_write:
  - url: {url}
    name: prod
    remote_timeout: 30s
    basic_auth:
      username: ringwrite
      password_file: password
    tls_config:
      ca_file: ca.pem
    write_relabel_configs:
      - source_labels: [__name__]
        regex: "go_.*"
        action: drop
      - regex: tmp
        action: labeldrop
    queue_config:
      capacity: 2500
      max_shards: 10
      min_shards: 1
      max_samples_per_send: 500
      batch_send_deadline: 100ms
      min_backoff: 30ms
      max_backoff: 5s
      retry_on_http_429: true
    metadata_config:
      send: true
      send_interval: 1m
"#,
            url = sink.url()
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_ringwrite");
    let check = Command::new(bin)
        .args(["check", "--config.file"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success() && out.contains("SUCCESS"), "{out}");
    let (mut rw, _) = start_run(
        &cfg,
        &tmp.path().join("data"),
        &tmp.path().join("state"),
        &tmp.path().join("ringwrite.log"),
    );
    let total: usize = want.values().map(Vec::len).sum();
    wait_for("every kept sample", Duration::from_secs(30), || {
        rec.samples.load(Ordering::SeqCst) as usize >= total
    });
    let (status, clean) = rw.terminate(Duration::from_secs(20));
    assert!(clean && status.success(), "{status:?}");
    let got = rec.snapshot();
    assert_eq!(
        got, want,
        "relabeled series and samples, exactly once, in order"
    );
    assert_eq!(
        auth.rejected.load(Ordering::SeqCst),
        0,
        "credentials were sent"
    );
    let log = std::fs::read_to_string(tmp.path().join("ringwrite.log")).unwrap();
    assert!(!log.contains("s3cret"), "the password leaked into the log");
    sink.shutdown();
}
