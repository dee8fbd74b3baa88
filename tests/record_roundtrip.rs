//! Property tests of the record codec (FORMATS.md §2): encode → decode round trips for every
//! record type, re-encoding stability, and robustness against truncated and over-long
//! records.

use proptest::prelude::*;
use ringwrite::record::encode::{self, FloatHistogramSample, HistogramSample};
use ringwrite::record::owned::{OwnedExemplar, OwnedLabels, OwnedMetadata, OwnedRecord};
use ringwrite::record::{
    decode, FloatHistogram, Histogram, HistogramHeader, MetricType, Record, RecordType,
    RefMetadata, RefSample, ResetHint, Span, CUSTOM_BUCKETS_SCHEMA,
};

fn labels() -> impl Strategy<Value = OwnedLabels> {
    prop::collection::vec(
        (
            prop::collection::vec(any::<u8>(), 0..10),
            prop::collection::vec(any::<u8>(), 0..14),
        ),
        0..5,
    )
}

/// Any f64 bit pattern, with NaN payloads (StaleNaN included) well represented.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        Just(f64::from_bits(0x7ff8_0000_0000_0001)),
        Just(-0.0),
        (-1e6f64..1e6),
    ]
}

/// Refs and timestamps: mostly close together (small deltas), sometimes anything (to
/// exercise wrapping deltas).
fn ref_t() -> impl Strategy<Value = (u64, i64)> {
    prop_oneof![
        3 => (1_000u64..1_100, 1_700_000_000_000i64..1_700_000_100_000),
        1 => (any::<u64>(), any::<i64>()),
    ]
}

/// Start timestamps the way V2 records use them: none, same as the previous entry, or new.
fn st_choices(n: usize) -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec((0u8..3, any::<i64>()), n).prop_map(|v| {
        let mut prev = 0;
        v.into_iter()
            .map(|(c, x)| {
                let st = match c {
                    0 => 0,
                    1 => prev,
                    _ => x,
                };
                prev = st;
                st
            })
            .collect()
    })
}

fn samples(v2: bool) -> impl Strategy<Value = Vec<RefSample>> {
    prop::collection::vec((ref_t(), float()), 0..40).prop_flat_map(move |v| {
        let n = v.len();
        (Just(v), st_choices(n)).prop_map(move |(v, sts)| {
            v.into_iter()
                .zip(sts)
                .map(|(((sref, t), v), st)| RefSample {
                    sref,
                    t,
                    st: if v2 { st } else { 0 },
                    v,
                })
                .collect()
        })
    })
}

fn reset_hint() -> impl Strategy<Value = ResetHint> {
    prop_oneof![
        Just(ResetHint::Unknown),
        Just(ResetHint::Yes),
        Just(ResetHint::No),
        Just(ResetHint::Gauge),
    ]
}

/// Schemas that decode unchanged: -53 (custom buckets) or -9..=8.
fn schema() -> impl Strategy<Value = i32> {
    prop_oneof![Just(CUSTOM_BUCKETS_SCHEMA), -9i32..=8]
}

fn spans() -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec(
        (any::<i32>(), any::<u32>()).prop_map(|(offset, length)| Span { offset, length }),
        0..4,
    )
}

fn histogram() -> impl Strategy<Value = Histogram> {
    (
        (
            reset_hint(),
            schema(),
            float(),
            any::<u64>(),
            any::<u64>(),
            float(),
        ),
        (spans(), spans()),
        (
            prop::collection::vec(any::<i64>(), 0..6),
            prop::collection::vec(any::<i64>(), 0..6),
            prop::collection::vec(float(), 0..5),
        ),
    )
        .prop_map(
            |((reset_hint, schema, zt, zc, count, sum), (ps, ns), (pd, nd, cv))| Histogram {
                reset_hint,
                schema,
                zero_threshold: zt,
                zero_count: zc,
                count,
                sum,
                positive_spans: ps,
                negative_spans: ns,
                positive_deltas: pd,
                negative_deltas: nd,
                custom_values: if schema == CUSTOM_BUCKETS_SCHEMA {
                    cv
                } else {
                    Vec::new()
                },
            },
        )
}

fn float_histogram() -> impl Strategy<Value = FloatHistogram> {
    (
        (reset_hint(), schema(), float(), float(), float(), float()),
        (spans(), spans()),
        (
            prop::collection::vec(float(), 0..6),
            prop::collection::vec(float(), 0..6),
            prop::collection::vec(float(), 0..5),
        ),
    )
        .prop_map(
            |((reset_hint, schema, zt, zc, count, sum), (ps, ns), (pc, nc, cv))| FloatHistogram {
                reset_hint,
                schema,
                zero_threshold: zt,
                zero_count: zc,
                count,
                sum,
                positive_spans: ps,
                negative_spans: ns,
                positive_counts: pc,
                negative_counts: nc,
                custom_values: if schema == CUSTOM_BUCKETS_SCHEMA {
                    cv
                } else {
                    Vec::new()
                },
            },
        )
}

fn headers(v2: bool, n: usize) -> impl Strategy<Value = Vec<HistogramHeader>> {
    (prop::collection::vec(ref_t(), n), st_choices(n)).prop_map(move |(rt, sts)| {
        rt.into_iter()
            .zip(sts)
            .map(|((sref, t), st)| HistogramHeader {
                sref,
                t,
                st: if v2 { st } else { 0 },
            })
            .collect()
    })
}

fn metric_type() -> impl Strategy<Value = MetricType> {
    (0u8..8).prop_map(MetricType::from_byte)
}

/// Every record type with the values it was built from, as an [`OwnedRecord`].
fn any_record() -> impl Strategy<Value = OwnedRecord> {
    prop_oneof![
        prop::collection::vec((any::<u64>(), labels()), 0..6).prop_map(OwnedRecord::Series),
        samples(false).prop_map(|samples| OwnedRecord::Samples {
            record_type: RecordType::Samples,
            samples
        }),
        samples(true).prop_map(|samples| OwnedRecord::Samples {
            record_type: RecordType::SamplesV2,
            samples
        }),
        prop::collection::vec((ref_t(), float(), labels()), 0..6).prop_map(|v| {
            OwnedRecord::Exemplars(
                v.into_iter()
                    .map(|((sref, t), v, labels)| OwnedExemplar { sref, t, v, labels })
                    .collect(),
            )
        }),
        prop::collection::vec(
            (
                any::<u64>(),
                metric_type(),
                prop::collection::vec(any::<u8>(), 0..8),
                prop::collection::vec(any::<u8>(), 0..30)
            ),
            0..6
        )
        .prop_map(|v| OwnedRecord::Metadata(
            v.into_iter()
                .map(|(sref, mtype, unit, help)| OwnedMetadata {
                    sref,
                    mtype,
                    unit,
                    help
                })
                .collect()
        )),
        (
            prop_oneof![
                Just(RecordType::HistogramSamples),
                Just(RecordType::CustomBucketsHistogramSamples),
                Just(RecordType::HistogramSamplesV2)
            ],
            prop::collection::vec(histogram(), 0..5)
        )
            .prop_flat_map(|(rt, hs)| {
                let n = hs.len();
                (
                    Just(rt),
                    Just(hs),
                    headers(rt == RecordType::HistogramSamplesV2, n),
                )
            })
            .prop_map(|(record_type, hs, hdrs)| OwnedRecord::Histograms {
                record_type,
                histograms: hdrs.into_iter().zip(hs).collect(),
                skipped_unknown_schema: 0,
            }),
        (
            prop_oneof![
                Just(RecordType::FloatHistogramSamples),
                Just(RecordType::CustomBucketsFloatHistogramSamples),
                Just(RecordType::FloatHistogramSamplesV2)
            ],
            prop::collection::vec(float_histogram(), 0..5)
        )
            .prop_flat_map(|(rt, hs)| {
                let n = hs.len();
                (
                    Just(rt),
                    Just(hs),
                    headers(rt == RecordType::FloatHistogramSamplesV2, n),
                )
            })
            .prop_map(|(record_type, hs, hdrs)| OwnedRecord::FloatHistograms {
                record_type,
                histograms: hdrs.into_iter().zip(hs).collect(),
                skipped_unknown_schema: 0,
            }),
    ]
}

fn encoded(r: &OwnedRecord) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(&mut out);
    out
}

/// Entries of `got` are the first entries of `want`, bit for bit.
fn is_strict_prefix(got: &OwnedRecord, want: &OwnedRecord) -> bool {
    // Re-encode the first got.len() entries of `want` and compare decoded values.
    let n = got.len();
    if n >= want.len() {
        return false;
    }
    let truncated = match want.clone() {
        OwnedRecord::Series(mut v) => {
            v.truncate(n);
            OwnedRecord::Series(v)
        }
        OwnedRecord::Samples {
            record_type,
            mut samples,
        } => {
            samples.truncate(n);
            OwnedRecord::Samples {
                record_type,
                samples,
            }
        }
        OwnedRecord::Exemplars(mut v) => {
            v.truncate(n);
            OwnedRecord::Exemplars(v)
        }
        OwnedRecord::Metadata(mut v) => {
            v.truncate(n);
            OwnedRecord::Metadata(v)
        }
        OwnedRecord::Histograms {
            record_type,
            mut histograms,
            skipped_unknown_schema,
        } => {
            histograms.truncate(n);
            OwnedRecord::Histograms {
                record_type,
                histograms,
                skipped_unknown_schema,
            }
        }
        OwnedRecord::FloatHistograms {
            record_type,
            mut histograms,
            skipped_unknown_schema,
        } => {
            histograms.truncate(n);
            OwnedRecord::FloatHistograms {
                record_type,
                histograms,
                skipped_unknown_schema,
            }
        }
        other => other,
    };
    got.same_bits(&truncated)
}

/// Whether the record type starts with `baseRef:BE64 baseT:BE64` (V1 framing).
fn has_base_header(r: &OwnedRecord) -> bool {
    match r {
        OwnedRecord::Samples { record_type, .. } => *record_type == RecordType::Samples,
        OwnedRecord::Exemplars(_) => true,
        OwnedRecord::Histograms { record_type, .. }
        | OwnedRecord::FloatHistograms { record_type, .. } => !matches!(
            record_type,
            RecordType::HistogramSamplesV2 | RecordType::FloatHistogramSamplesV2
        ),
        _ => false,
    }
}

/// Smallest possible size of one more entry of this record type, so that appending fewer
/// bytes than this can never form a valid entry.
fn min_entry_size(r: &OwnedRecord) -> usize {
    match r {
        OwnedRecord::Series(_) => 9,
        OwnedRecord::Samples { .. } => 10,
        OwnedRecord::Exemplars(_) => 11,
        OwnedRecord::Metadata(_) => 3,
        // header (2) + hint, schema, zt, zc, count, sum, 4 counts.
        OwnedRecord::Histograms { .. } => 2 + 1 + 1 + 8 + 1 + 1 + 8 + 4,
        OwnedRecord::FloatHistograms { .. } => 2 + 1 + 1 + 8 * 4 + 4,
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// encode → decode gives back exactly the values (floats by bits), and re-encoding the
    /// decoded values gives the same bytes.
    #[test]
    fn round_trip_every_type(rec in any_record()) {
        let bytes = encoded(&rec);
        let decoded = OwnedRecord::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(decoded.same_bits(&rec), "decoded {decoded:?}\nwant {rec:?}");
        prop_assert_eq!(encoded(&decoded), bytes);
    }

    /// Every truncation either fails or yields a strict prefix of the entries (a cut can
    /// land exactly on an entry boundary); it never panics or yields a different value.
    #[test]
    fn truncation_fails_or_yields_a_prefix(rec in any_record()) {
        let bytes = encoded(&rec);
        for cut in 0..bytes.len() {
            match OwnedRecord::decode(&bytes[..cut]) {
                Err(e) => {
                    prop_assert!(e.offset <= cut, "offset {} beyond cut {cut}", e.offset);
                    if cut == 0 {
                        prop_assert_eq!(e.offset, 0);
                    }
                }
                Ok(got) => {
                    prop_assert!(cut > 0);
                    prop_assert!(is_strict_prefix(&got, &rec), "cut {cut}: {got:?} not a prefix of {rec:?}");
                    if rec.len() == 1 {
                        // A single-entry record only survives a cut down to its type byte,
                        // or (V1 types) to the type byte and the 16-byte base header.
                        prop_assert!(got.is_empty());
                        prop_assert!(cut == 1 || (has_base_header(&rec) && cut == 17), "cut {cut}");
                    }
                }
            }
        }
    }

    /// Bytes after the last entry that are too few to form another entry are an error.
    #[test]
    fn leftover_bytes_are_an_error(
        rec in any_record(),
        extra in prop::collection::vec(any::<u8>(), 1..40),
    ) {
        let min = min_entry_size(&rec);
        prop_assume!(!rec.is_empty());
        let extra = &extra[..extra.len().min(min - 1)];
        prop_assume!(!extra.is_empty());
        let mut bytes = encoded(&rec);
        let n = bytes.len();
        bytes.extend_from_slice(extra);
        let e = OwnedRecord::decode(&bytes);
        prop_assert!(e.is_err(), "{} trailing bytes accepted: {:?}", extra.len(), e);
        prop_assert!(e.unwrap_err().offset >= n);
    }
}

#[test]
fn decoding_skips_tombstones_and_mmap_markers() {
    let mut out = Vec::new();
    encode::tombstones(
        &mut out,
        &[encode::Tombstone {
            sref: 1,
            mint: -5,
            maxt: 10,
        }],
    );
    assert!(matches!(decode(&out).unwrap(), Record::Tombstones));
    out.clear();
    encode::mmap_markers(&mut out, &[(1, 2)]);
    assert!(matches!(decode(&out).unwrap(), Record::MmapMarkers));
}

#[test]
fn nhcb_in_v1_needs_its_own_record_type_only_by_convention() {
    // Prometheus puts schema -53 histograms in type 9; the decoder keys custom values on
    // the schema, so an NHCB in a type 7 record decodes the same.
    let h = Histogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_deltas: vec![1, 2],
        custom_values: vec![0.1, 0.5],
        ..Histogram::default()
    };
    let item = [HistogramSample {
        sref: 3,
        t: 4,
        st: 0,
        h: &h,
    }];
    for custom in [false, true] {
        let mut out = Vec::new();
        encode::histogram_samples_v1(&mut out, custom, &item);
        assert_eq!(out[0], if custom { 9 } else { 7 });
        let Record::Histograms(mut d) = decode(&out).unwrap() else {
            panic!("not histograms")
        };
        let mut got = Histogram::default();
        assert_eq!(
            d.next_into(&mut got).unwrap(),
            Some(HistogramHeader {
                sref: 3,
                t: 4,
                st: 0
            })
        );
        assert_eq!(got, h);
        assert_eq!(d.next_into(&mut got).unwrap(), None);
    }
}

#[test]
fn float_histogram_v2_round_trip_keeps_st() {
    let h = FloatHistogram {
        schema: 2,
        sum: f64::from_bits(0x7ff0_0000_0000_0002),
        ..FloatHistogram::default()
    };
    let items = [
        FloatHistogramSample {
            sref: 9,
            t: 100,
            st: 50,
            h: &h,
        },
        FloatHistogramSample {
            sref: 8,
            t: 90,
            st: 50,
            h: &h,
        },
    ];
    let mut out = Vec::new();
    encode::float_histogram_samples_v2(&mut out, &items);
    let Record::FloatHistograms(mut d) = decode(&out).unwrap() else {
        panic!("not float histograms")
    };
    let mut got = FloatHistogram::default();
    let mut hdrs = Vec::new();
    while let Some(hdr) = d.next_into(&mut got).unwrap() {
        assert_eq!(got.sum.to_bits(), 0x7ff0_0000_0000_0002);
        hdrs.push(hdr);
    }
    assert_eq!(
        hdrs,
        vec![
            HistogramHeader {
                sref: 9,
                t: 100,
                st: 50
            },
            HistogramHeader {
                sref: 8,
                t: 90,
                st: 50
            }
        ]
    );
}

#[test]
fn metadata_type_byte_round_trips_through_encoder() {
    let mut out = Vec::new();
    encode::metadata(
        &mut out,
        &[RefMetadata {
            sref: 1,
            mtype: MetricType::StateSet,
            unit: b"",
            help: b"x",
        }],
    );
    let Record::Metadata(mut d) = decode(&out).unwrap() else {
        panic!("not metadata")
    };
    assert_eq!(d.next().unwrap().unwrap().mtype, MetricType::StateSet);
}
