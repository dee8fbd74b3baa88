//! Per-endpoint rate limit (`queue_config.max_samples_per_second` and
//! `max_bytes_per_second`, ringwrite extensions) with a ramp-up after an outage
//! (`rate_limit_ramp_up`).
//!
//! The endpoint's rate is split evenly over its shards: each shard has its own token bucket
//! refilled at `rate / shards`, so no shard ever waits on a lock another shard holds (a
//! shard's bucket sits in its own slot, touched only by that shard; the shard count and the
//! ramp start are atomics). After a reshard the share follows the new shard count at the
//! next refill.
//!
//! Buckets run in debt: a batch may start when the bucket is not negative and then costs its
//! full size, so batches larger than a second's worth work and the long-run rate is exact.
//! An idle bucket saves at most [`MAX_CREDIT`] worth of credit: enough to make up for timer
//! and scheduling delays, too little for a burst after a quiet spell.
//!
//! Ramp-up: when a shard gets a batch through after a streak of at least
//! [`RAMP_STREAK_ATTEMPTS`] failed attempts lasting at least [`RAMP_STREAK_MIN`] (the
//! receiver was down), the allowed rate drops to [`RAMP_FLOOR`] of the limit and rises
//! linearly to the full limit over `rate_limit_ramp_up`, so the backlog does not hit a
//! receiver that just came back at full speed. The other shards, still finishing the same
//! outage's batches, do not restart it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::BatchOutcome;

/// Share of the limit allowed right after an outage.
pub const RAMP_FLOOR: f64 = 0.1;
/// Failed attempts of one batch that count as an outage.
pub const RAMP_STREAK_ATTEMPTS: u32 = 3;
/// Shortest failing time of one batch that counts as an outage.
pub const RAMP_STREAK_MIN: Duration = Duration::from_secs(1);

/// Most credit a bucket keeps, in time at its rate.
pub const MAX_CREDIT: Duration = Duration::from_millis(250);
/// Waits shorter than this are not slept (the debt carries over to the next batch).
const MIN_WAIT: Duration = Duration::from_millis(1);

/// No ramp in progress.
const NO_RAMP: i64 = i64::MIN;

/// One endpoint's limit, shared by its shards (`Send + Sync`).
pub struct RateLimit {
    samples_per_sec: f64,
    bytes_per_sec: f64,
    ramp: Duration,
    base: Instant,
    /// Microseconds after `base` when the current ramp began, or [`NO_RAMP`].
    ramp_start: AtomicI64,
    shards: Box<dyn Fn() -> usize + Send + Sync>,
    slots: Box<[Mutex<Bucket>]>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("samples_per_sec", &self.samples_per_sec)
            .field("bytes_per_sec", &self.bytes_per_sec)
            .field("ramp", &self.ramp)
            .finish_non_exhaustive()
    }
}

/// One shard's bucket. Tokens may go negative (debt).
#[derive(Debug)]
struct Bucket {
    samples: f64,
    bytes: f64,
    last: Option<Instant>,
}

impl RateLimit {
    /// A limit of `samples_per_sec` and `bytes_per_sec` (0: that one is off), or `None`
    /// when both are off. `shards` tells the current shard count; `slots` is the most
    /// shards there will be (more share slots, which stays correct but contends).
    pub fn new(
        samples_per_sec: u64,
        bytes_per_sec: u64,
        ramp: Duration,
        slots: usize,
        shards: Box<dyn Fn() -> usize + Send + Sync>,
    ) -> Option<Self> {
        if samples_per_sec == 0 && bytes_per_sec == 0 {
            return None;
        }
        Some(Self {
            samples_per_sec: samples_per_sec as f64,
            bytes_per_sec: bytes_per_sec as f64,
            ramp,
            base: Instant::now(),
            ramp_start: AtomicI64::new(NO_RAMP),
            shards,
            slots: (0..slots.max(1))
                .map(|_| {
                    Mutex::new(Bucket {
                        samples: 0.0,
                        bytes: 0.0,
                        last: None,
                    })
                })
                .collect(),
        })
    }

    /// The limit `queue_config` asks for (`None`: unlimited); `fixed_shards` overrides
    /// the shard range as in the pipeline.
    pub fn from_config(
        q: &crate::config::QueueConfig,
        fixed_shards: Option<usize>,
        shards: Box<dyn Fn() -> usize + Send + Sync>,
    ) -> Option<std::sync::Arc<Self>> {
        Self::new(
            q.max_samples_per_second,
            q.max_bytes_per_second,
            q.rate_limit_ramp_up,
            fixed_shards.unwrap_or(q.max_shards).max(q.max_shards),
            shards,
        )
        .map(std::sync::Arc::new)
    }

    fn micros(&self, t: Instant) -> i64 {
        t.saturating_duration_since(self.base).as_micros() as i64
    }

    /// The share of the limit allowed at `now` (1.0 outside a ramp).
    pub fn factor(&self, now: Instant) -> f64 {
        let start = self.ramp_start.load(Ordering::Relaxed);
        if start == NO_RAMP || self.ramp.is_zero() {
            return 1.0;
        }
        let elapsed = (self.micros(now) - start).max(0) as f64 / 1e6;
        let progress = (elapsed / self.ramp.as_secs_f64()).min(1.0);
        RAMP_FLOOR + (1.0 - RAMP_FLOOR) * progress
    }

    fn slot(&self, shard: usize) -> std::sync::MutexGuard<'_, Bucket> {
        self.slots[shard % self.slots.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Refills shard `shard`'s bucket to `now`; returns how long it must wait before it may
    /// send (zero: now).
    pub fn wait_time(&self, shard: usize, now: Instant) -> Duration {
        let share = self.factor(now) / (self.shards)().max(1) as f64;
        let mut guard = self.slot(shard);
        let b = &mut *guard;
        let dt = b
            .last
            .map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
        b.last = Some(now);
        let mut wait: f64 = 0.0;
        for (tokens, rate) in [
            (&mut b.samples, self.samples_per_sec * share),
            (&mut b.bytes, self.bytes_per_sec * share),
        ] {
            if rate <= 0.0 {
                continue;
            }
            *tokens = (*tokens + rate * dt).min(rate * MAX_CREDIT.as_secs_f64());
            if *tokens < 0.0 {
                wait = wait.max(-*tokens / rate);
            }
        }
        let wait = Duration::from_secs_f64(wait);
        if wait < MIN_WAIT {
            Duration::ZERO
        } else {
            wait
        }
    }

    /// Waits (on the shard's event loop) until shard `shard` may send.
    pub async fn acquire(&self, shard: usize) {
        loop {
            let wait = self.wait_time(shard, Instant::now());
            if wait.is_zero() {
                return;
            }
            // Short sleeps so a ramp or reshard that raises the share takes effect soon.
            monoio::time::sleep(wait.min(Duration::from_millis(250))).await;
        }
    }

    /// Charges a finished batch of `items` and `bytes` to shard `shard`, and starts a ramp
    /// when it got through after an outage (`failing_for`: how long the batch was retried).
    pub fn sent(
        &self,
        shard: usize,
        items: u64,
        bytes: usize,
        outcome: &BatchOutcome,
        failing_for: Duration,
    ) {
        let now = Instant::now();
        {
            let mut b = self.slot(shard);
            if self.samples_per_sec > 0.0 {
                b.samples -= items as f64;
            }
            if self.bytes_per_sec > 0.0 {
                b.bytes -= bytes as f64;
            }
        }
        if let BatchOutcome::Sent { attempts, .. } = outcome {
            if *attempts > RAMP_STREAK_ATTEMPTS && failing_for >= RAMP_STREAK_MIN {
                self.outage_over(now, now.checked_sub(failing_for).unwrap_or(self.base));
            }
        }
    }

    /// Starts a ramp at `now`, unless one already started after `failing_since` (the same
    /// outage, reported by another shard).
    pub fn outage_over(&self, now: Instant, failing_since: Instant) {
        let since = self.micros(failing_since);
        let current = self.ramp_start.load(Ordering::Relaxed);
        if current != NO_RAMP && current >= since {
            return;
        }
        if self
            .ramp_start
            .compare_exchange(
                current,
                self.micros(now),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
            && !self.ramp.is_zero()
        {
            tracing::info!(
                ramp = ?self.ramp,
                "Receiver is back after an outage; ramping the send rate up from {}% of the limit.",
                (RAMP_FLOOR * 100.0) as u32
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{atomic::AtomicUsize, Arc};

    use super::*;

    fn limit(
        samples: u64,
        bytes: u64,
        ramp: Duration,
        shards: usize,
    ) -> (RateLimit, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(shards));
        let n2 = Arc::clone(&n);
        let l = RateLimit::new(
            samples,
            bytes,
            ramp,
            8,
            Box::new(move || n2.load(Ordering::Relaxed)),
        )
        .unwrap();
        (l, n)
    }

    fn sent_ok() -> BatchOutcome {
        BatchOutcome::Sent {
            written: None,
            attempts: 1,
        }
    }

    #[test]
    fn off_when_both_limits_are_zero() {
        assert!(RateLimit::new(0, 0, Duration::ZERO, 1, Box::new(|| 1)).is_none());
    }

    /// Simulated shards sending as fast as allowed: the total rate is the limit, however
    /// many shards share it, and whichever dimension is tighter wins.
    #[test]
    fn simulated_rate_table() {
        // (samples/s, bytes/s, shards, batch items, batch bytes, want items/s)
        let cases = [
            (1000, 0, 1, 100, 1000, 1000.0),
            (1000, 0, 4, 100, 1000, 1000.0),
            (1000, 0, 3, 2500, 1000, 1000.0),
            (0, 50_000, 2, 100, 10_000, 500.0),
            (1000, 50_000, 2, 100, 10_000, 500.0),
            (1000, 1_000_000, 5, 50, 100, 1000.0),
        ];
        for (samples, bytes, shards, items, size, want) in cases {
            let (l, _) = limit(samples, bytes, Duration::ZERO, shards);
            let t0 = Instant::now();
            let mut next = vec![t0; shards];
            let mut total = 0u64;
            let horizon = t0 + Duration::from_secs(60);
            // Event simulation: each shard sends when its wait is zero.
            loop {
                let (i, &t) = next.iter().enumerate().min_by_key(|(_, t)| **t).unwrap();
                if t >= horizon {
                    break;
                }
                let wait = l.wait_time(i, t);
                if wait.is_zero() {
                    l.sent(i, items, size, &sent_ok(), Duration::ZERO);
                    total += items;
                } else {
                    next[i] = t + wait;
                }
            }
            let rate = total as f64 / 60.0;
            assert!(
                (rate - want).abs() / want < 0.05,
                "{samples}/s {bytes}B/s {shards} shards {items}x{size}: {rate}/s, want {want}"
            );
        }
    }

    #[test]
    fn share_follows_the_shard_count() {
        let (l, n) = limit(1000, 0, Duration::ZERO, 4);
        let t0 = Instant::now();
        l.wait_time(0, t0);
        l.sent(0, 100, 0, &sent_ok(), Duration::ZERO);
        // 100 items at 250/s per shard: 0.4 s.
        let w = l.wait_time(0, t0);
        assert!((w.as_secs_f64() - 0.4).abs() < 1e-6, "{w:?}");
        n.store(1, Ordering::Relaxed);
        let w = l.wait_time(0, t0);
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn idle_time_saves_little_credit() {
        let (l, _) = limit(100, 0, Duration::ZERO, 1);
        let t0 = Instant::now();
        assert!(l.wait_time(0, t0).is_zero());
        assert!(l.wait_time(0, t0 + Duration::from_secs(100)).is_zero());
        l.sent(0, 100, 0, &sent_ok(), Duration::ZERO);
        // 100 s idle saved 0.25 s of credit (25 items): 75 items to wait for.
        let w = l.wait_time(0, t0 + Duration::from_secs(100));
        assert!((w.as_secs_f64() - 0.75).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn ramp_after_outage_table() {
        let ramp = Duration::from_secs(10);
        let (l, _) = limit(1000, 0, ramp, 1);
        let t0 = Instant::now();
        assert_eq!(l.factor(t0), 1.0);
        // A short blip (few attempts, or quick) does not start a ramp.
        let blip = BatchOutcome::Sent {
            written: None,
            attempts: 2,
        };
        l.sent(0, 1, 0, &blip, Duration::from_secs(5));
        assert_eq!(l.factor(Instant::now()), 1.0);
        let quick = BatchOutcome::Sent {
            written: None,
            attempts: 10,
        };
        l.sent(0, 1, 0, &quick, Duration::from_millis(200));
        assert_eq!(l.factor(Instant::now()), 1.0);
        // A real outage: 10 attempts over 30 s.
        let start = t0 + Duration::from_secs(30);
        l.outage_over(start, t0);
        // (seconds after the outage, factor)
        let cases = [(0.0, 0.1), (5.0, 0.55), (10.0, 1.0), (60.0, 1.0)];
        for (secs, want) in cases {
            let f = l.factor(start + Duration::from_secs_f64(secs));
            assert!((f - want).abs() < 1e-3, "{secs}s: {f}, want {want}");
        }
        // Another shard finishing a batch of the same outage does not restart the ramp...
        l.outage_over(start + Duration::from_secs(5), t0 + Duration::from_secs(1));
        assert!((l.factor(start + Duration::from_secs(5)) - 0.55).abs() < 1e-3);
        // ...a new outage does.
        let later = start + Duration::from_secs(100);
        l.outage_over(later, start + Duration::from_secs(90));
        assert!((l.factor(later) - 0.1).abs() < 1e-3);
        // During the ramp the rate is the factor times the limit.
        // (Slot 1: slot 0 holds the debt of the batches above.)
        let w0 = l.wait_time(1, later);
        assert!(w0.is_zero());
        l.sent(1, 100, 0, &sent_ok(), Duration::ZERO);
        let w = l.wait_time(1, later);
        assert!(
            (w.as_secs_f64() - 1.0).abs() < 1e-3,
            "100 items at 100/s: {w:?}"
        );
    }
}
