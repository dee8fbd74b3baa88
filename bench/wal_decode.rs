//! WAL decode throughput on one pinned core: the full read path (mmap, fragment parsing,
//! CRC32C, snappy decompression, record decoding of every sample) over a WAL laid out
//! the way Prometheus writes it, with the page cache warm and cold.
//!
//! Run: `cargo bench --bench wal_decode` (release profile). Environment:
//! - `RINGWRITE_BENCH_WAL=<dir>`: also measure a real WAL directory (e.g. one written by
//!   Prometheus; see tests/fixtures/README.md).
//! - `RINGWRITE_BENCH_SAMPLES=<n>`: size of the generated WALs (default 20 000 000).
//! - `RINGWRITE_BENCH_CORE=<id>`: core to pin to (default: the last one).
//!
//! "M samples/s" is wall-clock; "M samples/CPU-s" divides by the thread's CPU time
//! (user + system), which is the per-core figure when other work shares the machine.
//!
//! The generated WAL mimics scrapes: 10 targets x 1000 series, one Series record per
//! target up front, then per scrape one Samples record of that target's 1000 samples
//! (same timestamp, counters and gauges), written one `log` call per commit like the
//! head appender does.

use ringwrite::record::{self, encode, Histogram, Record, RefSample};
use ringwrite::runtime::thread_cpu;
use ringwrite::wal::tail::{Event, TailOptions, Tailer};
use ringwrite::wal::writer::{Compression, WalWriter};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TARGETS: u64 = 10;
const SERIES_PER_TARGET: u64 = 1000;

fn main() {
    let samples: u64 = std::env::var("RINGWRITE_BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000_000);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let core = std::env::var("RINGWRITE_BENCH_CORE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .and_then(|id| cores.iter().find(|c| c.id == id).copied())
        .or_else(|| cores.last().copied());
    if let Some(c) = core {
        core_affinity::set_for_current(c);
        println!("pinned to core {}", c.id);
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out");
    let mut wals = Vec::new();
    for (name, comp) in [("snappy", Compression::Snappy), ("none", Compression::None)] {
        let dir = out.join(format!("wal-{name}-{samples}"));
        if !dir.join("DONE").exists() {
            let t = Instant::now();
            generate(&dir, samples, comp);
            println!("generated {} in {:.1?}", dir.display(), t.elapsed());
        }
        wals.push((format!("generated/{name}"), dir));
    }
    if let Ok(real) = std::env::var("RINGWRITE_BENCH_WAL") {
        wals.push(("real".to_string(), PathBuf::from(real)));
    }
    println!(
        "{:<20} {:>5} {:>12} {:>12} {:>16} {:>14} {:>12} {:>8}",
        "wal",
        "cache",
        "samples",
        "M samples/s",
        "M samples/CPU-s",
        "CPU s/M samp",
        "MB/s (disk)",
        "records"
    );
    decode_only(&wals[0].1);
    for (name, dir) in &wals {
        let bytes = dir_bytes(dir);
        // Warm: one untimed pass, then the median of 5.
        let _ = decode_pass(dir);
        let mut runs: Vec<Pass> = (0..5).map(|_| decode_pass(dir)).collect();
        runs.sort_by_key(|p| p.cpu);
        report(name, "warm", &runs[2], bytes);
        // Cold: drop the segments from the page cache before each pass.
        let mut runs: Vec<Pass> = (0..3)
            .map(|_| {
                drop_cache(dir);
                decode_pass(dir)
            })
            .collect();
        runs.sort_by_key(|p| p.cpu);
        report(name, "cold", &runs[1], bytes);
    }
}

/// Record decoding alone, over records already in memory: separates the cost of the
/// decoders from the read path (mmap, CRC, decompression).
fn decode_only(dir: &Path) {
    let mut recs: Vec<Vec<u8>> = Vec::new();
    let mut t = Tailer::open(dir, TailOptions::default()).expect("open WAL");
    loop {
        match t.next_event(Duration::ZERO).expect("read") {
            Event::Record(r) => recs.push(r.bytes.to_vec()),
            Event::End => break,
            _ => {}
        }
    }
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    let (mut n, mut sum) = (0u64, 0u64);
    for _ in 0..3 {
        for r in &recs {
            if let Ok(Record::Samples(it)) = record::decode(r) {
                for s in it.flatten() {
                    n += 1;
                    sum = sum.wrapping_add(s.v.to_bits() ^ s.t as u64 ^ s.sref);
                }
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "decode only (records in memory): {:.1} M samples/s, {:.4} CPU s/M samples (checksum {sum:x})",
        n as f64 / wall / 1e6,
        (thread_cpu() - cpu0).as_secs_f64() / (n as f64 / 1e6)
    );
}

struct Pass {
    samples: u64,
    records: u64,
    wall: Duration,
    cpu: Duration,
    checksum: u64,
}

fn report(name: &str, cache: &str, p: &Pass, bytes: u64) {
    let secs = p.wall.as_secs_f64();
    let cpu = p.cpu.as_secs_f64();
    println!(
        "{:<20} {:>5} {:>12} {:>12.1} {:>16.1} {:>14.4} {:>12.0} {:>8}   (checksum {:x})",
        name,
        cache,
        p.samples,
        p.samples as f64 / secs / 1e6,
        p.samples as f64 / cpu / 1e6,
        cpu / (p.samples as f64 / 1e6),
        bytes as f64 / secs / 1e6,
        p.records,
        p.checksum
    );
}

/// Reads the whole WAL and decodes every sample and histogram.
fn decode_pass(dir: &Path) -> Pass {
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    let mut t = Tailer::open(dir, TailOptions::default()).expect("open WAL");
    let (mut samples, mut records, mut checksum) = (0u64, 0u64, 0u64);
    let mut h = Histogram::default();
    loop {
        match t.next_event(Duration::ZERO).expect("read") {
            Event::Record(r) => {
                records += 1;
                match record::decode(r.bytes).expect("decode") {
                    Record::Samples(it) => {
                        for s in it {
                            let s: RefSample = s.expect("sample");
                            samples += 1;
                            checksum = checksum.wrapping_add(s.v.to_bits() ^ s.t as u64 ^ s.sref);
                        }
                    }
                    Record::Histograms(mut d) => {
                        while let Some(hdr) = d.next_into(&mut h).expect("histogram") {
                            samples += 1;
                            checksum = checksum.wrapping_add(hdr.t as u64 ^ h.count);
                        }
                    }
                    Record::Series(it) => {
                        for s in it {
                            checksum = checksum.wrapping_add(s.expect("series").0);
                        }
                    }
                    _ => {}
                }
            }
            Event::Corruption(c) => panic!("corruption in benchmark WAL: {c}"),
            Event::End => break,
            _ => {}
        }
    }
    Pass {
        samples,
        records,
        wall: t0.elapsed(),
        cpu: thread_cpu() - cpu0,
        checksum,
    }
}

fn generate(dir: &Path, samples: u64, comp: Compression) {
    let _ = std::fs::remove_dir_all(dir);
    let mut w = WalWriter::create(dir, 0, 128 << 20, comp).expect("create WAL");
    let mut buf = Vec::new();
    // Series records, one per target.
    for t in 0..TARGETS {
        let names: Vec<Vec<(String, String)>> = (0..SERIES_PER_TARGET)
            .map(|i| {
                let mut l = vec![
                    (
                        "__name__".to_string(),
                        format!("http_requests_{}_total", i % 50),
                    ),
                    (
                        "code".to_string(),
                        ["200", "404", "500"][(i % 3) as usize].into(),
                    ),
                    ("instance".to_string(), format!("10.1.{t}.7:9100")),
                    ("job".to_string(), "node".to_string()),
                    (
                        "pod".to_string(),
                        format!("api-{}-7f9c6d5b8-x{i:04}", i % 7),
                    ),
                ];
                l.sort();
                l
            })
            .collect();
        buf.clear();
        encode::series(
            &mut buf,
            names
                .iter()
                .enumerate()
                .map(|(i, l)| (t * SERIES_PER_TARGET + i as u64 + 1, l)),
        );
        w.log(&[&buf]).expect("write");
    }
    let scrapes = samples / (TARGETS * SERIES_PER_TARGET);
    let mut batch = Vec::with_capacity(SERIES_PER_TARGET as usize);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for s in 0..scrapes {
        for t in 0..TARGETS {
            batch.clear();
            let ts = 1_700_000_000_000 + s as i64 * 15_000 + t as i64 * 7;
            for i in 0..SERIES_PER_TARGET {
                let v = if i % 2 == 0 {
                    (s * (i + 1)) as f64 // counter
                } else {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 100_000) as f64 / 100.0 // gauge with 2 decimals
                };
                batch.push(RefSample {
                    sref: t * SERIES_PER_TARGET + i + 1,
                    t: ts,
                    st: 0,
                    v,
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

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let dir = ringwrite::wal::dir::resolve_wal_dir(dir).expect("wal dir");
    let l = ringwrite::wal::dir::list(&dir).expect("list");
    let mut files: Vec<PathBuf> = l.segments.into_iter().map(|s| s.path).collect();
    if let Some(cp) = l.checkpoints.last() {
        if let Ok(cl) = ringwrite::wal::dir::list(&cp.path) {
            files.extend(cl.segments.into_iter().map(|s| s.path));
        }
    }
    files
}

fn dir_bytes(dir: &Path) -> u64 {
    segment_files(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Evicts the files from the page cache (clean pages only, which these are after sync).
fn drop_cache(dir: &Path) {
    for p in segment_files(dir) {
        if let Ok(f) = std::fs::File::open(&p) {
            let _ = f.sync_all();
            // SAFETY: plain syscall on an fd we own for the duration of the call.
            unsafe {
                libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
}
