//! `queue_config.max_samples_per_second` and `rate_limit_ramp_up` through the whole
//! pipeline (WAL -> shards on two core loops -> HTTP) against an in-process receiver that
//! timestamps every accepted sample.

mod common;

use common::walgen::{indexed_labels, log_scrape, log_series};
use prost::Message;
use ringwrite::config::Config;
use ringwrite::encode::proto::v1;
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::runtime::Cores;
use ringwrite::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_000_000;

/// The tests measure time: run them one at a time (both use cores 0 and 1).
static SERIAL: Mutex<()> = Mutex::new(());

/// Bounds for samples in one second at a 4 000/s limit: never much above it (no bursts);
/// below it only by what a loaded test machine's scheduling delays cost.
const PER_SECOND: std::ops::RangeInclusive<u64> = 3000..=4600;

/// Accepts RW 1.0 and notes (arrival, samples) per request; answers 503 while `down`.
#[derive(Default)]
struct Timeline {
    arrivals: Mutex<Vec<(Instant, u64)>>,
    down: AtomicBool,
}

impl Timeline {
    fn total(&self) -> u64 {
        self.arrivals.lock().unwrap().iter().map(|(_, n)| n).sum()
    }

    /// Samples that arrived in `[from, to)`.
    fn between(&self, from: Instant, to: Instant) -> u64 {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, n)| n)
            .sum()
    }
}

impl Handler for Timeline {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        if self.down.load(Ordering::SeqCst) {
            return Some(Reply::status(503));
        }
        let body = req.decompressed.as_ref()?.as_ref().ok()?;
        let r = v1::WriteRequest::decode(&body[..]).expect("RW 1.0 body");
        let n = r.timeseries.iter().map(|ts| ts.samples.len() as u64).sum();
        self.arrivals.lock().unwrap().push((Instant::now(), n));
        None
    }
}

/// `series` x `scrapes` samples.
fn write_wal(dir: &Path, series: u64, scrapes: i64) -> u64 {
    let mut w = WalWriter::create(dir, 0, 32 * PAGE_SIZE, Compression::Snappy).unwrap();
    log_series(&mut w, &indexed_labels("rate_test", &[], series, 4));
    for s in 0..scrapes {
        log_scrape(&mut w, series, T0 + s * 1000, |_| s as f64);
    }
    w.close().unwrap();
    series * scrapes as u64
}

fn start(sink: &Sink, wal: &Path, queue: &str, cores: &Arc<Cores>) -> Pipeline {
    let yaml = format!(
        "remote_write:\n  - url: {}\n    name: limited\n    queue_config:\n{queue}",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "test.yml", None).unwrap_or_else(|e| panic!("{e}"));
    let spec = PipelineSpec {
        flush_deadline: Duration::from_secs(30),
        fixed_shards: Some(2),
        shard_update_interval: Duration::from_secs(3600),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), wal.to_path_buf())
    };
    Pipeline::start(spec, Arc::clone(cores)).unwrap()
}

fn wait_for(tl: &Timeline, total: u64, limit: Duration) {
    let t = Instant::now();
    while tl.total() < total {
        assert!(
            t.elapsed() < limit,
            "only {} of {total} samples arrived",
            tl.total()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// 16 000 samples at 4 000 samples/s over two shards take about 4 s; without the limit
/// they take milliseconds.
#[test]
fn achieved_rate_matches_max_samples_per_second() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let d = tempfile::tempdir().unwrap();
    let total = write_wal(d.path(), 100, 160);
    let tl = Arc::new(Timeline::default());
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(tl.clone())
        .start()
        .unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let began = Instant::now();
    let p = start(
        &sink,
        d.path(),
        "      max_samples_per_send: 100\n      batch_send_deadline: 50ms\n      \
         max_samples_per_second: 4000\n",
        &cores,
    );
    wait_for(&tl, total, Duration::from_secs(30));
    let elapsed = began.elapsed().as_secs_f64();
    let rate = total as f64 / elapsed;
    p.stop().unwrap();
    eprintln!("achieved {rate:.0} samples/s over {elapsed:.2} s (limit 4000)");
    assert!(
        (3400.0..=4400.0).contains(&rate),
        "achieved {rate:.0} samples/s over {elapsed:.2} s, limit 4000"
    );
    // Evenly over the run, not in bursts: every whole second carries about the limit.
    let first = tl.arrivals.lock().unwrap()[0].0;
    for s in 0..3 {
        let from = first + Duration::from_secs(s);
        let n = tl.between(from, from + Duration::from_secs(1));
        assert!(
            PER_SECOND.contains(&n),
            "second {s}: {n} samples, limit 4000"
        );
    }
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}

/// The receiver is down for 1.5 s; when it is back, the rate starts at 10% of the limit
/// and reaches the limit after `rate_limit_ramp_up` (2 s).
#[test]
fn rate_ramps_up_after_an_outage() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let d = tempfile::tempdir().unwrap();
    let total = write_wal(d.path(), 100, 160);
    let tl = Arc::new(Timeline::default());
    tl.down.store(true, Ordering::SeqCst);
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(tl.clone())
        .start()
        .unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let p = start(
        &sink,
        d.path(),
        "      max_samples_per_send: 100\n      batch_send_deadline: 50ms\n      \
         min_backoff: 50ms\n      max_backoff: 200ms\n      max_samples_per_second: 4000\n      \
         rate_limit_ramp_up: 2s\n",
        &cores,
    );
    std::thread::sleep(Duration::from_millis(1500));
    tl.down.store(false, Ordering::SeqCst);
    let back = Instant::now();
    wait_for(&tl, total, Duration::from_secs(30));
    p.stop().unwrap();
    // First second: the two retried batches, then 10% -> 55% of the limit (~1 500).
    let early = tl.between(back, back + Duration::from_secs(1));
    // After the ramp: the full limit.
    let late_from = back + Duration::from_millis(2500);
    let late = tl.between(late_from, late_from + Duration::from_secs(1));
    eprintln!("after the outage: first second {early} samples, 2.5-3.5 s later {late}");
    assert!(
        early <= 2000,
        "first second after the outage: {early} samples"
    );
    assert!(
        PER_SECOND.contains(&late),
        "a second after the ramp: {late} samples, limit 4000"
    );
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}
