//! ringwrite's own process-level metrics (prefix `ringwrite_`): per-core load and driver,
//! config reloads, build info. Names follow `<namespace>_<name>_<unit>` (STYLE.md A.9).

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use super::{registry::Registry, value::Gauge};

const BUSY_NAME: &str = "ringwrite_core_busy_ratio";
const DRIVER_NAME: &str = "ringwrite_core_driver";

/// One pinned core's metrics: `ringwrite_core_busy_ratio{core}` and the info gauge
/// `ringwrite_core_driver{core,driver}` (1 for the I/O driver in use: `uring` or `epoll`).
#[derive(Debug, Clone)]
pub struct CoreMetrics {
    /// Fraction of the last measurement interval the core's event loop spent running tasks
    /// (0..=1); the runtime decides the interval.
    pub busy_ratio: Gauge,
    registry: Registry,
    core: String,
    driver: Arc<Mutex<Option<String>>>,
}

impl CoreMetrics {
    /// Registers (or finds) the metrics of CPU `core`.
    pub fn new(reg: &Registry, core: usize) -> CoreMetrics {
        let core = core.to_string();
        CoreMetrics {
            busy_ratio: reg.gauge(
                BUSY_NAME,
                "Fraction of time the core's event loop spent running tasks rather than waiting for I/O.",
                &[("core", &core)],
            ),
            registry: reg.clone(),
            core,
            driver: Arc::default(),
        }
    }

    /// Records which I/O driver the core's runtime uses; replaces an earlier one.
    pub fn set_driver(&self, driver: &str) {
        let mut current = self.driver.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = current.as_deref() {
            if old == driver {
                return;
            }
            self.registry
                .remove_matching(&[("core", &self.core), ("driver", old)]);
        }
        self.registry
            .gauge(
                DRIVER_NAME,
                "The I/O driver of the core's event loop (uring or epoll); always 1.",
                &[("core", &self.core), ("driver", driver)],
            )
            .set(1.0);
        *current = Some(driver.to_owned());
    }
}

/// `prometheus_config_last_reload_successful` and
/// `prometheus_config_last_reload_success_timestamp_seconds`: Prometheus's own names, so the
/// mixin's `PrometheusBadConfig` alert and reload dashboards work unchanged (USERS.md C.7). Call [`ReloadMetrics::record`] after the
/// initial load and after every SIGHUP or `/-/reload`.
#[derive(Debug, Clone)]
pub struct ReloadMetrics {
    pub last_reload_successful: Gauge,
    pub last_reload_success_timestamp_seconds: Gauge,
}

impl ReloadMetrics {
    /// Registers (or finds) the reload metrics.
    pub fn new(reg: &Registry) -> ReloadMetrics {
        ReloadMetrics {
            last_reload_successful: reg.gauge(
                "prometheus_config_last_reload_successful",
                "Whether the last configuration reload attempt was successful.",
                &[],
            ),
            last_reload_success_timestamp_seconds: reg.gauge(
                "prometheus_config_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful configuration reload.",
                &[],
            ),
        }
    }

    /// Records the outcome of a (re)load attempt that happened now.
    pub fn record(&self, ok: bool) {
        self.last_reload_successful.set(if ok { 1.0 } else { 0.0 });
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.last_reload_success_timestamp_seconds.set(now);
        }
    }
}

/// Registers `ringwrite_build_info{branch,revision,rustversion,version}` (always 1), like
/// `prometheus_build_info` (whose `goversion` becomes `rustversion`).
pub fn register_build_info(reg: &Registry) {
    use crate::build_info as b;
    reg.gauge(
        "ringwrite_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, and rustversion from which ringwrite was built.",
        &[
            ("branch", b::BRANCH),
            ("revision", b::REVISION),
            ("rustversion", b::RUST_VERSION),
            ("version", b::VERSION),
        ],
    )
    .set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_driver_is_an_info_gauge_that_can_change() {
        let r = Registry::new();
        let c = CoreMetrics::new(&r, 3);
        c.busy_ratio.set(0.25);
        c.set_driver("uring");
        c.set_driver("uring");
        let text = r.render();
        assert!(
            text.contains("ringwrite_core_driver{core=\"3\",driver=\"uring\"} 1\n"),
            "{text}"
        );
        c.set_driver("epoll");
        let text = r.render();
        assert!(!text.contains("driver=\"uring\""), "{text}");
        assert!(text.contains("ringwrite_core_driver{core=\"3\",driver=\"epoll\"} 1\n"));
        assert!(
            text.contains("ringwrite_core_busy_ratio{core=\"3\"} 0.25\n"),
            "busy ratio kept"
        );
    }

    #[test]
    fn reload_metrics_record_outcomes() {
        let r = Registry::new();
        let m = ReloadMetrics::new(&r);
        m.record(true);
        let t = m.last_reload_success_timestamp_seconds.get();
        assert!(t > 1.6e9, "timestamp {t}");
        m.record(false);
        assert_eq!(m.last_reload_successful.get(), 0.0);
        assert_eq!(
            m.last_reload_success_timestamp_seconds.get(),
            t,
            "kept on failure"
        );
    }

    #[test]
    fn build_info_has_the_crate_version() {
        let r = Registry::new();
        register_build_info(&r);
        let want = format!(
            "ringwrite_build_info{{branch=\"{}\",revision=\"{}\",rustversion=\"{}\",version=\"{}\"}} 1\n",
            crate::build_info::BRANCH,
            crate::build_info::REVISION,
            crate::build_info::RUST_VERSION,
            env!("CARGO_PKG_VERSION")
        );
        assert!(r.render().contains(&want), "{}", r.render());
    }
}
