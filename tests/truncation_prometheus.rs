//! Lose nothing when Prometheus truncates its WAL under a receiver outage (issue 5), with
//! real Prometheus 2.42: one-minute blocks so head compaction writes a checkpoint and
//! deletes segments during the test, and restarts (one of them SIGKILL: torn tail,
//! repair, new segment) while `ringwrite run` tails. The receiver answers 503 until the
//! truncation has happened; then every sample Prometheus ingested (`promtool tsdb dump`
//! of its blocks and head afterwards) must arrive, none lost, none invented.

mod common;

use common::dump::{self, SeriesTable, ValueKey};
use common::prom::{copy_dir, http_get, require_tool, run_streaming, Prometheus, Targets};
use common::recorder::Recorder;
use common::ringwrite::start_run;
use ringwrite::sink::{Sink, SinkTransport};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SHARDS: usize = 2;
const SERIES_PER_SHARD: usize = 2000;

fn write_config(path: &Path, port: u16) {
    let mut cfg =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for shard in 0..SHARDS {
        cfg.push_str(&format!(
            "  - job_name: big{shard}\n    metrics_path: /metrics/big\n    \
             params: {{shard: ['{shard}'], series: ['{SERIES_PER_SHARD}']}}\n    \
             static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        ));
    }
    std::fs::write(path, cfg).unwrap();
}

fn segments(wal: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(wal)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

fn has_checkpoint(wal: &Path) -> bool {
    std::fs::read_dir(wal).unwrap().any(|e| {
        let n = e.unwrap().file_name();
        let n = n.to_string_lossy();
        n.starts_with("checkpoint.") && !n.ends_with(".tmp")
    })
}

/// `name value` of a metric line in ringwrite's /metrics whose series text starts with
/// `prefix`.
fn metric(port: u16, prefix: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics").ok()?;
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

type Key = (String, i64, ValueKey);

#[test]
fn receiver_down_while_prometheus_truncates_loses_nothing() {
    let started = Instant::now();
    let promtool = require_tool("PROMTOOL", "promtool");
    let targets = Targets::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("prometheus.yml");
    let data = tmp.path().join("data");
    write_config(&config, targets.main_port);
    let blocks = [
        "--storage.tsdb.min-block-duration=1m",
        "--storage.tsdb.max-block-duration=1m",
        "--storage.tsdb.wal-segment-size=10MB",
    ];
    let mut prom = Prometheus::start(&config, &data, &blocks);
    let wal = data.join("wal");

    let rec = Arc::new(Recorder::new(0));
    rec.down.store(true, Ordering::SeqCst);
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    let rw_cfg = tmp.path().join("ringwrite.yml");
    std::fs::write(
        &rw_cfg,
        format!(
            "remote_write:\n- url: {}\n  name: trunc\n  queue_config: {{batch_send_deadline: 200ms, max_backoff: 500ms}}\n",
            sink.url()
        ),
    )
    .unwrap();
    let (mut rw, web) = start_run(
        &rw_cfg,
        &wal,
        &tmp.path().join("state"),
        &tmp.path().join("ringwrite.log"),
    );
    // Restarts make segments (and one SIGKILL a torn tail) while ringwrite tails.
    for (i, kill) in [(1, false), (2, true), (3, false)] {
        std::thread::sleep(Duration::from_secs(20));
        if kill {
            // SIGKILL: no clean close; the next start repairs what is torn.
            prom = {
                drop(prom);
                Prometheus::start(&config, &data, &blocks)
            };
        } else {
            prom.stop();
            prom = Prometheus::start(&config, &data, &blocks);
        }
        eprintln!(
            "restart {i} at {:?}: segments {:?}",
            started.elapsed(),
            segments(&wal)
        );
    }
    // Head compaction: a checkpoint, and segments before it deleted.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut held_max = 0.0f64;
    while !(has_checkpoint(&wal) && segments(&wal).first().is_some_and(|&f| f > 0)) {
        assert!(
            Instant::now() < deadline,
            "no truncation after 300 s: {:?}\n{}",
            segments(&wal),
            prom.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    held_max = held_max.max(metric(web, "ringwrite_spool_held_bytes").unwrap_or(0.0));
    eprintln!(
        "truncated at {:?}: segments {:?}; spool holds {held_max} bytes; accepted so far {}",
        started.elapsed(),
        segments(&wal),
        rec.samples.load(Ordering::SeqCst)
    );
    assert_eq!(
        rec.samples.load(Ordering::SeqCst),
        0,
        "the receiver was down"
    );
    assert!(
        held_max > 0.0,
        "the spool held nothing after the truncation"
    );
    // The receiver comes back.
    rec.down.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(5));
    prom.stop();
    // Everything Prometheus ingested, from its blocks and head.
    let copy = tmp.path().join("dump-copy");
    copy_dir(&data, &copy).unwrap();
    let mut table = SeriesTable::default();
    let d = run_streaming(
        "promtool tsdb dump",
        Command::new(&promtool).args(["tsdb", "dump"]).arg(&copy),
        |r| dump::parse_promtool(r, &mut table),
    )
    .unwrap();
    let key_of = |id: u32| {
        table
            .labels(id)
            .iter()
            .map(|(n, v)| format!("{n}={}", String::from_utf8_lossy(v)))
            .collect::<Vec<_>>()
            .join(",")
    };
    let want: HashSet<Key> = d
        .floats
        .iter()
        .map(|s| (key_of(s.series), s.t, s.v))
        .collect();
    assert!(want.len() > 100_000, "only {} samples ingested", want.len());
    let got_set = || -> HashSet<Key> {
        rec.snapshot()
            .into_iter()
            .flat_map(|(k, v)| {
                v.into_iter()
                    .map(move |(t, b)| (k.clone(), t, ValueKey::from_f64(f64::from_bits(b))))
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = got_set();
    while want.difference(&got).next().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        got = got_set();
    }
    let lost_truncated = metric(
        web,
        "ringwrite_wal_segments_lost_total{reason=\"truncated\",remote_name=\"trunc\"}",
    );
    let lost_full = metric(
        web,
        "ringwrite_wal_segments_lost_total{reason=\"spool_full\",remote_name=\"trunc\"}",
    );
    let (status, clean) = rw.terminate(Duration::from_secs(30));
    let missing: BTreeSet<_> = want.difference(&got).take(5).cloned().collect();
    let n_missing = want.difference(&got).count();
    let unexpected: BTreeSet<_> = got.difference(&want).take(5).cloned().collect();
    eprintln!(
        "{} samples ingested by Prometheus, {} distinct received ({} accepted in all); \
         missing {n_missing}, unexpected {}; took {:?}",
        want.len(),
        got.len(),
        rec.samples.load(Ordering::SeqCst),
        got.difference(&want).count(),
        started.elapsed()
    );
    let log = std::fs::read_to_string(tmp.path().join("ringwrite.log")).unwrap_or_default();
    assert_eq!(n_missing, 0, "missing e.g. {missing:?}\n{log}");
    assert!(unexpected.is_empty(), "never written: {unexpected:?}");
    assert_eq!(lost_truncated, Some(0.0));
    assert_eq!(lost_full, Some(0.0));
    assert!(clean && status.success(), "ringwrite exit {status:?}");
    sink.shutdown();
}
