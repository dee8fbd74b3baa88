//! `ringwrite run` and `ringwrite check`.
//!
//! `run` starts the web server, the core loops and a [`Supervisor`] with one pipeline per
//! endpoint, then polls: SIGHUP reloads the config file (as `POST /-/reload` does, through
//! the same [`RunControl`]), SIGINT/SIGTERM stop (readiness goes 503 first, then every
//! endpoint flushes for up to `--flush-deadline`).

use super::{CheckArgs, RunArgs};
use crate::config::Config;
use crate::runtime::{parse_cores, Cores};
use crate::supervisor::{check_runnable, Settings, Supervisor, Views};
use crate::web::status::{CoreStatus, EndpointStatus, LastError, StatusReport};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
            if let Err(problems) = check_runnable(&cfg) {
                for p in problems.lines() {
                    println!("  FAILED: {p}");
                }
                return Ok(1);
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
    // A wrong directory or an endpoint that cannot run is an error before anything starts.
    crate::wal::dir::resolve_wal_dir(&wal_dir).map_err(|e| anyhow::anyhow!("--wal.dir: {e}"))?;
    check_runnable(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
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
    super::signal::install_hangup();
    let registry = crate::metrics::Registry::new();
    let listen = args
        .web_listen_address
        .clone()
        .or_else(|| cfg.ringwrite.web_listen_address.clone())
        .unwrap_or_else(|| crate::web::DEFAULT_LISTEN_ADDRESS.to_string());
    let control = Arc::new(RunControl {
        ready: AtomicBool::new(false),
        config_file: args.config_file.clone(),
        wal_dir: wal_dir.clone(),
        started: SystemTime::now(),
        registry: registry.clone(),
        supervisor: Mutex::new(None),
        views: OnceLock::new(),
        cores: OnceLock::new(),
    });
    let web_opts = crate::web::WebOptions::from_listen_address(&listen)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .lifecycle(args.web_enable_lifecycle);
    let web = crate::web::serve(web_opts, registry.clone(), control.clone())
        .map_err(|e| anyhow::anyhow!("--web.listen-address {listen}: {e}"))?;
    tracing::info!(address = %web.local_addr(), lifecycle = args.web_enable_lifecycle,
        "Serving /metrics, /-/healthy, /-/ready, /status (and /-/reload, /-/quit with --web.enable-lifecycle).");
    let cores = Arc::new(Cores::start(&core_ids)?);
    crate::metrics::register_build_info(&registry);
    crate::metrics::register_process_metrics(&registry);
    let _ = control.cores.set(start_busy_gauges(&cores, &registry));
    let storage = args
        .storage_path
        .clone()
        .or_else(|| cfg.ringwrite.storage_path.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE_PATH));
    let progress = crate::progress::ProgressStore::open(&storage)
        .map_err(|e| anyhow::anyhow!("--storage.path: {e}"))?;
    tracing::info!(path = %storage.display(), "Saving progress under the storage path.");
    let spool_stop = Arc::new(AtomicBool::new(false));
    let (spool, spool_thread) = match cfg.ringwrite.wal_on_truncation {
        crate::config::OnTruncation::Keep => {
            let s = start_spool(&cfg, &wal_dir, &storage, &registry)?;
            let t = s.spawn(Arc::clone(&spool_stop));
            (Some(s), Some(t))
        }
        crate::config::OnTruncation::Ignore => (None, None),
    };
    let settings = Settings {
        wal_dir,
        from_start: args.from_start,
        flush_deadline: args.flush_deadline,
        fixed_shards: args.shards,
        registry: registry.clone(),
        progress: Some(progress),
        spool,
    };
    let supervisor =
        Supervisor::start(cfg, settings, Arc::clone(&cores)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = control.views.set(supervisor.views());
    *control.lock() = Some(supervisor);
    let mut last_log = Instant::now();
    let mut failed = false;
    while !super::signal::interrupted() {
        std::thread::sleep(Duration::from_millis(100));
        if super::signal::take_hangup() {
            tracing::info!(file = %args.config_file.display(), "SIGHUP: reloading the configuration.");
            // The outcome is logged and exported by the supervisor.
            let _ = control.reload_now();
        }
        // A reload in progress holds the lock: skip this round's checks.
        let Ok(guard) = control.supervisor.try_lock() else {
            continue;
        };
        let Some(sup) = guard.as_ref() else { break };
        if sup.all_finished() {
            tracing::error!("Every endpoint's pipeline has ended; stopping.");
            failed = true;
            break;
        }
        if !control.ready.load(Ordering::SeqCst) && wal_opened(sup) {
            control.ready.store(true, Ordering::SeqCst);
            tracing::info!("WAL opened and an endpoint running: ready.");
        }
        if last_log.elapsed() >= Duration::from_secs(30) {
            last_log = Instant::now();
            log_progress(sup);
        }
    }
    control.ready.store(false, Ordering::SeqCst);
    tracing::info!("Stopping: flushing queued samples.");
    if let Some(mut sup) = control.lock().take() {
        if !sup.stop_all() {
            failed = true;
        }
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

/// Opens the spool that keeps WAL segments Prometheus truncates (`wal_on_truncation:
/// keep`), runs one pass before any reader starts, and exports its gauges.
fn start_spool(
    cfg: &Config,
    wal_dir: &std::path::Path,
    storage: &std::path::Path,
    registry: &crate::metrics::Registry,
) -> anyhow::Result<Arc<crate::spool::Spool>> {
    let s = crate::spool::Spool::open(crate::spool::SpoolOptions {
        wal_dir: crate::wal::dir::resolve_wal_dir(wal_dir)?,
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
    Ok(s)
}

/// Whether some endpoint's reader has opened the WAL and read from it (or found it empty).
fn wal_opened(sup: &Supervisor) -> bool {
    sup.stats()
        .iter()
        .any(|(_, s)| s.records.load(Ordering::Relaxed) > 0 || s.caught_up.load(Ordering::Relaxed))
}

fn log_progress(sup: &Supervisor) {
    for (name, s) in sup.stats() {
        tracing::info!(
            endpoint = name,
            samples_in = s.data_in.load(Ordering::Relaxed),
            acked = s.queue.samples_acked.load(Ordering::Relaxed),
            failed = s.queue.samples_failed.load(Ordering::Relaxed),
            pending = s.queue.pending.load(Ordering::Relaxed),
            shards = s.shards.load(Ordering::Relaxed),
            "Progress."
        );
    }
}

/// Per-core busy ratio: the loop thread's CPU time over wall time, each second. Returns
/// `(core, driver, busy gauge)` per core for `/status`.
fn start_busy_gauges(cores: &Cores, registry: &crate::metrics::Registry) -> Vec<CoreView> {
    let mut views = Vec::new();
    for (i, c) in cores.cores().iter().enumerate() {
        let m = crate::metrics::CoreMetrics::new(registry, c.id);
        m.set_driver(c.driver.name());
        let busy = m.busy_ratio.clone();
        views.push((c.id, c.driver.name().to_string(), busy.clone()));
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
    views
}

/// A core as `/status` shows it: id, I/O driver, busy-ratio gauge.
type CoreView = (usize, String, crate::metrics::Gauge);

/// What the web server sees: readiness, reload, status.
struct RunControl {
    /// Set once the WAL is open and an endpoint runs; cleared when shutting down.
    ready: AtomicBool,
    config_file: PathBuf,
    wal_dir: PathBuf,
    started: SystemTime,
    registry: crate::metrics::Registry,
    /// `None` until started and after stopping.
    supervisor: Mutex<Option<Supervisor>>,
    views: OnceLock<Views>,
    cores: OnceLock<Vec<CoreView>>,
}

impl RunControl {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Supervisor>> {
        self.supervisor.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reload_now(&self) -> Result<(), String> {
        let mut guard = self.lock();
        let Some(sup) = guard.as_mut() else {
            return Err("ringwrite is starting or shutting down".to_string());
        };
        sup.reload(&self.config_file)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl crate::web::Control for RunControl {
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn reload(&self) -> Result<(), String> {
        self.reload_now()
    }

    fn quit(&self) {
        tracing::info!("Termination requested over /-/quit.");
        super::signal::request_stop();
    }

    fn status(&self) -> Option<StatusReport> {
        let reload = crate::metrics::ReloadMetrics::new(&self.registry);
        let views = match self.views.get() {
            Some(v) => v.read().unwrap_or_else(|p| p.into_inner()).clone(),
            None => Vec::new(),
        };
        let endpoints = views
            .iter()
            .map(|v| {
                let s = &v.stats;
                let m = &v.metrics;
                let watcher = crate::metrics::WatcherMetrics::new(&self.registry, &v.name);
                let (highest, sent) = (
                    m.queue_highest_timestamp_seconds.get(),
                    m.queue_highest_sent_timestamp_seconds.get(),
                );
                let segment = watcher.current_segment.get();
                EndpointStatus {
                    name: v.name.clone(),
                    url: v.url.clone(),
                    protocol: v.protocol.clone(),
                    protobuf_message: v.protobuf_message.clone(),
                    config_hash: v.config_hash.clone(),
                    started_seconds: unix(v.started),
                    starts: v.starts,
                    shards: s.shards.load(Ordering::Relaxed),
                    shards_min: v.min_shards,
                    shards_max: v.max_shards,
                    shards_desired: Some(m.shards_desired.get()).filter(|d| *d > 0.0),
                    lag_seconds: (sent > 0.0).then(|| (highest - sent).max(0.0)),
                    pending: s.queue.pending.load(Ordering::Relaxed),
                    samples_in: s.data_in.load(Ordering::Relaxed),
                    samples_acked: s.queue.samples_acked.load(Ordering::Relaxed),
                    samples_failed: s.queue.samples_failed.load(Ordering::Relaxed),
                    retries: s.queue.retries.load(Ordering::Relaxed),
                    current_segment: (segment >= 0.0 && s.records.load(Ordering::Relaxed) > 0)
                        .then_some(segment as u64),
                    saved_position: s.saved_position().map(|p| p.to_string()),
                    last_error: crate::logging::last_error(&v.name).map(|(message, at)| {
                        LastError {
                            message,
                            timestamp_seconds: at,
                        }
                    }),
                }
            })
            .collect();
        Some(StatusReport {
            version: crate::build_info::VERSION.to_string(),
            revision: crate::build_info::REVISION.to_string(),
            start_time_seconds: unix(self.started),
            ready: self.ready(),
            config_file: self.config_file.display().to_string(),
            wal_dir: self.wal_dir.display().to_string(),
            last_reload_successful: reload.last_reload_successful.get() == 1.0,
            last_reload_success_timestamp_seconds: reload
                .last_reload_success_timestamp_seconds
                .get(),
            endpoints,
            cores: self
                .cores
                .get()
                .map(|cores| {
                    cores
                        .iter()
                        .map(|(core, driver, busy)| CoreStatus {
                            core: *core,
                            driver: driver.clone(),
                            busy_ratio: busy.get(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}
