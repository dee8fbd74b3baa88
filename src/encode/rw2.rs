//! RW 2.0 `io.prometheus.write.v2.Request` (FORMATS.md §4.1, §4.2).
//!
//! Layout written, field numbers in brackets:
//!
//! ```text
//! Request:    symbols[4]* timeseries[5]*       (symbols first, as Prometheus does)
//! TimeSeries: labels_refs[1] (packed)
//!             samples[2]* | histograms[3]*, exemplars[4]*, metadata[5] (always present)
//! ```
//!
//! The symbols must come first (streaming decoders want every symbol before its first
//! use) but are only known at the end. So the `TimeSeries` are written after a gap at
//! the front of the buffer, sized from earlier requests, and `finish` writes the symbols
//! right-aligned into that gap: the request is one contiguous slice without copying the
//! `TimeSeries` bytes. Only when the symbols outgrow the gap are the `TimeSeries`
//! moved once, and the gap grows for the next requests.

use super::group::{Item, OpenSeries};
use super::histogram::HistogramView;
use super::rw1::sample_body_len;
use super::symbols::{RequestSymbols, SymbolId};
use super::wire::{
    encode_varint, len_field_size, put_f64, put_u128_prefix, put_varint, put_varints, tag,
    varint_len, LenSlot, TimestampCache, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT,
};
use super::{
    BatchStats, EncodeError, Encoded, EncodedSeries, Pushed, SeriesMetadata, SymbolInterner,
};
use crate::record::{FloatHistogram, Histogram, RefSample};

const KEY_SYMBOL: u8 = tag(4, WIRE_LEN);

/// Room kept for the symbols before the first request has shown how much it needs.
const INITIAL_SYMBOLS_GAP: usize = 4096;
const KEY_TIMESERIES: u8 = tag(5, WIRE_LEN);
const KEY_LABELS_REFS: u8 = tag(1, WIRE_LEN);
const KEY_SAMPLE: u8 = tag(2, WIRE_LEN);
const KEY_HISTOGRAM: u8 = tag(3, WIRE_LEN);
const KEY_EXEMPLAR: u8 = tag(4, WIRE_LEN);
const KEY_METADATA: u8 = tag(5, WIRE_LEN);

/// The open `TimeSeries` plus its metadata, already mapped to request symbol indices.
#[derive(Debug, Clone, Copy)]
struct Open {
    group: OpenSeries,
    /// The `metadata` field (key, length, body), encoded when the series was opened and
    /// appended when it is closed.
    /// As the little-endian bytes of one integer, so that it is moved and appended with
    /// single 16-byte stores (copying a byte array that was written byte by byte stalls
    /// on store forwarding).
    metadata: u128,
    metadata_len: u8,
}

/// Key + length + `type` (2) + `help_ref` (1 + 5) + `unit_ref` (1 + 5).
const METADATA_FIELD_MAX: usize = 2 + 2 + 6 + 6;

/// When a request lists the interner's slotted label names first (see
/// [`SymbolInterner::intern_name`]), so that series' name refs are copied pre-encoded
/// instead of being looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameSlots {
    /// When the previous request was at least [`SLOTS_MIN_RATIO`] times larger than the
    /// names' share of the symbols table, so listing unused names costs at most ~3 %.
    #[default]
    Auto,
    Always,
    Never,
}

/// See [`NameSlots::Auto`].
pub const SLOTS_MIN_RATIO: usize = 32;

/// Reusable state for RW 2.0 requests: the request buffer and the symbol remap table
/// keep their capacity between requests.
#[derive(Debug)]
pub struct Rw2Encoder {
    /// `gap` bytes reserved for the symbols, then the `TimeSeries`.
    series_buf: Vec<u8>,
    gap: usize,
    symbols: RequestSymbols,
    /// Scratch for one exemplar's label symbol indices.
    exemplar_refs: Vec<u32>,
    open: Option<Open>,
    stats: BatchStats,
    name_slots: NameSlots,
    /// Length of the previous request, for [`NameSlots::Auto`].
    last_len: usize,
    timestamp: TimestampCache,
}

impl Default for Rw2Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Rw2Encoder {
    pub fn new() -> Rw2Encoder {
        Rw2Encoder {
            series_buf: Vec::new(),
            gap: INITIAL_SYMBOLS_GAP,
            symbols: RequestSymbols::new(),
            exemplar_refs: Vec::new(),
            open: None,
            stats: BatchStats::default(),
            name_slots: NameSlots::Auto,
            last_len: 0,
            timestamp: TimestampCache::default(),
        }
    }

    /// Chooses when requests use fixed name slots (default [`NameSlots::Auto`]).
    pub fn set_name_slots(&mut self, name_slots: NameSlots) {
        self.name_slots = name_slots;
    }

    /// Starts a new request whose series were built with `interner`. The interner is
    /// borrowed until `finish`, so no string can be added while the symbol table is
    /// being built.
    pub fn begin<'a>(&'a mut self, interner: &'a SymbolInterner) -> Rw2Request<'a> {
        // Keep the gap's old bytes (they are overwritten or skipped): no memset.
        if self.series_buf.len() >= self.gap {
            self.series_buf.truncate(self.gap);
        } else {
            self.series_buf.resize(self.gap, 0);
        }
        let slots = match self.name_slots {
            NameSlots::Always => true,
            NameSlots::Never => false,
            NameSlots::Auto => self.last_len >= SLOTS_MIN_RATIO * interner.name_slot_bytes(),
        };
        let slots = if slots { interner.name_slots() } else { &[] };
        self.symbols.reset(interner.len(), slots);
        self.open = None;
        self.stats = BatchStats::default();
        Rw2Request {
            enc: self,
            interner,
        }
    }
}

/// One RW 2.0 request being built; see [`super`] for the grouping rule.
#[derive(Debug)]
pub struct Rw2Request<'a> {
    enc: &'a mut Rw2Encoder,
    interner: &'a SymbolInterner,
}

impl<'a> Rw2Request<'a> {
    /// Adds a float sample, with its start timestamp when non-zero.
    #[inline]
    pub fn push_sample(&mut self, series: &EncodedSeries, sample: &RefSample) {
        let n = self.enc.timestamp.sample_len(sample.v, sample.t, sample.st);
        self.open_for(series, Item::Sample, sample.t, n);
        let enc = &mut *self.enc;
        let buf = &mut enc.series_buf;
        enc.timestamp
            .put_sample(buf, KEY_SAMPLE, sample.v, sample.st, n);
        enc.stats.samples += 1;
    }

    /// Adds an integer native histogram (NHCB included: RW 2.0 carries custom values).
    pub fn push_histogram(
        &mut self,
        series: &EncodedSeries,
        t: i64,
        st: i64,
        h: &Histogram,
    ) -> Pushed {
        self.push_histogram_view(series, HistogramView::int(h, t, Some(st)))
    }

    /// Adds a float native histogram.
    pub fn push_float_histogram(
        &mut self,
        series: &EncodedSeries,
        t: i64,
        st: i64,
        h: &FloatHistogram,
    ) -> Pushed {
        self.push_histogram_view(series, HistogramView::float(h, t, Some(st)))
    }

    /// Adds an exemplar with its own labels (name, value pairs). Label strings the
    /// interner does not know (trace ids) get request-local symbols.
    pub fn push_exemplar<'l, I>(&mut self, series: &EncodedSeries, t: i64, v: f64, labels: I)
    where
        I: Iterator<Item = (&'l [u8], &'l [u8])>,
    {
        let enc = &mut *self.enc;
        enc.exemplar_refs.clear();
        for (name, value) in labels {
            let name = enc.symbols.resolve_str(self.interner, name);
            let value = enc.symbols.resolve_str(self.interner, value);
            enc.exemplar_refs.extend_from_slice(&[name, value]);
        }
        let payload: usize = enc
            .exemplar_refs
            .iter()
            .map(|&r| varint_len(u64::from(r)))
            .sum();
        let mut body = sample_body_len(v, t);
        if payload != 0 {
            body += len_field_size(payload);
        }
        self.open_for(series, Item::Exemplar, t, len_field_size(body));
        let enc = &mut *self.enc;
        let buf = &mut enc.series_buf;
        buf.push(KEY_EXEMPLAR);
        put_varint(buf, body as u64);
        if payload != 0 {
            buf.push(tag(1, WIRE_LEN));
            put_varint(buf, payload as u64);
            put_varints(buf, &enc.exemplar_refs);
        }
        if v.to_bits() != 0 {
            buf.push(tag(2, WIRE_FIXED64));
            put_f64(buf, v);
        }
        if t != 0 {
            buf.push(tag(3, WIRE_VARINT));
            put_varint(buf, t as u64);
        }
        self.enc.stats.exemplars += 1;
    }

    /// Closes the request: symbols first, then every `TimeSeries`.
    pub fn finish(mut self) -> Result<Encoded<'a>, EncodeError> {
        self.close();
        let enc = self.enc;
        let mut symbols_len = 2; // "" = key + zero length
        enc.symbols
            .for_each(self.interner, |s| symbols_len += len_field_size(s.len()))?;
        if symbols_len > enc.gap {
            // Outgrown: move the TimeSeries once and leave more room from now on.
            let gap = symbols_len + symbols_len / 2;
            let (old_gap, end) = (enc.gap, enc.series_buf.len());
            enc.series_buf.resize(end + gap - old_gap, 0);
            enc.series_buf.copy_within(old_gap..end, gap);
            enc.gap = gap;
        }
        let start = enc.gap - symbols_len;
        let mut out = &mut enc.series_buf[start..enc.gap];
        out[..2].copy_from_slice(&[KEY_SYMBOL, 0]);
        out = &mut out[2..];
        enc.symbols.for_each(self.interner, |s| {
            let mut head = [KEY_SYMBOL, 0, 0, 0, 0, 0];
            let n = 1 + encode_varint(&mut head[1..], s.len() as u64);
            let (h, rest) = std::mem::take(&mut out).split_at_mut(n);
            h.copy_from_slice(&head[..n]);
            let (body, rest) = rest.split_at_mut(s.len());
            body.copy_from_slice(s);
            out = rest;
        })?;
        enc.last_len = enc.series_buf.len() - start;
        Ok(Encoded {
            bytes: &enc.series_buf[start..],
            stats: enc.stats,
        })
    }

    fn push_histogram_view(&mut self, series: &EncodedSeries, view: HistogramView<'_>) -> Pushed {
        let body = view.body_len();
        self.open_for(
            series,
            Item::Histogram,
            view.timestamp(),
            len_field_size(body),
        );
        let buf = &mut self.enc.series_buf;
        buf.push(KEY_HISTOGRAM);
        put_varint(buf, body as u64);
        view.write_body(buf);
        self.enc.stats.histograms += 1;
        Pushed::Added
    }

    /// Makes sure a `TimeSeries` of `series` that accepts `item` is open.
    /// `item_len` is the exact encoded size of the item, key included.
    #[inline]
    fn open_for(&mut self, series: &EncodedSeries, item: Item, t: i64, item_len: usize) {
        if let Some(open) = &mut self.enc.open {
            if open.group.accepts(series.id(), item, t) {
                open.group.record(item, t);
                return;
            }
        }
        self.close();
        let enc = &mut *self.enc;
        // Same symbol order as Prometheus: help, unit, then the labels.
        let meta = series.metadata();
        let (metadata, metadata_len) = if meta == SeriesMetadata::default() {
            (u128::from(KEY_METADATA), 2)
        } else {
            let help = enc.symbols.resolve(meta.help);
            let unit = enc.symbols.resolve(meta.unit);
            let mut field = [0u8; METADATA_FIELD_MAX];
            let n = encode_metadata_field(&mut field, meta.mtype as u8, help, unit);
            (u128::from_le_bytes(field), n)
        };
        let ids = series.symbols();
        let (slots, max_slot) = series.name_slots();
        let slot = if max_slot != 0
            && usize::from(max_slot) <= enc.symbols.fixed()
            && slots.len() <= SLOTTED_MAX_LABELS
        {
            open_slotted(enc, slots, ids, item_len + metadata_len)
        } else {
            open_generic(enc, ids, item_len + metadata_len)
        };
        enc.open = Some(Open {
            group: OpenSeries::new(series.id(), slot, item, t),
            metadata,
            metadata_len: metadata_len as u8,
        });
        enc.stats.timeseries += 1;
    }

    /// Writes the metadata (always, even when empty) and the final length.
    #[inline]
    fn close(&mut self) {
        let Some(open) = self.enc.open.take() else {
            return;
        };
        let buf = &mut self.enc.series_buf;
        put_u128_prefix(buf, open.metadata, usize::from(open.metadata_len));
        open.group.slot.patch(buf);
    }
}

/// Most labels a series may have for [`open_slotted`]: its refs (at most 4 bytes per
/// label) then always fit a one-byte length.
const SLOTTED_MAX_LABELS: usize = 31;

/// Starts a `TimeSeries` of a series whose names are all in this request's fixed slots:
/// key, length (patched on close), and `labels_refs` with an exact one-byte length,
/// written with one capacity check. `rest` is the size of what follows the refs.
#[inline(always)]
fn open_slotted(enc: &mut Rw2Encoder, slots: &[u8], ids: &[SymbolId], rest: usize) -> LenSlot {
    debug_assert!(slots.len() <= SLOTTED_MAX_LABELS);
    // Exact when every value ref is one byte.
    let width = varint_len((2 + 2 * slots.len() + rest) as u64);
    let buf = &mut enc.series_buf;
    // The 8 spare bytes let the length bytes be zeroed with one store.
    let max = 1 + width + 2 + 4 * slots.len() + 8;
    buf.reserve(max);
    let start = buf.len();
    let base = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    // SAFETY: `max` bytes are reserved after `start`: the key, `width` length bytes
    // (8 when zeroed at once), the refs key and length, and at most 4 bytes per label.
    let n = unsafe {
        base.write(KEY_TIMESERIES);
        if width <= 8 {
            base.add(1).cast::<u64>().write_unaligned(0);
        } else {
            for k in 0..width {
                base.add(1 + k).write(0);
            }
        }
        let refs = base.add(1 + width);
        refs.write(KEY_LABELS_REFS);
        let n = enc.symbols.write_slotted_refs(refs.add(2), slots, ids);
        // n <= 4 * SLOTTED_MAX_LABELS < 128: a one-byte length.
        refs.add(1).write(n as u8);
        n
    };
    // SAFETY: the `1 + width + 2 + n <= max` bytes after `start` were written above.
    unsafe { buf.set_len(start + 1 + width + 2 + n) };
    LenSlot::reserved(start + 1, width)
}

/// Starts a `TimeSeries` whose label refs are all looked up; see [`open_slotted`].
/// Their packed length is guessed at two bytes each and patched (see LenSlot).
#[inline]
fn open_generic(enc: &mut Rw2Encoder, ids: &[SymbolId], rest: usize) -> LenSlot {
    let refs_guess = 2 * ids.len();
    let refs_len = if ids.is_empty() {
        0
    } else {
        len_field_size(refs_guess)
    };
    let expected = refs_len + rest;
    let buf = &mut enc.series_buf;
    buf.reserve(1 + varint_len(expected as u64) + expected + 3 * ids.len());
    buf.push(KEY_TIMESERIES);
    let slot = LenSlot::reserve(buf, expected);
    if !ids.is_empty() {
        buf.push(KEY_LABELS_REFS);
        let refs_slot = LenSlot::reserve(buf, refs_guess);
        enc.symbols.write_refs(buf, ids);
        refs_slot.patch(buf);
    }
    slot
}

/// Writes the `TimeSeries.metadata` field, `Metadata { type = 1; help_ref = 3;
/// unit_ref = 4 }`, into `out` and returns its length. It is written even when empty
/// (`2a 00`), as Prometheus does.
fn encode_metadata_field(
    out: &mut [u8; METADATA_FIELD_MAX],
    mtype: u8,
    help: u32,
    unit: u32,
) -> usize {
    out[0] = KEY_METADATA;
    let mut n = 2;
    if mtype != 0 {
        out[n] = tag(1, WIRE_VARINT);
        out[n + 1] = mtype;
        n += 2;
    }
    for (field, r) in [(3, help), (4, unit)] {
        if r != 0 {
            out[n] = tag(field, WIRE_VARINT);
            n += 1 + encode_varint(&mut out[n + 1..], u64::from(r));
        }
    }
    out[1] = (n - 2) as u8;
    n
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;
    use prost::Message;

    use super::*;
    use crate::encode::proto::v2;
    use crate::record::MetricType;

    fn series(interner: &mut SymbolInterner, job: &str) -> std::sync::Arc<EncodedSeries> {
        EncodedSeries::new(
            [(&b"__name__"[..], &b"up"[..]), (b"job", job.as_bytes())],
            interner,
        )
        .unwrap()
    }

    fn sample(t: i64, st: i64, v: f64) -> RefSample {
        RefSample { sref: 0, t, st, v }
    }

    fn labels(req: &v2::Request, refs: &[u32]) -> Vec<String> {
        refs.iter()
            .map(|&r| req.symbols[r as usize].clone())
            .collect()
    }

    #[test]
    fn symbols_table_and_refs() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a");
        let b = series(&mut interner, "b");
        let mut enc = Rw2Encoder::new();
        let mut req = enc.begin(&interner);
        req.push_sample(&a, &sample(10, 5, 1.0));
        req.push_sample(&b, &sample(10, 0, 2.0));
        let body = req.finish().unwrap();
        let got = v2::Request::decode(body.bytes).unwrap();
        assert_eq!(got.symbols, vec!["", "__name__", "up", "job", "a", "b"]);
        assert_eq!(got.timeseries.len(), 2);
        assert_eq!(
            labels(&got, &got.timeseries[1].labels_refs),
            vec!["__name__", "up", "job", "b"]
        );
        assert_eq!(got.timeseries[0].samples[0].start_timestamp, 5);
        assert_eq!(got.timeseries[0].metadata, Some(v2::Metadata::default()));
        // Symbols come first on the wire (key 0x22, then "" as an empty string).
        assert_eq!(&body.bytes[..2], &[0x22, 0x00]);
    }

    #[test]
    fn metadata_and_exemplar_symbols() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a")
            .with_metadata(&mut interner, MetricType::Gauge, b"Help.", b"bytes")
            .unwrap();
        let mut enc = Rw2Encoder::new();
        let mut req = enc.begin(&interner);
        req.push_sample(&a, &sample(10, 0, 1.0));
        let ex: [(&[u8], &[u8]); 2] = [(b"trace_id", b"abc"), (b"job", b"a")];
        req.push_exemplar(&a, 10, 0.5, ex.iter().copied());
        req.push_exemplar(&a, 11, 0.5, ex.iter().copied());
        let body = req.finish().unwrap();
        let got = v2::Request::decode(body.bytes).unwrap();
        assert_eq!(got.timeseries.len(), 1, "exemplars join the open series");
        let ts = &got.timeseries[0];
        let m = ts.metadata.unwrap();
        assert_eq!(m.r#type, v2::metadata::MetricType::Gauge as i32);
        assert_eq!(got.symbols[m.help_ref as usize], "Help.");
        assert_eq!(got.symbols[m.unit_ref as usize], "bytes");
        assert_eq!(
            labels(&got, &ts.exemplars[1].labels_refs),
            vec!["trace_id", "abc", "job", "a"]
        );
        let mut unique = got.symbols.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            got.symbols.len(),
            "each symbol once: {:?}",
            got.symbols
        );
    }

    #[test]
    fn samples_and_histograms_never_share_a_series() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a");
        let mut enc = Rw2Encoder::new();
        let mut req = enc.begin(&interner);
        req.push_sample(&a, &sample(1, 0, 1.0));
        let h = Histogram {
            schema: -53,
            custom_values: vec![1.0, 2.0],
            ..Histogram::default()
        };
        assert_eq!(req.push_histogram(&a, 2, 1, &h), Pushed::Added);
        assert_eq!(req.push_histogram(&a, 3, 0, &h), Pushed::Added);
        let body = req.finish().unwrap();
        let got = v2::Request::decode(body.bytes).unwrap();
        let shape: Vec<(usize, usize)> = got
            .timeseries
            .iter()
            .map(|ts| (ts.samples.len(), ts.histograms.len()))
            .collect();
        assert_eq!(shape, vec![(1, 0), (0, 2)]);
        assert_eq!(
            got.timeseries[1].histograms[0].custom_values,
            vec![1.0, 2.0]
        );
        assert_eq!(got.timeseries[1].histograms[0].start_timestamp, 1);
        assert_eq!(body.stats.histograms, 2);
    }

    #[test]
    fn length_guesses_that_are_wrong_are_patched() {
        // 80 labels: the packed refs outgrow their one-byte length guess (160 refs,
        // some two bytes), and 1000 merged samples push the TimeSeries length past
        // the two-byte varint range.
        let mut interner = SymbolInterner::new();
        let names: Vec<String> = (0..80).map(|i| format!("l{i:03}")).collect();
        let big = EncodedSeries::new(
            names.iter().map(|n| (n.as_bytes(), n.as_bytes())),
            &mut interner,
        )
        .unwrap();
        let mut enc = Rw2Encoder::new();
        let mut req = enc.begin(&interner);
        for t in 0..1000 {
            req.push_sample(&big, &sample(t, 0, t as f64));
        }
        let body = req.finish().unwrap();
        let got = v2::Request::decode(body.bytes).unwrap();
        assert_eq!(got.timeseries.len(), 1);
        let ts = &got.timeseries[0];
        assert_eq!(ts.labels_refs.len(), 160);
        assert_eq!(labels(&got, &ts.labels_refs[158..]), vec!["l079", "l079"]);
        let times: Vec<i64> = ts.samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, (0..1000).collect::<Vec<_>>());
        // Minimal varints everywhere: prost re-encodes to the same length.
        assert_eq!(got.encoded_len(), body.bytes.len());
    }

    #[test]
    fn series_from_another_interner_is_an_error() {
        let mut other = SymbolInterner::new();
        let a = series(&mut other, "a");
        let interner = SymbolInterner::new();
        let mut enc = Rw2Encoder::new();
        let mut req = enc.begin(&interner);
        req.push_sample(&a, &sample(1, 0, 1.0));
        let err = req.finish().unwrap_err();
        assert!(matches!(err, EncodeError::UnknownSymbol { .. }), "{err}");
    }

    #[test]
    fn name_slots_list_every_slotted_name_first() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a");
        let unused = EncodedSeries::new([(&b"zone"[..], &b"job"[..])], &mut interner).unwrap();
        drop(unused);
        let mut enc = Rw2Encoder::new();
        enc.set_name_slots(NameSlots::Always);
        let mut req = enc.begin(&interner);
        req.push_sample(&a, &sample(10, 0, 1.0));
        let body = req.finish().unwrap();
        let got = v2::Request::decode(body.bytes).unwrap();
        assert_eq!(got.symbols, vec!["", "__name__", "job", "zone", "up", "a"]);
        assert_eq!(got.timeseries[0].labels_refs, vec![1, 4, 2, 5]);

        enc.set_name_slots(NameSlots::Never);
        let mut req = enc.begin(&interner);
        req.push_sample(&a, &sample(10, 0, 1.0));
        let got = v2::Request::decode(req.finish().unwrap().bytes).unwrap();
        assert_eq!(got.symbols, vec!["", "__name__", "up", "job", "a"]);
    }

    #[test]
    fn auto_name_slots_wait_for_a_large_request() {
        let mut interner = SymbolInterner::new();
        let a = series(&mut interner, "a");
        let mut enc = Rw2Encoder::new();
        let mut symbols = Vec::new();
        for samples in [1, 200, 1] {
            let mut req = enc.begin(&interner);
            for t in 0..samples {
                req.push_sample(&a, &sample(10 + t, 0, 1.0));
            }
            let got = v2::Request::decode(req.finish().unwrap().bytes).unwrap();
            symbols.push(got.symbols);
        }
        // The first request has no history; the second is small after a small one;
        // the third follows a request larger than SLOTS_MIN_RATIO times the names.
        assert_eq!(symbols[0], vec!["", "__name__", "up", "job", "a"]);
        assert_eq!(symbols[1], symbols[0]);
        assert_eq!(symbols[2], vec!["", "__name__", "job", "up", "a"]);
    }

    /// A label set drawn from small pools, so that names repeat across series, values
    /// equal names, and (with up to 80 names) the 64 slots run out.
    fn label_set() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = (0..80u32).prop_map(|n| format!("n{n}"));
        let value = prop_oneof![
            (0..80u32).prop_map(|n| format!("n{n}")),
            (0..20u32).prop_map(|n| format!("v{n}")),
            Just(String::new()),
        ];
        prop::collection::btree_map(name, value, 0..40)
            .prop_map(|m| m.into_iter().collect::<Vec<_>>())
    }

    /// A decoded `TimeSeries`: its labels and its sample timestamps.
    type Decoded = (Vec<(String, String)>, Vec<i64>);

    fn decode_series(bytes: &[u8]) -> (Vec<String>, Vec<Decoded>) {
        let req = v2::Request::decode(bytes).unwrap();
        let series = req
            .timeseries
            .iter()
            .map(|ts| {
                let labels = ts
                    .labels_refs
                    .chunks(2)
                    .map(|p| {
                        (
                            req.symbols[p[0] as usize].clone(),
                            req.symbols[p[1] as usize].clone(),
                        )
                    })
                    .collect();
                (labels, ts.samples.iter().map(|s| s.timestamp).collect())
            })
            .collect();
        (req.symbols, series)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Requests with fixed name slots decode to exactly the same series as requests
        /// without, and keep the symbol table rules (FORMATS.md §4.2).
        #[test]
        fn name_slots_round_trip(
            sets in prop::collection::vec(label_set(), 1..12),
            order in prop::collection::vec((0usize..12, 1i64..4), 0..60),
        ) {
            let mut interner = SymbolInterner::new();
            let all: Vec<std::sync::Arc<EncodedSeries>> = sets
                .iter()
                .map(|l| {
                    EncodedSeries::new(l.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), &mut interner)
                        .unwrap()
                })
                .collect();
            let mut want = Vec::new();
            let mut enc = Rw2Encoder::new();
            let mut bodies = Vec::new();
            for mode in [NameSlots::Never, NameSlots::Always] {
                enc.set_name_slots(mode);
                let mut req = enc.begin(&interner);
                for (k, &(s, t)) in order.iter().enumerate() {
                    let s = s % all.len();
                    req.push_sample(&all[s], &sample(t + k as i64, 0, 1.0));
                    if mode == NameSlots::Never {
                        want.push((sets[s].clone(), t + k as i64));
                    }
                }
                bodies.push(req.finish().unwrap().bytes.to_vec());
            }
            let (never_symbols, never) = decode_series(&bodies[0]);
            let (symbols, slotted) = decode_series(&bodies[1]);
            prop_assert_eq!(&slotted, &never);
            let flat: Vec<(Vec<(String, String)>, i64)> = never
                .iter()
                .flat_map(|(l, ts)| ts.iter().map(move |&t| (l.clone(), t)))
                .collect();
            prop_assert_eq!(flat, want);
            for (syms, body) in [(&never_symbols, &bodies[0]), (&symbols, &bodies[1])] {
                prop_assert_eq!(syms.first().map(String::as_str), Some(""));
                let unique: HashSet<&String> = syms.iter().collect();
                prop_assert_eq!(unique.len(), syms.len(), "each symbol once: {:?}", syms);
                let req = v2::Request::decode(&body[..]).unwrap();
                prop_assert_eq!(req.encoded_len(), body.len(), "minimal varints");
            }
            // With slots, the slotted names come first (unused ones included); every
            // other symbol is used.
            let slot_names: Vec<String> = interner
                .name_slots()
                .iter()
                .map(|&id| String::from_utf8(interner.get(id).unwrap().to_vec()).unwrap())
                .collect();
            prop_assert_eq!(&symbols[1..=slot_names.len()], &slot_names[..]);
            let used: HashSet<&String> =
                slotted.iter().flat_map(|(l, _)| l.iter().flat_map(|(n, v)| [n, v])).collect();
            for s in &symbols[1 + slot_names.len()..] {
                prop_assert!(used.contains(s), "unused symbol {:?}", s);
            }
        }
    }
}
