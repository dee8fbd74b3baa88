//! Record encoders producing the same bytes as Prometheus's `record.Encoder`
//! (`tsdb/record/record.go`), so a WAL written with them is readable by Prometheus.
//!
//! Every function **appends** one whole record (type byte first) to `out`; callers reuse
//! one buffer and `clear()` it between records. Used by tests, the fuzz targets and the
//! benchmark WAL writer.
//!
//! Like Prometheus, the V1 histogram encoders do not look at the schema to choose the
//! record type: Prometheus writes exponential histograms into type 7/8 and custom-bucket
//! ones (schema -53) into a separate 9/10 record, and callers that want identical WALs
//! split the same way. V2 records carry both kinds.

use super::types::{
    FloatHistogram, Histogram, Labels, RecordType, RefMetadata, RefSample, SeriesRef,
    CUSTOM_BUCKETS_SCHEMA,
};
use super::varint::{put_be64, put_uvarint, put_uvarint_bytes, put_varint};

/// Something that can be written as a WAL label set: uvarint pair count, then each name and
/// value as a uvarint-length string. Prometheus label sets are sorted by name and have no
/// empty values; the encoder writes pairs in the order given and checks neither.
pub trait EncodeLabels {
    fn encode_labels(&self, out: &mut Vec<u8>);
}

impl EncodeLabels for Labels<'_> {
    fn encode_labels(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.len() as u64);
        out.extend_from_slice(self.raw());
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> EncodeLabels for [(N, V)] {
    fn encode_labels(&self, out: &mut Vec<u8>) {
        put_uvarint(out, self.len() as u64);
        for (n, v) in self {
            put_uvarint_bytes(out, n.as_ref());
            put_uvarint_bytes(out, v.as_ref());
        }
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> EncodeLabels for Vec<(N, V)> {
    fn encode_labels(&self, out: &mut Vec<u8>) {
        self.as_slice().encode_labels(out);
    }
}

/// One tombstone interval (Prometheus writes one triple per interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tombstone {
    pub sref: SeriesRef,
    pub mint: i64,
    pub maxt: i64,
}

/// An integer histogram sample to encode. `st` is only written by the V2 encoder.
#[derive(Debug, Clone, Copy)]
pub struct HistogramSample<'h> {
    pub sref: SeriesRef,
    pub t: i64,
    pub st: i64,
    pub h: &'h Histogram,
}

/// A float histogram sample to encode. `st` is only written by the V2 encoder.
#[derive(Debug, Clone, Copy)]
pub struct FloatHistogramSample<'h> {
    pub sref: SeriesRef,
    pub t: i64,
    pub st: i64,
    pub h: &'h FloatHistogram,
}

/// V2 start-timestamp markers (`noST`, `sameST`, `explicitST`).
const ST_NONE: u8 = 0;
const ST_SAME: u8 = 1;
const ST_EXPLICIT: u8 = 2;

/// Prometheus `writeSTMarker`.
#[inline]
fn put_st_marker(out: &mut Vec<u8>, st: i64, first_st: i64, prev_st: i64) {
    if st == 0 {
        out.push(ST_NONE);
    } else if st == prev_st {
        out.push(ST_SAME);
    } else {
        out.push(ST_EXPLICIT);
        put_varint(out, st.wrapping_sub(first_st));
    }
}

/// Appends a label set.
pub fn labels<L: EncodeLabels + ?Sized>(out: &mut Vec<u8>, l: &L) {
    l.encode_labels(out);
}

/// Series record (type 1): `[ ref:BE64 labels ]`.
pub fn series<'l, L: EncodeLabels + ?Sized + 'l>(
    out: &mut Vec<u8>,
    entries: impl IntoIterator<Item = (SeriesRef, &'l L)>,
) {
    out.push(RecordType::Series as u8);
    for (sref, l) in entries {
        put_be64(out, sref);
        l.encode_labels(out);
    }
}

/// Samples V1 record (type 2); `st` is not written. An empty slice gives just the type byte.
pub fn samples_v1(out: &mut Vec<u8>, samples: &[RefSample]) {
    out.push(RecordType::Samples as u8);
    let Some(first) = samples.first() else {
        return;
    };
    out.reserve(16 + samples.len() * 14);
    put_be64(out, first.sref);
    put_be64(out, first.t as u64);
    for s in samples {
        put_varint(out, (s.sref as i64).wrapping_sub(first.sref as i64));
        put_varint(out, s.t.wrapping_sub(first.t));
        put_be64(out, s.v.to_bits());
    }
}

/// Samples V2 record (type 11, Prometheus ≥ 3.11 with `st-storage`).
pub fn samples_v2(out: &mut Vec<u8>, samples: &[RefSample]) {
    out.push(RecordType::SamplesV2 as u8);
    let Some((first, rest)) = samples.split_first() else {
        return;
    };
    out.reserve(samples.len() * 15);
    put_varint(out, first.sref as i64);
    put_varint(out, first.t);
    put_varint(out, first.st);
    put_be64(out, first.v.to_bits());
    let mut prev = first;
    for s in rest {
        put_varint(out, (s.sref as i64).wrapping_sub(prev.sref as i64));
        put_varint(out, s.t.wrapping_sub(first.t));
        put_st_marker(out, s.st, first.st, prev.st);
        put_be64(out, s.v.to_bits());
        prev = s;
    }
}

/// Tombstones record (type 3).
pub fn tombstones(out: &mut Vec<u8>, stones: &[Tombstone]) {
    out.push(RecordType::Tombstones as u8);
    for s in stones {
        put_be64(out, s.sref);
        put_varint(out, s.mint);
        put_varint(out, s.maxt);
    }
}

/// Exemplars record (type 4) from `(ref, t, value, labels)` entries.
pub fn exemplars<'l, L: EncodeLabels + ?Sized + 'l>(
    out: &mut Vec<u8>,
    entries: impl IntoIterator<Item = (SeriesRef, i64, f64, &'l L)>,
) {
    out.push(RecordType::Exemplars as u8);
    let mut base = None;
    for (sref, t, v, l) in entries {
        let (base_ref, base_t) = *base.get_or_insert_with(|| {
            put_be64(out, sref);
            put_be64(out, t as u64);
            (sref, t)
        });
        put_varint(out, (sref as i64).wrapping_sub(base_ref as i64));
        put_varint(out, t.wrapping_sub(base_t));
        put_be64(out, v.to_bits());
        l.encode_labels(out);
    }
}

/// MmapMarkers record (type 5) from `(ref, mmap ref)` pairs (WBL only; for tests).
pub fn mmap_markers(out: &mut Vec<u8>, markers: &[(SeriesRef, u64)]) {
    out.push(RecordType::MmapMarkers as u8);
    for &(sref, mref) in markers {
        put_be64(out, sref);
        put_be64(out, mref);
    }
}

/// Metadata record (type 6): always the two fields `UNIT` and `HELP`, as Prometheus writes.
pub fn metadata(out: &mut Vec<u8>, entries: &[RefMetadata<'_>]) {
    out.push(RecordType::Metadata as u8);
    for m in entries {
        put_uvarint(out, m.sref);
        out.push(m.mtype as u8);
        put_uvarint(out, 2);
        put_uvarint_bytes(out, b"UNIT");
        put_uvarint_bytes(out, m.unit);
        put_uvarint_bytes(out, b"HELP");
        put_uvarint_bytes(out, m.help);
    }
}

fn put_spans(out: &mut Vec<u8>, spans: &[super::types::Span]) {
    put_uvarint(out, spans.len() as u64);
    for s in spans {
        put_varint(out, i64::from(s.offset));
        put_uvarint(out, u64::from(s.length));
    }
}

fn put_f64s(out: &mut Vec<u8>, v: &[f64]) {
    put_uvarint(out, v.len() as u64);
    for x in v {
        put_be64(out, x.to_bits());
    }
}

/// Integer histogram body (Prometheus `EncodeHistogram`). Custom values are written exactly
/// when the schema is -53.
pub fn histogram(out: &mut Vec<u8>, h: &Histogram) {
    out.push(h.reset_hint as u8);
    put_varint(out, i64::from(h.schema));
    put_be64(out, h.zero_threshold.to_bits());
    put_uvarint(out, h.zero_count);
    put_uvarint(out, h.count);
    put_be64(out, h.sum.to_bits());
    put_spans(out, &h.positive_spans);
    put_spans(out, &h.negative_spans);
    put_uvarint(out, h.positive_deltas.len() as u64);
    for &d in &h.positive_deltas {
        put_varint(out, d);
    }
    put_uvarint(out, h.negative_deltas.len() as u64);
    for &d in &h.negative_deltas {
        put_varint(out, d);
    }
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        put_f64s(out, &h.custom_values);
    }
}

/// Float histogram body (Prometheus `EncodeFloatHistogram`).
pub fn float_histogram(out: &mut Vec<u8>, h: &FloatHistogram) {
    out.push(h.reset_hint as u8);
    put_varint(out, i64::from(h.schema));
    put_be64(out, h.zero_threshold.to_bits());
    put_be64(out, h.zero_count.to_bits());
    put_be64(out, h.count.to_bits());
    put_be64(out, h.sum.to_bits());
    put_spans(out, &h.positive_spans);
    put_spans(out, &h.negative_spans);
    put_f64s(out, &h.positive_counts);
    put_f64s(out, &h.negative_counts);
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        put_f64s(out, &h.custom_values);
    }
}

/// V1 framing shared by both histogram kinds: base from the first entry, deltas against it.
fn histograms_v1<E>(
    out: &mut Vec<u8>,
    rtype: RecordType,
    entries: &[E],
    key: impl Fn(&E) -> (SeriesRef, i64),
    mut body: impl FnMut(&mut Vec<u8>, &E),
) {
    out.push(rtype as u8);
    let Some(first) = entries.first().map(&key) else {
        return;
    };
    put_be64(out, first.0);
    put_be64(out, first.1 as u64);
    for e in entries {
        let (sref, t) = key(e);
        put_varint(out, (sref as i64).wrapping_sub(first.0 as i64));
        put_varint(out, t.wrapping_sub(first.1));
        body(out, e);
    }
}

/// V2 framing: first entry absolute, then ref vs previous, time vs first, st marker.
fn histograms_v2<E>(
    out: &mut Vec<u8>,
    rtype: RecordType,
    entries: &[E],
    key: impl Fn(&E) -> (SeriesRef, i64, i64),
    mut body: impl FnMut(&mut Vec<u8>, &E),
) {
    out.push(rtype as u8);
    let Some((first, rest)) = entries.split_first() else {
        return;
    };
    let (fref, ft, fst) = key(first);
    put_varint(out, fref as i64);
    put_varint(out, ft);
    put_varint(out, fst);
    body(out, first);
    let (mut pref, mut pst) = (fref, fst);
    for e in rest {
        let (sref, t, st) = key(e);
        put_varint(out, (sref as i64).wrapping_sub(pref as i64));
        put_varint(out, t.wrapping_sub(ft));
        put_st_marker(out, st, fst, pst);
        body(out, e);
        (pref, pst) = (sref, st);
    }
}

/// Integer histogram V1 record: type 7, or 9 when `custom_buckets` (Prometheus puts
/// schema -53 histograms in a separate type 9 record).
pub fn histogram_samples_v1(
    out: &mut Vec<u8>,
    custom_buckets: bool,
    entries: &[HistogramSample<'_>],
) {
    let rtype = if custom_buckets {
        RecordType::CustomBucketsHistogramSamples
    } else {
        RecordType::HistogramSamples
    };
    histograms_v1(
        out,
        rtype,
        entries,
        |e| (e.sref, e.t),
        |o, e| histogram(o, e.h),
    );
}

/// Integer histogram V2 record (type 12), exponential and custom-bucket alike.
pub fn histogram_samples_v2(out: &mut Vec<u8>, entries: &[HistogramSample<'_>]) {
    histograms_v2(
        out,
        RecordType::HistogramSamplesV2,
        entries,
        |e| (e.sref, e.t, e.st),
        |o, e| histogram(o, e.h),
    );
}

/// Float histogram V1 record: type 8, or 10 when `custom_buckets`.
pub fn float_histogram_samples_v1(
    out: &mut Vec<u8>,
    custom_buckets: bool,
    entries: &[FloatHistogramSample<'_>],
) {
    let rtype = if custom_buckets {
        RecordType::CustomBucketsFloatHistogramSamples
    } else {
        RecordType::FloatHistogramSamples
    };
    histograms_v1(
        out,
        rtype,
        entries,
        |e| (e.sref, e.t),
        |o, e| float_histogram(o, e.h),
    );
}

/// Float histogram V2 record (type 13).
pub fn float_histogram_samples_v2(out: &mut Vec<u8>, entries: &[FloatHistogramSample<'_>]) {
    histograms_v2(
        out,
        RecordType::FloatHistogramSamplesV2,
        entries,
        |e| (e.sref, e.t, e.st),
        |o, e| float_histogram(o, e.h),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::types::{MetricType, ResetHint, Span};

    /// Byte vectors written out by hand from FORMATS.md §2.3 (and matching what Go's
    /// `record.Encoder` produces for the same input).
    #[test]
    fn encodings_match_hand_written_bytes() {
        let mut out = Vec::new();
        let s = |sref, t, st, v: f64| RefSample { sref, t, st, v };

        samples_v1(&mut out, &[s(5, 1000, 0, 1.0), s(3, 1001, 0, 2.0)]);
        let mut want = vec![2u8];
        want.extend_from_slice(&5u64.to_be_bytes());
        want.extend_from_slice(&1000u64.to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[3, 2]); // zigzag(-2) = 3, zigzag(1) = 2
        want.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        assert_eq!(out, want);

        out.clear();
        samples_v2(
            &mut out,
            &[
                s(5, 1000, 900, 1.0),
                s(6, 990, 900, 2.0),
                s(4, 1000, 0, 3.0),
                s(4, 1000, 950, 4.0),
            ],
        );
        let mut want = vec![11u8, 10, 0xd0, 0x0f, 0x88, 0x0e];
        want.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[2, 19, ST_SAME]); // +1 vs prev, -10 vs first
        want.extend_from_slice(&2.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[3, 0, ST_NONE]);
        want.extend_from_slice(&3.0f64.to_bits().to_be_bytes());
        want.extend_from_slice(&[0, 0, ST_EXPLICIT, 100]); // 950 - 900 = 50 → 100
        want.extend_from_slice(&4.0f64.to_bits().to_be_bytes());
        assert_eq!(out, want);

        out.clear();
        metadata(
            &mut out,
            &[RefMetadata {
                sref: 200,
                mtype: MetricType::Gauge,
                unit: b"s",
                help: b"h",
            }],
        );
        assert_eq!(
            out,
            [
                6, 0xc8, 0x01, 2, 2, 4, b'U', b'N', b'I', b'T', 1, b's', 4, b'H', b'E', b'L', b'P',
                1, b'h'
            ]
        );

        out.clear();
        tombstones(
            &mut out,
            &[Tombstone {
                sref: 1,
                mint: -1,
                maxt: 2,
            }],
        );
        assert_eq!(out, [3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 4]);

        out.clear();
        series(&mut out, [(9u64, &[("a", "b")][..])]);
        assert_eq!(out, [1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 1, b'a', 1, b'b']);
    }

    #[test]
    fn empty_inputs_give_type_byte_only() {
        let mut out = Vec::new();
        samples_v1(&mut out, &[]);
        samples_v2(&mut out, &[]);
        exemplars::<[(&str, &str)]>(&mut out, []);
        histogram_samples_v1(&mut out, false, &[]);
        histogram_samples_v1(&mut out, true, &[]);
        histogram_samples_v2(&mut out, &[]);
        float_histogram_samples_v1(&mut out, false, &[]);
        float_histogram_samples_v1(&mut out, true, &[]);
        float_histogram_samples_v2(&mut out, &[]);
        assert_eq!(out, [2, 11, 4, 7, 9, 12, 8, 10, 13]);
    }

    #[test]
    fn custom_values_written_only_at_schema_minus_53() {
        let mut h = Histogram {
            reset_hint: ResetHint::Gauge,
            schema: 3,
            custom_values: vec![1.0, 2.0],
            positive_spans: vec![Span {
                offset: -1,
                length: 2,
            }],
            positive_deltas: vec![4, -1],
            ..Histogram::default()
        };
        let mut exp = Vec::new();
        histogram(&mut exp, &h);
        h.schema = CUSTOM_BUCKETS_SCHEMA;
        let mut nhcb = Vec::new();
        histogram(&mut nhcb, &h);
        // hint, schema, zt(8), zc, count, sum(8), pos spans (count, offset, length), neg span
        // count, pos deltas (count + 2), neg delta count.
        assert_eq!(exp.len(), 1 + 1 + 8 + 1 + 1 + 8 + 3 + 1 + 3 + 1);
        assert_eq!(exp[0], 3);
        assert_eq!(exp[1], 6); // zigzag(3)
                               // Custom values add a count and two BE64 floats.
        assert_eq!(nhcb.len(), exp.len() + 1 + 16);
        assert_eq!(nhcb[1], 105); // zigzag(-53)
        assert_eq!(
            &nhcb[nhcb.len() - 17..],
            &[2, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
