//! Native histogram records: integer (types 7, 9, 12) and float (8, 10, 13) (FORMATS.md
//! §2.3). Bodies are decoded into caller-owned [`Histogram`] / [`FloatHistogram`] values
//! whose vectors are cleared and refilled, so a reused value stops allocating once grown.
//!
//! Decoder rules follow Prometheus's: histograms with a schema that is neither -53 nor in
//! -9..=52 are parsed (to stay aligned) but skipped and counted; schemas 9..=52 are reduced
//! to 8; custom bucket bounds are present exactly when the schema is -53, whatever the
//! record type says.

use super::decode::{EntryFraming, HistogramHeader};
use super::error::{DecodeError, DecodeErrorKind};
use super::reduce::{reduce_resolution, BucketCount};
use super::types::{FloatHistogram, Histogram, RecordType, ResetHint, Span, CUSTOM_BUCKETS_SCHEMA};
use super::varint::Reader;

/// Highest exponential schema remote write accepts; finer ones are reduced to it.
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;
/// Highest schema Prometheus knows how to reduce.
pub const EXPONENTIAL_SCHEMA_MAX_RESERVED: i32 = 52;
/// Lowest schema Prometheus accepts in the WAL.
pub const EXPONENTIAL_SCHEMA_MIN_RESERVED: i32 = -9;

/// Prometheus's `IsKnownSchema`: custom buckets or a reserved exponential schema.
pub fn is_known_schema(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA
        || (EXPONENTIAL_SCHEMA_MIN_RESERVED..=EXPONENTIAL_SCHEMA_MAX_RESERVED).contains(&schema)
}

fn read_reset_hint(r: &mut Reader<'_>) -> Result<ResetHint, DecodeErrorKind> {
    let at = r.pos();
    let b = r.byte()?;
    ResetHint::from_byte(b).ok_or_else(|| {
        r.rewind(at);
        DecodeErrorKind::BadResetHint(b)
    })
}

fn read_spans(r: &mut Reader<'_>, out: &mut Vec<Span>) -> Result<(), DecodeErrorKind> {
    let n = r.uvarint()?;
    let n = r.check_count(n, 2)?;
    out.clear();
    out.reserve(n);
    for _ in 0..n {
        // Go truncates both fields to 32 bits (`int32(Varint64())`, `Uvarint32`).
        let offset = r.varint()? as i32;
        let length = r.uvarint()? as u32;
        out.push(Span { offset, length });
    }
    Ok(())
}

fn read_f64s(r: &mut Reader<'_>, out: &mut Vec<f64>) -> Result<(), DecodeErrorKind> {
    let n = r.uvarint()?;
    let n = r.check_count(n, 8)?;
    out.clear();
    out.reserve(n);
    for _ in 0..n {
        out.push(f64::from_bits(r.be64()?));
    }
    Ok(())
}

fn read_deltas(r: &mut Reader<'_>, out: &mut Vec<i64>) -> Result<(), DecodeErrorKind> {
    let n = r.uvarint()?;
    let n = r.check_count(n, 1)?;
    out.clear();
    out.reserve(n);
    for _ in 0..n {
        out.push(r.varint()?);
    }
    Ok(())
}

/// Prometheus `DecodeHistogram`.
pub(crate) fn read_histogram(r: &mut Reader<'_>, h: &mut Histogram) -> Result<(), DecodeErrorKind> {
    h.reset_hint = read_reset_hint(r)?;
    h.schema = r.varint()? as i32;
    h.zero_threshold = f64::from_bits(r.be64()?);
    h.zero_count = r.uvarint()?;
    h.count = r.uvarint()?;
    h.sum = f64::from_bits(r.be64()?);
    read_spans(r, &mut h.positive_spans)?;
    read_spans(r, &mut h.negative_spans)?;
    read_deltas(r, &mut h.positive_deltas)?;
    read_deltas(r, &mut h.negative_deltas)?;
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        read_f64s(r, &mut h.custom_values)?;
    } else {
        h.custom_values.clear();
    }
    Ok(())
}

/// Prometheus `DecodeFloatHistogram`.
pub(crate) fn read_float_histogram(
    r: &mut Reader<'_>,
    h: &mut FloatHistogram,
) -> Result<(), DecodeErrorKind> {
    h.reset_hint = read_reset_hint(r)?;
    h.schema = r.varint()? as i32;
    h.zero_threshold = f64::from_bits(r.be64()?);
    h.zero_count = f64::from_bits(r.be64()?);
    h.count = f64::from_bits(r.be64()?);
    h.sum = f64::from_bits(r.be64()?);
    read_spans(r, &mut h.positive_spans)?;
    read_spans(r, &mut h.negative_spans)?;
    read_f64s(r, &mut h.positive_counts)?;
    read_f64s(r, &mut h.negative_counts)?;
    if h.schema == CUSTOM_BUCKETS_SCHEMA {
        read_f64s(r, &mut h.custom_values)?;
    } else {
        h.custom_values.clear();
    }
    Ok(())
}

/// Scratch vectors for schema reduction, swapped with the histogram's own, so reduction
/// does not allocate once both have grown.
#[derive(Debug, Default)]
struct Scratch<C> {
    spans: Vec<Span>,
    buckets: Vec<C>,
}

impl<C: BucketCount> Scratch<C> {
    /// Reduces one side (positive or negative) of a histogram to schema 8 in place.
    fn reduce(
        &mut self,
        schema: i32,
        spans: &mut Vec<Span>,
        buckets: &mut Vec<C>,
    ) -> Result<(), &'static str> {
        reduce_resolution(
            spans,
            buckets,
            schema,
            EXPONENTIAL_SCHEMA_MAX,
            &mut self.spans,
            &mut self.buckets,
        )?;
        std::mem::swap(spans, &mut self.spans);
        std::mem::swap(buckets, &mut self.buckets);
        Ok(())
    }
}

/// Shared loop of both histogram decoders: header, body, skip unknown schemas, reduce.
#[derive(Debug)]
struct HistogramLoop<'a> {
    framing: EntryFraming<'a>,
    skipped: u64,
    /// Histograms returned so far (Prometheus numbers reduction errors from 1).
    returned: usize,
}

impl<'a> HistogramLoop<'a> {
    fn next_with<H>(
        &mut self,
        h: &mut H,
        read_body: impl Fn(&mut Reader<'a>, &mut H) -> Result<(), DecodeErrorKind>,
        schema: impl Fn(&H) -> i32,
        mut reduce: impl FnMut(&mut H) -> Result<(), &'static str>,
    ) -> Result<Option<HistogramHeader>, DecodeError> {
        loop {
            if self.framing.r.is_empty() {
                return Ok(None);
            }
            let start = self.framing.r.pos();
            let res = self
                .framing
                .read_header()
                .and_then(|hdr| read_body(&mut self.framing.r, h).map(|()| hdr));
            let hdr = match res {
                Ok(hdr) => hdr,
                Err(kind) => return Err(self.fail(self.framing.r.pos(), kind)),
            };
            let s = schema(h);
            if !is_known_schema(s) {
                self.skipped += 1;
                continue;
            }
            if s > EXPONENTIAL_SCHEMA_MAX {
                if let Err(reason) = reduce(h) {
                    let kind = DecodeErrorKind::ReduceResolution {
                        index: self.returned + 1,
                        schema: s,
                        reason,
                    };
                    return Err(self.fail(start, kind));
                }
            }
            self.returned += 1;
            return Ok(Some(hdr));
        }
    }

    fn fail(&mut self, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        self.framing.r.finish();
        DecodeError::new(self.framing.rtype as u8, offset, kind)
    }
}

/// Integer histogram records (types 7, 9 and 12).
#[derive(Debug)]
pub struct HistogramsDecoder<'a> {
    inner: HistogramLoop<'a>,
    scratch: Scratch<i64>,
}

impl<'a> HistogramsDecoder<'a> {
    pub(crate) fn new(framing: EntryFraming<'a>) -> Self {
        HistogramsDecoder {
            inner: HistogramLoop {
                framing,
                skipped: 0,
                returned: 0,
            },
            scratch: Scratch::default(),
        }
    }

    /// `HistogramSamples`, `CustomBucketsHistogramSamples` or `HistogramSamplesV2`.
    pub fn record_type(&self) -> RecordType {
        self.inner.framing.rtype
    }

    /// Decodes the next histogram into `h` and returns its ref and timestamps, or `None` at
    /// the end of the record. After an error, returns `Ok(None)`. On error or `None`, `h`
    /// holds unspecified contents.
    pub fn next_into(&mut self, h: &mut Histogram) -> Result<Option<HistogramHeader>, DecodeError> {
        let scratch = &mut self.scratch;
        self.inner.next_with(
            h,
            read_histogram,
            |h| h.schema,
            |h| {
                scratch.reduce(h.schema, &mut h.positive_spans, &mut h.positive_deltas)?;
                scratch.reduce(h.schema, &mut h.negative_spans, &mut h.negative_deltas)?;
                h.schema = EXPONENTIAL_SCHEMA_MAX;
                Ok(())
            },
        )
    }

    /// Histograms skipped so far because of an unknown schema (Prometheus logs a warning
    /// "skipping histogram with unknown schema in WAL record" for each).
    pub fn skipped_unknown_schema(&self) -> u64 {
        self.inner.skipped
    }
}

/// Float histogram records (types 8, 10 and 13).
#[derive(Debug)]
pub struct FloatHistogramsDecoder<'a> {
    inner: HistogramLoop<'a>,
    scratch: Scratch<f64>,
}

impl<'a> FloatHistogramsDecoder<'a> {
    pub(crate) fn new(framing: EntryFraming<'a>) -> Self {
        FloatHistogramsDecoder {
            inner: HistogramLoop {
                framing,
                skipped: 0,
                returned: 0,
            },
            scratch: Scratch::default(),
        }
    }

    /// `FloatHistogramSamples`, `CustomBucketsFloatHistogramSamples` or
    /// `FloatHistogramSamplesV2`.
    pub fn record_type(&self) -> RecordType {
        self.inner.framing.rtype
    }

    /// Like [`HistogramsDecoder::next_into`].
    pub fn next_into(
        &mut self,
        h: &mut FloatHistogram,
    ) -> Result<Option<HistogramHeader>, DecodeError> {
        let scratch = &mut self.scratch;
        self.inner.next_with(
            h,
            read_float_histogram,
            |h| h.schema,
            |h| {
                scratch.reduce(h.schema, &mut h.positive_spans, &mut h.positive_counts)?;
                scratch.reduce(h.schema, &mut h.negative_spans, &mut h.negative_counts)?;
                h.schema = EXPONENTIAL_SCHEMA_MAX;
                Ok(())
            },
        )
    }

    /// Like [`HistogramsDecoder::skipped_unknown_schema`].
    pub fn skipped_unknown_schema(&self) -> u64 {
        self.inner.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::decode::{decode, Record};
    use crate::record::types::STALE_NAN_BITS;

    /// Hand-built record bytes (FORMATS.md §2.3), independent of encode.rs.
    struct B(Vec<u8>);
    impl B {
        fn t(b: u8) -> Self {
            B(vec![b])
        }
        fn byte(mut self, b: u8) -> Self {
            self.0.push(b);
            self
        }
        fn be64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn f(self, v: f64) -> Self {
            self.be64(v.to_bits())
        }
        fn uv(mut self, mut v: u64) -> Self {
            while v >= 0x80 {
                self.0.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.0.push(v as u8);
            self
        }
        fn v(self, v: i64) -> Self {
            self.uv(((v << 1) ^ (v >> 63)) as u64)
        }
        /// Integer body: hint, schema, zt, zc, count, sum, spans, deltas (+ custom values).
        fn ibody(
            self,
            hint: u8,
            schema: i64,
            pos: &[(i64, u64)],
            deltas: &[i64],
            custom: Option<&[f64]>,
        ) -> Self {
            let mut b = self
                .byte(hint)
                .v(schema)
                .f(0.001)
                .uv(2)
                .uv(10)
                .f(12.5)
                .uv(pos.len() as u64);
            for &(o, l) in pos {
                b = b.v(o).uv(l);
            }
            b = b.uv(0).uv(deltas.len() as u64);
            for &d in deltas {
                b = b.v(d);
            }
            b = b.uv(0);
            if let Some(c) = custom {
                b = b.uv(c.len() as u64);
                for &x in c {
                    b = b.f(x);
                }
            }
            b
        }
        /// Float body with absolute counts.
        fn fbody(
            self,
            schema: i64,
            sum_bits: u64,
            pos: &[(i64, u64)],
            counts: &[f64],
            custom: Option<&[f64]>,
        ) -> Self {
            let mut b = self
                .byte(0)
                .v(schema)
                .f(0.0)
                .f(1.0)
                .f(7.0)
                .be64(sum_bits)
                .uv(pos.len() as u64);
            for &(o, l) in pos {
                b = b.v(o).uv(l);
            }
            b = b.uv(0).uv(counts.len() as u64);
            for &c in counts {
                b = b.f(c);
            }
            b = b.uv(0);
            if let Some(c) = custom {
                b = b.uv(c.len() as u64);
                for &x in c {
                    b = b.f(x);
                }
            }
            b
        }
    }

    fn ints(rec: &[u8]) -> (Result<Vec<(HistogramHeader, Histogram)>, DecodeError>, u64) {
        let Record::Histograms(mut d) = decode(rec).unwrap() else {
            panic!("not an integer histogram record")
        };
        let mut out = Vec::new();
        let mut h = Histogram::default();
        loop {
            match d.next_into(&mut h) {
                Ok(Some(hdr)) => out.push((hdr, h.clone())),
                Ok(None) => return (Ok(out), d.skipped_unknown_schema()),
                Err(e) => {
                    // Fused: nothing after an error.
                    assert_eq!(d.next_into(&mut h), Ok(None));
                    return (Err(e), d.skipped_unknown_schema());
                }
            }
        }
    }

    fn floats(rec: &[u8]) -> (Vec<(HistogramHeader, FloatHistogram)>, u64) {
        let Record::FloatHistograms(mut d) = decode(rec).unwrap() else {
            panic!("not a float histogram record")
        };
        let mut out = Vec::new();
        let mut h = FloatHistogram::default();
        while let Some(hdr) = d.next_into(&mut h).unwrap() {
            out.push((hdr, h.clone()));
        }
        (out, d.skipped_unknown_schema())
    }

    fn hdr(sref: u64, t: i64, st: i64) -> HistogramHeader {
        HistogramHeader { sref, t, st }
    }

    #[test]
    fn v1_integer_histogram_fields_and_negative_deltas() {
        let rec = B::t(7)
            .be64(100)
            .be64(2000)
            .v(0)
            .v(0)
            .ibody(3, 3, &[(-2, 2), (1, 1)], &[4, -1, -3], None)
            .v(-7)
            .v(-500)
            .ibody(1, -4, &[], &[], None)
            .0;
        let (got, skipped) = ints(&rec);
        let got = got.unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(got.len(), 2);
        let (h0, h1) = (&got[0], &got[1]);
        assert_eq!(h0.0, hdr(100, 2000, 0));
        assert_eq!(h0.1.reset_hint, ResetHint::Gauge);
        assert_eq!(h0.1.schema, 3);
        assert_eq!(h0.1.zero_threshold, 0.001);
        assert_eq!((h0.1.zero_count, h0.1.count, h0.1.sum), (2, 10, 12.5));
        assert_eq!(
            h0.1.positive_spans,
            vec![
                Span {
                    offset: -2,
                    length: 2
                },
                Span {
                    offset: 1,
                    length: 1
                }
            ]
        );
        assert_eq!(h0.1.positive_deltas, vec![4, -1, -3]);
        assert!(h0.1.negative_spans.is_empty() && h0.1.negative_deltas.is_empty());
        assert!(h0.1.custom_values.is_empty());
        assert_eq!(h1.0, hdr(93, 1500, 0));
        assert_eq!((h1.1.reset_hint, h1.1.schema), (ResetHint::Yes, -4));
        assert!(h1.1.positive_spans.is_empty());
    }

    #[test]
    fn custom_values_only_at_schema_minus_53() {
        // Type 9 with an NHCB body: custom values are read.
        let rec = B::t(9)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .ibody(0, -53, &[(0, 2)], &[1, 1], Some(&[0.5, 1.0]))
            .0;
        let got = ints(&rec).0.unwrap();
        assert_eq!(got[0].1.schema, -53);
        assert_eq!(got[0].1.custom_values, vec![0.5, 1.0]);

        // Type 7 carrying an NHCB body: still keyed on the schema.
        let mut rec7 = rec.clone();
        rec7[0] = 7;
        assert_eq!(ints(&rec7).0.unwrap()[0].1.custom_values, vec![0.5, 1.0]);

        // Type 9 with an exponential schema: no custom values are read, so the bytes that
        // would hold them are another (here truncated) entry.
        let rec = B::t(9)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .ibody(0, 0, &[], &[], Some(&[0.5]))
            .0;
        let (got, _) = ints(&rec);
        assert!(got.is_err());
    }

    #[test]
    fn unknown_schemas_are_skipped_and_counted() {
        let rec = B::t(7)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .ibody(0, 53, &[(0, 1)], &[5], None)
            .v(1)
            .v(0)
            .ibody(0, -10, &[], &[], None)
            .v(2)
            .v(0)
            .ibody(0, -9, &[], &[], None)
            .v(3)
            .v(0)
            .ibody(0, 8, &[(0, 1)], &[1], None)
            .0;
        let (got, skipped) = ints(&rec);
        let got = got.unwrap();
        assert_eq!(skipped, 2);
        assert_eq!(
            got.iter()
                .map(|(h, x)| (h.sref, x.schema))
                .collect::<Vec<_>>(),
            vec![(3, -9), (4, 8)]
        );
    }

    #[test]
    fn schema_above_8_is_reduced() {
        // Schema 10, buckets at indices 1..=4 with absolute counts 1,2,3,4 (deltas 1,1,1,1)
        // → schema 8: all four land in index 1 → one bucket with count 10.
        let rec = B::t(7)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .ibody(0, 10, &[(1, 4)], &[1, 1, 1, 1], None)
            .0;
        let got = ints(&rec).0.unwrap();
        assert_eq!(got[0].1.schema, 8);
        assert_eq!(
            got[0].1.positive_spans,
            vec![Span {
                offset: 1,
                length: 1
            }]
        );
        assert_eq!(got[0].1.positive_deltas, vec![10]);

        // Float: schema 9, indices 1,2,3 → 1,1,2.
        let rec = B::t(8)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .fbody(9, 0, &[(1, 3)], &[1.0, 2.0, 4.0], None)
            .0;
        let (got, _) = floats(&rec);
        assert_eq!(got[0].1.schema, 8);
        assert_eq!(
            got[0].1.positive_spans,
            vec![Span {
                offset: 1,
                length: 2
            }]
        );
        assert_eq!(got[0].1.positive_counts, vec![3.0, 4.0]);
    }

    #[test]
    fn failed_reduction_fails_the_record() {
        // Spans announce 3 buckets, only 2 given.
        let rec = B::t(7)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .ibody(0, 9, &[(0, 3)], &[1, 1], None)
            .0;
        let e = ints(&rec).0.unwrap_err();
        assert_eq!(e.offset, 17);
        assert_eq!(
            e.kind,
            DecodeErrorKind::ReduceResolution {
                index: 1,
                schema: 9,
                reason: crate::record::reduce::ERR_SPANS_BUCKETS_MISMATCH
            }
        );
    }

    #[test]
    fn bad_reset_hint_is_reported_at_its_byte() {
        let rec = B::t(7)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .ibody(4, 0, &[], &[], None)
            .0;
        let e = ints(&rec).0.unwrap_err();
        assert_eq!(
            (e.record_type, e.offset, e.kind),
            (7, 19, DecodeErrorKind::BadResetHint(4))
        );
    }

    #[test]
    fn huge_declared_counts_fail_without_allocating() {
        let rec = B::t(7)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .byte(0)
            .v(0)
            .f(0.0)
            .uv(0)
            .uv(0)
            .f(0.0)
            .uv(u64::MAX)
            .0;
        let e = ints(&rec).0.unwrap_err();
        assert!(
            matches!(e.kind, DecodeErrorKind::UnexpectedEnd { .. }),
            "{e}"
        );
    }

    #[test]
    fn v2_headers_markers_and_skipped_entries_count_as_previous() {
        let rec = B::t(12)
            // first: ref 10, t 1000, st 900
            .v(10)
            .v(1000)
            .v(900)
            .ibody(0, 0, &[], &[], None)
            // ref 12 (vs prev), t 1010 (vs first), explicit st 950; unknown schema → skipped
            .v(2)
            .v(10)
            .byte(2)
            .v(50)
            .ibody(0, 100, &[], &[], None)
            // ref 11 (vs the skipped one), t 1020, same st as the skipped one (950)
            .v(-1)
            .v(20)
            .byte(1)
            .ibody(0, 1, &[], &[], None)
            // no st
            .v(0)
            .v(-1000)
            .byte(0)
            .ibody(0, 1, &[], &[], None)
            .0;
        let (got, skipped) = ints(&rec);
        let got = got.unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(
            got.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![hdr(10, 1000, 900), hdr(11, 1020, 950), hdr(11, 0, 0)]
        );
    }

    #[test]
    fn v2_header_without_body_is_an_error() {
        let rec = B::t(13).v(1).v(2).v(3).0;
        let Record::FloatHistograms(mut d) = decode(&rec).unwrap() else {
            unreachable!()
        };
        let e = d.next_into(&mut FloatHistogram::default()).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::MissingHistogramBody);
    }

    #[test]
    fn float_histogram_keeps_nan_bits_and_custom_values() {
        let rec = B::t(10)
            .be64(5)
            .be64(5)
            .v(0)
            .v(0)
            .fbody(
                -53,
                STALE_NAN_BITS,
                &[(0, 1)],
                &[3.0],
                Some(&[f64::INFINITY]),
            )
            .0;
        let (got, _) = floats(&rec);
        let h = &got[0].1;
        assert_eq!(h.sum.to_bits(), STALE_NAN_BITS);
        assert_eq!((h.zero_count, h.count), (1.0, 7.0));
        assert_eq!(h.custom_values, vec![f64::INFINITY]);
        assert_eq!(h.positive_counts, vec![3.0]);
    }

    #[test]
    fn reused_histogram_does_not_reallocate() {
        let rec = B::t(7)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .ibody(0, 2, &[(0, 3)], &[1, 2, 3], None)
            .v(0)
            .v(1)
            .ibody(0, 2, &[(0, 3)], &[3, 2, 1], None)
            .0;
        let Record::Histograms(mut d) = decode(&rec).unwrap() else {
            unreachable!()
        };
        let mut h = Histogram::default();
        d.next_into(&mut h).unwrap().unwrap();
        let (p1, p2) = (h.positive_spans.as_ptr(), h.positive_deltas.as_ptr());
        d.next_into(&mut h).unwrap().unwrap();
        assert_eq!(h.positive_deltas, vec![3, 2, 1]);
        assert_eq!(
            (h.positive_spans.as_ptr(), h.positive_deltas.as_ptr()),
            (p1, p2)
        );
    }
}
