//! Lose nothing (issue 5): `ringwrite run` killed with SIGKILL mid-stream and restarted
//! resumes from its saved progress; every sample written arrives, per-series order of
//! first arrivals holds, and the duplicates stay within what was sent after the last save.

mod common;

use common::recorder::{compare, Accepted, Recorder};
use common::ringwrite::{start_run, wait_for};
use common::walgen::{indexed_labels, log_scrape, log_series};
use ringwrite::progress::ProgressStore;
use ringwrite::record;
use ringwrite::sink::{Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::reader::Position;
use ringwrite::wal::tail::{Event, TailOptions, Tailer};
use ringwrite::wal::writer::{Compression, WalWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_000_000;

/// Writes `series` series, then `scrapes` scrapes of every series, one every `every`,
/// rotating small segments; returns what every series should receive.
fn write_steadily(dir: &Path, series: u64, scrapes: i64, every: Duration) -> Accepted {
    let mut w = WalWriter::create(dir, 0, 16 * PAGE_SIZE, Compression::Snappy).unwrap();
    let mut want = Accepted::new();
    log_series(&mut w, &indexed_labels("durable", &[], series, 4));
    let start = Instant::now();
    for s in 0..scrapes {
        let batch = log_scrape(&mut w, series, T0 + s * 1000, |i| (s * 7 + i as i64) as f64);
        for r in &batch {
            want.entry(format!("__name__=durable,i={:04}", r.sref - 1))
                .or_default()
                .push((r.t, r.v.to_bits()));
        }
        let due = start + every * (s as u32 + 1);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    w.close().unwrap();
    want
}

/// Samples in `wal` before `pos`.
fn samples_before(wal: &Path, pos: Position) -> u64 {
    let opts = TailOptions {
        read_checkpoint: false,
        ..TailOptions::default()
    };
    let mut t = Tailer::open(wal, opts).unwrap();
    let mut n = 0;
    loop {
        match t.next_event(Duration::ZERO).unwrap() {
            Event::Record(r) if r.pos < pos => {
                if let Ok(record::Record::Samples(it)) = record::decode(r.bytes) {
                    n += it.count() as u64;
                }
            }
            Event::Record(_) | Event::End => break,
            _ => {}
        }
    }
    n
}

/// A WAL directory, a state directory, a log file and a recording HTTP/1.1 receiver.
struct Setup {
    tmp: tempfile::TempDir,
    wal: PathBuf,
    state: PathBuf,
    log: PathBuf,
    rec: Arc<Recorder>,
    sink: Sink,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let wal: PathBuf = tmp.path().join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    Setup {
        state: tmp.path().join("state"),
        log: tmp.path().join("ringwrite.log"),
        wal,
        tmp,
        rec,
        sink,
    }
}

#[test]
fn kill_9_mid_stream_then_restart_loses_nothing() {
    let Setup {
        tmp,
        wal,
        state,
        log,
        rec,
        sink,
    } = setup();
    let cfg = tmp.path().join("ringwrite.yml");
    std::fs::write(
        &cfg,
        format!(
            "remote_write:\n- url: {}\n  name: durable\n  queue_config: {{batch_send_deadline: 50ms, max_samples_per_send: 500}}\n",
            sink.url()
        ),
    )
    .unwrap();
    // 200 series every 10 ms: 20 k samples/s for 6 s, in 64 KiB segments.
    let (series, scrapes, every) = (200u64, 600i64, Duration::from_millis(10));
    let w = wal.clone();
    let writer = std::thread::spawn(move || write_steadily(&w, series, scrapes, every));
    std::thread::sleep(Duration::from_millis(300));
    let (mut rw, _) = start_run(&cfg, &wal, &state, &log);
    std::thread::sleep(Duration::from_millis(2800));
    // SIGKILL: no flush, no final save.
    rw.signal(libc::SIGKILL);
    rw.wait();
    // A request fully sent before the kill may still be in the receiver's hands.
    let mut accepted_at_kill = rec.samples.load(Ordering::SeqCst);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = rec.samples.load(Ordering::SeqCst);
        if now == accepted_at_kill {
            break;
        }
        accepted_at_kill = now;
    }
    let store = ProgressStore::open(&state).unwrap();
    let saved = store
        .load(&ProgressStore::key(Some("durable"), ""))
        .unwrap()
        .unwrap_or_else(|| {
            panic!(
                "no progress saved while running; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    assert!(accepted_at_kill > 0, "nothing was shipped before the kill");
    let (mut rw, _) = start_run(&cfg, &wal, &state, &log);
    let want = writer.join().unwrap();
    let total: u64 = want.values().map(|v| v.len() as u64).sum();
    wait_for("every sample", Duration::from_secs(60), || {
        compare(&want, &rec.snapshot()).missing == 0
    });
    let (status, clean) = rw.terminate(Duration::from_secs(30));
    assert!(clean && status.success(), "ringwrite exit: {status:?}");
    let got = rec.snapshot();
    let d = compare(&want, &got);
    let before_saved = samples_before(&wal, saved.position);
    // What was acknowledged before the kill but lay after the saved position is all that
    // may arrive twice.
    let bound = accepted_at_kill.saturating_sub(before_saved);
    eprintln!(
        "kill -9: {total} samples written, {accepted_at_kill} accepted before the kill, saved \
         position {} ({before_saved} samples before it), {} duplicates (bound {bound} = {:.0} ms \
         of this load)",
        saved.position,
        d.duplicates,
        bound as f64 / (series as f64 / every.as_secs_f64()) * 1000.0
    );
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log_text.contains("Resuming from the saved position"),
        "{log_text}"
    );
    assert_eq!(d.missing, 0, "{d:?}");
    assert_eq!(d.unexpected, 0, "{d:?}");
    assert_eq!(d.out_of_order_series, 0, "{d:?}");
    assert!(d.duplicates <= bound, "{d:?} bound {bound}");
    // The restart resumed: it did not resend from the start of the WAL.
    assert!(before_saved > 0, "the saved position covers nothing");
    sink.shutdown();
}

#[test]
fn a_renamed_endpoint_resumes_where_its_old_name_stopped() {
    let Setup {
        tmp,
        wal,
        state,
        log,
        rec,
        sink,
    } = setup();
    let cfg = tmp.path().join("ringwrite.yml");
    let write_cfg = |name: &str| {
        std::fs::write(
            &cfg,
            format!(
                "remote_write:\n- url: {}\n  name: {name}\n  queue_config: {{batch_send_deadline: 50ms, max_samples_per_send: 500}}\n",
                sink.url()
            ),
        )
        .unwrap()
    };
    write_cfg("before");
    let (series, scrapes, every) = (100u64, 300i64, Duration::from_millis(10));
    let w = wal.clone();
    let writer = std::thread::spawn(move || write_steadily(&w, series, scrapes, every));
    std::thread::sleep(Duration::from_millis(200));
    let (mut rw, _) = start_run(&cfg, &wal, &state, &log);
    std::thread::sleep(Duration::from_millis(1000));
    let (status, clean) = rw.terminate(Duration::from_secs(30));
    assert!(clean && status.success(), "ringwrite exit: {status:?}");
    let shipped = rec.samples.load(Ordering::SeqCst);
    assert!(shipped > 0, "nothing shipped under the old name");
    // Renamed while stopped; the WAL keeps growing meanwhile.
    write_cfg("after");
    std::thread::sleep(Duration::from_millis(500));
    let (mut rw, _) = start_run(&cfg, &wal, &state, &log);
    let want = writer.join().unwrap();
    wait_for("every sample", Duration::from_secs(60), || {
        compare(&want, &rec.snapshot()).missing == 0
    });
    let (status, clean) = rw.terminate(Duration::from_secs(30));
    assert!(clean && status.success(), "ringwrite exit: {status:?}");
    let d = compare(&want, &rec.snapshot());
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log_text.contains("now belongs to a renamed endpoint"),
        "{log_text}"
    );
    // Resumed where "before" stopped: without the adoption, "after" would be a first start
    // (here with --from-start, so everything again; without it, a gap).
    assert_eq!(d.missing, 0, "{d:?}");
    assert_eq!(
        d.duplicates, 0,
        "{d:?} ({shipped} shipped before the rename)"
    );
    assert_eq!(d.unexpected, 0, "{d:?}");
    let store = ProgressStore::open(&state).unwrap();
    assert!(store.load("name-before").unwrap().is_none());
    assert!(store.load("name-after").unwrap().is_some());
    sink.shutdown();
}
