//! An owned, fully decoded form of a record, for tests, fuzzing and diagnostics (for
//! example a record dump command). It allocates per entry, so the pipeline does not use
//! it; the borrowed decoders in [`super::decode`] are the hot path.

use super::decode::{decode, HistogramHeader, Record};
use super::encode;
use super::error::DecodeError;
use super::types::{FloatHistogram, Histogram, MetricType, RecordType, RefSample, SeriesRef, Span};

/// An owned label set, pairs in record order.
pub type OwnedLabels = Vec<(Vec<u8>, Vec<u8>)>;

/// An exemplar with owned labels.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedExemplar {
    pub sref: SeriesRef,
    pub t: i64,
    pub v: f64,
    pub labels: OwnedLabels,
}

/// A metadata entry with owned strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMetadata {
    pub sref: SeriesRef,
    pub mtype: MetricType,
    pub unit: Vec<u8>,
    pub help: Vec<u8>,
}

/// A whole decoded record.
#[derive(Debug, Clone)]
pub enum OwnedRecord {
    Series(Vec<(SeriesRef, OwnedLabels)>),
    Samples {
        record_type: RecordType,
        samples: Vec<RefSample>,
    },
    /// Not decoded: the raw record.
    Tombstones(Vec<u8>),
    Exemplars(Vec<OwnedExemplar>),
    /// Not decoded: the raw record.
    MmapMarkers(Vec<u8>),
    Metadata(Vec<OwnedMetadata>),
    Histograms {
        record_type: RecordType,
        histograms: Vec<(HistogramHeader, Histogram)>,
        skipped_unknown_schema: u64,
    },
    FloatHistograms {
        record_type: RecordType,
        histograms: Vec<(HistogramHeader, FloatHistogram)>,
        skipped_unknown_schema: u64,
    },
    /// The raw record of an unknown type.
    Unknown(Vec<u8>),
}

fn owned_labels(l: super::types::Labels<'_>) -> OwnedLabels {
    l.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
}

impl OwnedRecord {
    /// Decodes all entries of `rec`; fails on the first error.
    pub fn decode(rec: &[u8]) -> Result<OwnedRecord, DecodeError> {
        Ok(match decode(rec)? {
            Record::Series(d) => OwnedRecord::Series(
                d.map(|r| r.map(|(s, l)| (s, owned_labels(l))))
                    .collect::<Result<_, _>>()?,
            ),
            Record::Samples(d) => OwnedRecord::Samples {
                record_type: d.record_type(),
                samples: d.collect::<Result<_, _>>()?,
            },
            Record::Tombstones => OwnedRecord::Tombstones(rec.to_vec()),
            Record::Exemplars(d) => OwnedRecord::Exemplars(
                d.map(|r| {
                    r.map(|e| OwnedExemplar {
                        sref: e.sref,
                        t: e.t,
                        v: e.v,
                        labels: owned_labels(e.labels),
                    })
                })
                .collect::<Result<_, _>>()?,
            ),
            Record::MmapMarkers => OwnedRecord::MmapMarkers(rec.to_vec()),
            Record::Metadata(d) => OwnedRecord::Metadata(
                d.map(|r| {
                    r.map(|m| OwnedMetadata {
                        sref: m.sref,
                        mtype: m.mtype,
                        unit: m.unit.to_vec(),
                        help: m.help.to_vec(),
                    })
                })
                .collect::<Result<_, _>>()?,
            ),
            Record::Histograms(mut d) => {
                let mut histograms = Vec::new();
                let mut h = Histogram::default();
                while let Some(hdr) = d.next_into(&mut h)? {
                    histograms.push((hdr, h.clone()));
                }
                OwnedRecord::Histograms {
                    record_type: d.record_type(),
                    histograms,
                    skipped_unknown_schema: d.skipped_unknown_schema(),
                }
            }
            Record::FloatHistograms(mut d) => {
                let mut histograms = Vec::new();
                let mut h = FloatHistogram::default();
                while let Some(hdr) = d.next_into(&mut h)? {
                    histograms.push((hdr, h.clone()));
                }
                OwnedRecord::FloatHistograms {
                    record_type: d.record_type(),
                    histograms,
                    skipped_unknown_schema: d.skipped_unknown_schema(),
                }
            }
            Record::Unknown(_) => OwnedRecord::Unknown(rec.to_vec()),
        })
    }

    /// Number of decoded entries (0 for raw records).
    pub fn len(&self) -> usize {
        match self {
            OwnedRecord::Series(v) => v.len(),
            OwnedRecord::Samples { samples, .. } => samples.len(),
            OwnedRecord::Exemplars(v) => v.len(),
            OwnedRecord::Metadata(v) => v.len(),
            OwnedRecord::Histograms { histograms, .. } => histograms.len(),
            OwnedRecord::FloatHistograms { histograms, .. } => histograms.len(),
            OwnedRecord::Tombstones(_) | OwnedRecord::MmapMarkers(_) | OwnedRecord::Unknown(_) => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the record as Prometheus's encoder would write these values (same record
    /// type; raw records are copied). Skipped histograms are not written.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            OwnedRecord::Series(v) => encode::series(out, v.iter().map(|(s, l)| (*s, l))),
            OwnedRecord::Samples {
                record_type,
                samples,
            } => {
                if *record_type == RecordType::SamplesV2 {
                    encode::samples_v2(out, samples)
                } else {
                    encode::samples_v1(out, samples)
                }
            }
            OwnedRecord::Exemplars(v) => {
                encode::exemplars(out, v.iter().map(|e| (e.sref, e.t, e.v, &e.labels)))
            }
            OwnedRecord::Metadata(v) => {
                let refs: Vec<_> = v
                    .iter()
                    .map(|m| super::types::RefMetadata {
                        sref: m.sref,
                        mtype: m.mtype,
                        unit: &m.unit,
                        help: &m.help,
                    })
                    .collect();
                encode::metadata(out, &refs)
            }
            OwnedRecord::Histograms {
                record_type,
                histograms,
                ..
            } => {
                let items: Vec<_> = histograms
                    .iter()
                    .map(|(hdr, h)| encode::HistogramSample {
                        sref: hdr.sref,
                        t: hdr.t,
                        st: hdr.st,
                        h,
                    })
                    .collect();
                match record_type {
                    RecordType::HistogramSamplesV2 => encode::histogram_samples_v2(out, &items),
                    rt => encode::histogram_samples_v1(
                        out,
                        *rt == RecordType::CustomBucketsHistogramSamples,
                        &items,
                    ),
                }
            }
            OwnedRecord::FloatHistograms {
                record_type,
                histograms,
                ..
            } => {
                let items: Vec<_> = histograms
                    .iter()
                    .map(|(hdr, h)| encode::FloatHistogramSample {
                        sref: hdr.sref,
                        t: hdr.t,
                        st: hdr.st,
                        h,
                    })
                    .collect();
                match record_type {
                    RecordType::FloatHistogramSamplesV2 => {
                        encode::float_histogram_samples_v2(out, &items)
                    }
                    rt => encode::float_histogram_samples_v1(
                        out,
                        *rt == RecordType::CustomBucketsFloatHistogramSamples,
                        &items,
                    ),
                }
            }
            OwnedRecord::Tombstones(raw)
            | OwnedRecord::MmapMarkers(raw)
            | OwnedRecord::Unknown(raw) => out.extend_from_slice(raw),
        }
    }

    /// Equality with floats compared by their bits (so NaN payloads such as StaleNaN count),
    /// ignoring the skipped-histogram counters.
    pub fn same_bits(&self, other: &OwnedRecord) -> bool {
        use OwnedRecord as O;
        match (self, other) {
            (O::Series(a), O::Series(b)) => a == b,
            (
                O::Samples {
                    record_type: ta,
                    samples: a,
                },
                O::Samples {
                    record_type: tb,
                    samples: b,
                },
            ) => ta == tb && eq_by(a, b, sample_eq),
            (O::Exemplars(a), O::Exemplars(b)) => eq_by(a, b, |x, y| {
                (x.sref, x.t, x.v.to_bits(), &x.labels) == (y.sref, y.t, y.v.to_bits(), &y.labels)
            }),
            (O::Metadata(a), O::Metadata(b)) => a == b,
            (
                O::Histograms {
                    record_type: ta,
                    histograms: a,
                    ..
                },
                O::Histograms {
                    record_type: tb,
                    histograms: b,
                    ..
                },
            ) => ta == tb && eq_by(a, b, |x, y| x.0 == y.0 && histogram_eq(&x.1, &y.1)),
            (
                O::FloatHistograms {
                    record_type: ta,
                    histograms: a,
                    ..
                },
                O::FloatHistograms {
                    record_type: tb,
                    histograms: b,
                    ..
                },
            ) => ta == tb && eq_by(a, b, |x, y| x.0 == y.0 && float_histogram_eq(&x.1, &y.1)),
            (O::Tombstones(a), O::Tombstones(b))
            | (O::MmapMarkers(a), O::MmapMarkers(b))
            | (O::Unknown(a), O::Unknown(b)) => a == b,
            _ => false,
        }
    }
}

fn eq_by<T>(a: &[T], b: &[T], f: impl Fn(&T, &T) -> bool) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| f(x, y))
}

/// Sample equality with the value compared by bits.
pub fn sample_eq(a: &RefSample, b: &RefSample) -> bool {
    (a.sref, a.t, a.st, a.v.to_bits()) == (b.sref, b.t, b.st, b.v.to_bits())
}

fn f64s_eq(a: &[f64], b: &[f64]) -> bool {
    eq_by(a, b, |x, y| x.to_bits() == y.to_bits())
}

fn spans_eq(a: &[Span], b: &[Span]) -> bool {
    a == b
}

/// Integer histogram equality with floats compared by bits.
pub fn histogram_eq(a: &Histogram, b: &Histogram) -> bool {
    a.reset_hint == b.reset_hint
        && a.schema == b.schema
        && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
        && a.zero_count == b.zero_count
        && a.count == b.count
        && a.sum.to_bits() == b.sum.to_bits()
        && spans_eq(&a.positive_spans, &b.positive_spans)
        && spans_eq(&a.negative_spans, &b.negative_spans)
        && a.positive_deltas == b.positive_deltas
        && a.negative_deltas == b.negative_deltas
        && f64s_eq(&a.custom_values, &b.custom_values)
}

/// Float histogram equality with floats compared by bits.
pub fn float_histogram_eq(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    a.reset_hint == b.reset_hint
        && a.schema == b.schema
        && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
        && a.zero_count.to_bits() == b.zero_count.to_bits()
        && a.count.to_bits() == b.count.to_bits()
        && a.sum.to_bits() == b.sum.to_bits()
        && spans_eq(&a.positive_spans, &b.positive_spans)
        && spans_eq(&a.negative_spans, &b.negative_spans)
        && f64s_eq(&a.positive_counts, &b.positive_counts)
        && f64s_eq(&a.negative_counts, &b.negative_counts)
        && f64s_eq(&a.custom_values, &b.custom_values)
}
