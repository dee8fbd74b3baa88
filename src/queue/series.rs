//! A shard's own view of the series it sends.
//!
//! Queued items carry only their series ref. The reader announces a series to a shard
//! (an `Arc` of its pre-encoded labels, in the same message as the first item of that
//! series the shard gets in the current shard set) and the shard keeps it here, on its
//! own core. A per-item `Arc` would cost two atomic operations per sample on a cache
//! line both the reader's and the shard's core write: that was a fifth of the pipeline's
//! CPU (perf, `bench/pipeline.rs`).
//!
//! When a new checkpoint retires refs, the reader sends `Forget` after every item it
//! routed before; the shard removes them once everything it had received before the
//! `Forget` has finished, so a batch still being retried keeps its series.

use super::RefDivisor;
use crate::encode::EncodedSeries;
use crate::record::SeriesRef;
use crate::series::RefTable;
use std::collections::VecDeque;
use std::sync::Arc;

/// Series of one shard, keyed by `ref / shards` (dense: a shard gets every N-th ref).
pub struct ShardSeries {
    table: RefTable<Arc<EncodedSeries>>,
    shards: RefDivisor,
    /// Items received and items finished (sent or dropped), for deferred forgets.
    received: u64,
    finished: u64,
    /// Forgets waiting for the items received before them: (received then, ref, series).
    forgets: VecDeque<(u64, SeriesRef, Arc<EncodedSeries>)>,
}

impl ShardSeries {
    /// The table of one of `shards` shards.
    pub fn new(shards: usize) -> ShardSeries {
        ShardSeries {
            table: RefTable::default(),
            shards: RefDivisor::new(shards),
            received: 0,
            finished: 0,
            forgets: VecDeque::new(),
        }
    }

    /// How many series the shard holds.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `sref / shards`: dense keys per shard.
    #[inline]
    fn key(&self, sref: SeriesRef) -> u64 {
        self.shards.div(sref)
    }

    /// Stores an announced series (a re-announcement replaces it: new metadata).
    pub fn announce(&mut self, sref: SeriesRef, series: Arc<EncodedSeries>) {
        self.table.insert(self.key(sref), series);
    }

    /// The series of a queued item.
    #[inline]
    pub fn get(&self, sref: SeriesRef) -> Option<&EncodedSeries> {
        self.table.get(self.key(sref)).map(|s| &**s)
    }

    /// `n` items arrived.
    pub fn received(&mut self, n: usize) {
        self.received += n as u64;
    }

    /// `n` items finished; applies the forgets everything before them waited for.
    pub fn finished(&mut self, n: usize) {
        self.finished += n as u64;
        while let Some((at, _, _)) = self.forgets.front() {
            if *at > self.finished {
                break;
            }
            if let Some((_, sref, series)) = self.forgets.pop_front() {
                self.remove_if_same(sref, &series);
            }
        }
    }

    /// The reader retired `refs`: forget them once the items received so far finished.
    pub fn forget(&mut self, refs: &[SeriesRef]) {
        for &sref in refs {
            let Some(series) = self.table.get(self.key(sref)).cloned() else {
                continue;
            };
            if self.received <= self.finished {
                self.remove_if_same(sref, &series);
            } else {
                self.forgets.push_back((self.received, sref, series));
            }
        }
    }

    /// Removes `sref` unless it was announced again since (then it is another entry).
    fn remove_if_same(&mut self, sref: SeriesRef, series: &Arc<EncodedSeries>) {
        let key = self.key(sref);
        if self.table.get(key).is_some_and(|s| Arc::ptr_eq(s, series)) {
            self.table.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::SymbolInterner;

    fn series(name: &str) -> Arc<EncodedSeries> {
        let mut i = SymbolInterner::new();
        EncodedSeries::new([(&b"__name__"[..], name.as_bytes())], &mut i).unwrap()
    }

    #[test]
    fn keys_are_dense_per_shard() {
        let mut s = ShardSeries::new(4);
        let (a, b) = (series("a"), series("b"));
        s.announce(3, Arc::clone(&a));
        s.announce(7, Arc::clone(&b));
        assert_eq!(s.get(3).map(EncodedSeries::id), Some(a.id()));
        assert_eq!(s.get(7).map(EncodedSeries::id), Some(b.id()));
        assert!(s.get(11).is_none());
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn forget_waits_for_items_received_before_it() {
        let mut s = ShardSeries::new(1);
        let a = series("a");
        s.announce(5, Arc::clone(&a));
        s.received(10);
        s.finished(4);
        s.forget(&[5, 6]);
        assert!(
            s.get(5).is_some(),
            "six items of before the forget are pending"
        );
        s.received(3);
        s.finished(5);
        assert!(s.get(5).is_some(), "one still pending");
        s.finished(1);
        assert!(s.get(5).is_none(), "all ten finished");
        // Nothing pending: immediate.
        s.announce(8, series("c"));
        s.finished(3);
        s.forget(&[8]);
        assert!(s.is_empty());
    }

    #[test]
    fn a_re_announced_ref_survives_its_earlier_forget() {
        let mut s = ShardSeries::new(2);
        s.announce(4, series("old"));
        s.received(1);
        s.forget(&[4]);
        let new = series("new");
        s.announce(4, Arc::clone(&new));
        s.finished(1);
        assert_eq!(s.get(4).map(EncodedSeries::id), Some(new.id()));
    }
}
