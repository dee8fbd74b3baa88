//! Rate limiting for per-batch log lines: a failing receiver must not flood the log.

use std::{
    cell::Cell,
    time::{Duration, Instant},
};

/// Allows one event per `interval`; counts the ones it suppressed in between.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    interval: Duration,
    last: Cell<Option<Instant>>,
    suppressed: Cell<u64>,
}

impl LogLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Cell::new(None),
            suppressed: Cell::new(0),
        }
    }

    /// `Some(n)` when this event should be logged, `n` being how many were suppressed since
    /// the last logged one; `None` when it should be suppressed.
    pub(crate) fn allow(&self, now: Instant) -> Option<u64> {
        if let Some(last) = self.last.get() {
            if now.saturating_duration_since(last) < self.interval {
                self.suppressed.set(self.suppressed.get() + 1);
                return None;
            }
        }
        self.last.set(Some(now));
        Some(self.suppressed.replace(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_interval_with_suppressed_count() {
        let l = LogLimiter::new(Duration::from_secs(10));
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
}
