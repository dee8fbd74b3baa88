//! The `Histogram` message shared by RW 1.0 and RW 2.0 (FORMATS.md §3.1, §4.1): field
//! numbers 1–16 are identical, RW 2.0 adds `start_timestamp = 17`.
//!
//! The body size is computed exactly before anything is written, so the length prefix
//! is written once. The `count` and `zero_count` oneofs are always emitted, even when
//! zero, as gogo does: receivers tell integer from float histograms by which member is
//! present.

use super::wire::{
    put_f64, put_varint, tag, varint_len, zigzag32, zigzag64, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT,
};
use crate::record::{FloatHistogram, Histogram, ResetHint, Span};

/// Key of field 16 (`custom_values`, packed): varint(16 << 3 | 2) = varint(130).
const CUSTOM_VALUES_KEY: [u8; 2] = [0x82, 0x01];
/// Key of field 17 (`start_timestamp`, varint): varint(17 << 3 | 0) = varint(136).
const START_TIMESTAMP_KEY: [u8; 2] = [0x88, 0x01];

/// A count that is either an integer or a float, selecting the oneof member.
#[derive(Clone, Copy)]
enum Count {
    Int(u64),
    Float(f64),
}

/// Bucket payload: delta-encoded integer counts or absolute float counts.
#[derive(Clone, Copy)]
enum Buckets<'a> {
    Deltas(&'a [i64]),
    Counts(&'a [f64]),
}

/// A borrowed view over either histogram kind plus the sample's timestamps.
#[derive(Clone, Copy)]
pub(crate) struct HistogramView<'a> {
    count: Count,
    sum: f64,
    schema: i32,
    zero_threshold: f64,
    zero_count: Count,
    negative_spans: &'a [Span],
    negative: Buckets<'a>,
    positive_spans: &'a [Span],
    positive: Buckets<'a>,
    reset_hint: ResetHint,
    timestamp: i64,
    custom_values: &'a [f64],
    /// `None` for RW 1.0, which has no field 17.
    start_timestamp: Option<i64>,
}

impl<'a> HistogramView<'a> {
    pub(crate) fn int(h: &'a Histogram, t: i64, st: Option<i64>) -> HistogramView<'a> {
        HistogramView {
            count: Count::Int(h.count),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: Count::Int(h.zero_count),
            negative_spans: &h.negative_spans,
            negative: Buckets::Deltas(&h.negative_deltas),
            positive_spans: &h.positive_spans,
            positive: Buckets::Deltas(&h.positive_deltas),
            reset_hint: h.reset_hint,
            timestamp: t,
            custom_values: &h.custom_values,
            start_timestamp: st,
        }
    }

    pub(crate) fn float(h: &'a FloatHistogram, t: i64, st: Option<i64>) -> HistogramView<'a> {
        HistogramView {
            count: Count::Float(h.count),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: Count::Float(h.zero_count),
            negative_spans: &h.negative_spans,
            negative: Buckets::Counts(&h.negative_counts),
            positive_spans: &h.positive_spans,
            positive: Buckets::Counts(&h.positive_counts),
            reset_hint: h.reset_hint,
            timestamp: t,
            custom_values: &h.custom_values,
            start_timestamp: st,
        }
    }

    /// The sample timestamp (field 15).
    pub(crate) fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Exact size of the message body.
    pub(crate) fn body_len(&self) -> usize {
        let mut n = count_len(self.count) + count_len(self.zero_count);
        n += f64_len(self.sum) + f64_len(self.zero_threshold);
        if self.schema != 0 {
            n += 1 + varint_len(zigzag32(self.schema));
        }
        n += spans_len(self.negative_spans) + buckets_len(self.negative);
        n += spans_len(self.positive_spans) + buckets_len(self.positive);
        if self.reset_hint != ResetHint::Unknown {
            n += 2;
        }
        if self.timestamp != 0 {
            n += 1 + varint_len(self.timestamp as u64);
        }
        if !self.custom_values.is_empty() {
            n += packed_len_2byte_key(self.custom_values.len() * 8);
        }
        if let Some(st) = self.start_timestamp.filter(|&st| st != 0) {
            n += 2 + varint_len(st as u64);
        }
        n
    }

    /// Appends the body (no key, no length) in field-number order.
    pub(crate) fn write_body(&self, buf: &mut Vec<u8>) {
        put_count(buf, 1, self.count);
        put_f64_field(buf, 3, self.sum);
        if self.schema != 0 {
            buf.push(tag(4, WIRE_VARINT));
            put_varint(buf, zigzag32(self.schema));
        }
        put_f64_field(buf, 5, self.zero_threshold);
        put_count(buf, 6, self.zero_count);
        put_spans(buf, 8, self.negative_spans);
        put_buckets(buf, 9, self.negative);
        put_spans(buf, 11, self.positive_spans);
        put_buckets(buf, 12, self.positive);
        if self.reset_hint != ResetHint::Unknown {
            buf.push(tag(14, WIRE_VARINT));
            buf.push(self.reset_hint as u8);
        }
        if self.timestamp != 0 {
            buf.push(tag(15, WIRE_VARINT));
            put_varint(buf, self.timestamp as u64);
        }
        if !self.custom_values.is_empty() {
            buf.extend_from_slice(&CUSTOM_VALUES_KEY);
            put_varint(buf, (self.custom_values.len() * 8) as u64);
            for &v in self.custom_values {
                put_f64(buf, v);
            }
        }
        if let Some(st) = self.start_timestamp.filter(|&st| st != 0) {
            buf.extend_from_slice(&START_TIMESTAMP_KEY);
            put_varint(buf, st as u64);
        }
    }
}

/// proto3 omits a double only when it is +0.0; comparing bits keeps -0.0 (and every NaN
/// payload) on the wire.
fn f64_len(v: f64) -> usize {
    if v.to_bits() == 0 {
        0
    } else {
        9
    }
}

fn put_f64_field(buf: &mut Vec<u8>, field: u8, v: f64) {
    if v.to_bits() != 0 {
        buf.push(tag(field, WIRE_FIXED64));
        put_f64(buf, v);
    }
}

/// The oneof member is always present, so it is never omitted.
fn count_len(c: Count) -> usize {
    match c {
        Count::Int(v) => 1 + varint_len(v),
        Count::Float(_) => 9,
    }
}

/// `int_field` is the integer member's number; the float member is the next one.
fn put_count(buf: &mut Vec<u8>, int_field: u8, c: Count) {
    match c {
        Count::Int(v) => {
            buf.push(tag(int_field, WIRE_VARINT));
            put_varint(buf, v);
        }
        Count::Float(v) => {
            buf.push(tag(int_field + 1, WIRE_FIXED64));
            put_f64(buf, v);
        }
    }
}

fn span_body_len(s: &Span) -> usize {
    let mut n = 0;
    if s.offset != 0 {
        n += 1 + varint_len(zigzag32(s.offset));
    }
    if s.length != 0 {
        n += 1 + varint_len(u64::from(s.length));
    }
    n
}

fn spans_len(spans: &[Span]) -> usize {
    spans
        .iter()
        .map(|s| {
            let body = span_body_len(s);
            1 + varint_len(body as u64) + body
        })
        .sum()
}

fn put_spans(buf: &mut Vec<u8>, field: u8, spans: &[Span]) {
    for s in spans {
        buf.push(tag(field, WIRE_LEN));
        put_varint(buf, span_body_len(s) as u64);
        if s.offset != 0 {
            buf.push(tag(1, WIRE_VARINT));
            put_varint(buf, zigzag32(s.offset));
        }
        if s.length != 0 {
            buf.push(tag(2, WIRE_VARINT));
            put_varint(buf, u64::from(s.length));
        }
    }
}

fn deltas_payload_len(d: &[i64]) -> usize {
    d.iter().map(|&v| varint_len(zigzag64(v))).sum()
}

/// A packed repeated field with a one-byte key; empty lists are omitted.
fn packed_len(payload: usize) -> usize {
    1 + varint_len(payload as u64) + payload
}

fn packed_len_2byte_key(payload: usize) -> usize {
    packed_len(payload) + 1
}

fn buckets_len(b: Buckets<'_>) -> usize {
    match b {
        Buckets::Deltas(d) if !d.is_empty() => packed_len(deltas_payload_len(d)),
        Buckets::Counts(c) if !c.is_empty() => packed_len(c.len() * 8),
        _ => 0,
    }
}

/// `deltas_field` is the `sint64` list; the `double` list is the next field number.
fn put_buckets(buf: &mut Vec<u8>, deltas_field: u8, b: Buckets<'_>) {
    match b {
        Buckets::Deltas(d) if !d.is_empty() => {
            buf.push(tag(deltas_field, WIRE_LEN));
            put_varint(buf, deltas_payload_len(d) as u64);
            for &v in d {
                put_varint(buf, zigzag64(v));
            }
        }
        Buckets::Counts(c) if !c.is_empty() => {
            buf.push(tag(deltas_field + 1, WIRE_LEN));
            put_varint(buf, (c.len() * 8) as u64);
            for &v in c {
                put_f64(buf, v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::encode::proto::v2;

    fn sample_int() -> Histogram {
        Histogram {
            reset_hint: ResetHint::Gauge,
            schema: -3,
            zero_threshold: 1e-128,
            zero_count: 0,
            count: 0,
            sum: -0.0,
            positive_spans: vec![
                Span {
                    offset: -2,
                    length: 2,
                },
                Span::default(),
            ],
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            positive_deltas: vec![5, -3],
            negative_deltas: vec![i64::MIN],
            custom_values: vec![],
        }
    }

    fn encode(view: HistogramView<'_>) -> Vec<u8> {
        let mut buf = Vec::new();
        view.write_body(&mut buf);
        assert_eq!(buf.len(), view.body_len(), "body_len must be exact");
        buf
    }

    #[test]
    fn int_histogram_fields_survive_prost_decode() {
        let h = sample_int();
        let got = v2::Histogram::decode(&encode(HistogramView::int(&h, -5, Some(7)))[..]).unwrap();
        assert_eq!(
            got.count,
            Some(v2::histogram::Count::CountInt(0)),
            "zero count still present"
        );
        assert_eq!(
            got.zero_count,
            Some(v2::histogram::ZeroCount::ZeroCountInt(0))
        );
        assert_eq!(got.sum.to_bits(), (-0.0f64).to_bits());
        assert_eq!(got.schema, -3);
        assert_eq!(got.zero_threshold, 1e-128);
        assert_eq!(got.positive_deltas, vec![5, -3]);
        assert_eq!(got.negative_deltas, vec![i64::MIN]);
        assert_eq!(got.positive_spans.len(), 2);
        assert_eq!(
            (got.positive_spans[0].offset, got.positive_spans[0].length),
            (-2, 2)
        );
        assert_eq!(got.reset_hint, v2::histogram::ResetHint::Gauge as i32);
        assert_eq!((got.timestamp, got.start_timestamp), (-5, 7));
    }

    #[test]
    fn float_histogram_uses_float_members_and_custom_values() {
        let h = FloatHistogram {
            schema: -53,
            count: 3.5,
            zero_count: 0.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_counts: vec![1.5, 2.0],
            custom_values: vec![0.5, f64::INFINITY],
            ..FloatHistogram::default()
        };
        let got = v2::Histogram::decode(&encode(HistogramView::float(&h, 0, None))[..]).unwrap();
        assert_eq!(got.count, Some(v2::histogram::Count::CountFloat(3.5)));
        assert_eq!(
            got.zero_count,
            Some(v2::histogram::ZeroCount::ZeroCountFloat(0.0))
        );
        assert_eq!(got.positive_counts, vec![1.5, 2.0]);
        assert_eq!(got.custom_values, vec![0.5, f64::INFINITY]);
        assert_eq!(
            (got.schema, got.timestamp, got.start_timestamp),
            (-53, 0, 0)
        );
    }

    #[test]
    fn matches_prost_bytes_for_canonical_input() {
        // prost emits fields in number order and omits zeros like we do, so for a value
        // without -0.0 the bytes must be identical.
        let mut h = sample_int();
        h.sum = 12.5;
        let ours = encode(HistogramView::int(&h, 1_700_000_000_000, Some(1)));
        let theirs = v2::Histogram::decode(&ours[..]).unwrap().encode_to_vec();
        assert_eq!(ours, theirs);
    }
}
