//! Exponentially weighted moving average of a per-second rate (Prometheus `ewma.go`).
//!
//! Events are counted between ticks by the caller (an atomic counter it swaps to zero) and
//! handed to [`Ewma::tick`] every [`SHARD_UPDATE_INTERVAL`]. The first tick that sees events
//! sets the rate outright; later ticks move it `alpha` of the way toward the new instant rate.
//! Until an event has been seen the rate stays 0, so a queue that has sent nothing yet reads
//! as "no data" rather than as a slow decay from zero.

use std::time::Duration;

/// Prometheus's `ewmaWeight`.
pub const EWMA_WEIGHT: f64 = 0.2;
/// Prometheus's `shardUpdateDuration`: how often rates tick and resharding is considered.
pub const SHARD_UPDATE_INTERVAL: Duration = Duration::from_secs(10);

/// A per-second rate smoothed over ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct Ewma {
    alpha: f64,
    interval_secs: f64,
    rate: f64,
    init: bool,
}

impl Ewma {
    /// An EWMA with weight `alpha` ticked every `interval` (must be non-zero).
    pub fn new(alpha: f64, interval: Duration) -> Self {
        Self {
            alpha,
            interval_secs: interval.as_secs_f64(),
            rate: 0.0,
            init: false,
        }
    }

    /// Folds in the events counted since the previous tick. Call once per interval.
    pub fn tick(&mut self, events: u64) {
        let instant = events as f64 / self.interval_secs;
        if self.init {
            self.rate += self.alpha * (instant - self.rate);
        } else if events > 0 {
            self.init = true;
            self.rate = instant;
        }
    }

    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

impl Default for Ewma {
    /// Prometheus's parameters: weight 0.2, ticked every 10 s.
    fn default() -> Self {
        Self::new(EWMA_WEIGHT, SHARD_UPDATE_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_table() {
        // (events per tick, rate after each tick)
        let cases: &[(&[u64], &[f64])] = &[
            // Never an event: stays 0.
            (&[0, 0, 0], &[0.0, 0.0, 0.0]),
            // First non-zero tick sets the rate (100 events / 10 s).
            (&[100], &[10.0]),
            // Zeros before the first event do not count.
            (&[0, 0, 100], &[0.0, 0.0, 10.0]),
            // Then 20 % of the way toward each new instant rate.
            (&[100, 200], &[10.0, 12.0]),
            (&[100, 0], &[10.0, 8.0]),
            (&[100, 0, 0], &[10.0, 8.0, 6.4]),
            (&[100, 100, 100], &[10.0, 10.0, 10.0]),
        ];
        for (events, want) in cases {
            let mut e = Ewma::default();
            for (i, (n, w)) in events.iter().zip(want.iter()).enumerate() {
                e.tick(*n);
                assert!(
                    (e.rate() - w).abs() < 1e-12,
                    "events {events:?} tick {i}: rate {} want {w}",
                    e.rate()
                );
            }
        }
    }

    #[test]
    fn interval_scales_the_rate() {
        let mut e = Ewma::new(0.5, Duration::from_secs(1));
        e.tick(10);
        e.tick(20);
        assert!((e.rate() - 15.0).abs() < 1e-12);
    }
}
