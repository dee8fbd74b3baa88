//! The series side of a request, prepared once per series so that per-sample encoding
//! is a memcpy (RW 1.0) or a few array lookups (RW 2.0).

use super::symbols::{SymbolId, SymbolInterner};
use super::wire::{len_field_size, put_varint, tag, WIRE_LEN};
use super::EncodeError;
use crate::record::{Labels, MetricType};
use std::sync::Arc;

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
/// * `symbols`: global ids of name, value, name, value, ... for RW 2.0 `labels_refs`
///   (empty for a series built with [`EncodedSeries::new_rw1`]).
/// * `name_slots`: when every label name has a fixed slot in the interner (see
///   [`SymbolInterner::intern_name`]), the names' RW 2.0 refs, pre-encoded.
///
/// All of it lives in one allocation with the `Arc` counts: `Arc<EncodedSeries>` is
/// an `Arc<[u32]>` whose first two words are the header (the RW 1.0 length; the symbol
/// count, highest name slot and metadata flag), then the symbols, the metadata refs if
/// any, the RW 1.0 bytes and the slots. An encoder reaches a series' labels with one
/// pointer (the table entry's) and no second hop, and a series costs one heap block
/// (`bench/pipeline.rs` measures bytes per series).
///
/// The encoders merge consecutive items of the same series (same [`EncodedSeries::id`],
/// its address) into one `TimeSeries`.
#[derive(Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct EncodedSeries {
    /// Header (2 words), `n_symbols` symbol ids, the help and unit ids when `meta` says
    /// so, then the RW 1.0 labels (`rw1_len` bytes) and the name slots (one byte per
    /// label, when `max_slot != 0`), packed into words.
    data: [u32],
}

/// Words before the symbols: `rw1_len`, then `n_symbols | max_slot << 16 | meta << 24`.
const HEADER_WORDS: usize = 2;

/// Buffers [`EncodedSeries::new`] builds a series in before packing it into one
/// allocation; kept per thread so that creating a series does not allocate, grow and
/// free them each time (that was a third of series creation in `bench/pipeline.rs`).
#[derive(Default)]
struct Scratch {
    wire: Vec<u8>,
    symbols: Vec<SymbolId>,
    slots: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
    /// The words of a series being packed, copied into its block at the end.
    static WORDS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`EncodedSeries::meta`] flag: the help and unit ids are stored.
const META_WORDS: u8 = 0x80;

impl EncodedSeries {
    /// Encodes `labels` (name, value pairs, which must already be sorted by name as
    /// Prometheus label sets are) and interns every name and value.
    pub fn new<'a>(
        labels: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        interner: &mut SymbolInterner,
    ) -> Result<Arc<EncodedSeries>, EncodeError> {
        SCRATCH.with_borrow_mut(|scratch| {
            let Scratch {
                wire,
                symbols,
                slots,
            } = scratch;
            wire.clear();
            symbols.clear();
            slots.clear();
            for (name, value) in labels {
                put_label(wire, tag(1, WIRE_LEN), name, value);
                let (name, slot) = interner.intern_name(name)?;
                symbols.push(name);
                symbols.push(interner.intern(value)?);
                slots.push(slot);
            }
            let rw1_len = wire.len();
            let max_slot = if slots.is_empty() || slots.contains(&0) {
                0
            } else {
                wire.extend_from_slice(slots);
                slots.iter().copied().max().unwrap_or(0)
            };
            Self::pack(symbols, &[], 0, wire, rw1_len, max_slot)
        })
    }

    /// RW 1.0 only: no symbols are interned or kept (an endpoint configured for RW 1.0
    /// never needs them), which saves their memory and the interner's.
    pub fn new_rw1<'a>(
        labels: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<Arc<EncodedSeries>, EncodeError> {
        SCRATCH.with_borrow_mut(|Scratch { wire, .. }| {
            wire.clear();
            for (name, value) in labels {
                put_label(wire, tag(1, WIRE_LEN), name, value);
            }
            let n = wire.len();
            Self::pack(&[], &[], 0, wire, n, 0)
        })
    }

    /// Builds the one block: header, `symbols`, `meta_words` (with flag `meta`), then
    /// `wire` (RW 1.0 bytes of which the first `rw1_len` are labels, then the slots).
    fn pack(
        symbols: &[SymbolId],
        meta_words: &[u32],
        meta: u8,
        wire: &[u8],
        rw1_len: usize,
        max_slot: u8,
    ) -> Result<Arc<EncodedSeries>, EncodeError> {
        let too_big = EncodeError::SeriesTooLarge {
            labels: symbols.len() / 2,
            bytes: wire.len(),
        };
        let (Ok(n_symbols), Ok(rw1_len)) = (u16::try_from(symbols.len()), u32::try_from(rw1_len))
        else {
            return Err(too_big);
        };
        WORDS.with_borrow_mut(|words| {
            words.clear();
            words.push(rw1_len);
            words.push(u32::from(n_symbols) | u32::from(max_slot) << 16 | u32::from(meta) << 24);
            words.extend(symbols.iter().map(|s| s.0));
            words.extend_from_slice(meta_words);
            let chunks = wire.chunks_exact(4);
            let rest = chunks.remainder();
            words.extend(chunks.map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])));
            if !rest.is_empty() {
                let mut w = [0u8; 4];
                w[..rest.len()].copy_from_slice(rest);
                words.push(u32::from_ne_bytes(w));
            }
            Ok(Self::from_words(Arc::from(&words[..])))
        })
    }

    /// Views a block built by [`EncodedSeries::pack`] as a series.
    fn from_words(words: Arc<[u32]>) -> Arc<EncodedSeries> {
        let raw = Arc::into_raw(words) as *const EncodedSeries;
        // SAFETY: `EncodedSeries` is `#[repr(transparent)]` over `[u32]`, so the pointer
        // (address and length) returned by `Arc::<[u32]>::into_raw` is a valid pointer to
        // an `EncodedSeries` with the same layout, as `Arc::from_raw` requires.
        unsafe { Arc::from_raw(raw) }
    }

    /// [`EncodedSeries::new`] over a label set borrowed from a WAL record.
    pub fn from_labels(
        labels: &Labels<'_>,
        interner: &mut SymbolInterner,
    ) -> Result<Arc<EncodedSeries>, EncodeError> {
        Self::new(labels.iter(), interner)
    }

    /// The RW 1.0 bytes and the name slots after them.
    #[inline]
    fn wire(&self) -> &[u8] {
        let words = &self.data[self.wire_start()..];
        // SAFETY: the words are initialised memory; viewing `u32`s as bytes is valid for
        // any bit pattern, and `u8` needs no alignment.
        unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 4) }
    }

    /// Asks the CPU to start loading the whole series (a hint: never faults). An encoder
    /// walking a batch calls this some items ahead: a batch's series are spread over
    /// memory, and without the hint each one costs the encoder a cache miss or two.
    /// Reads only the pointer and length, not the block.
    #[inline(always)]
    pub fn prefetch(&self) {
        // The `Arc` counts (16 bytes) come before the words.
        let p = self.data.as_ptr().cast::<u8>().wrapping_sub(16);
        let len = 16 + self.data.len() * 4;
        let mut off = 0;
        while off < len {
            prefetch(p.wrapping_add(off));
            off += 64;
        }
    }

    /// Identity while the series is alive (its address): two items with the same id
    /// are the same series.
    #[inline]
    pub fn id(&self) -> u64 {
        self.data.as_ptr() as u64
    }

    #[inline]
    fn rw1_len(&self) -> usize {
        self.data[0] as usize
    }

    #[inline]
    fn n_symbols(&self) -> usize {
        (self.data[1] & 0xffff) as usize
    }

    /// Highest name slot; 0 when the series has no slots.
    #[inline]
    fn max_slot(&self) -> u8 {
        (self.data[1] >> 16) as u8
    }

    /// 0: no metadata. Otherwise `META_WORDS | type`: help and unit ids follow the symbols.
    #[inline]
    fn meta(&self) -> u8 {
        (self.data[1] >> 24) as u8
    }

    /// The pre-encoded RW 1.0 `labels` fields.
    #[inline]
    pub fn rw1_labels(&self) -> &[u8] {
        &self.wire()[..self.rw1_len()]
    }

    /// The label names' fixed slots (their RW 2.0 refs), one byte per label, and the
    /// highest of them; empty and 0 unless every name has a slot.
    #[inline]
    pub(crate) fn name_slots(&self) -> (&[u8], u8) {
        let max_slot = self.max_slot();
        if max_slot == 0 {
            return (&[], 0);
        }
        let labels = self.n_symbols() / 2;
        let start = self.rw1_len();
        (&self.wire()[start..start + labels], max_slot)
    }

    /// Global symbol ids of the labels, name then value.
    #[inline]
    pub fn symbols(&self) -> &[SymbolId] {
        let ids = &self.data[HEADER_WORDS..HEADER_WORDS + self.n_symbols()];
        // SAFETY: `SymbolId` is `#[repr(transparent)]` over `u32`, so a slice of `u32`
        // is a valid slice of `SymbolId` with the same length and alignment.
        unsafe { std::slice::from_raw_parts(ids.as_ptr().cast::<SymbolId>(), ids.len()) }
    }

    /// Index of the first word of the RW 1.0 bytes.
    #[inline]
    fn wire_start(&self) -> usize {
        HEADER_WORDS + self.n_symbols() + if self.meta() == 0 { 0 } else { 2 }
    }

    /// RW 2.0 metadata sent with every `TimeSeries` of this series.
    #[inline]
    pub fn metadata(&self) -> SeriesMetadata {
        let meta = self.meta();
        if meta == 0 {
            return SeriesMetadata::default();
        }
        let n = HEADER_WORDS + self.n_symbols();
        SeriesMetadata {
            mtype: MetricType::from_byte(meta & !META_WORDS),
            help: SymbolId(self.data[n]),
            unit: SymbolId(self.data[n + 1]),
        }
    }

    /// A copy of the series with its metadata (from a WAL metadata record) for RW 2.0.
    pub fn with_metadata(
        &self,
        interner: &mut SymbolInterner,
        mtype: MetricType,
        help: &[u8],
        unit: &[u8],
    ) -> Result<Arc<EncodedSeries>, EncodeError> {
        let (help, unit) = (interner.intern(help)?, interner.intern(unit)?);
        let (max_slot, rw1_len) = (self.max_slot(), self.rw1_len());
        Self::pack(
            self.symbols(),
            &[help.0, unit.0],
            META_WORDS | mtype as u8,
            self.wire(),
            rw1_len,
            max_slot,
        )
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
    #[cfg(target_pointer_width = "64")]
    fn a_series_is_one_block_behind_one_pointer() {
        // The tables hold `Arc<EncodedSeries>`: address and length, no second hop.
        assert_eq!(std::mem::size_of::<Arc<EncodedSeries>>(), 16);
        assert_eq!(std::mem::size_of::<Option<Arc<EncodedSeries>>>(), 16);
        let mut interner = SymbolInterner::new();
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"__name__", b"up"), (b"job", b"node")];
        let s = EncodedSeries::new(pairs.iter().copied(), &mut interner).unwrap();
        // Header, 4 symbol ids, then the RW 1.0 bytes and the slots, rounded to words.
        let wire = s.rw1_labels().len() + s.name_slots().0.len();
        assert_eq!(s.data.len(), HEADER_WORDS + 4 + wire.div_ceil(4));
        assert_eq!(s.id(), s.data.as_ptr() as u64);
    }

    #[test]
    fn metadata_keeps_labels_symbols_and_slots() {
        let mut interner = SymbolInterner::new();
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"__name__", b"up"), (b"job", b"node")];
        let s = EncodedSeries::new(pairs.iter().copied(), &mut interner).unwrap();
        let before = (
            s.rw1_labels().to_vec(),
            s.symbols().to_vec(),
            s.name_slots().0.to_vec(),
        );
        let s = s
            .with_metadata(&mut interner, MetricType::Gauge, b"h", b"seconds")
            .unwrap();
        assert_eq!(
            (
                s.rw1_labels().to_vec(),
                s.symbols().to_vec(),
                s.name_slots().0.to_vec()
            ),
            before
        );
        let m = s.metadata();
        assert_eq!(m.mtype, MetricType::Gauge);
        assert_eq!(interner.get(m.unit), Some(&b"seconds"[..]));
    }

    #[test]
    fn ids_are_unique_and_metadata_defaults_to_none() {
        let mut interner = SymbolInterner::new();
        let a = EncodedSeries::new([(&b"a"[..], &b"1"[..])], &mut interner).unwrap();
        let b = EncodedSeries::new([(&b"a"[..], &b"1"[..])], &mut interner).unwrap();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.symbols(), b.symbols());
        assert_eq!(b.metadata(), SeriesMetadata::default());
        let b = b
            .with_metadata(&mut interner, MetricType::Counter, b"help text", b"")
            .unwrap();
        let m = b.metadata();
        assert_eq!(m.mtype, MetricType::Counter);
        assert_eq!(interner.get(m.help), Some(&b"help text"[..]));
        assert_eq!(m.unit, SymbolId::EMPTY);
    }
}
