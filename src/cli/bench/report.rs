//! What `ringwrite bench` measured: the progress bar while it runs, then the summary table,
//! the JSON report and the verdict.

use super::BenchArgs;
use crate::gen::verify::VerifyReport;
use crate::gen::{GenSummary, Model};
use crate::pipeline::PipelineStats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::sync::atomic::Ordering;

/// One progress poll: seconds since the start, samples written so far, samples arrived.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: f64,
    pub written: u64,
    pub arrived: u64,
}

pub fn progress_bar(expected: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} samples {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

pub fn update_bar(
    bar: &ProgressBar,
    arrived: u64,
    written: u64,
    lag_p99: Option<f64>,
    shards: u64,
) {
    bar.set_position(arrived);
    let lag = lag_p99.map_or(String::new(), |l| format!(", lag p99 {l:.0} ms"));
    bar.set_message(format!("(written {written}, shards {shards}{lag})"));
}

/// CPU seconds of ringwrite's own threads (core loops `ringwrite-core-*`, WAL readers
/// `ringwrite-wal-*`); the generator's and the receiver's threads are not counted.
pub fn ringwrite_cpu_seconds() -> f64 {
    threads_cpu_seconds(&["ringwrite-core", "ringwrite-wal"])
}

/// CPU seconds of the receiver's thread (the generator reports its own).
pub fn receiver_cpu_seconds() -> f64 {
    threads_cpu_seconds(&["ringwrite-sink"])
}

/// CPU seconds (user + system) of this process's live threads whose name starts with one
/// of `prefixes` (names are cut at 15 bytes by the kernel).
fn threads_cpu_seconds(prefixes: &[&str]) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if !prefixes.iter().any(|p| comm.starts_with(p)) {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) {
            // Fields after the `(comm)`: state is #3, utime #14, stime #15.
            let after = stat.rsplit_once(") ").map_or("", |x| x.1);
            let f: Vec<&str> = after.split_whitespace().collect();
            let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            total += (ut + st) / tick;
        }
    }
    total
}

/// The process's peak resident set (VmHWM), in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Everything the run produced.
pub struct OutcomeInput<'a> {
    pub args: &'a BenchArgs,
    pub model: &'a Model,
    pub generated: GenSummary,
    pub stats: &'a PipelineStats,
    pub verdict: Option<VerifyReport>,
    /// From the start until the generator finished writing (rate check).
    pub write_seconds: f64,
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
    /// CPU seconds of the generator and of the receiver (not part of ringwrite's figure).
    pub harness_cpu_seconds: (f64, f64),
    pub peak_rss_bytes: u64,
    pub driver: &'static str,
    pub cores: &'a [usize],
    pub sink_core: Option<usize>,
    pub pipeline_error: Option<String>,
    pub timeline: Vec<Sample>,
}

/// The figures of a finished run.
pub struct Outcome {
    pub ok: bool,
    pub json: serde_json::Value,
    pub samples_written: u64,
    pub samples_verified: u64,
    /// Whether the receiver verified (false: null sink).
    pub verified: bool,
    pub samples_per_sec: f64,
    pub lag_ms: [f64; 3],
    pub problems: Vec<String>,
    pub timeline: Vec<Sample>,
    /// Per second since the start: samples verified, lag p50 and p99 (ms).
    pub ticks: Vec<(u64, f64, f64)>,
    table: Vec<(&'static str, String)>,
}

impl Outcome {
    pub fn new(i: OutcomeInput<'_>) -> Outcome {
        let g = &i.generated;
        let q = &i.stats.queue;
        let written = g.samples + g.histograms;
        let sent = q.samples_acked.load(Ordering::Relaxed);
        let failed = q.samples_failed.load(Ordering::Relaxed);
        let verified = i
            .verdict
            .as_ref()
            .map_or(sent, |v| v.samples + v.histograms);
        let sps = verified as f64 / i.wall_seconds;
        let cpu_per_m = if verified > 0 {
            i.cpu_seconds / (verified as f64 / 1e6)
        } else {
            0.0
        };
        let q_ms = |q: f64| {
            i.verdict
                .as_ref()
                .filter(|v| !v.lag.is_empty())
                .map_or(0.0, |v| v.lag.value_at_quantile(q) as f64 / 1000.0)
        };
        let lag_ms = [q_ms(0.5), q_ms(0.99), q_ms(0.999)];
        let mut problems = Vec::new();
        if let Some(e) = &i.pipeline_error {
            problems.push(format!("pipeline: {e}"));
        }
        if failed > 0 {
            problems.push(format!("{failed} samples failed to send"));
        }
        let ok = match &i.verdict {
            Some(v) => {
                if !v.ok {
                    problems.push(format!(
                        "verification failed: {} missing, {} missing exemplars, errors {:?}",
                        v.missing, v.missing_exemplars, v.errors
                    ));
                    problems.extend(v.examples.iter().cloned());
                }
                v.ok && failed == 0
            }
            None => sent == written && failed == 0 && written > 0,
        };
        if i.verdict.is_none() && sent != written {
            problems.push(format!("{written} written, {sent} acknowledged"));
        }
        let ticks: Vec<(u64, f64, f64)> = i.verdict.as_ref().map_or_else(Vec::new, |v| {
            v.ticks
                .iter()
                .map(|t| {
                    let p = |q: f64| {
                        if t.lag.is_empty() {
                            0.0
                        } else {
                            t.lag.value_at_quantile(q) as f64 / 1000.0
                        }
                    };
                    (t.samples, p(0.5), p(0.99))
                })
                .collect()
        });
        let a = i.args;
        let shards = i.stats.shards.load(Ordering::Relaxed);
        let v = i.verdict.as_ref();
        let json = json!({
            "ok": ok,
            "samples_written": written,
            "samples_sent": sent,
            "samples_failed": failed,
            "samples_verified": verified,
            "verified": v.is_some(),
            "samples_missing": v.map_or(0, |v| v.missing),
            "verify_errors": v.map_or(0, |v| v.errors.total()),
            "histograms_verified": v.map_or(0, |v| v.histograms),
            "exemplars_written": g.exemplars,
            "exemplars_verified": v.map_or(0, |v| v.exemplars),
            "requests": v.map_or(0, |v| v.requests),
            "requests_refused": v.map_or(0, |v| v.refused),
            "samples_per_sec": sps,
            "wall_seconds": i.wall_seconds,
            "write_seconds": i.write_seconds,
            "write_samples_per_sec": written as f64 / i.write_seconds.max(1e-3),
            "cpu_seconds": i.cpu_seconds,
            "cpu_seconds_per_million_samples": cpu_per_m,
            "generator_cpu_seconds": i.harness_cpu_seconds.0,
            "receiver_cpu_seconds": i.harness_cpu_seconds.1,
            "peak_rss_bytes": i.peak_rss_bytes,
            // The null sink does not look at samples, so it cannot time them.
            "lag_p50_ms": v.map(|_| lag_ms[0]),
            "lag_p99_ms": v.map(|_| lag_ms[1]),
            "lag_p999_ms": v.map(|_| lag_ms[2]),
            "shards_final": shards,
            "reshards": i.stats.reshards.load(Ordering::Relaxed),
            "retries": q.retries.load(Ordering::Relaxed),
            "driver": i.driver,
            "cores": i.cores,
            "sink_core": i.sink_core,
            "series": i.model.series,
            "series_per_target": i.model.series_per_target,
            "samples_per_series": i.model.samples_per_series,
            "rate": a.rate,
            "protocol": format!("{:?}", a.protocol).to_lowercase(),
            "transport": format!("{:?}", a.transport).to_lowercase(),
            "wal_segments": g.segments,
            "wal_checkpoints": g.checkpoints,
        });
        // Series over time, added apart (one json! this long hits the macro recursion limit).
        let mut json = json;
        if let Some(o) = json.as_object_mut() {
            o.insert("problems".into(), json!(problems));
            let timeline: Vec<_> = i
                .timeline
                .iter()
                .map(|s| json!([s.at, s.written, s.arrived]))
                .collect();
            o.insert("timeline".into(), json!(timeline));
            let per_second: Vec<_> = ticks.iter().map(|t| json!([t.0, t.1, t.2])).collect();
            o.insert("ticks".into(), json!(per_second));
        }
        let table = vec![
            (
                "protocol / transport",
                format!("{:?} / {:?}", a.protocol, a.transport).to_lowercase(),
            ),
            (
                "series x samples",
                format!("{} x {}", i.model.series, i.model.samples_per_series),
            ),
            (
                "rate (target)",
                if a.rate > 0.0 {
                    format!("{:.0} samples/s", a.rate)
                } else {
                    "as fast as possible".into()
                },
            ),
            (
                "samples written",
                format!(
                    "{written} in {:.1} s ({:.0} samples/s)",
                    i.write_seconds,
                    written as f64 / i.write_seconds.max(1e-3)
                ),
            ),
            ("samples acknowledged", sent.to_string()),
            (
                "samples verified",
                if v.is_some() {
                    verified.to_string()
                } else {
                    "(null sink)".into()
                },
            ),
            ("throughput", format!("{sps:.0} samples/s")),
            (
                "CPU (ringwrite threads)",
                format!("{:.2} s, {cpu_per_m:.3} s per M samples", i.cpu_seconds),
            ),
            (
                "CPU (generator, receiver)",
                format!(
                    "{:.2} s, {:.2} s",
                    i.harness_cpu_seconds.0, i.harness_cpu_seconds.1
                ),
            ),
            (
                "peak RSS (process)",
                format!("{:.1} MiB", i.peak_rss_bytes as f64 / 1048576.0),
            ),
            (
                "lag p50 / p99 / p99.9",
                match v {
                    Some(_) => format!("{:.1} / {:.1} / {:.1} ms", lag_ms[0], lag_ms[1], lag_ms[2]),
                    None => "(null sink)".into(),
                },
            ),
            ("shards (final)", shards.to_string()),
            (
                "driver, cores, sink core",
                format!("{}, {:?}, {:?}", i.driver, i.cores, i.sink_core),
            ),
        ];
        Outcome {
            ok,
            json,
            samples_written: written,
            samples_verified: verified,
            verified: v.is_some(),
            samples_per_sec: sps,
            lag_ms,
            problems,
            timeline: i.timeline,
            ticks,
            table,
        }
    }

    pub fn json_string(&self) -> String {
        serde_json::to_string_pretty(&self.json).unwrap_or_default() + "\n"
    }

    pub fn print_table(&self) {
        let w = self.table.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        println!("ringwrite bench");
        for (k, v) in &self.table {
            println!("  {k:<w$}  {v}");
        }
    }

    /// The last lines: what was verified and how fast, or what went wrong.
    pub fn print_verdict(&self) {
        for p in &self.problems {
            println!("  problem: {p}");
        }
        let what = if self.verified {
            "verified"
        } else {
            "acknowledged (null sink, not verified)"
        };
        if self.ok {
            let lag = if self.verified {
                format!(" (lag p99 {:.1} ms)", self.lag_ms[1])
            } else {
                String::new()
            };
            println!(
                "OK: {} of {} samples {what} at {:.0} samples/s{lag}",
                self.samples_verified, self.samples_written, self.samples_per_sec
            );
        } else {
            println!(
                "FAILED: {} of {} samples {what}",
                self.samples_verified, self.samples_written
            );
        }
    }
}
