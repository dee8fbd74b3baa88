//! The whole pipeline (WAL reader -> series cache -> shards on pinned core loops -> HTTP)
//! against the in-process receiver, which decodes every request with the reference protos:
//! every sample arrives exactly once, and per series in WAL order, across forced reshards
//! and scripted 503s / 429s with Retry-After (Prometheus's TestSampleDeliveryOrder,
//! TestReshard and TestReshardPartialBatch, end to end).

mod common;

use common::recorder::Recorder;
use common::walgen::{indexed_labels, log_scrape, log_series};
use ringwrite::config::Config;
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::runtime::Cores;
use ringwrite::sink::{Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERIES: u64 = 300;
const SCRAPES: i64 = 40;
const T0: i64 = 1_700_000_000_000;

/// A WAL of `SERIES` series x `SCRAPES` scrapes; returns what every series should get.
fn write_wal(dir: &Path) -> BTreeMap<String, Vec<(i64, u64)>> {
    let mut w = WalWriter::create(dir, 0, 8 * PAGE_SIZE, Compression::Snappy).unwrap();
    let mut want = BTreeMap::new();
    log_series(
        &mut w,
        &indexed_labels("order_test", &[("cluster", "c1")], SERIES, 4),
    );
    for s in 0..SCRAPES {
        let batch = log_scrape(&mut w, SERIES, T0 + s * 1000, |i| {
            (s * 1000 + i as i64) as f64
        });
        for r in &batch {
            let key = format!(
                "__name__=order_test,cluster=c1,i={:04},replica=e2e",
                r.sref - 1
            );
            want.entry(key)
                .or_insert_with(Vec::new)
                .push((r.t, r.v.to_bits()));
        }
    }
    w.close().unwrap();
    want
}

fn run_case(protobuf_message: &str, fail_every: u64, plan: Vec<usize>) {
    let d = tempfile::tempdir().unwrap();
    let want = write_wal(d.path());
    let rec = Arc::new(Recorder::new(fail_every));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    let yaml = format!(
        "global:\n  external_labels:\n    replica: e2e\nremote_write:\n  - url: {}\n    name: order\n    protobuf_message: {protobuf_message}\n    queue_config:\n      max_samples_per_send: 250\n      capacity: 1000\n      batch_send_deadline: 50ms\n      min_backoff: 5ms\n      max_backoff: 50ms\n      retry_on_http_429: true\n",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "test.yml", None).unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let spec = PipelineSpec {
        external_labels: cfg
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        flush_deadline: Duration::from_secs(30),
        fixed_shards: Some(plan.first().copied().unwrap_or(3)),
        shard_update_interval: Duration::from_millis(150),
        reshard_plan: plan.iter().skip(1).copied().collect(),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), d.path().to_path_buf())
    };
    let total: usize = want.values().map(Vec::len).sum();
    let p = Pipeline::start(spec, Arc::clone(&cores)).unwrap();
    let start = Instant::now();
    loop {
        let got: usize = rec.accepted.lock().unwrap().values().map(Vec::len).sum();
        let reshards = p.stats.reshards.load(Ordering::Relaxed) as usize;
        if got >= total && reshards >= plan.len().saturating_sub(1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "only {got} of {total} samples arrived ({reshards} reshards); in {} acked {} failed {} pending {} dropped {}",
            p.stats.data_in.load(Ordering::Relaxed),
            p.stats.queue.samples_acked.load(Ordering::Relaxed),
            p.stats.queue.samples_failed.load(Ordering::Relaxed),
            p.stats.queue.pending.load(Ordering::Relaxed),
            p.stats.dropped_unknown_series.load(Ordering::Relaxed),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let got = rec.accepted.lock().unwrap().clone();
    // Exactly once, and per series in WAL order.
    assert_eq!(got.len(), want.len(), "series");
    for (k, w) in &want {
        assert_eq!(got.get(k), Some(w), "series {k}: order or content differs");
    }
    assert_eq!(
        stats.queue.samples_acked.load(Ordering::Relaxed),
        total as u64
    );
    assert_eq!(stats.queue.samples_failed.load(Ordering::Relaxed), 0);
    if fail_every > 0 {
        assert!(
            rec.failures.load(Ordering::SeqCst) > 0,
            "faults were scripted"
        );
        assert!(stats.queue.retries.load(Ordering::Relaxed) > 0);
    }
    assert!(stats.reshards.load(Ordering::Relaxed) as usize >= plan.len().saturating_sub(1));
    drop(sink);
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}

#[test]
fn rw1_order_holds_across_reshards() {
    run_case("prometheus.WriteRequest", 0, vec![1, 4, 2, 7, 3]);
}

#[test]
fn rw1_order_holds_through_503_and_429_retries_and_reshards() {
    run_case("prometheus.WriteRequest", 5, vec![2, 5, 1]);
}

#[test]
fn rw2_order_holds_through_faults_and_reshards() {
    run_case("io.prometheus.write.v2.Request", 4, vec![3, 1, 6]);
}

/// Like Prometheus, a first start without `--from-start` ships only what is written after
/// the reader caught up with the WAL's end; series from before are known (no drops).
#[test]
fn first_start_ships_only_samples_written_after_it() {
    let d = tempfile::tempdir().unwrap();
    let mut w = WalWriter::create(d.path(), 0, 8 * PAGE_SIZE, Compression::Snappy).unwrap();
    log_series(&mut w, &indexed_labels("live", &[], 50, 2));
    let scrape = |w: &mut WalWriter, s: i64| {
        log_scrape(w, 50, T0 + s * 1000, |_| s as f64);
    };
    for s in 0..5 {
        scrape(&mut w, s);
    }
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::H2c)
        .handler(rec.clone())
        .start()
        .unwrap();
    let yaml = format!(
        "remote_write:\n  - url: {}\n    protocol: h2c\n    queue_config: {{batch_send_deadline: 20ms}}\n",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "test.yml", None).unwrap();
    let cores = Arc::new(Cores::start(&[0]).unwrap());
    let spec = PipelineSpec {
        from_start: false,
        flush_deadline: Duration::from_secs(10),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), d.path().to_path_buf())
    };
    let p = Pipeline::start(spec, Arc::clone(&cores)).unwrap();
    let start = Instant::now();
    while !p.stats.caught_up.load(Ordering::Relaxed) {
        assert!(start.elapsed() < Duration::from_secs(10), "never caught up");
        std::thread::sleep(Duration::from_millis(5));
    }
    for s in 5..8 {
        scrape(&mut w, s);
    }
    w.next_segment().unwrap();
    scrape(&mut w, 8);
    while p.stats.queue.samples_acked.load(Ordering::Relaxed) < 4 * 50 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "new samples did not arrive"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let got = rec.accepted.lock().unwrap().clone();
    assert_eq!(got.len(), 50);
    for v in got.values() {
        let ts: Vec<i64> = v.iter().map(|(t, _)| (t - T0) / 1000).collect();
        assert_eq!(ts, vec![5, 6, 7, 8], "only samples written after the start");
    }
    assert_eq!(stats.dropped_unknown_series.load(Ordering::Relaxed), 0);
    drop(sink);
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}

/// The receiver is down (connection refused) while the reader has a whole WAL to ship:
/// shards back off, memory stays bounded by the queues (the reader waits instead of
/// buffering), nothing is dropped, and when the receiver comes back on the same port every
/// sample arrives exactly once, in order.
#[test]
fn receiver_down_then_back_loses_nothing_and_stays_bounded() {
    let d = tempfile::tempdir().unwrap();
    let want = write_wal(d.path());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let yaml = format!(
        "remote_write:\n  - url: http://127.0.0.1:{port}/api/v1/write\n    name: down\n    queue_config:\n      max_samples_per_send: 100\n      capacity: 500\n      batch_send_deadline: 20ms\n      min_backoff: 5ms\n      max_backoff: 100ms\n"
    );
    let cfg = Config::from_yaml(&yaml, "test.yml", None).unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let spec = PipelineSpec {
        external_labels: vec![("replica".into(), "e2e".into())],
        flush_deadline: Duration::from_secs(30),
        fixed_shards: Some(2),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), d.path().to_path_buf())
    };
    let p = Pipeline::start(spec, Arc::clone(&cores)).unwrap();
    // Down for 1.5 s: retries pile up, queued items stay within the queue bounds.
    let mut max_pending = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        max_pending = max_pending.max(p.stats.queue.pending.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        p.stats.queue.retries.load(Ordering::Relaxed) > 5,
        "no retries while down"
    );
    assert_eq!(p.stats.queue.samples_acked.load(Ordering::Relaxed), 0);
    // 2 shards x (capacity 500 + one batch in flight + one batch encoded ahead + one
    // chunk being received).
    assert!(
        max_pending > 0 && max_pending <= 2 * (500 + 100 + 100 + 100),
        "pending {max_pending}"
    );
    let read_while_down = p.stats.data_in.load(Ordering::Relaxed);
    assert!(
        read_while_down < 12_000,
        "the reader must wait for the queues, read {read_while_down}"
    );
    // Back up on the same port.
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .listen_on(([127, 0, 0, 1], port).into())
        .handler(rec.clone())
        .start()
        .unwrap();
    let total: usize = want.values().map(Vec::len).sum();
    let start = Instant::now();
    while rec
        .accepted
        .lock()
        .unwrap()
        .values()
        .map(Vec::len)
        .sum::<usize>()
        < total
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "shipping did not resume"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    assert_eq!(*rec.accepted.lock().unwrap(), want);
    assert_eq!(stats.queue.samples_failed.load(Ordering::Relaxed), 0);
    drop(sink);
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}

/// Answers 415 to RW 2.0 and, slowly, records RW 1.0: the shard encodes the next batches
/// while a request is in flight, in the format of the moment.
struct Rw1Only {
    rec: Arc<Recorder>,
    refused: std::sync::atomic::AtomicU64,
}

impl ringwrite::sink::Handler for Rw1Only {
    fn handle(&self, req: &ringwrite::sink::ReceivedRequest) -> Option<ringwrite::sink::Reply> {
        let v2 = req
            .headers
            .get("content-type")
            .is_some_and(|c| c.to_str().unwrap_or("").contains("v2"));
        if v2 {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Some(ringwrite::sink::Reply::status(415));
        }
        let reply = self
            .rec
            .handle(req)
            .unwrap_or_else(ringwrite::sink::Reply::no_content);
        Some(reply.delayed(Duration::from_millis(5)))
    }
}

#[test]
fn batches_encoded_ahead_follow_a_fall_back_to_rw1() {
    let d = tempfile::tempdir().unwrap();
    let want = write_wal(d.path());
    let handler = Arc::new(Rw1Only {
        rec: Arc::new(Recorder::new(0)),
        refused: Default::default(),
    });
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(handler.clone())
        .start()
        .unwrap();
    let yaml = format!(
        "global:\n  external_labels:\n    replica: e2e\nremote_write:\n  - url: {}\n    name: order\n    protobuf_message: io.prometheus.write.v2.Request\n    queue_config:\n      max_samples_per_send: 250\n      capacity: 4000\n      batch_send_deadline: 50ms\n",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "test.yml", None).unwrap();
    let cores = Arc::new(Cores::start(&[0]).unwrap());
    let spec = PipelineSpec {
        external_labels: vec![("replica".into(), "e2e".into())],
        fixed_shards: Some(1),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), d.path().to_path_buf())
    };
    let total: usize = want.values().map(Vec::len).sum();
    let p = Pipeline::start(spec, Arc::clone(&cores)).unwrap();
    let start = Instant::now();
    while p.stats.queue.samples_acked.load(Ordering::Relaxed) < total as u64 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "only {} of {total} samples acknowledged",
            p.stats.queue.samples_acked.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let got = handler.rec.accepted.lock().unwrap().clone();
    assert_eq!(got.len(), want.len(), "series");
    for (k, w) in &want {
        assert_eq!(got.get(k), Some(w), "series {k}: order or content differs");
    }
    assert!(
        stats.queue.batches_encoded_ahead.load(Ordering::Relaxed) > 0,
        "no batch was encoded while a request was in flight"
    );
    // One shard, one request in flight: only the first request went out as RW 2.0. A
    // batch encoded ahead in RW 2.0 was encoded again in RW 1.0, never sent as it was.
    assert_eq!(handler.refused.load(Ordering::SeqCst), 1, "RW 2.0 requests");
    assert_eq!(stats.queue.samples_failed.load(Ordering::Relaxed), 0);
    drop(sink);
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}
