//! The series side of a request, prepared once per series so that per-sample encoding
//! is a memcpy (RW 1.0) or a few array lookups (RW 2.0).

use std::sync::atomic::{AtomicU64, Ordering};

use super::symbols::{SymbolId, SymbolInterner};
use super::wire::{len_field_size, put_varint, tag, WIRE_LEN};
use super::EncodeError;
use crate::record::{Labels, MetricType};

/// Source of [`EncodedSeries::id`]; only uniqueness matters.
static NEXT_SERIES_ID: AtomicU64 = AtomicU64::new(1);

/// RW 2.0 metadata of a series, as global symbol ids (FORMATS.md §4.3). The default is
/// "no metadata": type unspecified and both refs pointing at `""`, which is what
/// Prometheus sends when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesMetadata {
    pub mtype: MetricType,
    pub help: SymbolId,
    pub unit: SymbolId,
}

impl Default for SeriesMetadata {
    fn default() -> Self {
        SeriesMetadata {
            mtype: MetricType::Unknown,
            help: SymbolId::EMPTY,
            unit: SymbolId::EMPTY,
        }
    }
}

/// A label set in both wire forms, built once (when the series record is read, after
/// external labels and relabeling) and kept by the series cache.
///
/// * `rw1_labels`: the repeated `TimeSeries.labels` fields of RW 1.0, keys included,
///   ready to copy into a `TimeSeries` (FORMATS.md §3.1).
/// * `symbols`: global ids of name, value, name, value, ... for RW 2.0 `labels_refs`.
/// * `name_slots`: when every label name has a fixed slot in the interner (see
///   [`SymbolInterner::intern_name`]), the names' RW 2.0 refs, pre-encoded; stored after
///   the RW 1.0 bytes in the same allocation.
///
/// The encoders merge consecutive items that carry the same `id` into one `TimeSeries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSeries {
    id: u64,
    /// RW 1.0 labels (`rw1_len` bytes), then the name slots if the series has them.
    wire: Box<[u8]>,
    symbols: Box<[SymbolId]>,
    metadata: SeriesMetadata,
    rw1_len: usize,
    /// Highest name slot; 0 when the series has no slots.
    max_slot: u8,
}

impl EncodedSeries {
    /// Encodes `labels` (name, value pairs, which must already be sorted by name as
    /// Prometheus label sets are) and interns every name and value.
    pub fn new<'a>(
        labels: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        interner: &mut SymbolInterner,
    ) -> Result<EncodedSeries, EncodeError> {
        let mut wire = Vec::new();
        let mut symbols = Vec::new();
        let mut slots = Vec::new();
        for (name, value) in labels {
            put_label(&mut wire, tag(1, WIRE_LEN), name, value);
            let (name, slot) = interner.intern_name(name)?;
            symbols.push(name);
            symbols.push(interner.intern(value)?);
            slots.push(slot);
        }
        let rw1_len = wire.len();
        let max_slot = slots.iter().copied().max().unwrap_or(0);
        if !slots.is_empty() && !slots.contains(&0) {
            wire.extend_from_slice(&slots);
        }
        Ok(EncodedSeries {
            id: NEXT_SERIES_ID.fetch_add(1, Ordering::Relaxed),
            wire: wire.into_boxed_slice(),
            symbols: symbols.into_boxed_slice(),
            metadata: SeriesMetadata::default(),
            rw1_len,
            max_slot: if slots.contains(&0) { 0 } else { max_slot },
        })
    }

    /// [`EncodedSeries::new`] over a label set borrowed from a WAL record.
    pub fn from_labels(
        labels: &Labels<'_>,
        interner: &mut SymbolInterner,
    ) -> Result<EncodedSeries, EncodeError> {
        Self::new(labels.iter(), interner)
    }

    /// Asks the CPU to start loading this series' header (a hint: never faults). An
    /// encoder walking a batch calls this some items ahead, then
    /// [`EncodedSeries::prefetch_labels`] closer: a batch's series are spread over
    /// memory, and without the hints each one costs the encoder two or three cache misses
    /// in a row.
    #[inline(always)]
    pub fn prefetch(&self) {
        prefetch(std::ptr::from_ref(self).cast());
    }

    /// Starts loading the label bytes and symbol ids (reads the header: prefetch it first).
    #[inline(always)]
    pub fn prefetch_labels(&self) {
        let wire = self.wire.as_ptr();
        prefetch(wire);
        // Labels span a few cache lines; the slots sit at the end.
        let mut off = 64;
        while off < self.wire.len() {
            prefetch(wire.wrapping_add(off));
            off += 64;
        }
        prefetch(self.symbols.as_ptr().cast());
    }

    /// Process-unique identity; two series with the same id are the same series.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The pre-encoded RW 1.0 `labels` fields.
    pub fn rw1_labels(&self) -> &[u8] {
        &self.wire[..self.rw1_len]
    }

    /// The label names' fixed slots (their RW 2.0 refs), one byte per label, and the
    /// highest of them; empty and 0 unless every name has a slot.
    #[inline]
    pub(crate) fn name_slots(&self) -> (&[u8], u8) {
        (&self.wire[self.rw1_len..], self.max_slot)
    }

    /// Global symbol ids of the labels, name then value.
    pub fn symbols(&self) -> &[SymbolId] {
        &self.symbols
    }

    /// RW 2.0 metadata sent with every `TimeSeries` of this series.
    pub fn metadata(&self) -> SeriesMetadata {
        self.metadata
    }

    /// Records the series' metadata (from a WAL metadata record) for RW 2.0.
    pub fn set_metadata(
        &mut self,
        interner: &mut SymbolInterner,
        mtype: MetricType,
        help: &[u8],
        unit: &[u8],
    ) -> Result<(), EncodeError> {
        self.metadata = SeriesMetadata {
            mtype,
            help: interner.intern(help)?,
            unit: interner.intern(unit)?,
        };
        Ok(())
    }
}

/// A hint to load the cache line at `p`.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address, and SSE
    // is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Size of one RW 1.0 `Label` message body (without its own key and length).
pub(crate) fn label_body_len(name: &[u8], value: &[u8]) -> usize {
    let field = |s: &[u8]| {
        if s.is_empty() {
            0
        } else {
            len_field_size(s.len())
        }
    };
    field(name) + field(value)
}

/// Appends one RW 1.0 `Label` as field `key` (proto3: empty strings are omitted).
pub(crate) fn put_label(buf: &mut Vec<u8>, key: u8, name: &[u8], value: &[u8]) {
    buf.push(key);
    put_varint(buf, label_body_len(name, value) as u64);
    for (field, s) in [(1, name), (2, value)] {
        if !s.is_empty() {
            buf.push(tag(field, WIRE_LEN));
            put_varint(buf, s.len() as u64);
            buf.extend_from_slice(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::encode::proto::v1;

    #[test]
    fn rw1_labels_decode_as_timeseries_labels() {
        let mut interner = SymbolInterner::new();
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"__name__", b"up"), (b"job", b"node"), (b"z", b"")];
        let s = EncodedSeries::new(pairs.iter().copied(), &mut interner).unwrap();
        let ts = v1::TimeSeries::decode(s.rw1_labels()).unwrap();
        let got: Vec<(String, String)> = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        assert_eq!(
            got,
            vec![
                ("__name__".into(), "up".into()),
                ("job".into(), "node".into()),
                ("z".into(), String::new())
            ]
        );
        let strings: Vec<&[u8]> = s
            .symbols()
            .iter()
            .map(|&id| interner.get(id).unwrap())
            .collect();
        assert_eq!(
            strings,
            vec![&b"__name__"[..], b"up", b"job", b"node", b"z", b""]
        );
        assert_eq!(s.symbols()[5], SymbolId::EMPTY);
    }

    #[test]
    fn ids_are_unique_and_metadata_defaults_to_none() {
        let mut interner = SymbolInterner::new();
        let a = EncodedSeries::new([(&b"a"[..], &b"1"[..])], &mut interner).unwrap();
        let mut b = EncodedSeries::new([(&b"a"[..], &b"1"[..])], &mut interner).unwrap();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.symbols(), b.symbols());
        assert_eq!(b.metadata(), SeriesMetadata::default());
        b.set_metadata(&mut interner, MetricType::Counter, b"help text", b"")
            .unwrap();
        let m = b.metadata();
        assert_eq!(m.mtype, MetricType::Counter);
        assert_eq!(interner.get(m.help), Some(&b"help text"[..]));
        assert_eq!(m.unit, SymbolId::EMPTY);
    }
}
