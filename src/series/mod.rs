//! The series cache (FORMATS.md §5.6): WAL series ref -> labels pre-encoded once for the
//! wire, with the segment that last announced the ref so a new checkpoint can retire
//! refs Prometheus no longer has.
//!
//! Entries are `Arc`s: queued items point at their series, so a series retired (or
//! re-announced) while items are in flight stays valid until they are sent.

mod table;

pub use table::RefTable;

use crate::config::RelabelConfig;
use crate::encode::{EncodeError, EncodedSeries, SymbolInterner};
use crate::record::{Labels, MetricType, SeriesRef};
use crate::relabel::Relabeler;
use std::sync::{Arc, RwLock};

/// Why an item had no series to go with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The series was dropped on purpose (relabeling).
    Dropped,
    /// No Series record announced the ref (Prometheus: "unintentionally dropped").
    Unknown,
}

impl Missing {
    /// The `reason` label Prometheus uses.
    pub fn reason(self) -> &'static str {
        match self {
            Missing::Dropped => "dropped_series",
            Missing::Unknown => "unintentionally_dropped_series",
        }
    }
}

struct Entry {
    series: Arc<EncodedSeries>,
    /// Segment that last announced the ref (Prometheus's 8-digit segment numbers fit;
    /// larger ones saturate, which only keeps the entry longer).
    segment: u32,
    /// The router epoch in which this series was last announced to its shard (0: never;
    /// see `queue::ShardSeries`).
    announced: u32,
}

/// Series of one WAL, for one endpoint configuration: external labels and
/// `write_relabel_configs` applied once per series (see [`crate::relabel`]).
pub struct SeriesCache {
    entries: RefTable<Entry>,
    /// Refs dropped on purpose, with their segment.
    dropped: RefTable<u64>,
    /// Shared with the shards that encode RW 2.0 (they resolve symbol ids to strings).
    interner: Arc<RwLock<SymbolInterner>>,
    relabel: Relabeler,
    label_bytes: usize,
    /// Keep only RW 1.0 bytes (see [`SeriesCache::rw1_only`]).
    rw1_only: bool,
}

/// A segment index as an [`Entry`] keeps it.
fn seg32(segment: u64) -> u32 {
    u32::try_from(segment).unwrap_or(u32::MAX)
}

impl SeriesCache {
    /// A cache adding `external_labels` (series labels win) and applying `relabel_configs`
    /// (validated by the config loader) to every series it stores.
    pub fn new(
        external_labels: &[(String, String)],
        relabel_configs: &[RelabelConfig],
    ) -> SeriesCache {
        SeriesCache {
            entries: RefTable::default(),
            dropped: RefTable::default(),
            interner: Arc::new(RwLock::new(SymbolInterner::new())),
            relabel: Relabeler::new(external_labels, relabel_configs),
            label_bytes: 0,
            rw1_only: false,
        }
    }

    /// For an endpoint configured for RW 1.0 (which never switches to RW 2.0): series
    /// keep only their RW 1.0 bytes, nothing is interned.
    pub fn rw1_only(mut self, yes: bool) -> SeriesCache {
        self.rw1_only = yes;
        self
    }

    /// The interner RW 2.0 encoders read symbols from.
    pub fn interner(&self) -> Arc<RwLock<SymbolInterner>> {
        Arc::clone(&self.interner)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many refs relabeling dropped (and the cache still remembers).
    pub fn dropped_len(&self) -> usize {
        self.dropped.len()
    }

    /// Approximate bytes of pre-encoded labels held (for `series_cache_bytes`).
    pub fn label_bytes(&self) -> usize {
        self.label_bytes
    }

    /// Stores (or re-announces) `sref` seen in `segment`: external labels, then relabeling;
    /// a series a rule drops is remembered as dropped, so its samples count as
    /// `dropped_series` rather than unknown.
    pub fn store(
        &mut self,
        sref: SeriesRef,
        labels: Labels<'_>,
        segment: u64,
    ) -> Result<(), EncodeError> {
        // Re-announcement (checkpoint, then segment): refs never change labels, so the
        // earlier outcome stands.
        if let Some(e) = self.entries.get_mut(sref) {
            e.segment = e.segment.max(seg32(segment));
            return Ok(());
        }
        if let Some(s) = self.dropped.get_mut(sref) {
            *s = (*s).max(segment);
            return Ok(());
        }
        let Some(result) = self.relabel.process(labels.iter()) else {
            self.dropped.insert(sref, segment);
            return Ok(());
        };
        let series = if self.rw1_only {
            EncodedSeries::new_rw1(result)?
        } else {
            let mut interner = self
                .interner
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            EncodedSeries::new(result, &mut interner)?
        };
        self.label_bytes += series.rw1_labels().len();
        self.entries.insert(
            sref,
            Entry {
                series,
                segment: seg32(segment),
                announced: 0,
            },
        );
        Ok(())
    }

    /// Marks `sref` as dropped on purpose (relabeling), seen in `segment`.
    pub fn drop_series(&mut self, sref: SeriesRef, segment: u64) {
        if let Some(e) = self.entries.remove(sref) {
            self.label_bytes -= e.series.rw1_labels().len();
        }
        self.dropped.insert(sref, segment);
    }

    /// The series for `sref`, or why there is none.
    #[inline]
    pub fn get(&self, sref: SeriesRef) -> Result<&Arc<EncodedSeries>, Missing> {
        match self.entries.get(sref) {
            Some(e) => Ok(&e.series),
            None if self.dropped.contains_key(sref) => Err(Missing::Dropped),
            None => Err(Missing::Unknown),
        }
    }

    /// For routing an item of `sref` in router epoch `epoch`: the series to announce to
    /// its shard first (`None` once announced in this epoch), or why there is none.
    #[inline]
    pub fn announce(
        &mut self,
        sref: SeriesRef,
        epoch: u32,
    ) -> Result<Option<Arc<EncodedSeries>>, Missing> {
        match self.entries.get_mut(sref) {
            Some(e) if e.announced == epoch => Ok(None),
            Some(e) => {
                e.announced = epoch;
                Ok(Some(Arc::clone(&e.series)))
            }
            None if self.dropped.contains_key(sref) => Err(Missing::Dropped),
            None => Err(Missing::Unknown),
        }
    }

    /// Attaches metadata (RW 2.0 sends it with every series).
    pub fn set_metadata(
        &mut self,
        sref: SeriesRef,
        mtype: MetricType,
        help: &[u8],
        unit: &[u8],
    ) -> Result<(), EncodeError> {
        let Some(e) = self.entries.get_mut(sref) else {
            return Ok(());
        };
        if self.rw1_only {
            // RW 1.0 sends metadata per family, not per series (see `pipeline::metadata`).
            return Ok(());
        }
        let mut interner = self
            .interner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        e.series = e.series.with_metadata(&mut interner, mtype, help, unit)?;
        // Shards hold the old one: announce the new one with the next item.
        e.announced = 0;
        Ok(())
    }

    /// Marks `sref` as still alive in checkpoint `segment` (before [`SeriesCache::gc`]).
    pub fn touch(&mut self, sref: SeriesRef, segment: u64) {
        if let Some(e) = self.entries.get_mut(sref) {
            e.segment = e.segment.max(seg32(segment));
        }
        if let Some(s) = self.dropped.get_mut(sref) {
            *s = (*s).max(segment);
        }
    }

    /// Forgets every ref last seen before segment `cp_index` (Prometheus `SeriesReset`).
    /// Returns how many were removed; the removed series are appended to `retired` (the
    /// shards they were announced to must forget them too).
    pub fn gc(&mut self, cp_index: u64, retired: &mut Vec<SeriesRef>) -> usize {
        let before = self.entries.len() + self.dropped.len();
        let mut freed = 0;
        self.entries.retain(|sref, e| {
            let keep = e.segment >= seg32(cp_index);
            if !keep {
                freed += e.series.rw1_labels().len();
                retired.push(sref);
            }
            keep
        });
        self.label_bytes -= freed;
        self.dropped.retain(|_, s| *s >= cp_index);
        before - self.entries.len() - self.dropped.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{decode, encode, Record};

    fn labels_record(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        let l: Vec<(&str, &str)> = pairs.to_vec();
        encode::series(&mut b, [(7u64, &l)]);
        b
    }

    fn with_labels<R>(pairs: &[(&str, &str)], f: impl FnOnce(Labels<'_>) -> R) -> R {
        let rec = labels_record(pairs);
        let Ok(Record::Series(mut it)) = decode(&rec) else {
            panic!("series record")
        };
        let (_, l) = it.next().unwrap().unwrap();
        f(l)
    }

    fn label_names(c: &SeriesCache, sref: SeriesRef) -> Vec<String> {
        let s = c.get(sref).unwrap();
        let i = c.interner.read().unwrap();
        s.symbols()
            .iter()
            .map(|id| String::from_utf8(i.get(*id).unwrap().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn external_labels_fill_in_but_series_labels_win() {
        let mut c = SeriesCache::new(
            &[
                ("cluster".into(), "eu".into()),
                ("job".into(), "ext".into()),
                ("zone".into(), "z1".into()),
                ("empty".into(), "".into()),
            ],
            &[],
        );
        with_labels(&[("__name__", "up"), ("job", "node")], |l| c.store(1, l, 0)).unwrap();
        assert_eq!(
            label_names(&c, 1),
            ["__name__", "up", "cluster", "eu", "job", "node", "zone", "z1"]
        );
    }

    #[test]
    fn unknown_dropped_and_gc() {
        let mut c = SeriesCache::new(&[], &[]);
        with_labels(&[("__name__", "a")], |l| c.store(1, l, 3)).unwrap();
        with_labels(&[("__name__", "b")], |l| c.store(2, l, 5)).unwrap();
        c.drop_series(3, 4);
        assert_eq!(c.get(9).unwrap_err(), Missing::Unknown);
        assert_eq!(c.get(3).unwrap_err(), Missing::Dropped);
        // Checkpoint 5 still holds ref 1: touched, survives the GC.
        c.touch(1, 5);
        assert_eq!(
            c.gc(5, &mut Vec::new()),
            1,
            "only the dropped ref 3 (segment 4) goes"
        );
        assert!(c.get(1).is_ok() && c.get(2).is_ok());
        assert_eq!(c.get(3).unwrap_err(), Missing::Unknown);
        assert_eq!(c.gc(6, &mut Vec::new()), 2);
        assert!(c.is_empty());
        assert_eq!(c.label_bytes(), 0);
    }

    #[test]
    fn reannouncement_keeps_the_entry() {
        let mut c = SeriesCache::new(&[], &[]);
        with_labels(&[("__name__", "a")], |l| c.store(1, l, 1)).unwrap();
        let first = Arc::clone(c.get(1).unwrap());
        with_labels(&[("__name__", "a")], |l| c.store(1, l, 4)).unwrap();
        assert!(Arc::ptr_eq(&first, c.get(1).unwrap()));
        assert_eq!(c.gc(4, &mut Vec::new()), 0);
    }

    fn label_pairs(c: &SeriesCache, sref: SeriesRef) -> Vec<(String, String)> {
        label_names(c, sref)
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect()
    }

    #[test]
    fn relabeling_runs_once_per_series_and_drops_are_remembered() {
        let rules: Vec<RelabelConfig> = serde_yaml_ng::from_str(
            "[{source_labels: [__name__], regex: 'go_.*', action: drop},
              {regex: 'pod_(.*)', replacement: 'k8s_$1', action: labelmap},
              {regex: 'pod_.*', action: labeldrop}]",
        )
        .unwrap();
        let mut c = SeriesCache::new(&[("cluster".into(), "eu".into())], &rules);
        with_labels(&[("__name__", "go_gc"), ("job", "x")], |l| c.store(1, l, 2)).unwrap();
        with_labels(&[("__name__", "up"), ("pod_name", "p1")], |l| {
            c.store(2, l, 2)
        })
        .unwrap();
        assert_eq!(c.get(1).unwrap_err(), Missing::Dropped);
        assert_eq!((c.len(), c.dropped_len()), (1, 1));
        assert_eq!(
            label_pairs(&c, 2),
            [
                ("__name__".to_string(), "up".to_string()),
                ("cluster".into(), "eu".into()),
                ("k8s_name".into(), "p1".into()),
            ]
        );
        // Re-announced in a later segment: still dropped, and kept alive by that segment.
        with_labels(&[("__name__", "go_gc"), ("job", "x")], |l| c.store(1, l, 7)).unwrap();
        assert_eq!(
            c.gc(5, &mut Vec::new()),
            1,
            "ref 2 (segment 2) goes, dropped ref 1 (segment 7) stays"
        );
        assert_eq!(c.get(1).unwrap_err(), Missing::Dropped);
        assert_eq!(c.gc(8, &mut Vec::new()), 1);
        assert_eq!(c.get(1).unwrap_err(), Missing::Unknown);
    }
}
