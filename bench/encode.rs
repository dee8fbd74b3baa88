//! Encode + snappy throughput per core for RW 1.0 and RW 2.0 (FORMATS.md §3, §4;
//! RUNTIME-NOTES.md §7 for the numbers this is compared with).
//!
//! Run: `cargo bench --bench encode` (release profile). Knobs (environment):
//! `ENCODE_BENCH_SECS` seconds per measurement run (default 0.5), `ENCODE_BENCH_RUNS`
//! runs per row, median reported (default 5), `ENCODE_BENCH_CORE` core to pin to
//! (default: the last one), `ENCODE_BENCH_FILTER` only rows whose "proto workload"
//! contains this text (for profiling), `ENCODE_BENCH_ITERS` a fixed number of batches
//! per run instead of a duration (for `valgrind --tool=callgrind`).
//! `ENCODE_BENCH_DUMP=DIR` also writes the uncompressed 2000x1 request bodies to DIR (for
//! trying compressors on real bodies).
//!
//! Batches are 2000 samples with ~200 B of label names+values per series (10 labels
//! like a Kubernetes scrape: pod hashes, IPs). Workloads:
//! * `2000x1 50/target`: 2000 series x 1 sample, as in steady-state scraping; 50
//!   series per target share its cluster/container/instance/job/namespace/pod labels;
//! * `2000x1 1/target`: every series has its own pod and IP (worst case for RW 2.0);
//! * `200x10 grouped`: 200 series x 10 samples, each series' samples adjacent (merged
//!   into one TimeSeries);
//! * `200x10 interleaved`: the same samples in scrape order (t0 for all series, then
//!   t1, ...), so every sample gets its own TimeSeries.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ringwrite::encode::{
    Compression, Compressor, EncodedSeries, Rw1Encoder, Rw2Encoder, SymbolInterner,
};
use ringwrite::record::RefSample;

const BATCH: usize = 2000;

/// Deterministic xorshift so every run encodes the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const METRICS: [&str; 8] = [
    "http_server_requests_seconds_count",
    "http_server_requests_seconds_sum",
    "process_resident_memory_bytes",
    "container_cpu_usage_seconds_total",
    "kube_pod_container_status_ready",
    "grpc_server_handled_total_by_code",
    "node_network_receive_bytes_total",
    "jvm_gc_collection_seconds_count",
];

/// Labels of one scrape target: the same for every series it exposes.
fn target_labels(rng: &mut Rng) -> Vec<(&'static str, String)> {
    let app = rng.pick(&[
        "api-server",
        "checkout",
        "payments",
        "frontend",
        "ledger-svc",
    ]);
    let hash = format!("{:09x}", rng.next() & 0xf_ffff_ffff);
    let pod = format!("{app}-{hash}-{:05x}", rng.next() & 0xf_ffff);
    let ip = format!(
        "10.{}.{}.{}:{}",
        rng.next() % 256,
        rng.next() % 256,
        rng.next() % 256,
        rng.pick(&["8080", "9090", "9100", "8443"])
    );
    vec![
        (
            "cluster",
            rng.pick(&["prod-eu-west-1", "prod-us-east-2"]).to_string(),
        ),
        ("container", app.to_string()),
        ("endpoint", "http-metrics".to_string()),
        ("instance", ip),
        ("job", "kubernetes-pods".to_string()),
        (
            "namespace",
            rng.pick(&["payments", "web", "platform"]).to_string(),
        ),
        ("pod", pod),
    ]
}

/// Series `i` of a target: distinct (metric, method, status) for `i < 96`.
fn series_labels(target: &[(&'static str, String)], i: usize) -> Vec<(String, String)> {
    let mut l = target.to_vec();
    l.push(("__name__", METRICS[i % 8].to_string()));
    l.push(("method", ["GET", "POST", "PUT"][i / 8 % 3].to_string()));
    l.push((
        "status",
        ["200", "404", "500", "503"][i / 24 % 4].to_string(),
    ));
    l.sort();
    l.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}

/// A batch: the series and, per sample, (series index, sample).
struct Workload {
    name: &'static str,
    interner: SymbolInterner,
    series: Vec<std::sync::Arc<EncodedSeries>>,
    items: Vec<(usize, RefSample)>,
    label_bytes: usize,
}

/// `per_target` series share their target's labels (pod, instance, ...); with
/// `per_target == 1` every series has its own pod and IP (worst case for RW 2.0).
fn workload(
    name: &'static str,
    n_series: usize,
    per_target: usize,
    per_series: usize,
    interleave: bool,
) -> Workload {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n_series as u64);
    let mut interner = SymbolInterner::new();
    let mut target = target_labels(&mut rng);
    let sets: Vec<Vec<(String, String)>> = (0..n_series)
        .map(|i| {
            if i % per_target == 0 {
                target = target_labels(&mut rng);
            }
            series_labels(&target, i % per_target)
        })
        .collect();
    let label_bytes = sets
        .iter()
        .map(|l| l.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>())
        .sum::<usize>()
        / n_series;
    let series: Vec<std::sync::Arc<EncodedSeries>> = sets
        .iter()
        .map(|l| {
            EncodedSeries::new(
                l.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
                &mut interner,
            )
            .expect("interner has room")
        })
        .collect();
    // Counters (integral, increasing) for most series, gauges (arbitrary) for the rest.
    let value = |rng: &mut Rng, s: usize, k: usize| -> f64 {
        if s % 10 < 7 {
            (1000 * s + 3 * k) as f64
        } else {
            (rng.next() % 1_000_000) as f64 / 1000.0
        }
    };
    let mut items = Vec::with_capacity(BATCH);
    let t0 = 1_700_000_000_000i64;
    let sample = |t: i64, v: f64| RefSample {
        sref: 0,
        t,
        st: 0,
        v,
    };
    if interleave {
        for k in 0..per_series {
            for s in 0..n_series {
                let v = value(&mut rng, s, k);
                items.push((s, sample(t0 + 15_000 * k as i64 + s as i64 % 7, v)));
            }
        }
    } else {
        for s in 0..n_series {
            for k in 0..per_series {
                let v = value(&mut rng, s, k);
                items.push((s, sample(t0 + 15_000 * k as i64 + s as i64 % 7, v)));
            }
        }
    }
    assert_eq!(items.len(), BATCH);
    Workload {
        name,
        interner,
        series,
        items,
        label_bytes,
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always
    // supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One measurement: batches per wall second and CPU seconds per batch.
struct Run {
    batches_per_s: f64,
    cpu_per_batch: f64,
}

/// Runs `batch` for `secs` seconds, or exactly `iters` times when `iters > 0` (for
/// instruction counting under callgrind, where time means little).
fn measure(secs: f64, iters: u64, mut batch: impl FnMut() -> usize) -> Run {
    for _ in 0..20.min(iters.max(1) * 20) {
        black_box(batch());
    }
    let deadline = Duration::from_secs_f64(secs);
    let (start, cpu0) = (Instant::now(), thread_cpu());
    let mut n = 0u64;
    if iters > 0 {
        for _ in 0..iters {
            black_box(batch());
        }
        n = iters;
    }
    while iters == 0 && start.elapsed() < deadline {
        for _ in 0..10 {
            black_box(batch());
        }
        n += 10;
    }
    let (wall, cpu) = (
        start.elapsed().as_secs_f64(),
        (thread_cpu() - cpu0).as_secs_f64(),
    );
    Run {
        batches_per_s: n as f64 / wall,
        cpu_per_batch: cpu / n as f64,
    }
}

/// Medians of wall throughput and of CPU cost, each over all runs.
fn median(runs: Vec<Run>) -> Run {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Run {
        batches_per_s: mid(runs.iter().map(|r| r.batches_per_s).collect()),
        cpu_per_batch: mid(runs.iter().map(|r| r.cpu_per_batch).collect()),
    }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs: f64 = env_or("ENCODE_BENCH_SECS", 0.5);
    let runs: usize = env_or("ENCODE_BENCH_RUNS", 5);
    let iters: u64 = env_or("ENCODE_BENCH_ITERS", 0);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let core = env_or("ENCODE_BENCH_CORE", cores.last().map_or(0, |c| c.id));
    let pinned = cores
        .iter()
        .find(|c| c.id == core)
        .is_some_and(|&c| core_affinity::set_for_current(c));
    println!(
        "encode bench: {BATCH} samples/request, {runs} runs x {secs} s, median; pinned to core {core}: {pinned}"
    );
    println!(
        "M/s = million samples per wall second; M/cpu-s = per second of this thread's CPU time \
         (the per-core rate when other processes share the core)"
    );
    println!(
        "{:<7} {:<19} {:>5} {:>6} {:>6} | {:>8} {:>9} | {:>8} {:>9} {:>9}",
        "proto",
        "workload",
        "lbl B",
        "raw B",
        "snap B",
        "enc M/s",
        "M/cpu-s",
        "e+s M/s",
        "M/cpu-s",
        "cpu s/M",
    );
    let workloads = [
        workload("2000x1 50/target", 2000, 50, 1, false),
        workload("2000x1 1/target", 2000, 1, 1, false),
        workload("200x10 grouped", 200, 50, 10, false),
        workload("200x10 interleaved", 200, 50, 10, true),
    ];
    let mut rw1 = Rw1Encoder::new();
    let mut rw2 = Rw2Encoder::new();
    let mut c = Compressor::new(Compression::Snappy);
    let mut arena = bytes::BytesMut::with_capacity(1 << 20);
    let filter: String = env_or("ENCODE_BENCH_FILTER", String::new());
    for w in &workloads {
        for proto in ["RW 1.0", "RW 2.0"] {
            if !format!("{proto} {}", w.name).contains(&filter) {
                continue;
            }
            let mut sizes = (0usize, 0usize);
            let mut encode = |compress: bool, sizes: &mut (usize, usize)| -> usize {
                let bytes = if proto == "RW 1.0" {
                    let mut req = rw1.begin();
                    for (s, sample) in &w.items {
                        req.push_sample(&w.series[*s], sample);
                    }
                    req.finish().expect("encodes").bytes
                } else {
                    let mut req = rw2.begin(&w.interner);
                    for (s, sample) in &w.items {
                        req.push_sample(&w.series[*s], sample);
                    }
                    req.finish().expect("encodes").bytes
                };
                sizes.0 = bytes.len();
                if compress {
                    // Each protocol's compressor, as `queue::batch::encode_batch` uses it.
                    let n = if proto == "RW 1.0" {
                        c.compress(bytes).expect("compresses").len()
                    } else {
                        c.compress_rw2_into(bytes, &mut arena)
                            .expect("compresses")
                            .len()
                    };
                    sizes.1 = n;
                    n
                } else {
                    bytes.len()
                }
            };
            // Alternate the two measurements so that load from other processes hits both
            // alike.
            let (mut enc_runs, mut full_runs) = (Vec::new(), Vec::new());
            for _ in 0..runs {
                enc_runs.push(measure(secs, iters, || encode(false, &mut sizes)));
                full_runs.push(measure(secs, iters, || encode(true, &mut sizes)));
            }
            let (enc_only, full) = (median(enc_runs), median(full_runs));
            let per = BATCH as f64;
            println!(
                "{:<7} {:<19} {:>5} {:>6.1} {:>6.1} | {:>8.2} {:>9.2} | {:>8.2} {:>9.2} {:>9.3}",
                proto,
                w.name,
                w.label_bytes,
                sizes.0 as f64 / per,
                sizes.1 as f64 / per,
                enc_only.batches_per_s * per / 1e6,
                per / enc_only.cpu_per_batch / 1e6,
                full.batches_per_s * per / 1e6,
                per / full.cpu_per_batch / 1e6,
                full.cpu_per_batch / per * 1e6,
            );
        }
    }
    // Reference: snappy alone on the 2000x1 bodies (the ceiling of those rows).
    if !filter.is_empty() {
        return;
    }
    for w in &workloads[..2] {
        let mut req = rw1.begin();
        for (s, sample) in &w.items {
            req.push_sample(&w.series[*s], sample);
        }
        let raw1 = req.finish().expect("encodes").bytes.to_vec();
        let mut req = rw2.begin(&w.interner);
        for (s, sample) in &w.items {
            req.push_sample(&w.series[*s], sample);
        }
        let raw2 = req.finish().expect("encodes").bytes.to_vec();
        for (proto, raw) in [("RW 1.0", raw1), ("RW 2.0", raw2)] {
            if let Ok(dir) = std::env::var("ENCODE_BENCH_DUMP") {
                let name = format!(
                    "{dir}/{}-{}.bin",
                    proto.replace(' ', ""),
                    w.name.replace(['/', ' '], "_")
                );
                std::fs::write(&name, &raw).expect("writes the body");
            }
            let snap_only = median(
                (0..runs)
                    .map(|_| {
                        measure(secs, iters, || {
                            if proto == "RW 1.0" {
                                c.compress(&raw).expect("compresses").len()
                            } else {
                                let body = c.compress_rw2_into(&raw, &mut arena);
                                body.expect("compresses").len()
                            }
                        })
                    })
                    .collect(),
            );
            println!(
                "snappy alone, {proto} {} body ({} B): {:.2} M samples/s, {:.2} M samples/cpu-s, \
                 {:.0} MB/cpu-s input",
                w.name,
                raw.len(),
                snap_only.batches_per_s * BATCH as f64 / 1e6,
                BATCH as f64 / snap_only.cpu_per_batch / 1e6,
                raw.len() as f64 / snap_only.cpu_per_batch / 1e6
            );
        }
    }
}
