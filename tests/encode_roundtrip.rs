//! Round-trip property tests: random batches are encoded by the hand-written encoders,
//! decoded with the prost types generated from the official .proto files, and compared
//! with the input field by field (floats by bit pattern). FORMATS.md §3.1, §4.1, §4.2.

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use prost::Message;
use ringwrite::encode::proto::{v1, v2};
use ringwrite::encode::{
    Compression, Compressor, EncodedSeries, NameSlots, Pushed, Rw1Encoder, Rw2Encoder,
    SymbolInterner,
};
use ringwrite::record::{
    FloatHistogram, Histogram, MetricType, RefSample, ResetHint, Span, CUSTOM_BUCKETS_SCHEMA,
    NORMAL_NAN_BITS, STALE_NAN_BITS,
};

// ---------------------------------------------------------------------------------------
// Input model

#[derive(Debug, Clone)]
struct SeriesSpec {
    labels: BTreeMap<String, String>,
    metadata: Option<(MetricType, String, String)>,
}

#[derive(Debug, Clone)]
enum Op {
    Sample {
        s: usize,
        t: i64,
        st: i64,
        v: u64,
    },
    Hist {
        s: usize,
        t: i64,
        st: i64,
        h: Histogram,
    },
    FloatHist {
        s: usize,
        t: i64,
        st: i64,
        h: FloatHistogram,
    },
    Exemplar {
        s: usize,
        t: i64,
        v: u64,
        labels: Vec<(String, String)>,
    },
    /// RW 1.0 only; skipped for RW 2.0.
    Metadata {
        family: String,
        mtype: MetricType,
        help: String,
        unit: String,
    },
}

#[derive(Debug, Clone)]
struct Batch {
    series: Vec<SeriesSpec>,
    ops: Vec<Op>,
}

fn float_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(STALE_NAN_BITS),
        Just(NORMAL_NAN_BITS),
        Just(0u64),
        Just((-0.0f64).to_bits()),
        Just(f64::INFINITY.to_bits()),
        any::<u64>(),
        (-1000i32..1000).prop_map(|i| f64::from(i).to_bits()),
    ]
}

/// Small, repeating timestamps make merging likely; the rest covers the full range,
/// negative values (10-byte varints) included.
fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -3i64..6, 1 => any::<i64>(), 1 => Just(1_700_000_000_000i64)]
}

fn label_str() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[a-z_]{1,8}", 1 => "\\PC{0,12}", 1 => Just(String::new())]
}

fn metric_type() -> impl Strategy<Value = MetricType> {
    (0u8..8).prop_map(MetricType::from_byte)
}

fn series_spec() -> impl Strategy<Value = SeriesSpec> {
    (
        prop::collection::btree_map("[a-z_]{1,10}", label_str(), 0..6),
        prop::option::of((metric_type(), label_str(), label_str())),
    )
        .prop_map(|(labels, metadata)| SeriesSpec { labels, metadata })
}

fn spans() -> impl Strategy<Value = Vec<Span>> {
    prop::collection::vec(
        (any::<i32>(), any::<u32>()).prop_map(|(offset, length)| Span { offset, length }),
        0..3,
    )
}

fn reset_hint() -> impl Strategy<Value = ResetHint> {
    (0u8..4).prop_map(|b| ResetHint::from_byte(b).unwrap_or_default())
}

fn schema() -> impl Strategy<Value = i32> {
    prop_oneof![Just(CUSTOM_BUCKETS_SCHEMA), -4i32..9, any::<i32>()]
}

fn histogram() -> impl Strategy<Value = Histogram> {
    (
        (
            reset_hint(),
            schema(),
            float_bits(),
            any::<u64>(),
            any::<u64>(),
            float_bits(),
        ),
        (spans(), spans()),
        (
            prop::collection::vec(any::<i64>(), 0..4),
            prop::collection::vec(any::<i64>(), 0..4),
            prop::collection::vec(float_bits(), 0..4),
        ),
    )
        .prop_map(
            |((hint, schema, zt, zc, count, sum), (ps, ns), (pd, nd, cv))| Histogram {
                reset_hint: hint,
                schema,
                zero_threshold: f64::from_bits(zt),
                zero_count: zc,
                count,
                sum: f64::from_bits(sum),
                positive_spans: ps,
                negative_spans: ns,
                positive_deltas: pd,
                negative_deltas: nd,
                custom_values: cv.into_iter().map(f64::from_bits).collect(),
            },
        )
}

fn float_histogram() -> impl Strategy<Value = FloatHistogram> {
    (
        (
            reset_hint(),
            schema(),
            float_bits(),
            float_bits(),
            float_bits(),
            float_bits(),
        ),
        (spans(), spans()),
        (
            prop::collection::vec(float_bits(), 0..4),
            prop::collection::vec(float_bits(), 0..4),
            prop::collection::vec(float_bits(), 0..4),
        ),
    )
        .prop_map(
            |((hint, schema, zt, zc, count, sum), (ps, ns), (pc, nc, cv))| {
                let f = |v: Vec<u64>| v.into_iter().map(f64::from_bits).collect();
                FloatHistogram {
                    reset_hint: hint,
                    schema,
                    zero_threshold: f64::from_bits(zt),
                    zero_count: f64::from_bits(zc),
                    count: f64::from_bits(count),
                    sum: f64::from_bits(sum),
                    positive_spans: ps,
                    negative_spans: ns,
                    positive_counts: f(pc),
                    negative_counts: f(nc),
                    custom_values: f(cv),
                }
            },
        )
}

fn op(n_series: usize) -> impl Strategy<Value = Op> {
    let s = 0..n_series;
    let st = prop_oneof![3 => Just(0i64), 1 => any::<i64>()];
    prop_oneof![
        8 => (s.clone(), timestamp(), st.clone(), float_bits())
            .prop_map(|(s, t, st, v)| Op::Sample { s, t, st, v }),
        2 => (s.clone(), timestamp(), st.clone(), histogram())
            .prop_map(|(s, t, st, h)| Op::Hist { s, t, st, h }),
        2 => (s.clone(), timestamp(), st, float_histogram())
            .prop_map(|(s, t, st, h)| Op::FloatHist { s, t, st, h }),
        2 => (s, timestamp(), float_bits(), prop::collection::vec((label_str(), label_str()), 0..3))
            .prop_map(|(s, t, v, labels)| Op::Exemplar { s, t, v, labels }),
        1 => (label_str(), metric_type(), label_str(), label_str())
            .prop_map(|(family, mtype, help, unit)| Op::Metadata { family, mtype, help, unit }),
    ]
}

fn batch() -> impl Strategy<Value = Batch> {
    prop::collection::vec(series_spec(), 1..5).prop_flat_map(|series| {
        let n = series.len();
        prop::collection::vec(op(n), 0..40).prop_map(move |ops| Batch {
            series: series.clone(),
            ops,
        })
    })
}

// ---------------------------------------------------------------------------------------
// Canonical, bit-exact form of what a receiver sees

type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum CCount {
    Int(u64),
    Float(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CHist {
    count: CCount,
    sum: u64,
    schema: i32,
    zero_threshold: u64,
    zero_count: CCount,
    negative_spans: Vec<(i32, u32)>,
    negative_deltas: Vec<i64>,
    negative_counts: Vec<u64>,
    positive_spans: Vec<(i32, u32)>,
    positive_deltas: Vec<i64>,
    positive_counts: Vec<u64>,
    reset_hint: i32,
    timestamp: i64,
    custom_values: Vec<u64>,
    start_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CExemplar {
    labels: Labels,
    value: u64,
    timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct CSeries {
    labels: Labels,
    /// (value bits, timestamp, start timestamp)
    samples: Vec<(u64, i64, i64)>,
    histograms: Vec<CHist>,
    exemplars: Vec<CExemplar>,
    /// RW 2.0 only: (type, help, unit).
    metadata: Option<(i32, String, String)>,
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|f| f.to_bits()).collect()
}

fn span_pairs(s: &[Span]) -> Vec<(i32, u32)> {
    s.iter().map(|s| (s.offset, s.length)).collect()
}

fn chist_int(h: &Histogram, t: i64, st: i64) -> CHist {
    CHist {
        count: CCount::Int(h.count),
        sum: h.sum.to_bits(),
        schema: h.schema,
        zero_threshold: h.zero_threshold.to_bits(),
        zero_count: CCount::Int(h.zero_count),
        negative_spans: span_pairs(&h.negative_spans),
        negative_deltas: h.negative_deltas.clone(),
        negative_counts: vec![],
        positive_spans: span_pairs(&h.positive_spans),
        positive_deltas: h.positive_deltas.clone(),
        positive_counts: vec![],
        reset_hint: h.reset_hint as i32,
        timestamp: t,
        custom_values: bits(&h.custom_values),
        start_timestamp: st,
    }
}

fn chist_float(h: &FloatHistogram, t: i64, st: i64) -> CHist {
    CHist {
        count: CCount::Float(h.count.to_bits()),
        sum: h.sum.to_bits(),
        schema: h.schema,
        zero_threshold: h.zero_threshold.to_bits(),
        zero_count: CCount::Float(h.zero_count.to_bits()),
        negative_spans: span_pairs(&h.negative_spans),
        negative_deltas: vec![],
        negative_counts: bits(&h.negative_counts),
        positive_spans: span_pairs(&h.positive_spans),
        positive_deltas: vec![],
        positive_counts: bits(&h.positive_counts),
        reset_hint: h.reset_hint as i32,
        timestamp: t,
        custom_values: bits(&h.custom_values),
        start_timestamp: st,
    }
}

/// Decoded v1/v2 histograms have the same Rust shape; a macro avoids two copies.
macro_rules! chist_from_proto {
    ($h:expr, $m:ident, $st:expr) => {{
        let h = $h;
        let count = match h.count.clone().expect("count oneof must always be present") {
            $m::histogram::Count::CountInt(v) => CCount::Int(v),
            $m::histogram::Count::CountFloat(v) => CCount::Float(v.to_bits()),
        };
        let zero_count = match h
            .zero_count
            .clone()
            .expect("zero_count oneof must always be present")
        {
            $m::histogram::ZeroCount::ZeroCountInt(v) => CCount::Int(v),
            $m::histogram::ZeroCount::ZeroCountFloat(v) => CCount::Float(v.to_bits()),
        };
        let spans = |s: &[$m::BucketSpan]| s.iter().map(|s| (s.offset, s.length)).collect();
        CHist {
            count,
            sum: h.sum.to_bits(),
            schema: h.schema,
            zero_threshold: h.zero_threshold.to_bits(),
            zero_count,
            negative_spans: spans(&h.negative_spans),
            negative_deltas: h.negative_deltas.clone(),
            negative_counts: bits(&h.negative_counts),
            positive_spans: spans(&h.positive_spans),
            positive_deltas: h.positive_deltas.clone(),
            positive_counts: bits(&h.positive_counts),
            reset_hint: h.reset_hint,
            timestamp: h.timestamp,
            custom_values: bits(&h.custom_values),
            start_timestamp: $st(h),
        }
    }};
}

// ---------------------------------------------------------------------------------------
// Expected output: the documented grouping rule applied to the input

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Empty,
    Samples,
    Histograms,
}

struct Open {
    s: usize,
    kind: Kind,
    last_main_t: i64,
    last_ex_t: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum ItemKind {
    Sample,
    Hist,
    Exemplar,
}

fn expected(batch: &Batch, v2: bool) -> (Vec<CSeries>, Vec<v1::MetricMetadata>) {
    let mut out: Vec<CSeries> = Vec::new();
    let mut metadata = Vec::new();
    let mut open: Option<Open> = None;
    let labels_of = |s: usize| -> Labels {
        batch.series[s]
            .labels
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    };
    let meta_of = |s: usize| -> Option<(i32, String, String)> {
        if !v2 {
            return None;
        }
        Some(match &batch.series[s].metadata {
            Some((t, h, u)) => (*t as i32, h.clone(), u.clone()),
            None => (0, String::new(), String::new()),
        })
    };
    let slot =
        |open: &mut Option<Open>, s: usize, item: ItemKind, t: i64, out: &mut Vec<CSeries>| {
            if !joins(open, s, item, t) {
                *open = Some(Open {
                    s,
                    kind: Kind::Empty,
                    last_main_t: i64::MIN,
                    last_ex_t: None,
                });
                out.push(CSeries {
                    labels: labels_of(s),
                    metadata: meta_of(s),
                    ..CSeries::default()
                });
            }
            let o = open.as_mut().unwrap();
            match item {
                ItemKind::Exemplar => o.last_ex_t = Some(t),
                ItemKind::Sample => {
                    o.kind = Kind::Samples;
                    o.last_main_t = t;
                }
                ItemKind::Hist => {
                    o.kind = Kind::Histograms;
                    o.last_main_t = t;
                }
            }
        };
    for op in &batch.ops {
        match op {
            Op::Sample { s, t, st, v } => {
                slot(&mut open, *s, ItemKind::Sample, *t, &mut out);
                let st = if v2 { *st } else { 0 };
                out.last_mut().unwrap().samples.push((*v, *t, st));
            }
            Op::Hist { s, t, st, h } => {
                if !v2 && h.schema == CUSTOM_BUCKETS_SCHEMA {
                    continue;
                }
                slot(&mut open, *s, ItemKind::Hist, *t, &mut out);
                let st = if v2 { *st } else { 0 };
                out.last_mut()
                    .unwrap()
                    .histograms
                    .push(chist_int(h, *t, st));
            }
            Op::FloatHist { s, t, st, h } => {
                if !v2 && h.schema == CUSTOM_BUCKETS_SCHEMA {
                    continue;
                }
                slot(&mut open, *s, ItemKind::Hist, *t, &mut out);
                let st = if v2 { *st } else { 0 };
                out.last_mut()
                    .unwrap()
                    .histograms
                    .push(chist_float(h, *t, st));
            }
            Op::Exemplar { s, t, v, labels } => {
                slot(&mut open, *s, ItemKind::Exemplar, *t, &mut out);
                out.last_mut().unwrap().exemplars.push(CExemplar {
                    labels: labels.clone(),
                    value: *v,
                    timestamp: *t,
                });
            }
            Op::Metadata {
                family,
                mtype,
                help,
                unit,
            } => {
                if v2 {
                    continue;
                }
                // push_metadata closes the open TimeSeries.
                open = None;
                metadata.push(v1::MetricMetadata {
                    r#type: *mtype as i32,
                    metric_family_name: family.clone(),
                    help: help.clone(),
                    unit: unit.clone(),
                });
            }
        }
    }
    (out, metadata)
}

/// The grouping rule of `ringwrite::encode` (module docs), restated independently.
fn joins(open: &Option<Open>, s: usize, item: ItemKind, t: i64) -> bool {
    open.as_ref().is_some_and(|o| {
        o.s == s
            && match (item, o.kind) {
                (ItemKind::Exemplar, _) => o.last_ex_t.is_none_or(|l| t >= l),
                (_, Kind::Empty) => true,
                (ItemKind::Sample, Kind::Samples) | (ItemKind::Hist, Kind::Histograms) => {
                    t >= o.last_main_t
                }
                _ => false,
            }
    })
}

// ---------------------------------------------------------------------------------------
// Running the encoders

struct Built {
    interner: SymbolInterner,
    series: Vec<std::sync::Arc<EncodedSeries>>,
}

fn build(batch: &Batch) -> Built {
    let mut interner = SymbolInterner::new();
    let series = batch
        .series
        .iter()
        .map(|spec| {
            let s = EncodedSeries::new(
                spec.labels
                    .iter()
                    .map(|(n, v)| (n.as_bytes(), v.as_bytes())),
                &mut interner,
            )
            .unwrap();
            match &spec.metadata {
                Some((t, h, u)) => s
                    .with_metadata(&mut interner, *t, h.as_bytes(), u.as_bytes())
                    .unwrap(),
                None => s,
            }
        })
        .collect();
    Built { interner, series }
}

fn ex_labels(labels: &[(String, String)]) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
    labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))
}

fn encode_v1(enc: &mut Rw1Encoder, batch: &Batch, built: &Built) -> (Vec<u8>, u64) {
    let mut req = enc.begin();
    for op in &batch.ops {
        match op {
            Op::Sample { s, t, st, v } => {
                let sample = RefSample {
                    sref: 0,
                    t: *t,
                    st: *st,
                    v: f64::from_bits(*v),
                };
                req.push_sample(&built.series[*s], &sample);
            }
            Op::Hist { s, t, h, .. } => {
                let r = req.push_histogram(&built.series[*s], *t, h);
                assert_eq!(r == Pushed::Added, h.schema != CUSTOM_BUCKETS_SCHEMA);
            }
            Op::FloatHist { s, t, h, .. } => {
                let r = req.push_float_histogram(&built.series[*s], *t, h);
                assert_eq!(r == Pushed::Added, h.schema != CUSTOM_BUCKETS_SCHEMA);
            }
            Op::Exemplar { s, t, v, labels } => {
                req.push_exemplar(&built.series[*s], *t, f64::from_bits(*v), ex_labels(labels));
            }
            Op::Metadata {
                family,
                mtype,
                help,
                unit,
            } => {
                req.push_metadata(family.as_bytes(), *mtype, help.as_bytes(), unit.as_bytes());
            }
        }
    }
    let body = req.finish().unwrap();
    (body.bytes.to_vec(), body.stats.nhcb_dropped)
}

fn encode_v2(enc: &mut Rw2Encoder, batch: &Batch, built: &Built) -> Vec<u8> {
    let mut req = enc.begin(&built.interner);
    for op in &batch.ops {
        match op {
            Op::Sample { s, t, st, v } => {
                let sample = RefSample {
                    sref: 0,
                    t: *t,
                    st: *st,
                    v: f64::from_bits(*v),
                };
                req.push_sample(&built.series[*s], &sample);
            }
            Op::Hist { s, t, st, h } => {
                assert_eq!(
                    req.push_histogram(&built.series[*s], *t, *st, h),
                    Pushed::Added
                );
            }
            Op::FloatHist { s, t, st, h } => {
                let r = req.push_float_histogram(&built.series[*s], *t, *st, h);
                assert_eq!(r, Pushed::Added);
            }
            Op::Exemplar { s, t, v, labels } => {
                req.push_exemplar(&built.series[*s], *t, f64::from_bits(*v), ex_labels(labels));
            }
            Op::Metadata { .. } => {}
        }
    }
    req.finish().unwrap().bytes.to_vec()
}

fn decode_v1(bytes: &[u8]) -> (Vec<CSeries>, Vec<v1::MetricMetadata>) {
    let req = v1::WriteRequest::decode(bytes).expect("prost must decode our RW 1.0 bytes");
    let labels = |l: &[v1::Label]| -> Labels {
        l.iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    };
    let series = req
        .timeseries
        .iter()
        .map(|ts| CSeries {
            labels: labels(&ts.labels),
            samples: ts
                .samples
                .iter()
                .map(|s| (s.value.to_bits(), s.timestamp, 0))
                .collect(),
            histograms: ts
                .histograms
                .iter()
                .map(|h| chist_from_proto!(h, v1, |_| 0))
                .collect(),
            exemplars: ts
                .exemplars
                .iter()
                .map(|e| CExemplar {
                    labels: labels(&e.labels),
                    value: e.value.to_bits(),
                    timestamp: e.timestamp,
                })
                .collect(),
            metadata: None,
        })
        .collect();
    (series, req.metadata)
}

/// Decodes and checks the symbol table rules of FORMATS.md §4.2. `may_be_unused` are
/// symbols that need not be referenced (label names listed in fixed name slots).
fn decode_v2(bytes: &[u8], may_be_unused: &HashSet<String>) -> Result<Vec<CSeries>, TestCaseError> {
    let req = v2::Request::decode(bytes).expect("prost must decode our RW 2.0 bytes");
    prop_assert_eq!(
        req.symbols.first().map(String::as_str),
        Some(""),
        "symbols[0] must be \"\""
    );
    let unique: HashSet<&String> = req.symbols.iter().collect();
    prop_assert_eq!(
        unique.len(),
        req.symbols.len(),
        "each symbol once: {:?}",
        req.symbols
    );
    let mut used = HashSet::from([0u32]);
    let mut desym = |refs: &[u32]| -> Result<Labels, TestCaseError> {
        prop_assert!(refs.len() % 2 == 0, "odd labels_refs length");
        let mut out = Vec::new();
        for pair in refs.chunks(2) {
            for &r in pair {
                prop_assert!((r as usize) < req.symbols.len(), "ref {} out of range", r);
                used.insert(r);
            }
            out.push((
                req.symbols[pair[0] as usize].clone(),
                req.symbols[pair[1] as usize].clone(),
            ));
        }
        Ok(out)
    };
    let mut series = Vec::new();
    for ts in &req.timeseries {
        prop_assert!(
            ts.samples.is_empty() || ts.histograms.is_empty(),
            "samples and histograms in one TimeSeries"
        );
        let m = ts.metadata.expect("metadata must always be present");
        let mut exemplars = Vec::new();
        for e in &ts.exemplars {
            exemplars.push(CExemplar {
                labels: desym(&e.labels_refs)?,
                value: e.value.to_bits(),
                timestamp: e.timestamp,
            });
        }
        let help = desym(&[m.help_ref, m.unit_ref])?;
        series.push(CSeries {
            labels: desym(&ts.labels_refs)?,
            samples: ts
                .samples
                .iter()
                .map(|s| (s.value.to_bits(), s.timestamp, s.start_timestamp))
                .collect(),
            histograms: ts
                .histograms
                .iter()
                .map(|h| chist_from_proto!(h, v2, |h: &v2::Histogram| h.start_timestamp))
                .collect(),
            exemplars,
            metadata: Some((m.r#type, help[0].0.clone(), help[0].1.clone())),
        });
    }
    for (i, s) in req.symbols.iter().enumerate() {
        prop_assert!(
            used.contains(&(i as u32)) || may_be_unused.contains(s),
            "symbol {} ({:?}) is not referenced",
            i,
            s
        );
    }
    Ok(series)
}

fn check_snappy(raw: &[u8]) -> Result<(), TestCaseError> {
    let mut c = Compressor::new(Compression::Snappy);
    let wire = c.compress(raw).unwrap().to_vec();
    prop_assert!(
        !wire.starts_with(&[0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]),
        "framed snappy is forbidden"
    );
    prop_assert_eq!(snap::raw::decompress_len(&wire).unwrap(), raw.len());
    prop_assert_eq!(
        snap::raw::Decoder::new().decompress_vec(&wire).unwrap(),
        raw
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rw1_round_trip(batch in batch(), warmup in batch()) {
        let built = build(&batch);
        let mut enc = Rw1Encoder::new();
        // A previous request on the same encoder must leave nothing behind.
        let warm = build(&warmup);
        encode_v1(&mut enc, &warmup, &warm);
        let (bytes, nhcb) = encode_v1(&mut enc, &batch, &built);
        let (want_series, want_meta) = expected(&batch, false);
        let (got_series, got_meta) = decode_v1(&bytes);
        prop_assert_eq!(got_series, want_series);
        prop_assert_eq!(got_meta, want_meta);
        let nhcb_in = batch.ops.iter().filter(|op| matches!(op,
            Op::Hist { h: Histogram { schema: CUSTOM_BUCKETS_SCHEMA, .. }, .. }
            | Op::FloatHist { h: FloatHistogram { schema: CUSTOM_BUCKETS_SCHEMA, .. }, .. }
        )).count() as u64;
        prop_assert_eq!(nhcb, nhcb_in);
        check_snappy(&bytes)?;
    }

    #[test]
    fn rw2_round_trip(batch in batch(), warmup in batch(), slots in any::<bool>()) {
        let built = build(&batch);
        let mut enc = Rw2Encoder::new();
        // Fixed name slots list every label name of the interner, used or not.
        let (mode, may_be_unused) = if slots {
            let names = batch.series.iter().flat_map(|s| s.labels.keys().cloned()).collect();
            (NameSlots::Always, names)
        } else {
            (NameSlots::Never, HashSet::new())
        };
        enc.set_name_slots(mode);
        let warm = build(&warmup);
        encode_v2(&mut enc, &warmup, &warm);
        let bytes = encode_v2(&mut enc, &batch, &built);
        let (want, _) = expected(&batch, true);
        prop_assert_eq!(decode_v2(&bytes, &may_be_unused)?, want);
        // Decoded with the 1.0 schema, a 2.0 body is empty (fields 1-3 are reserved).
        let as_v1 = v1::WriteRequest::decode(&bytes[..]).unwrap();
        prop_assert!(as_v1.timeseries.is_empty() && as_v1.metadata.is_empty());
        check_snappy(&bytes)?;
    }
}
