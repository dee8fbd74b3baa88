//! The per-endpoint state behind resharding: four EWMA rates and the current shard count.
//! One [`ShardController::tick`] every 10 s is Prometheus's `calculateDesiredShards`
//! (including its `tick()` calls); whether to act on the result is [`super::should_reshard`].

use super::desired::{desired_shards, next_shard_count, DesiredInputs};
use super::ewma::Ewma;

/// What the caller counted since the previous tick (counters swapped to zero) and the two
/// timestamps, for one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickCounts {
    /// Samples + exemplars + histograms written to the WAL (ingest, not enqueue).
    pub data_in: u64,
    /// Samples + exemplars + histograms whose send finished (success or non-recoverable).
    pub data_out: u64,
    /// Samples + exemplars + histograms dropped before sending.
    pub data_dropped: u64,
    /// Nanoseconds spent in sends that finished (wall time including retries and backoff).
    pub data_out_duration_nanos: u64,
    /// Newest sample timestamp seen in the WAL, seconds.
    pub highest_recv_secs: f64,
    /// Newest sample timestamp in the last batch that finished sending, seconds.
    pub highest_sent_secs: f64,
}

/// The result of one tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// The raw estimate (the `shards_desired` gauge); `None` when nothing was sent.
    pub desired: Option<f64>,
    /// The count `calculateDesiredShards` returns: the current count, or a new one.
    pub target: usize,
    /// The rates the decision used (for debug logging).
    pub inputs: DesiredInputs,
}

/// Rates and shard count of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardController {
    data_in: Ewma,
    data_out: Ewma,
    data_dropped: Ewma,
    data_out_duration: Ewma,
    current: usize,
    min_shards: usize,
    max_shards: usize,
}

impl ShardController {
    /// Starts at `min_shards`, as Prometheus does.
    pub fn new(min_shards: usize, max_shards: usize) -> Self {
        Self {
            data_in: Ewma::default(),
            data_out: Ewma::default(),
            data_dropped: Ewma::default(),
            data_out_duration: Ewma::default(),
            current: min_shards,
            min_shards,
            max_shards,
        }
    }

    /// Records that the shards now number `n` (after a reshard actually happened).
    pub fn set_current(&mut self, n: usize) {
        self.current = n;
    }

    /// Ticks the rates with `counts` and computes the target shard count.
    pub fn tick(&mut self, counts: &TickCounts) -> Tick {
        self.data_in.tick(counts.data_in);
        self.data_out.tick(counts.data_out);
        self.data_dropped.tick(counts.data_dropped);
        self.data_out_duration.tick(counts.data_out_duration_nanos);
        let delay_secs = counts.highest_recv_secs - counts.highest_sent_secs;
        let inputs = DesiredInputs {
            data_in_rate: self.data_in.rate(),
            data_out_rate: self.data_out.rate(),
            data_dropped_rate: self.data_dropped.rate(),
            data_out_duration_rate: self.data_out_duration.rate() / 1e9,
            delay_secs,
        };
        let desired = desired_shards(&inputs);
        let target = desired
            .and_then(|d| {
                next_shard_count(
                    self.current,
                    d,
                    self.min_shards,
                    self.max_shards,
                    delay_secs,
                )
            })
            .unwrap_or(self.current);
        Tick {
            desired,
            target,
            inputs,
        }
    }

    /// The shard count in effect.
    pub fn current(&self) -> usize {
        self.current
    }

    /// The smoothed rates without ticking (delay 0).
    pub fn rates(&self) -> DesiredInputs {
        DesiredInputs {
            data_in_rate: self.data_in.rate(),
            data_out_rate: self.data_out.rate(),
            data_dropped_rate: self.data_dropped.rate(),
            data_out_duration_rate: self.data_out_duration.rate() / 1e9,
            delay_secs: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_sends_keeps_min_shards_and_reports_no_estimate() {
        let mut c = ShardController::new(2, 10);
        let t = c.tick(&TickCounts {
            data_in: 1_000,
            ..TickCounts::default()
        });
        assert_eq!(t.desired, None);
        assert_eq!(t.target, 2);
        assert!((c.rates().data_in_rate - 100.0).abs() < 1e-9);
    }

    #[test]
    fn busy_sends_scale_up_and_clamp() {
        let mut c = ShardController::new(1, 4);
        // 10 s of sending for every 10 s tick by 1 shard, at 10/s in: needs 1 shard...
        let busy = TickCounts {
            data_in: 100,
            data_out: 100,
            data_out_duration_nanos: 10_000_000_000,
            ..TickCounts::default()
        };
        assert_eq!(c.tick(&busy).target, 1);
        // ...but 80 s of sending per 10 s means 8 shards, clamped to 4.
        let mut c = ShardController::new(1, 4);
        let slow = TickCounts {
            data_out_duration_nanos: 80_000_000_000,
            ..busy
        };
        let t = c.tick(&slow);
        assert_eq!(t.desired.map(f64::round), Some(8.0));
        assert_eq!(t.target, 4);
        c.set_current(t.target);
        assert_eq!(c.current(), 4);
    }
}
