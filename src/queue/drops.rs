//! Counters of data dropped before it reached a receiver, by kind and reason, so every
//! lost sample is visible in `/metrics` as `prometheus_remote_storage_*_dropped_total{reason}`.

use crate::metrics::Kind;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why data was dropped before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Older than `sample_age_limit` (at enqueue or before a retry).
    TooOld = 0,
    /// The series was dropped by `write_relabel_configs`.
    DroppedSeries = 1,
    /// The series ref is unknown (its series record was never seen).
    UnknownSeries = 2,
    /// A native histogram with custom buckets cannot be sent over RW 1.0.
    NhcbInRw1 = 3,
    /// The spool exceeded `max_spool_bytes`; the oldest spooled segment was released.
    SpoolFull = 4,
    /// Prometheus deleted a segment before it could be read (or spooled).
    Truncated = 5,
}

impl Loss {
    pub const ALL: [Loss; 6] = [
        Loss::TooOld,
        Loss::DroppedSeries,
        Loss::UnknownSeries,
        Loss::NhcbInRw1,
        Loss::SpoolFull,
        Loss::Truncated,
    ];

    /// The `reason` label (Prometheus's words where Prometheus has the reason).
    pub fn label(self) -> &'static str {
        match self {
            Loss::TooOld => "too_old",
            Loss::DroppedSeries => "dropped_series",
            Loss::UnknownSeries => "unintentionally_dropped_series",
            Loss::NhcbInRw1 => "nhcb_in_rw1_not_supported",
            Loss::SpoolFull => "spool_full",
            Loss::Truncated => "truncated",
        }
    }
}

pub const KINDS: [Kind; 3] = [Kind::Samples, Kind::Histograms, Kind::Exemplars];

fn kind_index(k: Kind) -> usize {
    match k {
        Kind::Samples => 0,
        Kind::Histograms => 1,
        Kind::Exemplars => 2,
    }
}

/// Drop counters of one endpoint, shared by its reader and shards.
#[derive(Debug, Default)]
pub struct Drops {
    counts: [[AtomicU64; 3]; 6],
}

impl Drops {
    pub fn add(&self, kind: Kind, loss: Loss, n: u64) {
        if n > 0 {
            self.counts[loss as usize][kind_index(kind)].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn get(&self, kind: Kind, loss: Loss) -> u64 {
        self.counts[loss as usize][kind_index(kind)].load(Ordering::Relaxed)
    }

    /// Everything dropped for `loss`, all kinds.
    pub fn total(&self, loss: Loss) -> u64 {
        KINDS.iter().map(|&k| self.get(k, loss)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_kind_and_reason() {
        let d = Drops::default();
        d.add(Kind::Samples, Loss::TooOld, 3);
        d.add(Kind::Exemplars, Loss::TooOld, 2);
        d.add(Kind::Histograms, Loss::SpoolFull, 1);
        assert_eq!(d.get(Kind::Samples, Loss::TooOld), 3);
        assert_eq!(d.get(Kind::Histograms, Loss::TooOld), 0);
        assert_eq!(d.total(Loss::TooOld), 5);
        assert_eq!(d.total(Loss::SpoolFull), 1);
        let labels: std::collections::HashSet<_> = Loss::ALL.iter().map(|l| l.label()).collect();
        assert_eq!(labels.len(), Loss::ALL.len());
    }
}
