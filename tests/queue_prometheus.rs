//! Prometheus's queue-manager tests that are about stopping, ported by name to the real
//! pipeline (storage/remote/queue_manager_test.go):
//! * TestQueueFilledDeadlock: a stop while the reader is blocked on a full queue (the
//!   receiver is stuck) returns promptly instead of waiting for the queue to drain;
//! * TestReshardRaceWithStop: reshards back to back while a stop comes in: the stop
//!   returns, nothing is sent twice, and what was acknowledged is what arrived.

mod common;

use common::recorder::{compare, Accepted, Recorder};
use common::walgen::{indexed_labels, log_scrape, log_series};
use ringwrite::config::Config;
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::progress::ProgressStore;
use ringwrite::runtime::Cores;
use ringwrite::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Delays every request, then records it.
struct Slow(Arc<Recorder>, Duration);

impl Handler for Slow {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        std::thread::sleep(self.1);
        self.0.handle(req)
    }
}

fn write_wal(dir: &Path, series: u64, scrapes: i64) -> Accepted {
    let mut w = WalWriter::create(dir, 0, 64 * PAGE_SIZE, Compression::Snappy).unwrap();
    log_series(&mut w, &indexed_labels("q", &[], series, 4));
    let mut want = Accepted::new();
    for s in 0..scrapes {
        let batch = log_scrape(&mut w, series, 1_000 * s, |_| s as f64);
        for r in &batch {
            want.entry(format!("__name__=q,i={:04}", r.sref - 1))
                .or_default()
                .push((r.t, r.v.to_bits()));
        }
    }
    w.close().unwrap();
    want
}

fn spec(url: &str, wal: &Path, queue: &str) -> PipelineSpec {
    let yaml = format!("remote_write:\n  - url: {url}\n    name: q\n    queue_config: {queue}\n");
    let cfg = Config::from_yaml(&yaml, "q.yml", None).unwrap();
    PipelineSpec {
        flush_deadline: Duration::from_millis(500),
        fixed_shards: Some(2),
        shard_update_interval: Duration::from_millis(30),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), wal.to_path_buf())
    }
}

#[test]
fn test_queue_filled_deadlock() {
    let d = tempfile::tempdir().unwrap();
    let want = write_wal(&d.path().join("wal"), 500, 40);
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(Arc::new(Slow(rec.clone(), Duration::from_millis(300))))
        .start()
        .unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let mut s = spec(
        &sink.url(),
        &d.path().join("wal"),
        "{capacity: 100, max_samples_per_send: 64, batch_send_deadline: 5s}",
    );
    let store = ProgressStore::open(&d.path().join("state")).unwrap();
    s.progress = Some(store.clone());
    let p = Pipeline::start(s, Arc::clone(&cores)).unwrap();
    // The queues fill and the reader blocks on them.
    let stats = Arc::clone(&p.stats);
    common::ringwrite::wait_for("a request in flight", Duration::from_secs(10), || {
        rec.requests.load(Ordering::SeqCst) > 0
    });
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    p.stop().unwrap();
    let took = start.elapsed();
    let total: u64 = want.values().map(|v| v.len() as u64).sum();
    let sent = rec.samples.load(Ordering::SeqCst);
    eprintln!("stop took {took:?}; {sent} of {total} samples arrived before it");
    // Flush deadline 0.5 s plus one blocked send (0.1 s) and one request in flight.
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    assert!(sent < total, "the receiver was not the bottleneck");
    // Saved progress never claims what did not arrive.
    let delivered = compare(&want, &rec.snapshot());
    assert_eq!(delivered.unexpected, 0);
    if let Some(saved) = store.load(&ProgressStore::key(Some("q"), "")).unwrap() {
        assert!(Some(saved.position) <= stats.acked_position());
    }
    sink.shutdown();
}

#[test]
fn test_reshard_race_with_stop() {
    let d = tempfile::tempdir().unwrap();
    let want = write_wal(&d.path().join("wal"), 300, 30);
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(Arc::new(Slow(rec.clone(), Duration::from_millis(2))))
        .start()
        .unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    for round in 0..5u64 {
        let mut s = spec(
            &sink.url(),
            &d.path().join("wal"),
            "{capacity: 500, max_samples_per_send: 100, batch_send_deadline: 10ms}",
        );
        s.flush_deadline = Duration::from_secs(10);
        s.reshard_plan = (0..200).map(|i| 1 + (i % 4)).collect();
        let p = Pipeline::start(s, Arc::clone(&cores)).unwrap();
        std::thread::sleep(Duration::from_millis(50 + 37 * round));
        let start = Instant::now();
        let stats = Arc::clone(&p.stats);
        p.stop().unwrap();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(stats.reshards.load(Ordering::SeqCst) > 0 || round == 0);
    }
    // Five starts from the start: every sample arrives five times at most, never more,
    // and each start delivered in order.
    let got = rec.snapshot();
    for (k, w) in &want {
        let g = got.get(k).map(Vec::len).unwrap_or(0);
        assert!(
            g <= 5 * w.len(),
            "series {k}: {g} arrivals for {} samples",
            w.len()
        );
    }
    assert_eq!(compare(&want, &got).unexpected, 0);
    sink.shutdown();
}
