//! Push throughput of the HTTP transport: one client core against an in-process sink on the
//! other core, over HTTP/1.1, h2c and TLS h2.
//!
//! Run: `cargo bench --bench push`. Knobs (environment): `PUSH_SECS` (per run, default 3),
//! `PUSH_ROUNDS` (default 3; modes are interleaved and the median run by req/s is shown),
//! `PUSH_CONCURRENCY` (requests in flight, a comma list, default `4,16`: every mode runs
//! at each), `PUSH_SERIES` (series per body, default 2000), `PUSH_MODES` (comma list,
//! default all).
//!
//! Why more than one in-flight count: with few requests in flight the client waits for the
//! sink (on one core, it is slower than the client in every mode) and pays a sleep and a
//! cross-core wake-up per answer, which shows up as transport CPU per GB; with more in
//! flight each wake-up carries several answers. A sender that keeps a core busy has many
//! requests in flight (Little's law: thousands of requests per second times the round
//! trip), so the higher count is the per-core figure, the lower one the cost when idle
//! waits dominate.
//!
//! The body is a synthetic RW 1.0 WriteRequest (2000 series x 10 labels, 1 sample each,
//! varied label values), snappy-compressed once and re-sent: this measures transport cost,
//! not encoding. The sink reads every body completely but does not decompress it (so the
//! receiver side stays out of the way). Client CPU is the client thread's user+system time
//! from `getrusage(RUSAGE_THREAD)`.

use std::{
    cell::RefCell,
    rc::Rc,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use ringwrite::{
    http::{
        Endpoint, EndpointConfig, Pool, PoolOptions, Protocol, SentCounts, WireFormat, WriteRequest,
    },
    sink::{Sink, SinkTransport},
};

#[derive(Clone, Copy)]
struct Mode {
    name: &'static str,
    sink: SinkTransport,
    protocol: Protocol,
    /// HTTP/2 connections (streams spread over them); HTTP/1.1 uses one per request.
    h2_connections: usize,
}

const MODES: [Mode; 5] = [
    Mode {
        name: "http1",
        sink: SinkTransport::Http1,
        protocol: Protocol::Http1,
        h2_connections: 0,
    },
    Mode {
        name: "h2c",
        sink: SinkTransport::H2c,
        protocol: Protocol::H2c,
        h2_connections: 4,
    },
    Mode {
        name: "h2c-1conn",
        sink: SinkTransport::H2c,
        protocol: Protocol::H2c,
        h2_connections: 1,
    },
    Mode {
        name: "tls-h2",
        sink: SinkTransport::TlsH2,
        protocol: Protocol::H2,
        h2_connections: 4,
    },
    Mode {
        name: "tls-http1",
        sink: SinkTransport::TlsHttp1,
        protocol: Protocol::Http1,
        h2_connections: 0,
    },
];

struct RunResult {
    requests: u64,
    errors: u64,
    bytes: u64,
    wall: Duration,
    cpu: Duration,
    /// Whole-process CPU minus the client thread: the sink (plus a little noise).
    sink_cpu: Duration,
    p50_us: u64,
    p99_us: u64,
    connections: u64,
}

impl RunResult {
    fn req_per_s(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs: f64 = env("PUSH_SECS", 3.0);
    let rounds: usize = env("PUSH_ROUNDS", 3);
    let concurrencies: Vec<usize> = env("PUSH_CONCURRENCY", String::from("4,16"))
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .filter(|&c| c > 0)
        .collect();
    let series: usize = env("PUSH_SERIES", 2000);
    let wanted: String = env("PUSH_MODES", String::new());
    let modes: Vec<Mode> = MODES
        .into_iter()
        .filter(|m| wanted.is_empty() || wanted.split(',').any(|w| w == m.name))
        .collect();
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let client_core = cores.first().map(|c| c.id);
    let sink_core = cores.get(1).map(|c| c.id);
    let (raw_len, body) = synthetic_body(series);
    println!(
        "push bench: body {} B compressed ({} B raw, {series} series), {concurrencies:?} in flight, \
         {secs} s x {rounds} rounds, client core {client_core:?}, sink core {sink_core:?}, driver {}",
        body.len(),
        raw_len,
        driver_name()
    );
    let cases: Vec<(Mode, usize)> = concurrencies
        .iter()
        .flat_map(|&c| modes.iter().map(move |m| (*m, c)))
        .collect();
    let mut results: Vec<Vec<RunResult>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (i, &(mode, concurrency)) in cases.iter().enumerate() {
            let r = run(mode, &body, secs, concurrency, client_core, sink_core);
            eprintln!(
                "  round {round} {:<10} {concurrency:>3} in flight {:>8.0} req/s {:>8.1} MB/s",
                mode.name,
                r.req_per_s(),
                r.bytes as f64 / r.wall.as_secs_f64() / 1e6
            );
            results[i].push(r);
        }
    }
    println!(
        "{:<10} {:>9} {:>5} {:>9} {:>9} {:>8} {:>12} {:>9} {:>9} {:>9} {:>6}",
        "mode",
        "in flight",
        "conns",
        "req/s",
        "MB/s",
        "cli CPU",
        "cli s/GB",
        "sink CPU",
        "p50 us",
        "p99 us",
        "errors"
    );
    for ((mode, concurrency), runs) in cases.iter().zip(results.iter_mut()) {
        runs.sort_by(|a, b| a.req_per_s().total_cmp(&b.req_per_s()));
        let r = &runs[runs.len() / 2];
        let wall = r.wall.as_secs_f64();
        let gb = r.bytes as f64 / 1e9;
        println!(
            "{:<10} {:>9} {:>5} {:>9.0} {:>9.1} {:>7.0}% {:>12.3} {:>8.0}% {:>9} {:>9} {:>6}",
            mode.name,
            concurrency,
            r.connections,
            r.req_per_s(),
            r.bytes as f64 / wall / 1e6,
            r.cpu.as_secs_f64() / wall * 100.0,
            if gb > 0.0 {
                r.cpu.as_secs_f64() / gb
            } else {
                f64::NAN
            },
            r.sink_cpu.as_secs_f64() / wall * 100.0,
            r.p50_us,
            r.p99_us,
            r.errors
        );
    }
}

fn run(
    mode: Mode,
    body: &Bytes,
    secs: f64,
    concurrency: usize,
    client_core: Option<usize>,
    sink_core: Option<usize>,
) -> RunResult {
    let mut builder = Sink::builder(mode.sink).record(false).decompress(false);
    if let Some(core) = sink_core {
        builder = builder.pin_to_core(core);
    }
    let sink = builder.start().expect("start sink");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = EndpointConfig::new(sink.url());
    cfg.name = Some(format!("bench-{}", mode.name));
    cfg.protocol = mode.protocol;
    if let Some(ca) = sink.ca_pem() {
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca).expect("write ca");
        cfg.tls_config.ca_file = Some(path);
    }
    let endpoint = Arc::new(Endpoint::new(&cfg).expect("endpoint"));
    let opts = PoolOptions {
        h1_max_connections: concurrency,
        h2_max_connections: mode.h2_connections.max(1),
        h2_max_concurrent_streams: concurrency,
        ..PoolOptions::default()
    };
    let body = body.clone();
    let duration = Duration::from_secs_f64(secs);
    let result = std::thread::spawn(move || {
        if let Some(id) = client_core {
            core_affinity::set_for_current(core_affinity::CoreId { id });
        }
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let pool = Pool::new(endpoint, opts);
            // Warm-up: open the connections.
            drive(&pool, &body, concurrency, Duration::from_millis(300), None).await;
            let hist = Rc::new(RefCell::new(
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
            ));
            let cpu0 = thread_cpu();
            let proc0 = rusage(libc::RUSAGE_SELF);
            let start = Instant::now();
            let (requests, errors) =
                drive(&pool, &body, concurrency, duration, Some(hist.clone())).await;
            let wall = start.elapsed();
            let cpu = thread_cpu().saturating_sub(cpu0);
            let process = rusage(libc::RUSAGE_SELF).saturating_sub(proc0);
            let h = hist.borrow();
            RunResult {
                requests,
                errors,
                bytes: requests * body.len() as u64,
                wall,
                cpu,
                sink_cpu: process.saturating_sub(cpu),
                p50_us: h.value_at_quantile(0.5),
                p99_us: h.value_at_quantile(0.99),
                connections: pool.stats().open_connections as u64,
            }
        })
    })
    .join()
    .expect("client thread");
    sink.shutdown();
    result
}

/// Runs `concurrency` send loops for `duration`; returns (ok responses, errors).
async fn drive(
    pool: &Pool,
    body: &Bytes,
    concurrency: usize,
    duration: Duration,
    hist: Option<Rc<RefCell<Histogram<u64>>>>,
) -> (u64, u64) {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let pool = pool.clone();
            let hist = hist.clone();
            let request = WriteRequest {
                body: body.clone(),
                format: WireFormat::Rw1,
                attempt: 0,
                counts: SentCounts::default(),
                tenant: None,
            };
            monoio::spawn(async move {
                let (mut ok, mut err) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match pool.send(&request).await {
                        Ok(r) if r.status.is_success() => ok += 1,
                        _ => err += 1,
                    }
                    if let Some(h) = &hist {
                        let _ = h.borrow_mut().record(t.elapsed().as_micros() as u64);
                    }
                }
                (ok, err)
            })
        })
        .collect();
    let mut total = (0, 0);
    for t in tasks {
        let (ok, err) = t.await;
        total.0 += ok;
        total.1 += err;
    }
    total
}

fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// User + system CPU time of the calling thread (`RUSAGE_THREAD`) or process.
fn rusage(who: libc::c_int) -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` into the pointer, which is valid and
    // properly aligned for that type; RUSAGE_THREAD and RUSAGE_SELF exist on Linux.
    let rc = unsafe { libc::getrusage(who, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: rc == 0 means getrusage initialised the struct.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn driver_name() -> &'static str {
    if monoio::utils::detect_uring() {
        "io_uring (FusionDriver)"
    } else {
        "epoll (FusionDriver fallback)"
    }
}

/// A RW 1.0 `WriteRequest` with `series` series of 10 labels and one sample each, with
/// label values as varied as real ones (pod hashes, IPs). Returns (raw size, snappy body).
fn synthetic_body(series: usize) -> (usize, Bytes) {
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = Vec::with_capacity(series * 300);
    let mut ts = Vec::with_capacity(320);
    let mut lbl = Vec::with_capacity(80);
    for i in 0..series {
        ts.clear();
        let pod_hash = next();
        let ip = next();
        let labels: [(&str, String); 10] = [
            ("__name__", format!("http_requests_total_{}", i % 40)),
            ("cluster", "prod-eu-west-1".to_string()),
            ("container", format!("app-{}", i % 7)),
            ("endpoint", "http-metrics".to_string()),
            (
                "instance",
                format!(
                    "10.{}.{}.{}:8080",
                    ip & 255,
                    (ip >> 8) & 255,
                    (ip >> 16) & 255
                ),
            ),
            ("job", format!("namespace-{}/app", i % 13)),
            (
                "method",
                ["GET", "POST", "PUT", "DELETE"][i % 4].to_string(),
            ),
            ("namespace", format!("namespace-{}", i % 13)),
            (
                "pod",
                format!(
                    "app-{:08x}-{:05x}",
                    pod_hash as u32,
                    (pod_hash >> 40) & 0xfffff
                ),
            ),
            ("status", ["200", "404", "500"][i % 3].to_string()),
        ];
        for (name, value) in &labels {
            lbl.clear();
            field_bytes(&mut lbl, 1, name.as_bytes());
            field_bytes(&mut lbl, 2, value.as_bytes());
            field_bytes(&mut ts, 1, &lbl);
        }
        let mut sample = Vec::with_capacity(20);
        sample.push(0x09);
        sample.extend_from_slice(&((next() % 100_000) as f64).to_le_bytes());
        sample.push(0x10);
        varint(&mut sample, 1_700_000_000_000 + i as u64);
        field_bytes(&mut ts, 2, &sample);
        field_bytes(&mut out, 1, &ts);
    }
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&out)
        .expect("snappy");
    (out.len(), Bytes::from(compressed))
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
