//! `ringwrite bench`: generator -> WAL directory -> the real `ringwrite run` pipeline ->
//! an in-process receiver that verifies every sample, all in one process.
//!
//! The pipeline's shards run on `--cores`; the receiver runs on its own pinned core (the
//! last one this process may use, unless `--sink-core`); the generator and the WAL reader
//! are unpinned threads. CPU per million samples counts ringwrite's own threads only (core
//! loops and WAL reader), not the generator's nor the receiver's; peak RSS is the whole
//! process's. Lag is from the generator's append of a scrape to the receiver's answer for
//! each of its samples.

mod plot;
mod report;

use crate::config::Config;
use crate::gen::sinks::{BenchSink, SinkMode};
use crate::gen::verify::Faults;
use crate::gen::{AppendLog, GenSpec, Generator, LabelShape, Model, Timestamps};
use crate::pipeline::{Pipeline, PipelineSpec};
use crate::runtime::{parse_cores, Cores};
use crate::sink::SinkTransport;
use crate::wal::writer::Compression;
use clap::{Args, ValueEnum};
use report::{Outcome, Sample};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Remote-write protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    Rw1,
    Rw2,
}

/// How the receiver is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Cleartext HTTP/2 (prior knowledge).
    H2c,
    /// HTTP/2 over TLS (ALPN h2).
    H2,
    /// HTTP/1.1, cleartext.
    Http1,
}

/// WAL record compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WalCompression {
    None,
    Snappy,
    Zstd,
}

/// `ringwrite bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Series in the generated WAL.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub series: u64,
    /// Series per scrape target (one WAL commit per target scrape).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub series_per_target: u64,
    /// Samples per series (default: rate x duration / series, or 120 with --rate 0).
    #[arg(long, value_name = "K")]
    pub samples_per_series: Option<u64>,
    /// Samples per second written to the WAL; 0 writes as fast as possible.
    #[arg(long, value_name = "SAMPLES_PER_SEC", default_value_t = 1_000_000.0)]
    pub rate: f64,
    /// How long to write at --rate (with --rate 0: stop writing after this long).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration_arg)]
    pub duration: Option<Duration>,
    /// Remote-write protocol.
    #[arg(long, value_enum, default_value = "rw1")]
    pub protocol: Protocol,
    /// Transport to the receiver.
    #[arg(long, value_enum, default_value = "h2c")]
    pub transport: Transport,
    /// Cores for ringwrite's event loops: `auto` (all but the receiver's) or a list.
    #[arg(long, value_name = "LIST")]
    pub cores: Option<String>,
    /// Core the receiver is pinned to (default: the last core).
    #[arg(long, value_name = "N")]
    pub sink_core: Option<usize>,
    /// Only count at the receiver instead of verifying every sample.
    #[arg(long)]
    pub null_sink: bool,
    /// Write a JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write an SVG plot of throughput and lag over time here.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// WAL directory to write (must not exist or be empty; kept). Default: a temporary one.
    #[arg(long = "wal.dir", value_name = "DIR")]
    pub wal_dir: Option<PathBuf>,
    /// Make every 10th series a native histogram series.
    #[arg(long)]
    pub histograms: bool,
    /// Attach exemplars (every 10th sample of every 4th float series).
    #[arg(long)]
    pub exemplars: bool,
    /// Write Metadata records with each target's first scrape.
    #[arg(long)]
    pub metadata: bool,
    /// Padding labels per series beyond `__name__`, `id`, `instance` and `job`.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub extra_labels: usize,
    /// Length of each padding label's value.
    #[arg(long, value_name = "N", default_value_t = 12)]
    pub label_value_length: usize,
    /// WAL segment size (a multiple of 32KiB; units B, KB, MB, GB, base 1024), like
    /// Prometheus's `--storage.tsdb.wal-segment-size`.
    #[arg(long, value_name = "SIZE", default_value = "128MB", value_parser = parse_size_arg)]
    pub wal_segment_size: u64,
    /// WAL record compression.
    #[arg(long, value_enum, default_value = "snappy")]
    pub wal_compression: WalCompression,
    /// Checkpoint (and delete the oldest segments) when this many segments follow the last
    /// checkpoint, like Prometheus's head truncation.
    #[arg(long, value_name = "SEGMENTS")]
    pub checkpoint_every: Option<u64>,
    /// `queue_config.batch_send_deadline` (Prometheus's default is 5s; shorter here so the
    /// last partial batches do not stretch a short run).
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub batch_send_deadline: String,
    /// Fix the shard count (turns resharding off).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Receiver: delay before every answer.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration_arg)]
    pub sink_latency: Option<Duration>,
    /// Receiver: answer every n-th request with 503 (the sender retries it).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sink_error_every: u64,
    /// Receiver: lose this many samples (to check that verification fails).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sink_drop_samples: u64,
    /// Give up when nothing new arrives for this long after the generator is done.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::parse_duration_arg)]
    pub stall_timeout: Duration,
}

impl BenchArgs {
    fn samples_per_series(&self) -> u64 {
        if let Some(k) = self.samples_per_series {
            return k;
        }
        if self.rate > 0.0 {
            let d = self
                .duration
                .unwrap_or(Duration::from_secs(20))
                .as_secs_f64();
            ((self.rate * d) / self.series.max(1) as f64)
                .ceil()
                .max(1.0) as u64
        } else {
            120
        }
    }
}

/// Errors of the benchmark harness itself (not of the system under test).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench: {what}")]
    Args { what: String },
    #[error("bench: WAL directory {dir}: {source}")]
    WalDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("bench: starting the receiver: {0}")]
    Sink(std::io::Error),
    #[error("bench: starting the pipeline: {0}")]
    Pipeline(String),
    #[error("bench: core loops: {0}")]
    Cores(std::io::Error),
    #[error("bench: the generator failed: {0}")]
    Generator(String),
    #[error("bench: writing {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    crate::config::parse_bytes(s)
}

fn args_err(what: impl Into<String>) -> BenchError {
    BenchError::Args { what: what.into() }
}

/// Picks the pipeline's cores and the receiver's core.
fn choose_cores(args: &BenchArgs) -> Result<(Vec<usize>, Option<usize>), BenchError> {
    let all = parse_cores("auto").map_err(args_err)?;
    let sink = args
        .sink_core
        .or_else(|| (all.len() > 1).then(|| all[all.len() - 1]));
    let cores = match args.cores.as_deref() {
        Some(list) if list != "auto" => parse_cores(list).map_err(args_err)?,
        _ => {
            let rest: Vec<usize> = all.iter().copied().filter(|c| Some(*c) != sink).collect();
            if rest.is_empty() {
                all.clone()
            } else {
                rest
            }
        }
    };
    Ok((cores, sink))
}

/// A temporary directory removed on drop (unless kept).
struct WalRoot {
    path: PathBuf,
    remove: bool,
}

impl Drop for WalRoot {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn wal_root(args: &BenchArgs) -> Result<(WalRoot, PathBuf), BenchError> {
    match &args.wal_dir {
        Some(dir) => {
            let non_empty = std::fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if non_empty {
                return Err(args_err(format!(
                    "--wal.dir {} is not empty; give a new or empty directory",
                    dir.display()
                )));
            }
            Ok((
                WalRoot {
                    path: dir.clone(),
                    remove: false,
                },
                dir.clone(),
            ))
        }
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let root = std::env::temp_dir()
                .join(format!("ringwrite-bench-{}-{nanos}", std::process::id()));
            let wal = root.join("wal");
            Ok((
                WalRoot {
                    path: root,
                    remove: true,
                },
                wal,
            ))
        }
    }
}

fn endpoint_yaml(args: &BenchArgs, url: &str, ca_pem: Option<&str>) -> String {
    let message = match args.protocol {
        Protocol::Rw1 => "prometheus.WriteRequest",
        Protocol::Rw2 => "io.prometheus.write.v2.Request",
    };
    let protocol = match args.transport {
        Transport::H2c => "h2c",
        Transport::H2 => "h2",
        Transport::Http1 => "http1",
    };
    let mut y = format!(
        "remote_write:\n  - url: {url}\n    name: bench\n    protocol: {protocol}\n    protobuf_message: {message}\n    send_exemplars: true\n    send_native_histograms: true\n    queue_config:\n      batch_send_deadline: {}\n",
        args.batch_send_deadline
    );
    if let Some(ca) = ca_pem {
        // JSON strings are YAML double-quoted strings.
        let quoted = serde_json::to_string(ca).unwrap_or_default();
        y.push_str(&format!("    tls_config:\n      ca: {quoted}\n"));
    }
    y
}

/// Runs the benchmark; the exit code is 1 when verification fails.
pub fn run(args: &BenchArgs) -> anyhow::Result<i32> {
    super::signal::install();
    if args.series == 0 || args.series_per_target == 0 {
        return Err(args_err("--series and --series-per-target must be positive").into());
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(args_err("--rate must be a number >= 0").into());
    }
    let (core_ids, sink_core) = choose_cores(args)?;
    let (_root, wal_dir) = wal_root(args)?;
    let k = args.samples_per_series();
    let model = Arc::new(Model {
        series: args.series,
        series_per_target: args.series_per_target,
        samples_per_series: k,
        shape: LabelShape {
            metric_names: 50,
            extra_labels: args.extra_labels,
            value_len: args.label_value_length,
        },
        histograms: args.histograms,
        exemplars: args.exemplars,
        metadata: args.metadata,
        timestamps: Timestamps::WallClock,
    });
    let epoch = Instant::now();
    let log = Arc::new(AppendLog::new(model.scrapes(), epoch));
    let faults = Faults {
        latency: args.sink_latency.unwrap_or_default(),
        error_every: args.sink_error_every,
        drop_samples: args.sink_drop_samples,
    };
    let transport = match args.transport {
        Transport::H2c => SinkTransport::H2c,
        Transport::H2 => SinkTransport::TlsH2,
        Transport::Http1 => SinkTransport::Http1,
    };
    let mode = if args.null_sink {
        SinkMode::Null
    } else {
        SinkMode::Verify
    };
    let sink = BenchSink::start(
        mode,
        transport,
        sink_core,
        faults,
        Arc::clone(&model),
        Arc::clone(&log),
    )
    .map_err(BenchError::Sink)?;
    let yaml = endpoint_yaml(args, &sink.sink.url(), sink.sink.ca_pem());
    let cfg = Config::from_yaml(&yaml, "bench", None).map_err(|e| args_err(e.to_string()))?;

    let spec = GenSpec {
        model: (*model).clone(),
        rate: (args.rate > 0.0).then_some(args.rate),
        segment_size: usize::try_from(args.wal_segment_size)
            .map_err(|_| args_err("--wal-segment-size is too large"))?,
        compression: match args.wal_compression {
            WalCompression::None => Compression::None,
            WalCompression::Snappy => Compression::Snappy,
            WalCompression::Zstd => Compression::Zstd,
        },
        checkpoint_every: args.checkpoint_every,
    };
    let generator = Generator::create(&wal_dir, spec, Arc::clone(&log)).map_err(|source| {
        BenchError::WalDir {
            dir: wal_dir.clone(),
            source,
        }
    })?;
    let gen_progress = generator.progress();

    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let cores = Arc::new(Cores::start(&core_ids).map_err(BenchError::Cores)?);
    let driver = cores.cores().first().map_or("none", |c| c.driver.name());
    let pspec = PipelineSpec {
        flush_deadline: Duration::from_secs(10),
        fixed_shards: args.shards,
        ..PipelineSpec::new(cfg.remote_write[0].clone(), wal_dir.clone())
    };
    let cpu0 = report::ringwrite_cpu_seconds();
    let pipeline = Pipeline::start(pspec, Arc::clone(&cores)).map_err(BenchError::Pipeline)?;

    let stop_gen = Arc::new(AtomicBool::new(false));
    let gen_thread = {
        let stop = Arc::clone(&stop_gen);
        std::thread::Builder::new()
            .name("bench-generator".into())
            .spawn(move || generator.run(&stop).map_err(|e| e.to_string()))
            .map_err(|e| BenchError::Generator(e.to_string()))?
    };
    let (floats, hists, _) = model.totals();
    let expected = floats + hists;
    let bar = report::progress_bar(expected);
    let mut timeline: Vec<Sample> = Vec::new();
    let mut last_change = Instant::now();
    let mut last_count = 0;
    let mut gen_done_at: Option<Instant> = None;
    let mut interrupted = false;
    let mut gen_deadline = args
        .duration
        .filter(|_| args.rate == 0.0)
        .map(|d| epoch + d);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let written = gen_progress.samples.load(Ordering::Relaxed)
            + gen_progress.histograms.load(Ordering::Relaxed);
        let arrived = match mode {
            SinkMode::Verify => sink.samples(),
            SinkMode::Null => pipeline.stats.queue.samples_acked.load(Ordering::Relaxed),
        };
        let lag_p99 = sink.verifier.as_ref().map(|v| v.lag_ms(0.99));
        timeline.push(Sample {
            at: epoch.elapsed().as_secs_f64(),
            written,
            arrived,
        });
        report::update_bar(
            &bar,
            arrived,
            written,
            lag_p99,
            pipeline.stats.shards.load(Ordering::Relaxed),
        );
        if arrived != last_count {
            last_count = arrived;
            last_change = Instant::now();
        }
        if gen_deadline.is_some_and(|d| Instant::now() >= d) {
            stop_gen.store(true, Ordering::Relaxed);
            gen_deadline = None;
        }
        if !interrupted && super::signal::interrupted() {
            interrupted = true;
            stop_gen.store(true, Ordering::Relaxed);
        }
        let gen_done = gen_progress.done.load(Ordering::Acquire);
        if gen_done && gen_done_at.is_none() {
            gen_done_at = Some(Instant::now());
        }
        if gen_done && arrived >= written {
            break;
        }
        if (gen_done || interrupted) && last_change.elapsed() > args.stall_timeout {
            break;
        }
        if pipeline.is_finished() {
            break;
        }
        if interrupted && gen_done && last_change.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let wall = last_change.duration_since(epoch).as_secs_f64().max(1e-3);
    let cpu = report::ringwrite_cpu_seconds() - cpu0;
    let receiver_cpu = report::receiver_cpu_seconds();
    let gen_summary = gen_thread
        .join()
        .map_err(|_| BenchError::Generator("the generator thread panicked".into()))?
        .map_err(BenchError::Generator)?;
    bar.finish_and_clear();
    let stats = Arc::clone(&pipeline.stats);
    let stop_result = pipeline.stop();
    let peak_rss = report::peak_rss_bytes();
    let verdict = sink
        .verifier
        .as_ref()
        .map(|v| v.report(gen_summary.scrapes));
    drop(sink);
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
    let outcome = Outcome::new(report::OutcomeInput {
        args,
        model: &model,
        generated: gen_summary,
        stats: &stats,
        verdict,
        wall_seconds: wall,
        write_seconds: gen_done_at.map_or(wall, |t| t.duration_since(epoch).as_secs_f64()),
        cpu_seconds: cpu,
        harness_cpu_seconds: (gen_summary.thread_cpu.as_secs_f64(), receiver_cpu),
        peak_rss_bytes: peak_rss,
        driver,
        cores: &core_ids,
        sink_core,
        pipeline_error: stop_result.err(),
        timeline,
    });
    outcome.print_table();
    if let Some(path) = &args.json {
        std::fs::write(path, outcome.json_string()).map_err(|source| BenchError::Output {
            path: path.clone(),
            source,
        })?;
    }
    if let Some(path) = &args.plot {
        plot::write_svg(path, &outcome).map_err(|e| BenchError::Output {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
    }
    outcome.print_verdict();
    Ok(if outcome.ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        b: BenchArgs,
    }

    fn parse(args: &[&str]) -> BenchArgs {
        let mut v = vec!["bench"];
        v.extend_from_slice(args);
        Wrap::try_parse_from(v)
            .map(|w| w.b)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn samples_per_series_follows_rate_duration_and_explicit_k() {
        let cases: [(&[&str], u64); 5] = [
            (&[], 200),
            (
                &["--rate", "1000", "--series", "10", "--duration", "3s"],
                300,
            ),
            (&["--rate", "0"], 120),
            (&["--rate", "0", "--samples-per-series", "7"], 7),
            (&["--rate", "5", "--series", "100", "--duration", "1s"], 1),
        ];
        for (a, want) in cases {
            assert_eq!(parse(a).samples_per_series(), want, "{a:?}");
        }
    }

    #[test]
    fn yaml_carries_protocol_transport_and_ca() {
        let a = parse(&["--protocol", "rw2", "--transport", "h2"]);
        let y = endpoint_yaml(
            &a,
            "https://127.0.0.1:1/api/v1/write",
            Some("-----BEGIN X-----\nabc\n"),
        );
        let cfg = Config::from_yaml(&y, "t", None).unwrap_or_else(|e| panic!("{e}\n{y}"));
        let ep = &cfg.remote_write[0];
        assert_eq!(ep.name, "bench");
        assert!(y.contains("protocol: h2\n"), "{y}");
        assert!(y.contains("io.prometheus.write.v2.Request"));
        assert!(y.contains(r#"ca: "-----BEGIN X-----\nabc\n""#), "{y}");
    }
}
