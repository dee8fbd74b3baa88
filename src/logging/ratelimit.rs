//! [`RateLimit`]: at most one log line per interval for a kind of event that can repeat per
//! batch (a failing receiver must not flood the log), with the number of lines left out.
//! Lock-free and `Sync`, so the shards of one endpoint on every core share one limit: one
//! line per endpoint per interval, not one per core.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Allows one event per interval; counts the suppressed ones in between.
#[derive(Debug)]
pub struct RateLimit {
    interval_ns: u64,
    origin: Instant,
    /// Nanoseconds since `origin` + 1 of the last allowed event; 0 = none yet.
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    pub fn new(interval: Duration) -> RateLimit {
        RateLimit {
            interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            origin: Instant::now(),
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event should be logged, `n` being how many were suppressed since
    /// the last logged one; `None` when it should be left out.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let at = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX - 1)
            + 1;
        let mut last = self.last.load(Ordering::Acquire);
        loop {
            if last != 0 && at.saturating_sub(last) < self.interval_ns {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            // One thread wins the slot; the others see its time and are suppressed.
            match self
                .last
                .compare_exchange_weak(last, at, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(self.suppressed.swap(0, Ordering::Relaxed)),
                Err(now_last) => last = now_last,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_per_interval_with_suppressed_count() {
        let l = RateLimit::new(Duration::from_secs(10));
        let t = Instant::now();
        let s = Duration::from_secs;
        let steps = [
            (t, Some(0)),
            (t + s(1), None),
            (t + s(9), None),
            (t + s(10), Some(2)),
            (t + s(11), None),
            (t + s(30), Some(1)),
        ];
        for (i, (at, want)) in steps.into_iter().enumerate() {
            assert_eq!(l.allow(at), want, "step {i}");
        }
    }

    #[test]
    fn threads_share_one_limit() {
        let l = Arc::new(RateLimit::new(Duration::from_secs(3600)));
        let now = Instant::now();
        let allowed: usize = (0..8)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || (0..1000).filter(|_| l.allow(now).is_some()).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(allowed, 1, "one line in total across threads");
        assert_eq!(l.allow(now + Duration::from_secs(3600)), Some(7999));
    }
}
