//! Fault tests of issue 5 on the in-process pipeline (WAL -> shards -> HTTP -> the
//! recording receiver), each asserting exactly what arrived:
//! * 429 with Retry-After, then 503s, then recovery: nothing lost, per-series order kept,
//!   no reshard while backing off;
//! * corrupt bytes in a sealed segment: counted and skipped, everything else arrives;
//! * a full disk under the storage path: a clear error, shipping continues, progress is
//!   saved again once there is room.

mod common;

use common::recorder::{compare, Accepted, Recorder};
use common::walgen::{indexed_labels, log_samples, log_series};
use ringwrite::config::Config;
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::progress::ProgressStore;
use ringwrite::record::RefSample;
use ringwrite::runtime::Cores;
use ringwrite::sink::{Reply, Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_000_000;

/// One samples record of a scrape: where it went and what it held.
struct Logged {
    segment: u64,
    start: u64,
    end: u64,
    samples: Vec<(String, (i64, u64))>,
}

/// `series` series, then `scrapes` scrapes, a new segment every `per_segment` scrapes.
fn write_wal(dir: &Path, series: u64, scrapes: i64, per_segment: i64) -> (Accepted, Vec<Logged>) {
    write_wal_at(dir, series, scrapes, per_segment, |s| T0 + s * 1000)
}

/// [`write_wal`] with scrape `s` at timestamp `t(s)`.
fn write_wal_at(
    dir: &Path,
    series: u64,
    scrapes: i64,
    per_segment: i64,
    t: impl Fn(i64) -> i64,
) -> (Accepted, Vec<Logged>) {
    let mut w = WalWriter::create(dir, 0, 64 * PAGE_SIZE, Compression::None).unwrap();
    log_series(&mut w, &indexed_labels("fault", &[], series, 4));
    let (mut want, mut logged) = (Accepted::new(), Vec::new());
    for s in 0..scrapes {
        if s > 0 && s % per_segment == 0 {
            w.next_segment().unwrap();
        }
        let batch: Vec<RefSample> = (0..series)
            .map(|i| RefSample {
                sref: i + 1,
                t: t(s),
                st: 0,
                v: (s * 3 + i as i64) as f64,
            })
            .collect();
        let mut rec = Logged {
            segment: w.segment(),
            start: w.offset(),
            end: 0,
            samples: Vec::new(),
        };
        for r in &batch {
            let k = format!("__name__=fault,i={:04}", r.sref - 1);
            want.entry(k.clone())
                .or_default()
                .push((r.t, r.v.to_bits()));
            rec.samples.push((k, (r.t, r.v.to_bits())));
        }
        log_samples(&mut w, &batch);
        rec.end = w.offset();
        if w.segment() != rec.segment {
            // The record started the next segment.
            rec.segment = w.segment();
            rec.start = 0;
        }
        logged.push(rec);
    }
    w.close().unwrap();
    (want, logged)
}

fn spec(queue_config: &str, url: &str, wal: &Path) -> PipelineSpec {
    let yaml = format!(
        "remote_write:\n  - url: {url}\n    name: faults\n    queue_config: {queue_config}\n"
    );
    let cfg = Config::from_yaml(&yaml, "test.yml", None).unwrap();
    PipelineSpec {
        flush_deadline: Duration::from_secs(30),
        shard_update_interval: Duration::from_millis(200),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), wal.to_path_buf())
    }
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < end, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn retry_after_429_then_503s_then_recovery_loses_nothing_and_never_reshards_in_backoff() {
    let d = tempfile::tempdir().unwrap();
    let (want, _) = write_wal(d.path(), 300, 60, 20);
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    // 3 x 429 with Retry-After: 1 s, then 6 x 503 (backoff 50 ms .. 400 ms).
    sink.push_replies((0..3).map(|_| Reply::retry_after(429, "1")));
    sink.push_replies((0..6).map(|_| Reply::status(503)));
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let s = spec(
        "{min_shards: 1, max_shards: 8, max_samples_per_send: 200, capacity: 400, batch_send_deadline: 50ms, min_backoff: 50ms, max_backoff: 400ms, retry_on_http_429: true}",
        &sink.url(),
        d.path(),
    );
    let p = Pipeline::start(s, Arc::clone(&cores)).unwrap();
    let started = Instant::now();
    // Until the first accepted request, the endpoint is backing off: no reshard.
    wait_until(
        "the first accepted request",
        Duration::from_secs(30),
        || {
            assert_eq!(
                p.stats.reshards.load(Ordering::SeqCst),
                0,
                "resharded while backing off"
            );
            rec.samples.load(Ordering::SeqCst) > 0
        },
    );
    let backoff = started.elapsed();
    let total: u64 = want.values().map(|v| v.len() as u64).sum();
    wait_until("every sample", Duration::from_secs(60), || {
        rec.samples.load(Ordering::SeqCst) >= total
    });
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let got = rec.snapshot();
    eprintln!(
        "backing off for {backoff:?}; {} retries; {} reshards after recovery",
        stats.queue.retries.load(Ordering::SeqCst),
        stats.reshards.load(Ordering::SeqCst)
    );
    assert!(
        backoff >= Duration::from_secs(3),
        "Retry-After: 1 was not honoured: {backoff:?}"
    );
    assert!(sink.stats().requests >= 9);
    // Exactly once and in order: the retried batch is the same batch.
    for (k, w) in &want {
        assert_eq!(got.get(k), Some(w), "series {k}");
    }
    assert_eq!(stats.queue.retries.load(Ordering::SeqCst), 9);
    assert_eq!(stats.queue.samples_failed.load(Ordering::SeqCst), 0);
    sink.shutdown();
}

#[test]
fn corrupt_bytes_in_a_sealed_segment_are_counted_and_skipped() {
    let d = tempfile::tempdir().unwrap();
    let (want, logged) = write_wal(d.path(), 500, 90, 30);
    // Damage a middle page of segment 1 (sealed: segment 2 follows).
    let seg1 = d.path().join("00000001");
    let mut bytes = std::fs::read(&seg1).unwrap();
    let pages = bytes.len() / PAGE_SIZE;
    assert!(pages >= 3, "segment 1 has {pages} pages");
    let page = (pages / 2) as u64;
    let at = (page as usize) * PAGE_SIZE + 1000;
    for b in &mut bytes[at..at + 16] {
        *b ^= 0x5a;
    }
    std::fs::write(&seg1, &bytes).unwrap();
    let touches = |l: &Logged| {
        let (lo, hi) = (page * PAGE_SIZE as u64, (page + 1) * PAGE_SIZE as u64);
        l.segment == 1 && l.start < hi && l.end > lo
    };
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let s = spec("{batch_send_deadline: 50ms}", &sink.url(), d.path());
    let p = Pipeline::start(s, Arc::clone(&cores)).unwrap();
    let intact: u64 = logged
        .iter()
        .filter(|l| !touches(l))
        .map(|l| l.samples.len() as u64)
        .sum();
    wait_until("every intact sample", Duration::from_secs(60), || {
        rec.samples.load(Ordering::SeqCst) >= intact && p.stats.caught_up.load(Ordering::SeqCst)
    });
    std::thread::sleep(Duration::from_millis(300));
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let got = rec.snapshot();
    let d = compare(&want, &got);
    let damaged: u64 = logged
        .iter()
        .filter(|l| touches(l))
        .map(|l| l.samples.len() as u64)
        .sum();
    eprintln!(
        "{damaged} samples in records touching the damaged page; {} missing; corruptions {}",
        d.missing,
        stats.corruptions.load(Ordering::SeqCst)
    );
    assert!(stats.corruptions.load(Ordering::SeqCst) >= 1);
    assert!(d.missing > 0 && d.missing <= damaged, "{d:?}");
    assert_eq!(d.unexpected, 0);
    assert_eq!(d.duplicates, 0);
    assert_eq!(d.out_of_order_series, 0);
    // Every sample of every record outside the damaged page arrived.
    for l in logged.iter().filter(|l| !touches(l)) {
        for (k, s) in &l.samples {
            assert!(got[k].contains(s), "intact sample {k} {s:?} missing");
        }
    }
    sink.shutdown();
}

/// A 64 KiB tmpfs, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "this test mounts a 64 KiB tmpfs to fill it; it needs root (CAP_SYS_ADMIN)"
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_under_the_storage_path_does_not_stop_shipping() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    let (want, _) = write_wal(&wal, 100, 40, 20);
    let disk = SmallDisk::mount(&d.path().join("state"));
    let store = ProgressStore::open(&disk.0).unwrap();
    // Fill the disk.
    let filler = disk.0.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let mut s = spec("{batch_send_deadline: 50ms}", &sink.url(), &wal);
    s.progress = Some(store.clone());
    let p = Pipeline::start(s, Arc::clone(&cores)).unwrap();
    let total: u64 = want.values().map(|v| v.len() as u64).sum();
    wait_until("every sample, disk full", Duration::from_secs(60), || {
        rec.samples.load(Ordering::SeqCst) >= total
    });
    wait_until("a failed save", Duration::from_secs(10), || {
        p.stats.progress_save_failures.load(Ordering::SeqCst) > 0
    });
    assert_eq!(p.stats.saved_position(), None);
    // Room again: the next save goes through.
    std::fs::remove_file(&filler).unwrap();
    wait_until("a saved position", Duration::from_secs(10), || {
        p.stats.saved_position().is_some()
    });
    let acked = p.stats.acked_position();
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let saved = store
        .load(&ProgressStore::key(Some("faults"), ""))
        .unwrap()
        .unwrap();
    assert!(Some(saved.position) >= acked);
    let dl = compare(&want, &rec.snapshot());
    assert_eq!((dl.missing, dl.duplicates, dl.unexpected), (0, 0, 0));
    eprintln!(
        "{} failed saves while the disk was full; saved {} afterwards",
        stats.progress_save_failures.load(Ordering::SeqCst),
        saved.position
    );
    sink.shutdown();
}

fn now_ms() -> i64 {
    ringwrite::queue::now_ms()
}

#[test]
fn sample_age_limit_drops_old_samples_at_enqueue_and_counts_them() {
    let d = tempfile::tempdir().unwrap();
    let now = now_ms();
    // Scrapes 0..10 are two hours old, 10..20 current.
    let (want, logged) = write_wal_at(d.path(), 50, 20, 100, |s| {
        if s < 10 {
            now - 7_200_000 + s
        } else {
            now + s
        }
    });
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let s = spec(
        "{batch_send_deadline: 50ms, sample_age_limit: 1h}",
        &sink.url(),
        d.path(),
    );
    let p = Pipeline::start(s, Arc::clone(&cores)).unwrap();
    wait_until("the current samples", Duration::from_secs(30), || {
        rec.samples.load(Ordering::SeqCst) >= 500
    });
    std::thread::sleep(Duration::from_millis(200));
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let got = rec.snapshot();
    let old: Vec<_> = logged[..10].iter().flat_map(|l| l.samples.iter()).collect();
    for (k, s) in &old {
        assert!(!got[k].contains(s), "too old but sent: {k} {s:?}");
    }
    for l in &logged[10..] {
        for (k, s) in &l.samples {
            assert!(got[k].contains(s), "current sample {k} {s:?} missing");
        }
    }
    let too_old = stats.queue.drops.get(
        ringwrite::metrics::Kind::Samples,
        ringwrite::queue::Loss::TooOld,
    );
    assert_eq!(too_old, old.len() as u64);
    assert_eq!(compare(&want, &got).duplicates, 0);
    sink.shutdown();
}

#[test]
fn sample_age_limit_drops_samples_that_age_out_while_retrying() {
    let d = tempfile::tempdir().unwrap();
    let now = now_ms();
    // Fresh at enqueue (limit 2 s), but the receiver fails for longer than that.
    let (_, logged) = write_wal_at(d.path(), 40, 5, 100, |s| now - 500 + s);
    let rec = Arc::new(Recorder::new(0));
    rec.down.store(true, Ordering::SeqCst);
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let s = spec(
        "{batch_send_deadline: 20ms, sample_age_limit: 2s, min_backoff: 100ms, max_backoff: 200ms}",
        &sink.url(),
        d.path(),
    );
    let p = Pipeline::start(s, Arc::clone(&cores)).unwrap();
    let total: u64 = logged.iter().map(|l| l.samples.len() as u64).sum();
    let too_old = || {
        p.stats.queue.drops.get(
            ringwrite::metrics::Kind::Samples,
            ringwrite::queue::Loss::TooOld,
        )
    };
    wait_until(
        "every sample to age out while retrying",
        Duration::from_secs(20),
        || too_old() == total,
    );
    rec.down.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    let retries = p.stats.queue.retries.load(Ordering::SeqCst);
    p.stop().unwrap();
    assert!(retries > 0);
    assert_eq!(
        rec.samples.load(Ordering::SeqCst),
        0,
        "aged-out samples were sent"
    );
    sink.shutdown();
}
