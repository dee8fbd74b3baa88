//! Live tail against a real Prometheus 2.42 under load.
//!
//! Starts `scripts/fixture_targets.py` (4 targets x 25 000 gauges) and Prometheus scraping them
//! every second (~100 000 samples/s) with 10 MB WAL segments, so the tail crosses at least one
//! segment rotation. `ringwrite wal inspect <data>/wal --follow --dump` runs alongside for
//! `RUN`; then Prometheus gets SIGTERM (it pads and closes its last segment), ringwrite gets a
//! bounded time to print the rest, and its float samples must equal, as a multiset, what
//! `promtool tsdb dump` reports for the same data directory: the tail keeps up and loses or
//! duplicates nothing. No blocks are cut in this time, so promtool's view is exactly the WAL.
//!
//! ringwrite's stdout is drained by a thread that only stores bytes and counts lines, and parsed
//! by another, so the (unoptimised) test parser never slows the tail down through the pipe.
//! Bounded to well under 90 s; every child is killed on drop if an assertion fails.
mod common;

use std::fs;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::dump::{self, Dump, SeriesTable};
use common::prom::{
    copy_dir, require_tool, run_streaming, tool_version, ChildGuard, Prometheus, Targets,
};

const SHARDS: usize = 4;
const SERIES_PER_SHARD: usize = 25_000;
/// How long Prometheus writes while ringwrite follows.
const RUN: Duration = Duration::from_secs(20);
/// How long ringwrite may take, after Prometheus has exited, to print what is left.
const DRAIN: Duration = Duration::from_secs(30);

/// What the stdout reader has seen so far, shared with the test thread.
#[derive(Default)]
struct Progress {
    /// Complete lines received.
    lines: AtomicUsize,
    /// Newest timestamp seen (last field of the last line of each read).
    max_t: AtomicI64,
    /// When the newest line arrived, in ms since `origin`.
    last_line_ms: AtomicI64,
}

/// Reads `stdout` to EOF, sending complete lines (in chunks) to `tx` and updating `progress`.
/// Counting newlines is all the per-byte work it does.
fn pump(mut stdout: impl Read, tx: mpsc::Sender<Vec<u8>>, progress: &Progress, origin: Instant) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let Some(last_nl) = chunk.iter().rposition(|&b| b == b'\n') else {
            pending.extend_from_slice(chunk);
            continue;
        };
        let lines = chunk.iter().filter(|&&b| b == b'\n').count();
        let mut complete = std::mem::take(&mut pending);
        complete.extend_from_slice(&chunk[..=last_nl]);
        pending.extend_from_slice(&chunk[last_nl + 1..]);
        let last_line = complete[..complete.len() - 1]
            .rsplit(|&b| b == b'\n')
            .next()
            .unwrap_or_default();
        let t = last_line
            .rsplit(|&b| b == b' ')
            .next()
            .and_then(|f| std::str::from_utf8(f).ok()?.parse::<i64>().ok());
        if let Some(t) = t {
            progress.max_t.fetch_max(t, Ordering::Relaxed);
        }
        progress.lines.fetch_add(lines, Ordering::Relaxed);
        let ms = i64::try_from(origin.elapsed().as_millis()).unwrap_or(i64::MAX);
        progress.last_line_ms.store(ms, Ordering::Relaxed);
        if tx.send(complete).is_err() {
            break;
        }
    }
    if !pending.is_empty() {
        eprintln!(
            "ringwrite output ended with an incomplete line of {} bytes",
            pending.len()
        );
    }
}

fn now_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_millis()).expect("ms fit in i64")
}

fn write_config(path: &std::path::Path, port: u16) {
    let mut cfg =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for shard in 0..SHARDS {
        cfg.push_str(&format!(
            "  - job_name: big{shard}\n    metrics_path: /metrics/big\n    \
             params: {{shard: ['{shard}'], series: ['{SERIES_PER_SHARD}']}}\n    \
             static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        ));
    }
    fs::write(path, cfg).expect("write prometheus.yml");
}

#[test]
fn live_tail_keeps_up_with_prometheus_and_loses_nothing() {
    let started = Instant::now();
    let promtool = require_tool("PROMTOOL", "promtool");
    eprintln!("promtool: {}", tool_version(&promtool));
    let targets = Targets::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("prometheus.yml");
    let data = tmp.path().join("data");
    write_config(&config, targets.main_port);
    let mut prom = Prometheus::start(&config, &data, &["--storage.tsdb.wal-segment-size=10MB"]);
    let wal = data.join("wal");
    assert!(
        wal.is_dir(),
        "prometheus has no wal dir at {}",
        wal.display()
    );

    let tail_log = tmp.path().join("ringwrite.stderr");
    let mut tail = ChildGuard::spawn(
        "ringwrite wal inspect --follow",
        Command::new(env!("CARGO_BIN_EXE_ringwrite"))
            .args(["wal", "inspect"])
            .arg(&wal)
            .args(["--follow", "--dump"])
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&tail_log).expect("create ringwrite log")),
    );
    let stdout = tail.take_stdout().expect("stdout piped");
    let progress = Arc::new(Progress::default());
    let origin = Instant::now();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let pump_thread = {
        let progress = Arc::clone(&progress);
        thread::spawn(move || pump(stdout, tx, &progress, origin))
    };
    let parser = thread::spawn(move || -> Result<(SeriesTable, Dump), String> {
        let mut table = SeriesTable::default();
        let mut dump = Dump::default();
        for chunk in rx {
            dump::for_each_line(chunk.as_slice(), "ringwrite", |line| {
                dump::parse_ringwrite_line(line, &mut table, &mut dump)
            })?;
        }
        Ok((table, dump))
    });
    let tail_stderr = || fs::read_to_string(&tail_log).unwrap_or_default();

    // Let Prometheus write while ringwrite follows; watch both stay up and how far behind the
    // tail is (wall clock minus the newest sample timestamp it printed).
    let run_start = Instant::now();
    let mut max_lag_ms = 0i64;
    while run_start.elapsed() < RUN {
        thread::sleep(Duration::from_secs(1));
        assert!(prom.is_running(), "prometheus died:\n{}", prom.log_tail(20));
        if let Some(status) = tail.try_status() {
            panic!(
                "ringwrite --follow exited early ({status}):\n{}",
                tail_stderr()
            );
        }
        let max_t = progress.max_t.load(Ordering::Relaxed);
        if max_t > 0 {
            max_lag_ms = max_lag_ms.max(now_ms() - max_t);
        }
        eprintln!(
            "t+{:>2}s ringwrite printed {} lines, lag {} ms",
            run_start.elapsed().as_secs(),
            progress.lines.load(Ordering::Relaxed),
            if max_t > 0 { now_ms() - max_t } else { -1 }
        );
    }
    prom.stop();
    let stopped = Instant::now();
    let printed_at_stop = progress.lines.load(Ordering::Relaxed);
    let segments: Vec<String> = fs::read_dir(&wal)
        .expect("read wal")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    eprintln!("prometheus stopped; wal: {segments:?}");
    assert!(
        segments.len() >= 2,
        "expected a segment rotation during the run: {segments:?}"
    );

    // promtool on a copy (it writes chunks_head/ into the directory it opens) while ringwrite
    // finishes printing.
    let copy = tmp.path().join("promtool-copy");
    copy_dir(&data, &copy).expect("copy data dir");
    let mut p_table = SeriesTable::default();
    let p_dump = run_streaming(
        "promtool tsdb dump",
        Command::new(&promtool).args(["tsdb", "dump"]).arg(&copy),
        |r| dump::parse_promtool(r, &mut p_table),
    )
    .unwrap_or_else(|e| panic!("parsing promtool output: {e}"));
    let expected = p_dump.floats.len();
    assert!(
        expected > SHARDS * SERIES_PER_SHARD * 5,
        "promtool saw only {expected} samples; Prometheus could not keep up with the targets?"
    );

    // Drain: wait until ringwrite has printed as many lines as promtool reports samples (this
    // WAL has nothing but series and float samples), then one more quiet second to catch any
    // extra (duplicated) output.
    loop {
        let seen = progress.lines.load(Ordering::Relaxed);
        if seen >= expected {
            break;
        }
        if let Some(status) = tail.try_status() {
            panic!("ringwrite --follow exited after printing {seen}/{expected} samples ({status}):\n{}", tail_stderr());
        }
        assert!(
            stopped.elapsed() < DRAIN,
            "ringwrite printed only {seen} of {expected} samples {} s after Prometheus stopped:\n{}",
            DRAIN.as_secs(),
            tail_stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    // When the last sample line arrived, relative to Prometheus's exit (negative: before it).
    let last_line_after_stop_ms = progress.last_line_ms.load(Ordering::Relaxed)
        - i64::try_from((stopped - origin).as_millis()).unwrap_or(i64::MAX);
    thread::sleep(Duration::from_secs(1));
    let tail_cpu = tail.cpu_seconds().unwrap_or(f64::NAN);
    tail.terminate(Duration::from_secs(5));
    pump_thread.join().expect("stdout pump panicked");
    let (r_table, r_dump) = parser
        .join()
        .expect("parser thread panicked")
        .unwrap_or_else(|e| panic!("{e}"));

    let map = p_table.absorb(&r_table);
    let r_floats: Vec<dump::Sample> = r_dump
        .floats
        .iter()
        .map(|s| dump::Sample {
            series: map[s.series as usize],
            ..*s
        })
        .collect();
    eprintln!(
        "promtool {expected} samples, ringwrite {} samples ({printed_at_stop} printed when \
         Prometheus stopped); max lag during run {max_lag_ms} ms; last sample printed \
         {last_line_after_stop_ms} ms after Prometheus stopped; ringwrite used {tail_cpu:.1} s \
         CPU; test took {:.1} s",
        r_floats.len(),
        started.elapsed().as_secs_f64()
    );
    dump::diff_multisets(
        &p_table,
        "promtool",
        &p_dump.floats,
        "ringwrite --follow",
        &r_floats,
        20,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r_dump.other_nans, 0,
        "no NaN payloads other than StaleNaN/NaN in this WAL"
    );
}
