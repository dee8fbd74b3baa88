//! [`HistogramMetric`]: a classic Prometheus histogram with fixed upper bounds.
//!
//! Each bucket holds its own (non-cumulative) count in an atomic; rendering sums them into
//! the cumulative `_bucket{le=...}` series and derives `_count` from the same reads, so a
//! scrape never shows `_count` smaller than the `+Inf` bucket. `_sum` is an `f64` updated
//! with a compare-and-swap loop.

use std::sync::{
    atomic::{AtomicU64, Ordering::Relaxed},
    Arc,
};

/// Go's `prometheus.DefBuckets` (seconds).
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `sent_batch_duration_seconds`: `DefBuckets` plus 25, 60, 120, 300 (queue_manager.go).
pub const SENT_BATCH_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0,
];

/// A histogram handle. Cloning shares the buckets.
#[derive(Debug, Clone)]
pub struct HistogramMetric(Arc<Core>);

#[derive(Debug)]
struct Core {
    /// Strictly increasing finite upper bounds; the `+Inf` bucket is implicit.
    bounds: Box<[f64]>,
    /// `bounds.len() + 1` counts; the last is the `+Inf` bucket.
    counts: Box<[AtomicU64]>,
    sum_bits: AtomicU64,
}

/// A consistent-enough copy of a histogram for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`, ending with `(+Inf, count)`.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl HistogramMetric {
    /// A histogram with `bounds` (already validated: finite, strictly increasing) that no
    /// registry renders.
    pub(crate) fn with_bounds(bounds: Box<[f64]>) -> HistogramMetric {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        HistogramMetric(Arc::new(Core {
            bounds,
            counts,
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }))
    }

    /// A histogram with Go's default buckets that no registry renders.
    pub fn detached() -> HistogramMetric {
        HistogramMetric::with_bounds(DEFAULT_BUCKETS.into())
    }

    /// Records one observation (seconds, for the duration histograms).
    #[inline]
    pub fn observe(&self, v: f64) {
        let core = &self.0;
        // Like Go's sort.SearchFloat64s: the first bound >= v; NaN lands in +Inf.
        let idx = core.bounds.partition_point(|b| *b < v || v.is_nan());
        core.counts[idx].fetch_add(1, Relaxed);
        let _ = core.sum_bits.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + v).to_bits())
        });
    }

    /// The finite upper bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.0.bounds
    }

    /// Cumulative buckets, sum and count as of now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let core = &self.0;
        let mut cumulative = 0u64;
        let mut buckets = Vec::with_capacity(core.counts.len());
        for (i, c) in core.counts.iter().enumerate() {
            cumulative += c.load(Relaxed);
            let bound = core.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            buckets,
            sum: f64::from_bits(core.sum_bits.load(Relaxed)),
            count: cumulative,
        }
    }

    /// Whether both handles update the same histogram.
    pub fn same_as(&self, other: &HistogramMetric) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Checks user buckets and drops a trailing `+Inf` (it is always implied).
pub(crate) fn normalize_buckets(buckets: &[f64]) -> Result<Box<[f64]>, &'static str> {
    let trimmed = match buckets.last() {
        Some(b) if *b == f64::INFINITY => &buckets[..buckets.len() - 1],
        _ => buckets,
    };
    if trimmed.iter().any(|b| !b.is_finite()) {
        return Err("bucket bounds must be finite (only a trailing +Inf is allowed)");
    }
    if trimmed.windows(2).any(|w| w[0] >= w[1]) {
        return Err("bucket bounds must be strictly increasing");
    }
    Ok(trimmed.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_le_buckets() {
        let h = HistogramMetric::with_bounds(vec![1.0, 2.0].into());
        for v in [0.5, 1.0, 1.5, 2.0, 3.0, f64::NAN] {
            h.observe(v);
        }
        let s = h.snapshot();
        // le=1: 0.5, 1.0; le=2: + 1.5, 2.0; +Inf: + 3.0, NaN.
        assert_eq!(s.buckets, vec![(1.0, 2), (2.0, 4), (f64::INFINITY, 6)]);
        assert_eq!(s.count, 6);
        assert!(s.sum.is_nan(), "NaN poisons the sum, as in Go");
    }

    #[test]
    fn sum_accumulates() {
        let h = HistogramMetric::detached();
        h.observe(0.25);
        h.observe(0.5);
        assert_eq!(h.snapshot().sum, 0.75);
        assert_eq!(h.snapshot().buckets[5], (0.25, 1));
    }

    #[test]
    fn bucket_validation() {
        type Case<'a> = (&'a [f64], Result<&'a [f64], ()>);
        let table: &[Case] = &[
            (&[1.0, 2.0], Ok(&[1.0, 2.0])),
            (&[1.0, f64::INFINITY], Ok(&[1.0])),
            (&[], Ok(&[])),
            (&[2.0, 1.0], Err(())),
            (&[1.0, 1.0], Err(())),
            (&[f64::NAN], Err(())),
            (&[f64::NEG_INFINITY, 1.0], Err(())),
        ];
        for (input, want) in table {
            let got = normalize_buckets(input);
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{input:?}"),
                Err(()) => assert!(got.is_err(), "{input:?} should be rejected"),
            }
        }
    }

    #[test]
    fn sent_batch_buckets_extend_default_buckets() {
        assert_eq!(
            &SENT_BATCH_DURATION_BUCKETS[..DEFAULT_BUCKETS.len()],
            DEFAULT_BUCKETS
        );
        assert_eq!(
            &SENT_BATCH_DURATION_BUCKETS[DEFAULT_BUCKETS.len()..],
            &[25.0, 60.0, 120.0, 300.0]
        );
    }
}
