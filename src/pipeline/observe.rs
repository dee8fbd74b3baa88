//! The pipeline's self-metrics: per batch from the shards ([`BatchMetrics`]), and once a
//! second from the endpoint's counters ([`sync`]), under Prometheus's names.

use super::PipelineStats;
use crate::http::{BatchOutcome, SentCounts};
use crate::metrics::{Kind, QueueMetrics, WatcherMetrics};
use crate::queue::{Loss, SendObserver, KINDS};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Shards report every finished batch here (any core).
pub struct BatchMetrics(pub QueueMetrics);

impl SendObserver for BatchMetrics {
    fn batch_done(
        &self,
        outcome: &BatchOutcome,
        counts: &SentCounts,
        bytes: usize,
        elapsed: Duration,
    ) {
        let m = &self.0;
        m.samples_total.add(counts.samples);
        m.histograms_total.add(counts.histograms);
        m.exemplars_total.add(counts.exemplars);
        m.bytes_total.add(bytes as u64);
        m.sent_batch_duration_seconds.observe(elapsed.as_secs_f64());
        m.send_latency_seconds.observe(elapsed);
        match outcome {
            BatchOutcome::Sent {
                written: Some(w), ..
            } => {
                m.samples_failed_total
                    .add(counts.samples.saturating_sub(w.samples));
                m.histograms_failed_total
                    .add(counts.histograms.saturating_sub(w.histograms));
                m.exemplars_failed_total
                    .add(counts.exemplars.saturating_sub(w.exemplars));
            }
            BatchOutcome::Sent { written: None, .. } | BatchOutcome::FallBackToRw1 { .. } => {}
            BatchOutcome::Dropped { .. } | BatchOutcome::GaveUp { .. } => {
                m.samples_failed_total.add(counts.samples);
                m.histograms_failed_total.add(counts.histograms);
                m.exemplars_failed_total.add(counts.exemplars);
            }
        }
    }

    fn retried(&self, counts: &SentCounts) {
        let m = &self.0;
        m.samples_retried_total.add(counts.samples);
        m.histograms_retried_total.add(counts.histograms);
        m.exemplars_retried_total.add(counts.exemplars);
    }

    fn lag(&self, secs: f64) {
        self.0.end_to_end_lag_seconds.observe_secs(secs);
    }

    fn unsupported(&self, n: u64) {
        self.0
            .dropped(Kind::Histograms, "nhcb_in_rw1_not_supported")
            .add(n);
    }
}

/// Counter values already exported, so each sync adds only the difference.
#[derive(Default)]
pub struct Synced {
    drops: [[u64; 3]; 6],
    enqueue_waits: u64,
    data_in: u64,
    decode_failures: u64,
}

/// Copies the endpoint's counters and gauges into the registry.
#[allow(clippy::too_many_arguments)]
pub fn sync(
    q: &QueueMetrics,
    w: &WatcherMetrics,
    stats: &PipelineStats,
    synced: &mut Synced,
    enqueue_waits: u64,
    highest_recv_ms: i64,
    segment: Option<u64>,
    desired: Option<f64>,
) {
    let qs = &stats.queue;
    for (i, loss) in Loss::ALL.iter().enumerate() {
        for (j, kind) in KINDS.iter().enumerate() {
            let now = qs.drops.get(*kind, *loss);
            let last = &mut synced.drops[i][j];
            if now > *last {
                q.dropped(*kind, loss.label()).add(now - *last);
                *last = now;
            }
        }
    }
    q.enqueue_retries_total
        .add(enqueue_waits.saturating_sub(synced.enqueue_waits));
    synced.enqueue_waits = enqueue_waits;
    let data_in = stats.data_in.load(Ordering::Relaxed);
    w.samples_in_total.add(data_in - synced.data_in);
    synced.data_in = data_in;
    let df = stats.decode_errors.load(Ordering::Relaxed);
    w.record_decode_failures_total
        .add(df - synced.decode_failures);
    synced.decode_failures = df;
    if highest_recv_ms > 0 {
        q.queue_highest_timestamp_seconds
            .set_max(highest_recv_ms as f64 / 1000.0);
        w.highest_timestamp_in_seconds
            .set_max(highest_recv_ms as f64 / 1000.0);
    }
    let sent = qs.highest_sent_ms.load(Ordering::Relaxed);
    if sent > 0 {
        q.queue_highest_sent_timestamp_seconds
            .set_max(sent as f64 / 1000.0);
    }
    q.samples_pending
        .set(qs.pending.load(Ordering::Relaxed).max(0) as f64);
    q.shards.set(stats.shards.load(Ordering::Relaxed) as f64);
    if let Some(d) = desired {
        q.shards_desired.set(d);
    }
    if let Some(s) = segment {
        w.current_segment.set(s as f64);
    }
}
