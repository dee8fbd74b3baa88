//! [`Summary`]: latency quantiles from an hdrhistogram, exported as a Prometheus summary.
//!
//! Observations are recorded in microseconds (2 significant digits, so a quantile is within
//! 1 % of the true value) and exported in seconds with quantiles 0.5, 0.9, 0.99 and 0.999.
//! Quantiles cover a sliding window, like Go's summaries (whose default `MaxAge` is 10 min):
//! two histograms rotate every [`SUMMARY_WINDOW`], and a scrape merges both, so it sees the
//! last one to two windows. Lifetime quantiles would hide a lag spike behind hours of calm.
//! `_sum` and `_count` are cumulative since start, as Prometheus expects.
//!
//! A mutex guards the histograms: an observation takes it briefly and is meant to be made
//! once per batch, not per sample. Contention only happens while a scrape merges.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

/// How long each of the two rotating histograms collects before it is replaced.
pub const SUMMARY_WINDOW: Duration = Duration::from_secs(60);

/// The quantiles every summary exports.
pub const SUMMARY_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Observations above this (about 11.6 days, in µs) are recorded as this, which bounds the
/// memory an auto-resizing histogram can grow to.
const MAX_MICROS: u64 = 1_000_000_000_000;

/// A latency summary handle. Cloning shares the data.
#[derive(Debug, Clone)]
pub struct Summary(Arc<Mutex<State>>);

#[derive(Debug)]
struct State {
    current: Histogram<u64>,
    previous: Histogram<u64>,
    rotated_at: Instant,
    window: Duration,
    count: u64,
    sum_seconds: f64,
}

/// What a scrape exports: `(quantile, seconds)` pairs (NaN when the window is empty), plus
/// the lifetime sum (seconds) and count.
#[derive(Debug, Clone, PartialEq)]
pub struct SummarySnapshot {
    pub quantiles: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: u64,
}

impl Summary {
    /// A summary that no registry renders.
    pub fn detached() -> Summary {
        Summary::with_window(SUMMARY_WINDOW)
    }

    fn with_window(window: Duration) -> Summary {
        Summary(Arc::new(Mutex::new(State {
            current: empty_histogram(),
            previous: empty_histogram(),
            rotated_at: Instant::now(),
            window,
            count: 0,
            sum_seconds: 0.0,
        })))
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        self.observe_at(d, Instant::now());
    }

    fn observe_at(&self, d: Duration, now: Instant) {
        let micros = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .min(MAX_MICROS);
        let mut st = self.lock();
        st.rotate_if_due(now);
        // With auto-resize on and the value capped, recording cannot fail.
        let _ = st.current.record(micros);
        st.count += 1;
        st.sum_seconds += d.as_secs_f64();
    }

    /// Records a duration given in seconds; negative values (clock skew between the WAL
    /// writer and us) and NaN count as 0.
    pub fn observe_secs(&self, secs: f64) {
        let secs = if secs > 0.0 { secs } else { 0.0 };
        self.observe(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }

    /// Quantiles over the window, and lifetime sum and count.
    pub fn snapshot(&self) -> SummarySnapshot {
        self.snapshot_at(Instant::now())
    }

    fn snapshot_at(&self, now: Instant) -> SummarySnapshot {
        let mut st = self.lock();
        st.rotate_if_due(now);
        let mut merged = st.previous.clone();
        // Both histograms have the same precision and merged auto-resizes: cannot fail.
        let _ = merged.add(&st.current);
        let quantiles = SUMMARY_QUANTILES
            .iter()
            .map(|&q| {
                let v = if merged.is_empty() {
                    f64::NAN
                } else {
                    merged.value_at_quantile(q) as f64 / 1e6
                };
                (q, v)
            })
            .collect();
        SummarySnapshot {
            quantiles,
            sum: st.sum_seconds,
            count: st.count,
        }
    }

    /// Whether both handles update the same summary.
    pub fn same_as(&self, other: &Summary) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the histograms unusable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn rotate_if_due(&mut self, now: Instant) {
        let since = now.saturating_duration_since(self.rotated_at);
        if since >= self.window * 2 {
            // Idle for two windows: everything in both is stale.
            self.current.reset();
            self.previous.reset();
            self.rotated_at = now;
        } else if since >= self.window {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.reset();
            self.rotated_at = now;
        }
    }
}

fn empty_histogram() -> Histogram<u64> {
    // 2 significant digits with auto-resize: starts small, grows only to the largest value seen.
    // INVARIANT: 2 is within hdrhistogram's allowed 0..=5 significant digits.
    Histogram::new(2).unwrap_or_else(|_| unreachable!("2 significant digits are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_in_seconds_within_one_percent() {
        let s = Summary::detached();
        for ms in 1..=1000u64 {
            s.observe(Duration::from_millis(ms));
        }
        let snap = s.snapshot();
        assert_eq!(snap.count, 1000);
        assert!((snap.sum - 500.5).abs() < 1e-6, "sum {}", snap.sum);
        let want = [0.5, 0.9, 0.99, 0.999];
        for ((q, v), w) in snap.quantiles.iter().zip(want) {
            assert!((v - w).abs() / w < 0.01, "q{q}: got {v}, want ~{w}");
        }
    }

    #[test]
    fn empty_summary_has_nan_quantiles() {
        let snap = Summary::detached().snapshot();
        assert_eq!(snap.count, 0);
        assert!(snap.quantiles.iter().all(|(_, v)| v.is_nan()));
    }

    #[test]
    fn negative_seconds_count_as_zero() {
        let s = Summary::detached();
        s.observe_secs(-3.0);
        s.observe_secs(f64::NAN);
        let snap = s.snapshot();
        assert_eq!(snap.count, 2);
        assert_eq!(snap.sum, 0.0);
        assert_eq!(snap.quantiles[0].1, 0.0);
    }

    #[test]
    fn old_windows_rotate_out_but_sum_and_count_stay() {
        // Explicit instants: no sleeping, so a loaded machine cannot make this flaky.
        let s = Summary::detached();
        let t0 = s.lock().rotated_at;
        let w = SUMMARY_WINDOW;
        s.observe_at(Duration::from_secs(5), t0);
        s.observe_at(Duration::from_millis(1), t0 + w + w / 10);
        let snap = s.snapshot_at(t0 + w + w / 5);
        assert!(snap.quantiles[3].1 > 4.9, "previous window still visible");
        let snap = s.snapshot_at(t0 + w * 2 + w / 5);
        assert!(
            (snap.quantiles[3].1 - 0.001).abs() < 1e-4,
            "5 s observation rotated out: {:?}",
            snap.quantiles
        );
        let snap = s.snapshot_at(t0 + w * 5);
        assert!(snap.quantiles[0].1.is_nan(), "idle two windows: empty");
        assert_eq!(snap.count, 2);
        assert!((snap.sum - 5.001).abs() < 1e-9);
    }

    #[test]
    fn huge_durations_are_capped_not_lost() {
        let s = Summary::detached();
        s.observe(Duration::from_secs(u64::MAX / 4));
        let snap = s.snapshot();
        assert_eq!(snap.count, 1);
        assert!(snap.quantiles[0].1 >= 0.99e6, "{:?}", snap.quantiles);
    }
}
