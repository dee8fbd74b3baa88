//! Entry point of record decoding: [`decode`] looks at the type byte and returns a lazy
//! decoder over the borrowed record bytes (FORMATS.md §2.3).
//!
//! Decoders are iterators (or `next_into` for histograms) so that a caller can stream a
//! record without collecting it, and nothing is allocated per entry: labels and strings are
//! borrowed from the record. Every decoder is fused after its first error, because an
//! entry that failed leaves the cursor in the middle of the record and nothing after it can
//! be trusted.
//!
//! One difference from Prometheus: its decoder returns all entries of a record or an error,
//! and the watcher then drops the whole record. These decoders stream, so the entries before
//! a corrupt one have already been yielded when the error comes. A caller that wants the
//! all-or-nothing behaviour can validate first on a clone (the iterators are `Clone` and
//! cheap to copy) and decode a second time.

use super::error::{DecodeError, DecodeErrorKind};
use super::histogram::{FloatHistogramsDecoder, HistogramsDecoder};
use super::types::{
    Labels, MetricType, RecordType, RefExemplar, RefMetadata, RefSample, SeriesRef,
};
use super::varint::{Fault, Reader};

/// One decoded WAL record.
#[derive(Debug)]
pub enum Record<'a> {
    Series(SeriesDecoder<'a>),
    /// Types 2 (V1) and 11 (V2, fills `st`).
    Samples(SamplesDecoder<'a>),
    /// Type 3: recognised, not decoded (remote write ignores tombstones).
    Tombstones,
    Exemplars(ExemplarsDecoder<'a>),
    /// Type 5: recognised, not decoded (WBL only).
    MmapMarkers,
    Metadata(MetadataDecoder<'a>),
    /// Types 7, 9 and 12.
    Histograms(HistogramsDecoder<'a>),
    /// Types 8, 10 and 13.
    FloatHistograms(FloatHistogramsDecoder<'a>),
    /// Any other type byte; the caller counts it, as Prometheus's watcher does.
    Unknown(u8),
}

impl Record<'_> {
    /// The type of the record, `None` for [`Record::Unknown`].
    pub fn record_type(&self) -> Option<RecordType> {
        match self {
            Record::Series(_) => Some(RecordType::Series),
            Record::Samples(d) => Some(d.record_type()),
            Record::Tombstones => Some(RecordType::Tombstones),
            Record::Exemplars(_) => Some(RecordType::Exemplars),
            Record::MmapMarkers => Some(RecordType::MmapMarkers),
            Record::Metadata(_) => Some(RecordType::Metadata),
            Record::Histograms(d) => Some(d.record_type()),
            Record::FloatHistograms(d) => Some(d.record_type()),
            Record::Unknown(_) => None,
        }
    }
}

/// Decodes a whole logical record (type byte first, already decompressed).
///
/// Fixed headers (the base ref and base time of V1 samples, exemplars and histograms) are
/// read here, so a record too short for its header fails now; entries are decoded lazily by
/// the returned decoder. A record that is only a type byte yields no entries.
pub fn decode(rec: &[u8]) -> Result<Record<'_>, DecodeError> {
    let Some(&type_byte) = rec.first() else {
        return Err(DecodeError::new(0, 0, DecodeErrorKind::EmptyRecord));
    };
    let Some(rtype) = RecordType::from_byte(type_byte) else {
        return Ok(Record::Unknown(type_byte));
    };
    let mut r = Reader::new(rec, 1);
    Ok(match rtype {
        RecordType::Series => Record::Series(SeriesDecoder { r }),
        RecordType::Samples => {
            let base = read_base(&mut r, type_byte)?;
            Record::Samples(SamplesDecoder::new(r, rtype, base))
        }
        RecordType::SamplesV2 => Record::Samples(SamplesDecoder::new(r, rtype, (0, 0))),
        RecordType::Tombstones => Record::Tombstones,
        RecordType::Exemplars => {
            let (base_ref, base_t) = read_base(&mut r, type_byte)?;
            Record::Exemplars(ExemplarsDecoder {
                r,
                base_ref,
                base_t,
            })
        }
        RecordType::MmapMarkers => Record::MmapMarkers,
        RecordType::Metadata => Record::Metadata(MetadataDecoder { r }),
        RecordType::HistogramSamples | RecordType::CustomBucketsHistogramSamples => {
            let base = read_base(&mut r, type_byte)?;
            Record::Histograms(HistogramsDecoder::new(EntryFraming::v1(r, rtype, base)))
        }
        RecordType::HistogramSamplesV2 => {
            Record::Histograms(HistogramsDecoder::new(EntryFraming::v2(r, rtype)))
        }
        RecordType::FloatHistogramSamples | RecordType::CustomBucketsFloatHistogramSamples => {
            let base = read_base(&mut r, type_byte)?;
            Record::FloatHistograms(FloatHistogramsDecoder::new(EntryFraming::v1(
                r, rtype, base,
            )))
        }
        RecordType::FloatHistogramSamplesV2 => {
            Record::FloatHistograms(FloatHistogramsDecoder::new(EntryFraming::v2(r, rtype)))
        }
    })
}

/// Reads `baseRef:BE64 baseT:BE64` if the record has a payload; `(0, 0)` otherwise (the
/// decoder then yields nothing).
fn read_base(r: &mut Reader<'_>, type_byte: u8) -> Result<(u64, i64), DecodeError> {
    if r.is_empty() {
        return Ok((0, 0));
    }
    let base_ref = r
        .be64()
        .map_err(|f| DecodeError::new(type_byte, r.pos(), f))?;
    let base_t = r
        .be64()
        .map_err(|f| DecodeError::new(type_byte, r.pos(), f))?;
    Ok((base_ref, base_t as i64))
}

/// Reads one label set (FORMATS.md §2.1), checking that every string is in bounds, and
/// returns it borrowed.
pub(crate) fn read_labels<'a>(r: &mut Reader<'a>) -> Result<Labels<'a>, DecodeErrorKind> {
    let count = r.uvarint()?;
    let start = r.pos();
    // Each pair takes at least two bytes (two empty strings).
    let fits = (r.remaining() / 2) as u64;
    if count > fits {
        return Err(DecodeErrorKind::InvalidLabels {
            count,
            pair: fits,
            fault: Fault::UnexpectedEnd {
                need: usize::try_from(count.saturating_mul(2)).unwrap_or(usize::MAX),
                have: r.remaining(),
            }
            .into(),
        });
    }
    for pair in 0..count {
        let res = r.uvarint_bytes().and_then(|_| r.uvarint_bytes());
        if let Err(f) = res {
            return Err(DecodeErrorKind::InvalidLabels {
                count,
                pair,
                fault: f.into(),
            });
        }
    }
    Ok(Labels {
        // INVARIANT: count <= remaining/2, which fits in usize.
        count: count as usize,
        bytes: r.since(start),
    })
}

/// Fuses `r` after an error: the remaining bytes are not looked at again.
fn fail<T>(
    r: &mut Reader<'_>,
    record_type: u8,
    kind: impl Into<DecodeErrorKind>,
) -> Option<Result<T, DecodeError>> {
    let e = DecodeError::new(record_type, r.pos(), kind);
    r.finish();
    Some(Err(e))
}

/// Series (type 1): `[ ref:BE64 labels ]`.
#[derive(Debug, Clone)]
pub struct SeriesDecoder<'a> {
    r: Reader<'a>,
}

impl<'a> SeriesDecoder<'a> {
    fn read(&mut self) -> Result<(SeriesRef, Labels<'a>), DecodeErrorKind> {
        let sref = self.r.be64()?;
        let labels = read_labels(&mut self.r)?;
        Ok((sref, labels))
    }
}

impl<'a> Iterator for SeriesDecoder<'a> {
    type Item = Result<(SeriesRef, Labels<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.r.is_empty() {
            return None;
        }
        match self.read() {
            Ok(v) => Some(Ok(v)),
            Err(k) => fail(&mut self.r, RecordType::Series as u8, k),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // ref (8) + label count (1).
        (0, Some(self.r.remaining().div_ceil(9)))
    }
}

/// Samples V1 (type 2) and V2 (type 11).
///
/// V1: deltas of ref and time against the record's base. V2: the first sample carries
/// absolute ref/t/st; later ones a ref delta against the **previous** sample, a time delta
/// against the **first**, and an st marker (FORMATS.md §2.3).
#[derive(Debug, Clone)]
pub struct SamplesDecoder<'a> {
    r: Reader<'a>,
    v2: bool,
    /// V1: the base ref. V2: the previous sample's ref.
    ref_anchor: u64,
    /// V1: the base time. V2: the first sample's time.
    t_anchor: i64,
    first_st: i64,
    prev_st: i64,
    /// V2: whether the first sample has been read.
    started: bool,
}

impl<'a> SamplesDecoder<'a> {
    fn new(r: Reader<'a>, rtype: RecordType, (ref_anchor, t_anchor): (u64, i64)) -> Self {
        SamplesDecoder {
            r,
            v2: rtype == RecordType::SamplesV2,
            ref_anchor,
            t_anchor,
            first_st: 0,
            prev_st: 0,
            started: false,
        }
    }

    /// `Samples` or `SamplesV2`.
    pub fn record_type(&self) -> RecordType {
        if self.v2 {
            RecordType::SamplesV2
        } else {
            RecordType::Samples
        }
    }

    #[inline(always)]
    fn read_v1(&mut self) -> Result<RefSample, Fault> {
        let dref = self.r.varint()?;
        let dt = self.r.varint()?;
        let v = self.r.be64()?;
        Ok(RefSample {
            sref: (self.ref_anchor as i64).wrapping_add(dref) as u64,
            t: self.t_anchor.wrapping_add(dt),
            st: 0,
            v: f64::from_bits(v),
        })
    }

    #[inline(always)]
    fn read_v2(&mut self) -> Result<RefSample, Fault> {
        let (sref, t, st);
        if self.started {
            sref = (self.ref_anchor as i64).wrapping_add(self.r.varint()?) as u64;
            t = self.t_anchor.wrapping_add(self.r.varint()?);
            st = read_st_marker(&mut self.r, self.prev_st, self.first_st)?;
        } else {
            sref = self.r.varint()? as u64;
            t = self.r.varint()?;
            st = self.r.varint()?;
            self.t_anchor = t;
            self.first_st = st;
            self.started = true;
        }
        let v = self.r.be64()?;
        self.ref_anchor = sref;
        self.prev_st = st;
        Ok(RefSample {
            sref,
            t,
            st,
            v: f64::from_bits(v),
        })
    }
}

/// V2 start-timestamp marker: 0 = none, 1 = same as the previous entry, anything else =
/// explicit delta against the first entry's st (Prometheus `readSTMarker`).
#[inline(always)]
pub(crate) fn read_st_marker(
    r: &mut Reader<'_>,
    prev_st: i64,
    first_st: i64,
) -> Result<i64, Fault> {
    match r.byte()? {
        0 => Ok(0),
        1 => Ok(prev_st),
        _ => Ok(first_st.wrapping_add(r.varint()?)),
    }
}

impl Iterator for SamplesDecoder<'_> {
    type Item = Result<RefSample, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.r.is_empty() {
            return None;
        }
        let res = if self.v2 {
            self.read_v2()
        } else {
            self.read_v1()
        };
        match res {
            Ok(s) => Some(Ok(s)),
            Err(f) => {
                let rtype = self.record_type() as u8;
                fail(&mut self.r, rtype, f)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Two one-byte varints and the value.
        (0, Some(self.r.remaining().div_ceil(10)))
    }
}

/// Exemplars (type 4): `[ dRef:varint dT:varint value:BE64 labels ]` against the base.
#[derive(Debug, Clone)]
pub struct ExemplarsDecoder<'a> {
    r: Reader<'a>,
    base_ref: u64,
    base_t: i64,
}

impl<'a> ExemplarsDecoder<'a> {
    fn read(&mut self) -> Result<RefExemplar<'a>, DecodeErrorKind> {
        let dref = self.r.varint()?;
        let dt = self.r.varint()?;
        let v = self.r.be64()?;
        let labels = read_labels(&mut self.r)?;
        Ok(RefExemplar {
            sref: self.base_ref.wrapping_add(dref as u64),
            t: self.base_t.wrapping_add(dt),
            v: f64::from_bits(v),
            labels,
        })
    }
}

impl<'a> Iterator for ExemplarsDecoder<'a> {
    type Item = Result<RefExemplar<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.r.is_empty() {
            return None;
        }
        match self.read() {
            Ok(v) => Some(Ok(v)),
            Err(k) => fail(&mut self.r, RecordType::Exemplars as u8, k),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.r.remaining().div_ceil(11)))
    }
}

/// Metadata (type 6): `[ ref:uvarint type:byte n:uvarint n × (name, value) ]`. Only the
/// `UNIT` and `HELP` fields are kept (the last one wins if repeated); others are skipped.
#[derive(Debug, Clone)]
pub struct MetadataDecoder<'a> {
    r: Reader<'a>,
}

impl<'a> MetadataDecoder<'a> {
    fn read(&mut self) -> Result<RefMetadata<'a>, DecodeErrorKind> {
        let sref = self.r.uvarint()?;
        let mtype = MetricType::from_byte(self.r.byte()?);
        let n = self.r.uvarint()?;
        let n = self.r.check_count(n, 2)?;
        let (mut unit, mut help): (&[u8], &[u8]) = (b"", b"");
        for _ in 0..n {
            let name = self.r.uvarint_bytes()?;
            let value = self.r.uvarint_bytes()?;
            match name {
                b"UNIT" => unit = value,
                b"HELP" => help = value,
                _ => {}
            }
        }
        Ok(RefMetadata {
            sref,
            mtype,
            unit,
            help,
        })
    }
}

impl<'a> Iterator for MetadataDecoder<'a> {
    type Item = Result<RefMetadata<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.r.is_empty() {
            return None;
        }
        match self.read() {
            Ok(v) => Some(Ok(v)),
            Err(k) => fail(&mut self.r, RecordType::Metadata as u8, k),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.r.remaining().div_ceil(3)))
    }
}

/// Entry framing shared by the integer and float histogram decoders: V1 deltas against a
/// base, or V2 deltas against the previous (ref) and first (time, st) entries.
#[derive(Debug, Clone)]
pub(crate) struct EntryFraming<'a> {
    pub(crate) r: Reader<'a>,
    pub(crate) rtype: RecordType,
    v2: bool,
    ref_anchor: u64,
    t_anchor: i64,
    first_st: i64,
    prev_st: i64,
    started: bool,
}

/// Ref and timestamps of one histogram entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramHeader {
    pub sref: SeriesRef,
    pub t: i64,
    /// Start timestamp (V2 records only; 0 otherwise).
    pub st: i64,
}

impl<'a> EntryFraming<'a> {
    fn v1(r: Reader<'a>, rtype: RecordType, (base_ref, base_t): (u64, i64)) -> Self {
        EntryFraming {
            r,
            rtype,
            v2: false,
            ref_anchor: base_ref,
            t_anchor: base_t,
            first_st: 0,
            prev_st: 0,
            started: false,
        }
    }

    fn v2(r: Reader<'a>, rtype: RecordType) -> Self {
        EntryFraming {
            v2: true,
            ..EntryFraming::v1(r, rtype, (0, 0))
        }
    }

    /// Reads the ref/time part of the next entry; the body follows.
    pub(crate) fn read_header(&mut self) -> Result<HistogramHeader, DecodeErrorKind> {
        if !self.v2 {
            let dref = self.r.varint()?;
            let dt = self.r.varint()?;
            return Ok(HistogramHeader {
                sref: self.ref_anchor.wrapping_add(dref as u64),
                t: self.t_anchor.wrapping_add(dt),
                st: 0,
            });
        }
        let hdr = if self.started {
            let sref = (self.ref_anchor as i64).wrapping_add(self.r.varint()?) as u64;
            let t = self.t_anchor.wrapping_add(self.r.varint()?);
            let st = read_st_marker(&mut self.r, self.prev_st, self.first_st)?;
            HistogramHeader { sref, t, st }
        } else {
            let sref = self.r.varint()? as u64;
            let t = self.r.varint()?;
            let st = self.r.varint()?;
            if self.r.is_empty() {
                return Err(DecodeErrorKind::MissingHistogramBody);
            }
            self.t_anchor = t;
            self.first_st = st;
            self.started = true;
            HistogramHeader { sref, t, st }
        };
        // Skipped (unknown-schema) entries still count as "previous", as in Prometheus.
        self.ref_anchor = hdr.sref;
        self.prev_st = hdr.st;
        Ok(hdr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::types::{NORMAL_NAN_BITS, STALE_NAN_BITS};

    /// Builds records by hand, independent of encode.rs.
    #[derive(Default)]
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
        fn s(self, s: &str) -> Self {
            let mut b = self.uv(s.len() as u64);
            b.0.extend_from_slice(s.as_bytes());
            b
        }
        fn labels(self, l: &[(&str, &str)]) -> Self {
            let mut b = self.uv(l.len() as u64);
            for (n, v) in l {
                b = b.s(n).s(v);
            }
            b
        }
    }

    fn samples(rec: &[u8]) -> Result<Vec<RefSample>, DecodeError> {
        match decode(rec)? {
            Record::Samples(d) => d.collect(),
            other => panic!("not samples: {other:?}"),
        }
    }

    fn bits(s: &[RefSample]) -> Vec<(u64, i64, i64, u64)> {
        s.iter()
            .map(|s| (s.sref, s.t, s.st, s.v.to_bits()))
            .collect()
    }

    #[test]
    fn empty_input_is_an_error() {
        let e = decode(&[]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::EmptyRecord);
    }

    #[test]
    fn type_byte_only_records_are_empty() {
        for t in [2u8, 4, 7, 8, 9, 10, 11, 12, 13, 1, 6] {
            let buf = [t];
            let rec = decode(&buf).unwrap();
            assert_eq!(rec.record_type().map(|r| r as u8), Some(t));
            let n = match rec {
                Record::Series(d) => d.count(),
                Record::Samples(d) => d.count(),
                Record::Exemplars(d) => d.count(),
                Record::Metadata(d) => d.count(),
                Record::Histograms(mut d) => {
                    let mut h = Default::default();
                    usize::from(d.next_into(&mut h).unwrap().is_some())
                }
                Record::FloatHistograms(mut d) => {
                    let mut h = Default::default();
                    usize::from(d.next_into(&mut h).unwrap().is_some())
                }
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(n, 0, "type {t}");
        }
    }

    #[test]
    fn tombstones_mmap_markers_and_unknown_types_are_recognised() {
        let tomb = B::t(3).be64(5).v(0).v(100).0;
        assert!(matches!(decode(&tomb).unwrap(), Record::Tombstones));
        assert!(matches!(decode(&[5, 1, 2]).unwrap(), Record::MmapMarkers));
        for t in [0u8, 14, 99, 255] {
            let buf = [t, 1, 2, 3];
            let rec = decode(&buf).unwrap();
            assert!(matches!(rec, Record::Unknown(b) if b == t));
            assert_eq!(rec.record_type(), None);
        }
    }

    #[test]
    fn samples_v1_negative_deltas_and_nan_bits() {
        let rec = B::t(2)
            .be64(1000)
            .be64(5_000i64 as u64)
            .v(0)
            .v(0)
            .be64(1.5f64.to_bits())
            .v(-3)
            .v(-10)
            .be64(STALE_NAN_BITS)
            .v(7)
            .v(2)
            .be64(NORMAL_NAN_BITS)
            .0;
        let got = samples(&rec).unwrap();
        assert_eq!(
            bits(&got),
            vec![
                (1000, 5000, 0, 1.5f64.to_bits()),
                (997, 4990, 0, STALE_NAN_BITS),
                (1007, 5002, 0, NORMAL_NAN_BITS),
            ]
        );
    }

    #[test]
    fn samples_v1_header_too_short_fails_in_decode() {
        let rec = B::t(2).be64(1).byte(0).0;
        let e = decode(&rec).unwrap_err();
        assert_eq!(e.record_type, 2);
        assert_eq!(e.offset, 9);
        assert_eq!(e.kind, DecodeErrorKind::UnexpectedEnd { need: 8, have: 1 });
    }

    #[test]
    fn samples_v2_ref_vs_previous_time_vs_first_and_st_markers() {
        let rec = B::t(11)
            // first: ref 100, t 1000, st 900
            .v(100)
            .v(1000)
            .v(900)
            .be64(1.0f64.to_bits())
            // ref 100+5 = 105 (vs previous), t 1000+15 (vs first), sameST -> 900
            .v(5)
            .v(15)
            .byte(1)
            .be64(2.0f64.to_bits())
            // ref 105-2 = 103, t 1000+30, noST -> 0
            .v(-2)
            .v(30)
            .byte(0)
            .be64(STALE_NAN_BITS)
            // ref 103+1 = 104, t 1000-5, explicit st 900+50
            .v(1)
            .v(-5)
            .byte(2)
            .v(50)
            .be64(3.0f64.to_bits())
            // sameST after explicit -> 950 (previous, not first)
            .v(0)
            .v(40)
            .byte(1)
            .be64(4.0f64.to_bits())
            // any marker other than 0/1 is explicit
            .v(0)
            .v(41)
            .byte(7)
            .v(-900)
            .be64(5.0f64.to_bits())
            .0;
        let got = samples(&rec).unwrap();
        assert_eq!(
            bits(&got),
            vec![
                (100, 1000, 900, 1.0f64.to_bits()),
                (105, 1015, 900, 2.0f64.to_bits()),
                (103, 1030, 0, STALE_NAN_BITS),
                (104, 995, 950, 3.0f64.to_bits()),
                (104, 1040, 950, 4.0f64.to_bits()),
                (104, 1041, 0, 5.0f64.to_bits()),
            ]
        );
    }

    #[test]
    fn samples_iterator_is_fused_after_error() {
        // One good sample, then a truncated one.
        let rec = B::t(2)
            .be64(1)
            .be64(1)
            .v(0)
            .v(0)
            .be64(0)
            .v(1)
            .v(1)
            .byte(0)
            .0;
        let mut d = match decode(&rec).unwrap() {
            Record::Samples(d) => d,
            _ => unreachable!(),
        };
        assert!(d.next().unwrap().is_ok());
        let e = d.next().unwrap().unwrap_err();
        assert_eq!(e.offset, 29);
        assert!(matches!(
            e.kind,
            DecodeErrorKind::UnexpectedEnd { need: 8, have: 1 }
        ));
        assert!(d.next().is_none());
        assert!(d.next().is_none());
    }

    #[test]
    fn series_labels_are_borrowed_and_validated() {
        let rec = B::t(1)
            .be64(7)
            .labels(&[("__name__", "up"), ("job", "a")])
            .be64(u64::MAX)
            .labels(&[])
            .0;
        let got: Vec<_> = match decode(&rec).unwrap() {
            Record::Series(d) => d.collect::<Result<_, _>>().unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, 7);
        let pairs: Vec<_> = got[0].1.iter().collect();
        assert_eq!(
            pairs,
            vec![(&b"__name__"[..], &b"up"[..]), (&b"job"[..], &b"a"[..])]
        );
        assert_eq!(got[0].1.get(b"job"), Some(&b"a"[..]));
        assert_eq!(got[1].0, u64::MAX);
        assert!(got[1].1.is_empty());
    }

    #[test]
    fn series_label_string_out_of_bounds_is_invalid_labels() {
        // Second label value claims 9 bytes, only 2 follow.
        let mut rec = B::t(1).be64(7).uv(2).s("a").s("b").s("c").uv(9).0;
        rec.extend_from_slice(b"xy");
        let mut d = match decode(&rec).unwrap() {
            Record::Series(d) => d,
            _ => unreachable!(),
        };
        let e = d.next().unwrap().unwrap_err();
        assert_eq!(e.offset, rec.len() - 3);
        assert_eq!(
            e.kind,
            DecodeErrorKind::InvalidLabels {
                count: 2,
                pair: 1,
                fault: crate::record::error::PrimitiveFault::UnexpectedEnd { need: 9, have: 2 }
            }
        );
        assert!(d.next().is_none());
    }

    #[test]
    fn series_label_count_beyond_record_is_invalid_labels() {
        let rec = B::t(1).be64(7).uv(1_000_000).s("a").s("b").0;
        let e = match decode(&rec).unwrap() {
            Record::Series(mut d) => d.next().unwrap().unwrap_err(),
            _ => unreachable!(),
        };
        assert!(matches!(
            e.kind,
            DecodeErrorKind::InvalidLabels {
                count: 1_000_000,
                ..
            }
        ));
    }

    #[test]
    fn exemplars_deltas_and_labels() {
        let rec = B::t(4)
            .be64(50)
            .be64(10_000)
            .v(0)
            .v(0)
            .be64(0.25f64.to_bits())
            .labels(&[("trace_id", "abc")])
            .v(-1)
            .v(-100)
            .be64(STALE_NAN_BITS)
            .labels(&[])
            .0;
        let got: Vec<_> = match decode(&rec).unwrap() {
            Record::Exemplars(d) => d.collect::<Result<_, _>>().unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].sref, got[0].t, got[0].v.to_bits()),
            (50, 10_000, 0.25f64.to_bits())
        );
        assert_eq!(got[0].labels.get(b"trace_id"), Some(&b"abc"[..]));
        assert_eq!(
            (got[1].sref, got[1].t, got[1].v.to_bits()),
            (49, 9_900, STALE_NAN_BITS)
        );
        assert!(got[1].labels.is_empty());
    }

    #[test]
    fn metadata_skips_unknown_fields_and_keeps_unit_help() {
        let rec = B::t(6)
            .uv(300)
            .byte(1)
            .uv(4)
            .s("UNIT")
            .s("seconds")
            .s("FUTURE")
            .s("x")
            .s("HELP")
            .s("Request latency.")
            .s("ALSO_NEW")
            .s("")
            .uv(2)
            .byte(42) // unknown type byte
            .uv(0)
            .0;
        let got: Vec<_> = match decode(&rec).unwrap() {
            Record::Metadata(d) => d.collect::<Result<_, _>>().unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(
            got,
            vec![
                RefMetadata {
                    sref: 300,
                    mtype: MetricType::Counter,
                    unit: b"seconds",
                    help: b"Request latency.",
                },
                RefMetadata {
                    sref: 2,
                    mtype: MetricType::Unknown,
                    unit: b"",
                    help: b"",
                },
            ]
        );
    }

    #[test]
    fn truncated_varint_in_samples_reports_its_offset() {
        let rec = B::t(2).be64(1).be64(1).byte(0x80).0;
        let e = match decode(&rec).unwrap() {
            Record::Samples(mut d) => d.next().unwrap().unwrap_err(),
            _ => unreachable!(),
        };
        assert_eq!((e.offset, e.kind), (17, DecodeErrorKind::TruncatedVarint));
    }
}
