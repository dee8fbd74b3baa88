//! Self-metrics: a small lock-free registry rendered in the Prometheus text format, with
//! Prometheus's own remote-storage metric names so existing dashboards and alerts work
//! (DESIGN.md "metrics", FORMATS.md §5.9).
//!
//! * [`Registry`] does registration (idempotent: the same name and labels give the same handle)
//!   and [`Registry::render`] for `/metrics`.
//! * Handles, all `Clone + Send + Sync`, updated from any thread with relaxed atomics:
//!   [`Counter`], [`Gauge`], [`HistogramMetric`] (fixed buckets); [`Summary`] takes a short
//!   mutex (hdrhistogram), so observe it per batch, not per sample.
//! * Bundles with Prometheus's names: [`QueueMetrics`] per endpoint, [`WatcherMetrics`] per
//!   tailer; ringwrite's own: [`CoreMetrics`], [`ReloadMetrics`], [`register_build_info`];
//!   the standard `process_*` ones: [`register_process_metrics`].
//!
//! ```
//! use ringwrite::metrics::{QueueMetrics, Registry};
//! let reg = Registry::new();
//! let q = QueueMetrics::new(&reg, "mimir", "https://mimir/api/v1/push");
//! q.samples_total.add(2000);
//! q.sent_batch_duration_seconds.observe(0.012);
//! assert!(reg.render().contains(
//!     "prometheus_remote_storage_samples_total{remote_name=\"mimir\",url=\"https://mimir/api/v1/push\"} 2000\n"
//! ));
//! ```
//!
//! Updates are per batch in the hot path, and each is one uncontended-in-the-common-case
//! atomic add; a counter shared by shards on several cores bounces its cache line, which at
//! one update per request is negligible.

mod histogram;
mod process;
mod queue;
mod registry;
mod runtime;
mod summary;
pub mod text;
mod value;
mod watcher;

pub use histogram::{
    HistogramMetric, HistogramSnapshot, DEFAULT_BUCKETS, SENT_BATCH_DURATION_BUCKETS,
};
pub use process::register_process_metrics;
pub use queue::{
    queue_metric_names, reason, DroppedTotals, Kind, QueueMetrics, REMOTE_STORAGE_PREFIX,
};
pub use registry::{MetricType, MetricsError, Registry};
pub use runtime::{register_build_info, CoreMetrics, ReloadMetrics};
pub use summary::{Summary, SummarySnapshot, SUMMARY_QUANTILES, SUMMARY_WINDOW};
pub use value::{Counter, Gauge};
pub use watcher::{corruption_errors, WatcherMetrics};
