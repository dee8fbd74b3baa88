//! `ringwrite run` and `ringwrite check`.

use super::{CheckArgs, RunArgs};
use crate::config::Config;
use crate::pipeline::{Pipeline, PipelineSpec, SHARD_UPDATE_INTERVAL};
use crate::runtime::{parse_cores, Cores};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    let cfg = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &cfg.warnings {
        tracing::warn!(warning = %w, "Configuration warning.");
    }
    Ok(cfg)
}

/// `ringwrite check --config.file FILE`: exit 0 if the file is usable.
pub fn check(args: &CheckArgs) -> anyhow::Result<i32> {
    match Config::load(&args.config_file) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                println!("  WARNING: {w}");
            }
            for e in &cfg.remote_write {
                let http = crate::pipeline::adapt::endpoint_config(&e.name, &e.config);
                if let Err(err) = http.validate() {
                    println!("  FAILED: {err}");
                    return Ok(1);
                }
            }
            println!(
                "SUCCESS: {} is valid: {} remote_write endpoint(s)",
                args.config_file.display(),
                cfg.remote_write.len()
            );
            Ok(0)
        }
        Err(e) => {
            println!("  FAILED: {e}");
            Ok(1)
        }
    }
}

/// `--storage.path` when neither the flag nor `ringwrite.storage_path` is set (relative to
/// the working directory, like Prometheus's `data/`).
pub const DEFAULT_STORAGE_PATH: &str = "ringwrite-data";

/// `ringwrite run`: ship the WAL to every configured endpoint until interrupted.
pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let cfg = load(&args.config_file)?;
    let wal_dir = args
        .wal_dir
        .clone()
        .or_else(|| cfg.ringwrite.wal_dir.clone())
        .ok_or_else(|| {
            anyhow::anyhow!("no WAL directory: pass --wal.dir or set ringwrite.wal_dir")
        })?;
    // A wrong directory is an error before anything starts.
    crate::wal::dir::resolve_wal_dir(&wal_dir).map_err(|e| anyhow::anyhow!("--wal.dir: {e}"))?;
    if cfg
        .remote_write
        .iter()
        .any(|e| !e.config.write_relabel_configs.is_empty())
    {
        anyhow::bail!(
            "write_relabel_configs are parsed but not applied yet; refusing to ship series that \
             relabeling would have dropped (remove them, or wait for relabel support)"
        );
    }
    let core_ids = match (&args.cores, &cfg.ringwrite.cores) {
        (Some(spec), _) => parse_cores(spec).map_err(|e| anyhow::anyhow!(e))?,
        (None, Some(crate::config::Cores::List(ids))) => ids.clone(),
        (None, Some(crate::config::Cores::Count(n))) => {
            let mut all = parse_cores("auto").map_err(|e| anyhow::anyhow!(e))?;
            all.truncate((*n).max(1));
            all
        }
        (None, None) => parse_cores("auto").map_err(|e| anyhow::anyhow!(e))?,
    };
    super::signal::install();
    let registry = crate::metrics::Registry::new();
    let listen = args
        .web_listen_address
        .clone()
        .or_else(|| cfg.ringwrite.web_listen_address.clone())
        .unwrap_or_else(|| crate::web::DEFAULT_LISTEN_ADDRESS.to_string());
    let control = Arc::new(RunControl::default());
    let web_opts =
        crate::web::WebOptions::from_listen_address(&listen).map_err(|e| anyhow::anyhow!("{e}"))?;
    let web = crate::web::serve(web_opts, registry.clone(), control.clone())
        .map_err(|e| anyhow::anyhow!("--web.listen-address {listen}: {e}"))?;
    tracing::info!(address = %web.local_addr(), "Serving /metrics, /-/healthy, /-/ready.");
    let cores = Arc::new(Cores::start(&core_ids)?);
    crate::metrics::register_build_info(&registry);
    crate::metrics::register_process_metrics(&registry);
    for (i, c) in cores.cores().iter().enumerate() {
        let m = crate::metrics::CoreMetrics::new(&registry, c.id);
        m.set_driver(c.driver.name());
        // Busy ratio: the loop thread's CPU time over wall time, each second.
        let busy = m.busy_ratio.clone();
        cores.spawn_on(i, move || async move {
            let mut last = (Instant::now(), crate::runtime::thread_cpu());
            loop {
                monoio::time::sleep(Duration::from_secs(1)).await;
                let now = (Instant::now(), crate::runtime::thread_cpu());
                let wall = now.0.duration_since(last.0).as_secs_f64();
                if wall > 0.0 {
                    busy.set(((now.1 - last.1).as_secs_f64() / wall).clamp(0.0, 1.0));
                }
                last = now;
            }
        });
    }
    let external: Vec<(String, String)> = cfg
        .external_labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let storage = args
        .storage_path
        .clone()
        .or_else(|| cfg.ringwrite.storage_path.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE_PATH));
    let progress = crate::progress::ProgressStore::open(&storage)
        .map_err(|e| anyhow::anyhow!("--storage.path: {e}"))?;
    tracing::info!(path = %storage.display(), "Saving progress under the storage path.");
    let spool_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (spool, spool_thread) = match cfg.ringwrite.wal_on_truncation {
        crate::config::OnTruncation::Keep => {
            let s = crate::spool::Spool::open(crate::spool::SpoolOptions {
                wal_dir: crate::wal::dir::resolve_wal_dir(&wal_dir)?,
                dir: storage.join("spool"),
                max_bytes: cfg
                    .ringwrite
                    .max_spool_bytes
                    .unwrap_or(crate::config::DEFAULT_MAX_SPOOL_BYTES),
                interval: Duration::from_millis(250),
            })
            .map_err(|e| anyhow::anyhow!("--storage.path: {e}"))?;
            // One pass before any reader starts, so nothing on disk now can slip away.
            if let Err(e) = s.sync() {
                tracing::error!(error = %e, "Cannot spool WAL segments.");
            }
            let t = s.spawn(Arc::clone(&spool_stop));
            let held = Arc::clone(&s);
            registry.gauge_fn(
                "ringwrite_spool_held_bytes",
                "Bytes of WAL segments only the spool still holds (Prometheus deleted them).",
                &[],
                move || held.held_bytes() as f64,
            );
            let failed = Arc::clone(&s);
            registry.counter_fn(
                "ringwrite_spool_failures_total",
                "Spool passes that failed (e.g. a full disk under --storage.path).",
                &[],
                move || failed.failures() as f64,
            );
            (Some(s), Some(t))
        }
        crate::config::OnTruncation::Ignore => (None, None),
    };
    let mut pipelines = Vec::new();
    for e in &cfg.remote_write {
        let spec = PipelineSpec {
            endpoint: e.clone(),
            external_labels: external.clone(),
            wal_dir: wal_dir.clone(),
            from_start: args.from_start,
            flush_deadline: args.flush_deadline,
            pool_options: Default::default(),
            fixed_shards: args.shards,
            shard_update_interval: SHARD_UPDATE_INTERVAL,
            reshard_plan: Vec::new(),
            progress: Some(progress.clone()),
            spool: spool.clone(),
            registry: Some(registry.clone()),
        };
        pipelines.push(Pipeline::start(spec, Arc::clone(&cores)).map_err(|e| anyhow::anyhow!(e))?);
    }
    control.ready.store(true, Ordering::SeqCst);
    let mut last_log = Instant::now();
    let mut failed = false;
    while !super::signal::interrupted() {
        std::thread::sleep(Duration::from_millis(100));
        if pipelines.iter().all(|p| p.is_finished()) {
            failed = true;
            break;
        }
        if last_log.elapsed() >= Duration::from_secs(30) {
            last_log = Instant::now();
            for p in &pipelines {
                let s = &p.stats;
                tracing::info!(
                    endpoint = p.name,
                    samples_in = s.data_in.load(Ordering::Relaxed),
                    acked = s.queue.samples_acked.load(Ordering::Relaxed),
                    failed = s.queue.samples_failed.load(Ordering::Relaxed),
                    pending = s.queue.pending.load(Ordering::Relaxed),
                    shards = s.shards.load(Ordering::Relaxed),
                    "Progress."
                );
            }
        }
    }
    control.ready.store(false, Ordering::SeqCst);
    tracing::info!("Stopping: flushing queued samples.");
    for p in pipelines {
        let name = p.name.clone();
        let s = Arc::clone(&p.stats);
        if let Err(e) = p.stop() {
            tracing::error!(endpoint = name, error = %e, "Endpoint stopped with an error.");
            failed = true;
        }
        tracing::info!(
            endpoint = name,
            samples_in = s.data_in.load(Ordering::Relaxed),
            acked = s.queue.samples_acked.load(Ordering::Relaxed),
            failed = s.queue.samples_failed.load(Ordering::Relaxed),
            dropped_unknown_series = s.dropped_unknown_series.load(Ordering::Relaxed),
            "Endpoint stopped."
        );
    }
    spool_stop.store(true, Ordering::SeqCst);
    if let Some(t) = spool_thread {
        let _ = t.join();
    }
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
    web.shutdown();
    Ok(if failed { 1 } else { 0 })
}

/// What `/-/ready` and `/-/reload` see.
#[derive(Default)]
struct RunControl {
    ready: std::sync::atomic::AtomicBool,
}

impl crate::web::Control for RunControl {
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn reload(&self) -> Result<(), String> {
        Err(
            "reloading the configuration is not supported yet; restart ringwrite to apply \
             a new file"
                .to_string(),
        )
    }
}
