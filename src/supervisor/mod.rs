//! The set of running endpoints, and how a reload (SIGHUP, `POST /-/reload`) changes it.
//!
//! A [`Supervisor`] owns one [`Pipeline`] per `remote_write` entry. [`Supervisor::reload`]
//! follows Prometheus's `WriteStorage.ApplyConfig`, with [`plan_reload`] deciding:
//!
//! * the new file is loaded and checked completely first (YAML, every endpoint's HTTP
//!   settings, TLS and credential files); any error rejects the whole file and nothing
//!   running is touched;
//! * an endpoint whose [`ConfigHash`](crate::config::ConfigHash) is unchanged keeps running
//!   untouched: same reader, shards and connections;
//! * removed and changed endpoints are stopped ([`Pipeline::stop`] flushes for up to the
//!   flush deadline), all at once, before any new one starts (a changed endpoint keeps its
//!   name, so old and new must never send side by side);
//! * changed and added endpoints start with [`Pipeline::start`], resuming from their saved
//!   position when `--storage.path` holds one (the progress key is the endpoint's name, so
//!   a changed endpoint continues where its old config stopped);
//! * a change of `global.external_labels` restarts every endpoint (they are part of every
//!   series sent); a change of the `ringwrite:` section is logged and needs a process
//!   restart (WAL directory, cores and listen address are fixed at start).
//!
//! The outcome is exported as `prometheus_config_last_reload_successful` and
//! `prometheus_config_last_reload_success_timestamp_seconds`, Prometheus's own names, so the
//! mixin's `PrometheusBadConfig` alert works unchanged.
//!
//! [`Supervisor::views`] is a snapshot handle for `/status`: it is swapped after each
//! change, so a status request never waits for a reload that is flushing.

use crate::config::{plan_reload, Config, Endpoint as EndpointConfig, ReloadPlan};
use crate::metrics::{QueueMetrics, Registry, ReloadMetrics};
use crate::pipeline::{Pipeline, PipelineSpec, PipelineStats};
use crate::runtime::Cores;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// What every endpoint shares (from the command line).
#[derive(Clone)]
pub struct Settings {
    pub wal_dir: PathBuf,
    pub from_start: bool,
    pub flush_deadline: Duration,
    pub fixed_shards: Option<usize>,
    pub registry: Registry,
    /// Durable progress: a restarted endpoint resumes from its saved position.
    pub progress: Option<crate::progress::ProgressStore>,
    /// Keeps segments Prometheus truncates until every endpoint is past them.
    pub spool: Option<Arc<crate::spool::Spool>>,
}

/// Why a (re)load was refused or only partly applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// The file could not be read or is invalid; nothing changed.
    #[error("{0}")]
    Config(String),
    /// The file is valid, but ringwrite cannot run it; nothing changed.
    #[error("{0}")]
    Unrunnable(String),
    /// Endpoints that should run could not start; the others run with the new config.
    #[error("endpoint(s) failed to start: {}", .failures.iter().map(|(n, e)| format!("{n}: {e}")).collect::<Vec<_>>().join("; "))]
    Start { failures: Vec<(String, String)> },
}

/// What a reload did, by endpoint name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub kept: Vec<String>,
    pub stopped: Vec<String>,
    pub started: Vec<String>,
}

/// A running endpoint as `/status` sees it: fixed facts plus live counters.
#[derive(Clone)]
pub struct EndpointView {
    pub name: String,
    /// The URL with any password replaced.
    pub url: String,
    /// `protocol:` (auto, h2, h2c, http1).
    pub protocol: String,
    /// `protobuf_message:` as written in the config.
    pub protobuf_message: String,
    pub min_shards: usize,
    pub max_shards: usize,
    /// First 6 hex digits of the endpoint's config hash.
    pub config_hash: String,
    /// When this pipeline started (reset by every restart).
    pub started: SystemTime,
    /// How often an endpoint of this name was started in this process (1 = never restarted).
    pub starts: u64,
    pub stats: Arc<PipelineStats>,
    /// The endpoint's exported gauges (lag and desired shards are read from them).
    pub metrics: QueueMetrics,
}

/// Shared read access to the current [`EndpointView`]s.
pub type Views = Arc<RwLock<Vec<EndpointView>>>;

struct Running {
    config: EndpointConfig,
    pipeline: Pipeline,
    started: SystemTime,
}

/// Owns the running endpoints.
pub struct Supervisor {
    settings: Settings,
    cores: Arc<Cores>,
    config: Config,
    /// Aligned with `config.remote_write`; `None` where an endpoint failed to start.
    running: Vec<Option<Running>>,
    starts: HashMap<String, u64>,
    views: Views,
    reload_metrics: ReloadMetrics,
}

/// Checks that ringwrite can run every endpoint of `cfg` (beyond what the config loader
/// checks): HTTP settings, TLS material and credential files. Used at start, by reloads
/// (before anything is stopped) and by `ringwrite check`.
pub fn check_runnable(cfg: &Config) -> Result<(), String> {
    let mut problems = Vec::new();
    for e in &cfg.remote_write {
        let http = crate::pipeline::adapt::endpoint_config(&e.name, &e.config);
        if let Err(err) = http.validate() {
            problems.push(format!("remote_write {}: {err}", e.name));
            continue;
        }
        if let Err(err) = crate::http::Endpoint::new(&http) {
            problems.push(format!("remote_write {}: {err}", e.name));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

impl Supervisor {
    /// Starts every endpoint of `config`. Fails (stopping what started) if any cannot start.
    pub fn start(
        config: Config,
        settings: Settings,
        cores: Arc<Cores>,
    ) -> Result<Supervisor, SupervisorError> {
        check_runnable(&config).map_err(SupervisorError::Unrunnable)?;
        let reload_metrics = ReloadMetrics::new(&settings.registry);
        let mut sup = Supervisor {
            settings,
            cores,
            running: Vec::new(),
            config,
            starts: HashMap::new(),
            views: Arc::new(RwLock::new(Vec::new())),
            reload_metrics,
        };
        let endpoints = sup.config.remote_write.clone();
        sup.adopt_renamed(&endpoints);
        let mut failures = Vec::new();
        for e in endpoints {
            let external = sup.config.external_labels.clone();
            let started = sup.start_one(&e, &external);
            match started {
                Ok(r) => sup.running.push(Some(r)),
                Err(err) => failures.push((e.name.clone(), err)),
            }
        }
        if !failures.is_empty() {
            sup.stop_all();
            return Err(SupervisorError::Start { failures });
        }
        sup.reload_metrics.record(true);
        sup.publish_views();
        Ok(sup)
    }

    /// The config currently applied.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle on the current endpoint views (updated after every change).
    pub fn views(&self) -> Views {
        Arc::clone(&self.views)
    }

    /// Whether every endpoint's reader has ended (each failed): nothing is shipping.
    pub fn all_finished(&self) -> bool {
        self.running
            .iter()
            .all(|r| r.as_ref().is_none_or(|r| r.pipeline.is_finished()))
    }

    /// `(name, stats)` of each running endpoint.
    pub fn stats(&self) -> Vec<(String, Arc<PipelineStats>)> {
        self.running
            .iter()
            .flatten()
            .map(|r| (r.pipeline.name.clone(), Arc::clone(&r.pipeline.stats)))
            .collect()
    }

    /// Loads `path` and applies it; see the module docs. Records the outcome in the reload
    /// metrics and logs it.
    pub fn reload(&mut self, path: &Path) -> Result<ReloadSummary, SupervisorError> {
        let result = Config::load(path)
            .map_err(|e| SupervisorError::Config(e.to_string()))
            .and_then(|cfg| self.apply(cfg));
        self.reload_metrics.record(result.is_ok());
        match &result {
            Ok(s) => tracing::info!(
                file = %path.display(),
                kept = ?s.kept,
                stopped = ?s.stopped,
                started = ?s.started,
                "Completed loading of configuration file."
            ),
            Err(e) => tracing::error!(
                file = %path.display(),
                error = %e,
                "Error reloading config; the running configuration stays."
            ),
        }
        result
    }

    /// Applies an already loaded config.
    pub fn apply(&mut self, new: Config) -> Result<ReloadSummary, SupervisorError> {
        for w in &new.warnings {
            tracing::warn!(warning = %w, "Configuration warning.");
        }
        let plan = plan_reload(&self.config, &new);
        // Only what will be started needs the (file-reading) runnable check; kept endpoints
        // were checked when they started. The check runs before anything is stopped.
        let to_start = Config {
            remote_write: plan
                .start
                .iter()
                .map(|&i| new.remote_write[i].clone())
                .collect(),
            ..new.clone()
        };
        check_runnable(&to_start).map_err(SupervisorError::Unrunnable)?;
        if plan.ringwrite_changed {
            tracing::warn!(
                "The `ringwrite:` section changed; its settings (wal_dir, storage_path, cores, \
                 web_listen_address) apply at the next restart of ringwrite."
            );
        }
        if plan.external_labels_changed {
            tracing::info!("External labels changed; restarting every endpoint.");
        }
        let summary = self.execute(&plan, &new);
        let failures: Vec<(String, String)> = summary.1;
        self.config = new;
        self.publish_views();
        if failures.is_empty() {
            Ok(summary.0)
        } else {
            Err(SupervisorError::Start { failures })
        }
    }

    /// Stops, then starts, per `plan`; returns what happened and the start failures.
    fn execute(
        &mut self,
        plan: &ReloadPlan,
        new: &Config,
    ) -> (ReloadSummary, Vec<(String, String)>) {
        // While endpoints restart, none of them holds a spool claim: hold everything until
        // the new pipelines have theirs (a claim starts as "keep everything").
        let _hold = self.settings.spool.as_ref().map(|s| s.claim());
        let mut old: Vec<Option<Running>> = std::mem::take(&mut self.running);
        let mut summary = ReloadSummary::default();
        // Stop removed and changed endpoints in parallel: each may flush for up to the
        // flush deadline.
        let stopping: Vec<Running> = plan.stop.iter().filter_map(|&i| old[i].take()).collect();
        summary.stopped = stopping.iter().map(|r| r.config.name.clone()).collect();
        std::thread::scope(|s| {
            for r in stopping {
                s.spawn(move || {
                    let name = r.config.name.clone();
                    tracing::info!(endpoint = %name, "Stopping endpoint (reload).");
                    if let Err(e) = r.pipeline.stop() {
                        tracing::error!(endpoint = %name, error = %e, "Endpoint stopped with an error.");
                    }
                });
            }
        });
        for &i in &plan.stop {
            let e = &self.config.remote_write[i];
            self.forget_metrics(e, new);
        }
        let mut running: Vec<Option<Running>> = (0..new.remote_write.len()).map(|_| None).collect();
        // An unchanged endpoint that is not running (it failed to start last time) is
        // started again rather than "kept".
        let mut to_start = plan.start.clone();
        for &(old_i, new_i) in &plan.keep {
            match old[old_i].take() {
                Some(mut r) => {
                    r.config = new.remote_write[new_i].clone();
                    summary.kept.push(r.config.name.clone());
                    running[new_i] = Some(r);
                }
                None => to_start.push(new_i),
            }
        }
        // Stopped endpoints have saved their last position: a renamed one's file can move.
        self.adopt_renamed(&new.remote_write);
        let mut failures = Vec::new();
        for &i in &to_start {
            let e = &new.remote_write[i];
            match self.start_one(e, &new.external_labels) {
                Ok(r) => {
                    summary.started.push(e.name.clone());
                    running[i] = Some(r);
                }
                Err(err) => {
                    tracing::error!(endpoint = %e.name, error = %err, "Endpoint failed to start.");
                    failures.push((e.name.clone(), err));
                }
            }
        }
        self.running = running;
        (summary, failures)
    }

    /// Gives a renamed endpoint the progress its old name saved (see
    /// [`ProgressStore::adopt_renamed`](crate::progress::ProgressStore::adopt_renamed)).
    fn adopt_renamed(&self, endpoints: &[EndpointConfig]) {
        let Some(store) = &self.settings.progress else {
            return;
        };
        let wanted: Vec<crate::progress::Wanted> = endpoints
            .iter()
            .map(|e| crate::progress::Wanted {
                key: crate::progress::ProgressStore::key(e.config.name.as_deref(), &e.config.url),
                url: e.url_redacted(),
            })
            .collect();
        for (old, new) in store.adopt_renamed(&wanted) {
            tracing::info!(from = %old, to = %new,
                "Saved progress of an endpoint no longer configured, for the same URL, now belongs to a renamed endpoint.");
        }
    }

    /// Removes the exported series of a stopped endpoint that the new config does not
    /// have under the same name and URL, as Prometheus deletes a stopped queue's series.
    fn forget_metrics(&self, e: &EndpointConfig, new: &Config) {
        let url = e.url_redacted();
        let reg = &self.settings.registry;
        if !new
            .remote_write
            .iter()
            .any(|n| n.name == e.name && n.url_redacted() == url)
        {
            QueueMetrics::new(reg, &e.name, &url).unregister();
        }
        if !new.remote_write.iter().any(|n| n.name == e.name) {
            reg.remove_matching(&[("consumer", &e.name)]);
            reg.remove_matching(&[("remote_name", &e.name)]);
            crate::pipeline::release_pools(&self.cores, &e.name);
            crate::logging::forget_endpoint(&e.name);
        }
    }

    fn start_one(
        &mut self,
        e: &EndpointConfig,
        external_labels: &BTreeMap<String, String>,
    ) -> Result<Running, String> {
        let spec = PipelineSpec {
            external_labels: external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            from_start: self.settings.from_start,
            flush_deadline: self.settings.flush_deadline,
            fixed_shards: self.settings.fixed_shards,
            registry: Some(self.settings.registry.clone()),
            progress: self.settings.progress.clone(),
            spool: self.settings.spool.clone(),
            ..PipelineSpec::new(e.clone(), self.settings.wal_dir.clone())
        };
        let pipeline = Pipeline::start(spec, Arc::clone(&self.cores))?;
        *self.starts.entry(e.name.clone()).or_insert(0) += 1;
        tracing::info!(endpoint = %e.name, url = %e.url_redacted(), hash = %e.config_hash().short(),
            "Endpoint started.");
        Ok(Running {
            config: e.clone(),
            pipeline,
            started: SystemTime::now(),
        })
    }

    fn publish_views(&self) {
        let reg = &self.settings.registry;
        let views = self
            .running
            .iter()
            .flatten()
            .map(|r| {
                let c = &r.config.config;
                let (min_shards, max_shards) = match self.settings.fixed_shards {
                    Some(n) => (n, n),
                    None => (c.queue_config.min_shards, c.queue_config.max_shards),
                };
                let url = r.config.url_redacted();
                EndpointView {
                    name: r.config.name.clone(),
                    metrics: QueueMetrics::new(reg, &r.config.name, &url),
                    url,
                    protocol: c.protocol.to_string(),
                    protobuf_message: protobuf_message_name(c.protobuf_message).to_string(),
                    min_shards,
                    max_shards,
                    config_hash: r.config.config_hash().short(),
                    started: r.started,
                    starts: self.starts.get(&r.config.name).copied().unwrap_or(0),
                    stats: Arc::clone(&r.pipeline.stats),
                }
            })
            .collect();
        match self.views.write() {
            Ok(mut v) => *v = views,
            Err(poisoned) => *poisoned.into_inner() = views,
        }
    }

    /// Stops every endpoint (flushing each for up to the flush deadline, all at once).
    /// Returns `false` if any stopped with an error.
    pub fn stop_all(&mut self) -> bool {
        let running: Vec<Running> = std::mem::take(&mut self.running)
            .into_iter()
            .flatten()
            .collect();
        let ok = std::thread::scope(|s| {
            let handles: Vec<_> = running
                .into_iter()
                .map(|r| {
                    s.spawn(move || {
                        let name = r.pipeline.name.clone();
                        let stats = Arc::clone(&r.pipeline.stats);
                        let result = r.pipeline.stop();
                        if let Err(e) = &result {
                            tracing::error!(endpoint = %name, error = %e, "Endpoint stopped with an error.");
                        }
                        log_final(&name, &stats);
                        result.is_ok()
                    })
                })
                .collect();
            handles.into_iter().all(|h| h.join().unwrap_or(false))
        });
        self.publish_views();
        ok
    }
}

fn log_final(name: &str, s: &PipelineStats) {
    use std::sync::atomic::Ordering::Relaxed;
    tracing::info!(
        endpoint = name,
        samples_in = s.data_in.load(Relaxed),
        acked = s.queue.samples_acked.load(Relaxed),
        failed = s.queue.samples_failed.load(Relaxed),
        dropped_unknown_series = s.dropped_unknown_series.load(Relaxed),
        "Endpoint stopped."
    );
}

/// The config spelling of a `protobuf_message`.
pub fn protobuf_message_name(m: crate::config::ProtobufMessage) -> &'static str {
    match m {
        crate::config::ProtobufMessage::WriteRequestV1 => "prometheus.WriteRequest",
        crate::config::ProtobufMessage::RequestV2 => "io.prometheus.write.v2.Request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{Sink, SinkTransport};

    fn config(yaml: &str) -> Config {
        match Config::from_yaml(yaml, "t.yml", None) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn endpoint(name: &str, url: &str, extra: &str) -> String {
        format!("  - {{name: {name}, url: '{url}'{extra}}}\n")
    }

    fn names(sup: &Supervisor) -> Vec<(String, u64)> {
        let views = sup.views();
        let v = views.read().unwrap();
        v.iter().map(|e| (e.name.clone(), e.starts)).collect()
    }

    #[test]
    fn apply_keeps_unchanged_restarts_changed_and_refuses_unrunnable() {
        let sink = Sink::start(SinkTransport::Http1).unwrap();
        let url = sink.url();
        let reg = Registry::new();
        let cores = Arc::new(Cores::start(&[0]).unwrap());
        let settings = Settings {
            wal_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prom242-basic"),
            from_start: false,
            flush_deadline: Duration::from_secs(5),
            fixed_shards: Some(1),
            registry: reg.clone(),
            progress: None,
            spool: None,
        };
        let v1 = config(&format!(
            "remote_write:\n{}{}",
            endpoint("a", &url, ""),
            endpoint("b", &url, ", headers: {X-B: '1'}")
        ));
        let mut sup = Supervisor::start(v1.clone(), settings, Arc::clone(&cores)).unwrap();
        assert_eq!(names(&sup), [("a".into(), 1), ("b".into(), 1)]);
        assert!(reg.render().contains("remote_name=\"b\""));

        // b changed, c added, a unchanged but moved.
        let v2 = config(&format!(
            "remote_write:\n{}{}{}",
            endpoint("c", &url, ""),
            endpoint("b", &url, ", headers: {X-B: '2'}"),
            endpoint("a", &url, "")
        ));
        let s = sup.apply(v2.clone()).unwrap();
        assert_eq!(
            (s.kept, s.stopped, s.started),
            (
                vec!["a".to_string()],
                vec!["b".to_string()],
                vec!["c".to_string(), "b".to_string()]
            )
        );
        assert_eq!(
            names(&sup),
            [("c".into(), 1), ("b".into(), 2), ("a".into(), 1)]
        );

        // The same file again: nothing happens.
        let s = sup.apply(v2.clone()).unwrap();
        assert_eq!((s.kept.len(), s.stopped.len(), s.started.len()), (3, 0, 0));

        // A file ringwrite cannot run (a password file that does not exist): refused,
        // nothing stopped.
        let bad = config(&format!(
            "remote_write:\n{}",
            endpoint(
                "a",
                &url,
                ", basic_auth: {username: u, password_file: /nonexistent/ringwrite-test-pw}"
            )
        ));
        match sup.apply(bad) {
            Err(SupervisorError::Unrunnable(msg)) => {
                assert!(msg.contains("ringwrite-test-pw"), "{msg}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(sup.config(), &v2);
        assert_eq!(names(&sup).len(), 3);

        // Removing b and c drops their series from /metrics.
        let s = sup.apply(v1_only_a(&url)).unwrap();
        assert_eq!(s.stopped, ["c", "b"]);
        let text = reg.render();
        assert!(
            !text.contains("remote_name=\"b\"") && !text.contains("remote_name=\"c\""),
            "{text}"
        );
        assert!(text.contains("remote_name=\"a\""));
        assert!(sup.stop_all());
        assert!(names(&sup).is_empty());
        drop(sup);
        if let Ok(c) = Arc::try_unwrap(cores) {
            c.shutdown();
        }
    }

    fn v1_only_a(url: &str) -> Config {
        config(&format!("remote_write:\n{}", endpoint("a", url, "")))
    }
}
