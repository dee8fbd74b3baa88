//! [`QueueMetrics`]: one remote-write endpoint's metrics under Prometheus's names
//! (`prometheus_remote_storage_*`, const labels `remote_name` and `url`; FORMATS.md §5.9), so
//! the prometheus-mixin dashboards and its three remote-write alerts work unchanged, plus
//! ringwrite's own latency summaries.
//!
//! HELP texts are Prometheus's (HEAD `storage/remote/queue_manager.go`). Prometheus creates
//! `*_dropped_total{reason}` series lazily; ringwrite creates the four known reasons up front
//! for every kind so `rate()` works from the first scrape. The pre-v2.25 names the mixin still
//! ORs in (`succeeded_samples_total`, `pending_samples`, ...) are not exported: every mixin
//! query ORs them with the current names, so they would only add duplicate series.

use super::{
    histogram::SENT_BATCH_DURATION_BUCKETS,
    registry::Registry,
    summary::Summary,
    value::{Counter, Gauge},
    HistogramMetric,
};

/// Prefix of every per-queue and global remote-storage metric.
pub const REMOTE_STORAGE_PREFIX: &str = "prometheus_remote_storage_";

/// The `reason` label values Prometheus uses for `*_dropped_total`.
pub mod reason {
    /// Older than `sample_age_limit`.
    pub const TOO_OLD: &str = "too_old";
    /// The series was dropped by `write_relabel_configs`.
    pub const DROPPED_SERIES: &str = "dropped_series";
    /// The series ref is unknown (no series record seen): a bug or a lost record.
    pub const UNINTENTIONALLY_DROPPED_SERIES: &str = "unintentionally_dropped_series";
    /// A native histogram with custom buckets cannot be sent over RW 1.0.
    pub const NHCB_IN_RW1_NOT_SUPPORTED: &str = "nhcb_in_rw1_not_supported";
    /// All four, in the order above.
    pub const ALL: [&str; 4] = [
        TOO_OLD,
        DROPPED_SERIES,
        UNINTENTIONALLY_DROPPED_SERIES,
        NHCB_IN_RW1_NOT_SUPPORTED,
    ];
}

/// Which data a dropped-total counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Exemplars,
    Histograms,
    Samples,
}

impl Kind {
    /// The word in the metric name (`samples_dropped_total`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exemplars => "exemplars",
            Kind::Histograms => "histograms",
            Kind::Samples => "samples",
        }
    }
}

/// One `*_dropped_total` family's handles for the four known reasons.
#[derive(Debug, Clone)]
pub struct DroppedTotals {
    pub too_old: Counter,
    pub dropped_series: Counter,
    pub unintentionally_dropped_series: Counter,
    pub nhcb_in_rw1_not_supported: Counter,
}

/// Every per-queue metric of FORMATS.md §5.9 for one endpoint. Fields are named after the
/// metric without its `prometheus_remote_storage_` prefix.
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    // Sent (acknowledged by the receiver).
    pub samples_total: Counter,
    pub exemplars_total: Counter,
    pub histograms_total: Counter,
    pub metadata_total: Counter,
    // Failed with a non-recoverable error.
    pub samples_failed_total: Counter,
    pub exemplars_failed_total: Counter,
    pub histograms_failed_total: Counter,
    pub metadata_failed_total: Counter,
    // Failed with a recoverable error and retried.
    pub samples_retried_total: Counter,
    pub exemplars_retried_total: Counter,
    pub histograms_retried_total: Counter,
    pub metadata_retried_total: Counter,
    // Dropped before sending, by reason.
    pub samples_dropped_total: DroppedTotals,
    pub exemplars_dropped_total: DroppedTotals,
    pub histograms_dropped_total: DroppedTotals,
    pub enqueue_retries_total: Counter,
    /// Compressed bytes of data requests (not metadata).
    pub bytes_total: Counter,
    pub metadata_bytes_total: Counter,
    /// Duration of each send call, in seconds.
    pub sent_batch_duration_seconds: HistogramMetric,
    /// Highest sample timestamp enqueued (seconds since epoch); update with `set_max`.
    pub queue_highest_timestamp_seconds: Gauge,
    /// Highest sample timestamp acknowledged (seconds since epoch); update with `set_max`.
    pub queue_highest_sent_timestamp_seconds: Gauge,
    pub samples_pending: Gauge,
    pub exemplars_pending: Gauge,
    pub histograms_pending: Gauge,
    pub shard_capacity: Gauge,
    pub shards: Gauge,
    pub shards_max: Gauge,
    pub shards_min: Gauge,
    pub shards_desired: Gauge,
    pub max_samples_per_send: Gauge,
    /// `ringwrite_send_latency_seconds`: from handing a request to the HTTP layer to its
    /// final outcome (including retries).
    pub send_latency_seconds: Summary,
    /// `ringwrite_end_to_end_lag_seconds`: from a WAL sample's timestamp to the receiver's
    /// acknowledgement of the request that carried it.
    pub end_to_end_lag_seconds: Summary,
    registry: Registry,
    remote_name: String,
    url: String,
}

/// Name (without prefix) and HELP of every per-queue counter, in struct order.
const COUNTERS: [(&str, &str); 15] = [
    ("samples_total", "Total number of samples sent to remote storage."),
    ("exemplars_total", "Total number of exemplars sent to remote storage."),
    ("histograms_total", "Total number of histograms sent to remote storage."),
    ("metadata_total", "Total number of metadata entries sent to remote storage."),
    ("samples_failed_total", "Total number of samples which failed on send to remote storage, non-recoverable errors."),
    ("exemplars_failed_total", "Total number of exemplars which failed on send to remote storage, non-recoverable errors."),
    ("histograms_failed_total", "Total number of histograms which failed on send to remote storage, non-recoverable errors."),
    ("metadata_failed_total", "Total number of metadata entries which failed on send to remote storage, non-recoverable errors."),
    ("samples_retried_total", "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable."),
    ("exemplars_retried_total", "Total number of exemplars which failed on send to remote storage but were retried because the send error was recoverable."),
    ("histograms_retried_total", "Total number of histograms which failed on send to remote storage but were retried because the send error was recoverable."),
    ("metadata_retried_total", "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable."),
    ("enqueue_retries_total", "Total number of times enqueue has failed because a shards queue was full."),
    ("bytes_total", "The total number of bytes of data (not metadata) sent by the queue after compression. Note that when exemplars over remote write is enabled the exemplars included in a remote write request count towards this metric."),
    ("metadata_bytes_total", "The total number of bytes of metadata sent by the queue after compression."),
];

/// Name (without prefix) and HELP of every per-queue gauge, in struct order.
const GAUGES: [(&str, &str); 11] = [
    ("queue_highest_timestamp_seconds", "Highest timestamp that was enqueued, in seconds since epoch. Initialized to 0 when no data has been received yet."),
    ("queue_highest_sent_timestamp_seconds", "Highest timestamp successfully sent by this queue, in seconds since epoch. Initialized to 0 when no data has been sent yet."),
    ("samples_pending", "The number of samples pending in the queues shards to be sent to the remote storage."),
    ("exemplars_pending", "The number of exemplars pending in the queues shards to be sent to the remote storage."),
    ("histograms_pending", "The number of histograms pending in the queues shards to be sent to the remote storage."),
    ("shard_capacity", "The capacity of each shard of the queue used for parallel sending to the remote storage."),
    ("shards", "The number of shards used for parallel sending to the remote storage."),
    ("shards_max", "The maximum number of shards that the queue is allowed to run."),
    ("shards_min", "The minimum number of shards that the queue is allowed to run."),
    ("shards_desired", "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out."),
    ("max_samples_per_send", "The maximum number of samples to be sent, in a single request, to the remote storage. Note that, when sending of exemplars over remote write is enabled, exemplars count towards this limit."),
];

/// Per-queue names (without prefix) of every family `QueueMetrics` registers under
/// `prometheus_remote_storage_`.
pub fn queue_metric_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = COUNTERS.iter().map(|(n, _)| *n).collect();
    names.extend(GAUGES.iter().map(|(n, _)| *n));
    names.extend([
        "samples_dropped_total",
        "exemplars_dropped_total",
        "histograms_dropped_total",
    ]);
    names.push("sent_batch_duration_seconds");
    names
}

const SENT_BATCH_HELP: &str = "Duration of send calls to the remote storage.";
const SEND_LATENCY_NAME: &str = "ringwrite_send_latency_seconds";
const SEND_LATENCY_HELP: &str =
    "Time from handing a remote-write request to the HTTP layer to its final outcome, including retries.";
const LAG_NAME: &str = "ringwrite_end_to_end_lag_seconds";
const LAG_HELP: &str =
    "Time from a WAL sample's timestamp to the receiver acknowledging the request that carried it.";

fn dropped_help(kind: Kind) -> String {
    format!(
        "Total number of {} which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.",
        kind.as_str()
    )
}

impl QueueMetrics {
    /// Registers (or finds, if already registered) every metric for the endpoint.
    pub fn new(reg: &Registry, remote_name: &str, url: &str) -> QueueMetrics {
        let labels = [("remote_name", remote_name), ("url", url)];
        let counter = |i: usize| {
            let (n, h) = COUNTERS[i];
            reg.counter(&format!("{REMOTE_STORAGE_PREFIX}{n}"), h, &labels)
        };
        let gauge = |i: usize| {
            let (n, h) = GAUGES[i];
            reg.gauge(&format!("{REMOTE_STORAGE_PREFIX}{n}"), h, &labels)
        };
        let mut m = QueueMetrics {
            samples_total: counter(0),
            exemplars_total: counter(1),
            histograms_total: counter(2),
            metadata_total: counter(3),
            samples_failed_total: counter(4),
            exemplars_failed_total: counter(5),
            histograms_failed_total: counter(6),
            metadata_failed_total: counter(7),
            samples_retried_total: counter(8),
            exemplars_retried_total: counter(9),
            histograms_retried_total: counter(10),
            metadata_retried_total: counter(11),
            enqueue_retries_total: counter(12),
            bytes_total: counter(13),
            metadata_bytes_total: counter(14),
            samples_dropped_total: DroppedTotals::detached(),
            exemplars_dropped_total: DroppedTotals::detached(),
            histograms_dropped_total: DroppedTotals::detached(),
            sent_batch_duration_seconds: reg.histogram(
                &format!("{REMOTE_STORAGE_PREFIX}sent_batch_duration_seconds"),
                SENT_BATCH_HELP,
                &labels,
                SENT_BATCH_DURATION_BUCKETS,
            ),
            queue_highest_timestamp_seconds: gauge(0),
            queue_highest_sent_timestamp_seconds: gauge(1),
            samples_pending: gauge(2),
            exemplars_pending: gauge(3),
            histograms_pending: gauge(4),
            shard_capacity: gauge(5),
            shards: gauge(6),
            shards_max: gauge(7),
            shards_min: gauge(8),
            shards_desired: gauge(9),
            max_samples_per_send: gauge(10),
            send_latency_seconds: reg.summary(SEND_LATENCY_NAME, SEND_LATENCY_HELP, &labels),
            end_to_end_lag_seconds: reg.summary(LAG_NAME, LAG_HELP, &labels),
            registry: reg.clone(),
            remote_name: remote_name.to_owned(),
            url: url.to_owned(),
        };
        m.samples_dropped_total = m.dropped_totals(Kind::Samples);
        m.exemplars_dropped_total = m.dropped_totals(Kind::Exemplars);
        m.histograms_dropped_total = m.dropped_totals(Kind::Histograms);
        m
    }

    /// The `*_dropped_total{reason}` counter for any reason (the four known ones are also
    /// fields). Takes the registry lock: look it up once, not per sample.
    pub fn dropped(&self, kind: Kind, reason: &str) -> Counter {
        self.registry.counter(
            &format!("{REMOTE_STORAGE_PREFIX}{}_dropped_total", kind.as_str()),
            &dropped_help(kind),
            &[
                ("reason", reason),
                ("remote_name", &self.remote_name),
                ("url", &self.url),
            ],
        )
    }

    /// Removes this endpoint's series from the registry (its endpoint left the config), as
    /// Prometheus deletes a stopped queue's series so alerts do not fire for it.
    pub fn unregister(&self) {
        self.registry
            .remove_matching(&[("remote_name", &self.remote_name), ("url", &self.url)]);
    }

    /// The endpoint's `remote_name` label value.
    pub fn remote_name(&self) -> &str {
        &self.remote_name
    }

    /// The endpoint's `url` label value.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn dropped_totals(&self, kind: Kind) -> DroppedTotals {
        DroppedTotals {
            too_old: self.dropped(kind, reason::TOO_OLD),
            dropped_series: self.dropped(kind, reason::DROPPED_SERIES),
            unintentionally_dropped_series: self
                .dropped(kind, reason::UNINTENTIONALLY_DROPPED_SERIES),
            nhcb_in_rw1_not_supported: self.dropped(kind, reason::NHCB_IN_RW1_NOT_SUPPORTED),
        }
    }
}

impl DroppedTotals {
    fn detached() -> DroppedTotals {
        DroppedTotals {
            too_old: Counter::detached(),
            dropped_series: Counter::detached(),
            unintentionally_dropped_series: Counter::detached(),
            nhcb_in_rw1_not_supported: Counter::detached(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_queues_for_one_endpoint_share_counters() {
        let r = Registry::new();
        let a = QueueMetrics::new(&r, "mimir", "http://m/push");
        let b = QueueMetrics::new(&r, "mimir", "http://m/push");
        let c = QueueMetrics::new(&r, "other", "http://o/push");
        assert!(a.samples_total.same_as(&b.samples_total));
        assert!(a
            .histograms_dropped_total
            .too_old
            .same_as(&b.dropped(Kind::Histograms, "too_old")));
        assert!(!a.samples_total.same_as(&c.samples_total));
    }

    #[test]
    fn dropped_handles_count_under_their_reason() {
        let r = Registry::new();
        let q = QueueMetrics::new(&r, "q", "http://x");
        q.samples_dropped_total.dropped_series.add(7);
        q.dropped(Kind::Exemplars, "custom_reason").inc();
        let text = r.render();
        assert!(text.contains("prometheus_remote_storage_samples_dropped_total{reason=\"dropped_series\",remote_name=\"q\",url=\"http://x\"} 7\n"), "{text}");
        assert!(text.contains("prometheus_remote_storage_exemplars_dropped_total{reason=\"custom_reason\",remote_name=\"q\",url=\"http://x\"} 1\n"), "{text}");
    }

    #[test]
    fn unregister_removes_only_this_endpoint() {
        let r = Registry::new();
        let q = QueueMetrics::new(&r, "gone", "http://g");
        let _keep = QueueMetrics::new(&r, "kept", "http://k");
        q.unregister();
        let text = r.render();
        assert!(!text.contains("gone"), "{text}");
        assert!(text.contains("remote_name=\"kept\""));
    }
}
