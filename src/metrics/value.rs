//! [`Counter`] and [`Gauge`]: one atomic each, updated with relaxed ordering.
//!
//! Relaxed is enough: a scrape only needs each value to be some recent value, never a
//! consistent cut across metrics, and relaxed read-modify-writes on one atomic never lose
//! increments. A gauge keeps its `f64` as bits in an `AtomicU64`.

use std::sync::{
    atomic::{AtomicU64, Ordering::Relaxed},
    Arc,
};

/// A monotonically increasing count. Cloning shares the value.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// A counter at 0 that no registry renders (what registration returns after a conflict).
    pub fn detached() -> Counter {
        Counter::default()
    }

    /// Adds 1.
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    /// The current count.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    /// Whether both handles update the same value.
    pub fn same_as(&self, other: &Counter) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A value that can go up and down. Cloning shares the value.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// A gauge at 0 that no registry renders (what registration returns after a conflict).
    pub fn detached() -> Gauge {
        Gauge::default()
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed);
    }

    /// Adds `d` (negative to subtract).
    #[inline]
    pub fn add(&self, d: f64) {
        self.update(|old| Some(old + d));
    }

    /// Raises the value to `v` if `v` is larger; NaN is ignored. For "highest timestamp"
    /// gauges that several shards update (Prometheus's `maxTimestamp`).
    #[inline]
    pub fn set_max(&self, v: f64) {
        self.update(|old| (v > old).then_some(v));
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }

    /// Whether both handles update the same value.
    pub fn same_as(&self, other: &Gauge) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn update(&self, f: impl Fn(f64) -> Option<f64>) {
        // A failed update means `f` declined; there is nothing to retry.
        let _ = self.0.fetch_update(Relaxed, Relaxed, |bits| {
            f(f64::from_bits(bits)).map(f64::to_bits)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_adds_and_clones_share() {
        let c = Counter::detached();
        let c2 = c.clone();
        c.inc();
        c2.add(41);
        assert_eq!(c.get(), 42);
        assert!(c.same_as(&c2));
        assert!(!c.same_as(&Counter::detached()));
    }

    #[test]
    fn gauge_set_add_set_max() {
        let g = Gauge::detached();
        g.set(10.0);
        g.add(-2.5);
        assert_eq!(g.get(), 7.5);
        g.set_max(5.0);
        assert_eq!(g.get(), 7.5, "set_max never lowers");
        g.set_max(f64::NAN);
        assert_eq!(g.get(), 7.5, "NaN is ignored");
        g.set_max(9.0);
        assert_eq!(g.get(), 9.0);
    }
}
