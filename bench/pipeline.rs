//! End to end: a WAL of 100 k series x 120 samples, shipped from the start by the real
//! pipeline (WAL reader thread -> series cache -> shards on a pinned core loop -> HTTP) to
//! an in-process sink pinned to the other core.
//!
//! Run: `cargo bench --bench pipeline`. Environment:
//! - `RINGWRITE_BENCH_PROTO=rw1|rw2` (default: both), `RINGWRITE_BENCH_TRANSPORT=h2c|http1`
//!   (default h2c), `RINGWRITE_BENCH_SERIES` (100000), `RINGWRITE_BENCH_SAMPLES_PER_SERIES`
//!   (120), `RINGWRITE_BENCH_SHARDS` (fixed shard count; default: resharding on),
//!   `RINGWRITE_BENCH_LABELS=target|unique` (default `target`: like node exporter, the
//!   1000 series of a target share its `instance` and `pod` labels; `unique`: every series
//!   has its own `pod` and one of 7 `instance`s, a snappy-hostile worst case),
//!   `RINGWRITE_BENCH_MAX_SAMPLES_PER_SEND` (2000), `RINGWRITE_BENCH_TENANT_LABEL` (unset;
//!   e.g. `mode`: four tenants, one request per tenant per batch).
//!
//! Reports samples/s, CPU seconds per million samples of ringwrite's own threads (the core
//! loops and the WAL reader; the sink's thread is excluded), peak RSS above the base before
//! the pipeline started, bytes per series, the shard count at the end, and the host probe
//! taken just before the run (`wake us`: CPU microseconds a thread pinned to core 0 spends
//! per cross-core wake-up round trip with a thread on core 1; see `wake_probe`); on stderr, the
//! CPU of the core loops and of the WAL reader apart, each as user + system seconds per
//! million samples with its voluntary and involuntary context switches.

use ringwrite::config::Config;
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::record::{encode, RefSample};
use ringwrite::runtime::Cores;
use ringwrite::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use ringwrite::wal::writer::{Compression, WalWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PER_TARGET: u64 = 1000;

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    let series: u64 = env_or("RINGWRITE_BENCH_SERIES", 100_000);
    let per_series: i64 = env_or("RINGWRITE_BENCH_SAMPLES_PER_SERIES", 120);
    let transport = std::env::var("RINGWRITE_BENCH_TRANSPORT").unwrap_or_else(|_| "h2c".into());
    let protos: Vec<String> = match std::env::var("RINGWRITE_BENCH_PROTO") {
        Ok(p) => vec![p],
        Err(_) => vec!["rw1".into(), "rw2".into()],
    };
    let shards: Option<usize> = std::env::var("RINGWRITE_BENCH_SHARDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let unique = match std::env::var("RINGWRITE_BENCH_LABELS").as_deref() {
        Ok("unique") => true,
        Ok("target") | Err(_) => false,
        Ok(other) => panic!("RINGWRITE_BENCH_LABELS={other}: want target or unique"),
    };
    let shape = if unique { "-unique" } else { "" };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "bench/out/pipeline-wal-{series}x{per_series}{shape}"
    ));
    if !dir.join("DONE").exists() {
        let t = Instant::now();
        generate(&dir, series, per_series, unique);
        println!("generated {} in {:.1?}", dir.display(), t.elapsed());
    }
    let total = series * per_series as u64;
    println!(
        "{:<5} {:<6} {:>10} {:>12} {:>16} {:>14} {:>14} {:>8} {:>8} {:>8}",
        "proto",
        "trans",
        "samples",
        "M samples/s",
        "CPU s/M samples",
        "peak RSS MiB",
        "B/series",
        "shards",
        "reshards",
        "wake us"
    );
    for proto in &protos {
        run_one(&dir, proto, &transport, total, series, shards);
    }
}

fn run_one(
    dir: &Path,
    proto: &str,
    transport: &str,
    total: u64,
    series: u64,
    shards: Option<usize>,
) {
    let t = match transport {
        "http1" => SinkTransport::Http1,
        _ => SinkTransport::H2c,
    };
    // RW 2.0 needs the Written headers (without them the endpoint falls back to RW 1.0),
    // so the sink counts samples with a protobuf skimmer; RW 1.0 needs no body work.
    let rw2 = proto == "rw2";
    let sink = Sink::builder(t)
        .record(false)
        .decompress(rw2)
        .handler(Arc::new(Counter))
        .pin_to_core(1)
        .start()
        .expect("sink");
    let message = if proto == "rw2" {
        "io.prometheus.write.v2.Request"
    } else {
        "prometheus.WriteRequest"
    };
    let mps: usize = env_or("RINGWRITE_BENCH_MAX_SAMPLES_PER_SEND", 2000);
    let protocol = if transport == "http1" { "http1" } else { "h2c" };
    let tenant: String = env_or("RINGWRITE_BENCH_TENANT_LABEL", String::new());
    let tenant = if tenant.is_empty() {
        String::new()
    } else {
        format!("    tenant_label: {tenant}\n")
    };
    let yaml = format!(
        "remote_write:\n  - url: {}\n    name: bench\n    protocol: {protocol}\n    protobuf_message: {message}\n{tenant}    queue_config:\n      max_shards: 16\n      max_samples_per_send: {mps}\n",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "bench.yml", None).expect("config");
    // Reset the peak-RSS watermark so generation and the sink's setup do not count.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let base = rss_kib("VmRSS");
    let cores = Arc::new(Cores::start(&[0]).expect("cores"));
    let spec = PipelineSpec {
        fixed_shards: shards,
        ..PipelineSpec::new(cfg.remote_write[0].clone(), dir.to_path_buf())
    };
    let (wake_wall, wake_cpu) = wake_probe();
    eprintln!(
        "  host probe: cross-core wake-up round trip {wake_wall:.1} us, {wake_cpu:.1} us CPU on the pinned thread"
    );
    let cpu0 = ringwrite_threads_cpu();
    let split0 = ringwrite_threads_cpu_split();
    let detail0 = thread_detail();
    let start = Instant::now();
    let p = Pipeline::start(spec, Arc::clone(&cores)).expect("pipeline");
    loop {
        let acked = p.stats.queue.samples_acked.load(Ordering::Relaxed)
            + p.stats.queue.samples_failed.load(Ordering::Relaxed);
        if acked >= total {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "stuck at {acked}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = ringwrite_threads_cpu() - cpu0;
    let split = ringwrite_threads_cpu_split();
    let detail = thread_detail();
    let m = total as f64 / 1e6;
    eprintln!(
        "  CPU s per M samples: core loop {:.3}, WAL reader {:.3}",
        (split.0 - split0.0) / m,
        (split.1 - split0.1) / m
    );
    for (i, name) in ["core loop", "WAL reader"].iter().enumerate() {
        let (a, b) = (detail[i], detail0[i]);
        eprintln!(
            "  {name}: user {:.3} + system {:.3} s/M; context switches {} voluntary, {} involuntary",
            (a.user - b.user) / m,
            (a.system - b.system) / m,
            a.voluntary - b.voluntary,
            a.involuntary - b.involuntary,
        );
    }
    eprintln!(
        "  batches encoded while the previous request was in flight: {}",
        p.stats.queue.batches_encoded_ahead.load(Ordering::Relaxed)
    );
    let peak = rss_kib("VmHWM");
    let stats = Arc::clone(&p.stats);
    p.stop().expect("stop");
    let failed = stats.queue.samples_failed.load(Ordering::Relaxed);
    assert_eq!(failed, 0, "samples failed");
    let above = peak.saturating_sub(base) as f64 * 1024.0;
    println!(
        "{:<5} {:<6} {:>10} {:>12.2} {:>16.3} {:>14.1} {:>14.0} {:>8} {:>8} {:>8.1}",
        proto,
        transport,
        total,
        total as f64 / wall / 1e6,
        cpu / (total as f64 / 1e6),
        peak as f64 / 1024.0,
        above / series as f64,
        stats.shards.load(Ordering::Relaxed),
        stats.reshards.load(Ordering::Relaxed),
        wake_cpu
    );
    drop(sink);
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}

/// What a cross-core wake-up costs on this host right now: a thread pinned to core 0 and
/// one pinned to core 1 wake each other in turn (futex park/unpark, both sleeping in
/// between, as the pipeline's threads and the sink do per request). Returns the wall
/// time of a round trip and the CPU time the core-0 thread spends per round trip, both
/// in microseconds. In this guest the pipeline's CPU per sample rises and falls with the
/// second number (the host's load changes how costly interrupts and wake-ups are), so
/// each result line carries it.
fn wake_probe() -> (f64, f64) {
    use std::sync::atomic::AtomicU64;
    use std::thread::{park, spawn, Thread};
    const ROUNDS: u64 = 2000;
    let turn = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel::<Thread>();
    let t = Arc::clone(&turn);
    let peer = spawn(move || {
        core_affinity::set_for_current(core_affinity::CoreId { id: 1 });
        let pinned = rx.recv().expect("the pinned thread");
        for i in 0..ROUNDS {
            while t.load(Ordering::Acquire) != 2 * i + 1 {
                park();
            }
            t.store(2 * i + 2, Ordering::Release);
            pinned.unpark();
        }
    });
    let peer_thread = peer.thread().clone();
    let pinned = spawn(move || {
        core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
        tx.send(std::thread::current()).expect("the peer");
        std::thread::sleep(Duration::from_millis(20));
        let (cpu0, start) = (thread_cpu_us(), Instant::now());
        for i in 0..ROUNDS {
            turn.store(2 * i + 1, Ordering::Release);
            peer_thread.unpark();
            while turn.load(Ordering::Acquire) != 2 * i + 2 {
                park();
            }
        }
        let (wall, cpu) = (start.elapsed(), thread_cpu_us() - cpu0);
        (
            wall.as_secs_f64() * 1e6 / ROUNDS as f64,
            cpu / ROUNDS as f64,
        )
    });
    let out = pinned.join().expect("probe");
    peer.join().expect("probe peer");
    out
}

/// CPU time of the calling thread in microseconds.
fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and the clock id is a constant Linux
    // supports; the call only writes `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

/// Answers RW 2.0 requests with exact `X-Prometheus-Remote-Write-*-Written` headers.
struct Counter;

impl Handler for Counter {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        let Some(Ok(body)) = &req.decompressed else {
            return Some(Reply::no_content());
        };
        let (s, h) = count_v2(body);
        Some(Reply::written(s, h, 0))
    }
}

fn varint(b: &[u8], i: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while *i < b.len() {
        let x = b[*i];
        *i += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            break;
        }
        shift += 7;
    }
    v
}

/// Walks `fields` of a message, calling `f(field, wire type, payload range)`.
fn fields(b: &[u8], mut f: impl FnMut(u64, u64, std::ops::Range<usize>)) {
    let mut i = 0;
    while i < b.len() {
        let key = varint(b, &mut i);
        let (field, wt) = (key >> 3, key & 7);
        let start = i;
        match wt {
            0 => {
                varint(b, &mut i);
            }
            1 => i += 8,
            2 => {
                let n = varint(b, &mut i) as usize;
                f(field, wt, i..i + n);
                i += n;
                continue;
            }
            5 => i += 4,
            _ => return,
        }
        f(field, wt, start..i);
    }
}

/// Samples and histograms in an RW 2.0 `Request`.
fn count_v2(body: &[u8]) -> (u64, u64) {
    let (mut s, mut h) = (0, 0);
    fields(body, |field, wt, r| {
        if field == 5 && wt == 2 {
            fields(&body[r], |f, wt, _| match (f, wt) {
                (2, 2) => s += 1,
                (3, 2) => h += 1,
                _ => {}
            });
        }
    });
    (s, h)
}

fn generate(dir: &Path, series: u64, per_series: i64, unique: bool) {
    let _ = std::fs::remove_dir_all(dir);
    let mut w = WalWriter::create(dir, 0, 128 << 20, Compression::Snappy).expect("create");
    let mut buf = Vec::new();
    let targets = series.div_ceil(PER_TARGET);
    for t in 0..targets {
        let labels: Vec<Vec<(String, String)>> = (0..PER_TARGET.min(series - t * PER_TARGET))
            .map(|i| {
                let mut l = vec![
                    (
                        "__name__".to_string(),
                        format!("node_metric_{}_total", i % 97),
                    ),
                    ("cpu".to_string(), format!("{}", i % 16)),
                    (
                        "instance".to_string(),
                        if unique {
                            format!("10.{}.{}.{}:9100", t / 250, t % 250, i % 7)
                        } else {
                            format!("10.{}.{}.1:9100", t / 250, t % 250)
                        },
                    ),
                    ("job".to_string(), "node".to_string()),
                    (
                        "mode".to_string(),
                        ["user", "system", "idle", "iowait"][(i % 4) as usize].into(),
                    ),
                    (
                        "pod".to_string(),
                        if unique {
                            format!("node-exporter-{t:05}-{i:04}")
                        } else {
                            format!("node-exporter-{t:05}")
                        },
                    ),
                ];
                l.sort();
                l
            })
            .collect();
        buf.clear();
        encode::series(
            &mut buf,
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (t * PER_TARGET + i as u64 + 1, l)),
        );
        w.log(&[&buf]).expect("write");
    }
    let mut batch = Vec::new();
    for s in 0..per_series {
        for t in 0..targets {
            batch.clear();
            let n = PER_TARGET.min(series - t * PER_TARGET);
            let ts = 1_700_000_000_000 + s * 15_000 + t as i64;
            for i in 0..n {
                batch.push(RefSample {
                    sref: t * PER_TARGET + i + 1,
                    t: ts,
                    st: 0,
                    v: if i % 3 == 0 {
                        (s * 7 + i as i64) as f64
                    } else {
                        ((s * 31 + i as i64) % 1000) as f64 / 4.0
                    },
                });
            }
            buf.clear();
            encode::samples_v1(&mut buf, &batch);
            w.log(&[&buf]).expect("write");
        }
    }
    w.close().expect("close");
    std::fs::write(dir.join("DONE"), b"").expect("mark");
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// User and system CPU seconds and context switches of a group of threads.
#[derive(Clone, Copy, Default)]
struct ThreadDetail {
    user: f64,
    system: f64,
    voluntary: u64,
    involuntary: u64,
}

/// [`ThreadDetail`] of the core loops, then of the other ringwrite threads (WAL readers).
fn thread_detail() -> [ThreadDetail; 2] {
    let mut out = [ThreadDetail::default(); 2];
    for (comm, stat, status) in ringwrite_threads() {
        let d = &mut out[usize::from(!comm.starts_with("ringwrite-core"))];
        let after = stat.rsplit_once(") ").map(|x| x.1).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        d.user += ticks(11) / 100.0;
        d.system += ticks(12) / 100.0;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        d.voluntary += field("voluntary_ctxt_switches:");
        d.involuntary += field("nonvoluntary_ctxt_switches:");
    }
    out
}

/// (comm, stat, status) of each of ringwrite's own threads (not the sink's).
fn ringwrite_threads() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for t in rd.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let comm = comm.trim().to_string();
            if !comm.starts_with("ringwrite-") || comm.starts_with("ringwrite-sink") {
                continue;
            }
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            out.push((comm, stat, status));
        }
    }
    out
}

/// CPU seconds of ringwrite's own threads (core loops, WAL readers), not the sink's.
fn ringwrite_threads_cpu() -> f64 {
    let (core, reader) = ringwrite_threads_cpu_split();
    core + reader
}

/// CPU seconds of the core loops and of the other ringwrite threads (WAL readers).
fn ringwrite_threads_cpu_split() -> (f64, f64) {
    let [core, other] = thread_detail();
    (core.user + core.system, other.user + other.system)
}
