//! [`WatcherMetrics`]: what the WAL tailer reports, under the names Prometheus's WAL watcher
//! and live reader use (FORMATS.md §5.9), so the mixin's "segments behind" panel works:
//! * `prometheus_wal_watcher_*{consumer}` per tailer (`consumer` = the queue's name);
//! * `prometheus_tsdb_wal_reader_corruption_errors_total{error}`;
//! * the global (no `remote_name`) `prometheus_remote_storage_{samples,exemplars,histograms}_in_total`
//!   and `highest_timestamp_in_seconds`, which every consumer shares.

use super::{
    queue::REMOTE_STORAGE_PREFIX,
    registry::Registry,
    value::{Counter, Gauge},
};

const WATCHER_PREFIX: &str = "prometheus_wal_watcher_";
const CORRUPTION_NAME: &str = "prometheus_tsdb_wal_reader_corruption_errors_total";
const CORRUPTION_HELP: &str = "Errors encountered when reading the WAL.";
const RECORDS_READ_HELP: &str = "Number of records read by the WAL watcher from the WAL.";

/// One tailer's metrics, plus handles to the global remote-storage ones.
#[derive(Debug, Clone)]
pub struct WatcherMetrics {
    /// Global: samples read from the WAL for remote storage (all consumers).
    pub samples_in_total: Counter,
    /// Global: exemplars read from the WAL for remote storage.
    pub exemplars_in_total: Counter,
    /// Global: histogram samples read from the WAL for remote storage.
    pub histograms_in_total: Counter,
    /// Global: highest sample timestamp read, seconds since epoch; update with `set_max`.
    pub highest_timestamp_in_seconds: Gauge,
    pub record_decode_failures_total: Counter,
    pub samples_sent_pre_tailing_total: Counter,
    /// The segment number being read.
    pub current_segment: Gauge,
    pub notifications_skipped_total: Counter,
    registry: Registry,
    consumer: String,
}

impl WatcherMetrics {
    /// Registers (or finds) the metrics of the tailer named `consumer`.
    pub fn new(reg: &Registry, consumer: &str) -> WatcherMetrics {
        let labels = [("consumer", consumer)];
        let watcher_counter =
            |name: &str, help: &str| reg.counter(&format!("{WATCHER_PREFIX}{name}"), help, &labels);
        let global_counter = |name: &str, help: &str| {
            reg.counter(&format!("{REMOTE_STORAGE_PREFIX}{name}"), help, &[])
        };
        WatcherMetrics {
            samples_in_total: global_counter(
                "samples_in_total",
                "Samples in to remote storage, compare to samples out for queue managers. Deprecated, check prometheus_wal_watcher_records_read_total and prometheus_remote_storage_samples_dropped_total",
            ),
            exemplars_in_total: global_counter(
                "exemplars_in_total",
                "Exemplars in to remote storage, compare to exemplars out for queue managers. Deprecated, check prometheus_wal_watcher_records_read_total and prometheus_remote_storage_exemplars_dropped_total",
            ),
            histograms_in_total: global_counter(
                "histograms_in_total",
                "HistogramSamples in to remote storage, compare to histograms out for queue managers. Deprecated, check prometheus_wal_watcher_records_read_total and prometheus_remote_storage_histograms_dropped_total",
            ),
            highest_timestamp_in_seconds: reg.gauge(
                &format!("{REMOTE_STORAGE_PREFIX}highest_timestamp_in_seconds"),
                "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch. Initialized to 0 when no data has been received yet. Deprecated, check prometheus_remote_storage_queue_highest_timestamp_seconds which is more accurate.",
                &[],
            ),
            record_decode_failures_total: watcher_counter(
                "record_decode_failures_total",
                "Number of records read by the WAL watcher that resulted in an error when decoding.",
            ),
            samples_sent_pre_tailing_total: watcher_counter(
                "samples_sent_pre_tailing_total",
                "Number of sample records read by the WAL watcher and sent to remote write during replay of existing WAL.",
            ),
            current_segment: reg.gauge(
                &format!("{WATCHER_PREFIX}current_segment"),
                "Current segment the WAL watcher is reading records from.",
                &labels,
            ),
            notifications_skipped_total: watcher_counter(
                "notifications_skipped_total",
                "The number of WAL write notifications that the Watcher has skipped due to already being in a WAL read routine.",
            ),
            registry: reg.clone(),
            consumer: consumer.to_owned(),
        }
    }

    /// `prometheus_wal_watcher_records_read_total{consumer, type}`; `record_type` is
    /// Prometheus's name for it (`crate::record::RecordType::name`: `series`, `samples`,
    /// `histogram_samples`, ..., `unknown`). Takes the registry lock: look each type up once.
    pub fn records_read(&self, record_type: &str) -> Counter {
        self.registry.counter(
            &format!("{WATCHER_PREFIX}records_read_total"),
            RECORDS_READ_HELP,
            &[("consumer", &self.consumer), ("type", record_type)],
        )
    }

    /// `prometheus_tsdb_wal_reader_corruption_errors_total{error}` (Prometheus's live reader
    /// uses `record_span_page`). Global, like Prometheus's: not labelled by consumer.
    pub fn corruption_errors(&self, error: &str) -> Counter {
        corruption_errors(&self.registry, error)
    }

    /// The `consumer` label value.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }
}

/// `prometheus_tsdb_wal_reader_corruption_errors_total{error}`, for code without a
/// [`WatcherMetrics`].
pub fn corruption_errors(reg: &Registry, error: &str) -> Counter {
    reg.counter(CORRUPTION_NAME, CORRUPTION_HELP, &[("error", error)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_share_globals_but_not_their_own() {
        let r = Registry::new();
        let a = WatcherMetrics::new(&r, "a");
        let b = WatcherMetrics::new(&r, "b");
        assert!(a.samples_in_total.same_as(&b.samples_in_total));
        assert!(a
            .highest_timestamp_in_seconds
            .same_as(&b.highest_timestamp_in_seconds));
        assert!(!a
            .record_decode_failures_total
            .same_as(&b.record_decode_failures_total));
        assert!(a.records_read("series").same_as(&a.records_read("series")));
        assert!(!a.records_read("series").same_as(&b.records_read("series")));
        assert!(a.corruption_errors("x").same_as(&b.corruption_errors("x")));
    }

    #[test]
    fn renders_prometheus_names_and_labels() {
        let r = Registry::new();
        let w = WatcherMetrics::new(&r, "mimir");
        w.records_read("samples").add(3);
        w.current_segment.set(17.0);
        w.corruption_errors("record_span_page").inc();
        w.samples_in_total.add(100);
        let text = r.render();
        for line in [
            "prometheus_wal_watcher_records_read_total{consumer=\"mimir\",type=\"samples\"} 3\n",
            "prometheus_wal_watcher_current_segment{consumer=\"mimir\"} 17\n",
            "prometheus_tsdb_wal_reader_corruption_errors_total{error=\"record_span_page\"} 1\n",
            "prometheus_remote_storage_samples_in_total 100\n",
            "prometheus_wal_watcher_record_decode_failures_total{consumer=\"mimir\"} 0\n",
            "prometheus_wal_watcher_samples_sent_pre_tailing_total{consumer=\"mimir\"} 0\n",
            "prometheus_wal_watcher_notifications_skipped_total{consumer=\"mimir\"} 0\n",
            "prometheus_remote_storage_highest_timestamp_in_seconds 0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
