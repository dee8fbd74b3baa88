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
