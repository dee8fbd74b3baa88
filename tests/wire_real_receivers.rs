//! The wire against real receivers: requests from ringwrite's encoders, sent through its
//! HTTP pool, must be stored exactly by Debian's VictoriaMetrics 1.79 and by Prometheus
//! 2.42 (`--web.enable-remote-write-receiver`), and come back on query.
//!
//! Prometheus is checked twice: through its query API (floats) and through its own WAL,
//! read back with ringwrite's reader, which shows the exact value bits (staleness
//! markers, -0, NaN payloads), native histograms and exemplars the receiver stored.
//! Both receivers speak only RW 1.0; sending RW 2.0 to Prometheus 2.42 must make the
//! endpoint fall back to RW 1.0 (a 2xx without the Written headers) and deliver.

mod common;

use common::prom::{http_get, Prometheus};
use ringwrite::encode::{Compressor, EncodedSeries, Rw1Encoder, Rw2Encoder, SymbolInterner};
use ringwrite::http::{
    send_with_retry, BatchOutcome, Endpoint, EndpointConfig, Pool, PoolOptions, RetryPolicy,
    SentCounts, WireFormat,
};
use ringwrite::record::{
    FloatHistogram, Histogram, RefSample, ResetHint, Span, NORMAL_NAN_BITS, STALE_NAN_BITS,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type LabelSet = Vec<(String, String)>;

/// The float samples the tests send: per series, in time order.
struct Data {
    series: Vec<LabelSet>,
    /// (series index, timestamp ms, value)
    samples: Vec<(usize, i64, f64)>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every value class Prometheus can store, bit for bit.
const ALL_VALUES: [f64; 12] = [
    0.0,
    1.0,
    -0.0,
    0.30000000000000004,
    1e21,
    5e-324,
    -42.5,
    f64::MAX,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::from_bits(NORMAL_NAN_BITS),
    f64::from_bits(STALE_NAN_BITS),
];

/// What VictoriaMetrics can store exactly: it keeps values as decimals with a shared
/// exponent per block (so 1e308 next to 1 loses the 1, subnormals become 0), drops
/// ordinary NaN, and keeps staleness markers (exported as `null`).
const VM_VALUES: [f64; 9] = [
    0.0,
    1.0,
    0.25,
    -42.5,
    123456.789,
    1e9,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::from_bits(STALE_NAN_BITS),
];

fn data(metric: &str, base: i64, values: &[f64]) -> Data {
    let series: Vec<LabelSet> = [
        vec![("instance", "a:1"), ("job", "wire")],
        vec![
            ("instance", "b:2"),
            ("job", "wire"),
            ("path", "/ünïcödé \"q\" \\ ☃"),
        ],
        vec![("instance", "c:3"), ("job", "wire"), ("le", "+Inf")],
    ]
    .iter()
    .map(|ls| {
        let mut l: LabelSet = vec![("__name__".into(), metric.into())];
        l.extend(ls.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        l.sort();
        l
    })
    .collect();
    let mut samples = Vec::new();
    for (i, v) in values.iter().enumerate() {
        for s in 0..series.len() {
            samples.push((s, base + i as i64 * 1000, *v));
        }
    }
    Data { series, samples }
}

fn encoded(d: &Data, interner: &mut SymbolInterner) -> Vec<std::sync::Arc<EncodedSeries>> {
    d.series
        .iter()
        .map(|l| {
            EncodedSeries::new(
                l.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
                interner,
            )
            .unwrap()
        })
        .collect()
}

fn hist() -> Histogram {
    Histogram {
        reset_hint: ResetHint::No,
        schema: 2,
        zero_threshold: 0.001,
        zero_count: 3,
        count: 10,
        sum: 17.25,
        positive_spans: vec![
            Span {
                offset: -1,
                length: 2,
            },
            Span {
                offset: 2,
                length: 1,
            },
        ],
        negative_spans: vec![Span {
            offset: 0,
            length: 1,
        }],
        positive_deltas: vec![2, 1, -1],
        negative_deltas: vec![1],
        custom_values: vec![],
    }
}

fn fhist() -> FloatHistogram {
    FloatHistogram {
        reset_hint: ResetHint::Gauge,
        schema: 0,
        zero_threshold: 0.5,
        zero_count: 1.5,
        count: 6.5,
        sum: -3.0,
        positive_spans: vec![Span {
            offset: 1,
            length: 2,
        }],
        negative_spans: vec![],
        positive_counts: vec![2.0, 3.0],
        negative_counts: vec![],
        custom_values: vec![],
    }
}

/// Sends `bodies` through one pool on a fresh monoio runtime; returns the outcomes.
fn send_all(url: &str, bodies: Vec<(bytes::Bytes, WireFormat, SentCounts)>) -> Vec<BatchOutcome> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .expect("monoio runtime");
        rt.block_on(async move {
            let cfg = EndpointConfig::new(url);
            let endpoint = Arc::new(Endpoint::new(&cfg).expect("endpoint"));
            let pool = Pool::new(endpoint, PoolOptions::default());
            let policy = RetryPolicy {
                max_attempts: Some(20),
                ..RetryPolicy::default()
            };
            let mut out = Vec::new();
            for (body, format, counts) in bodies {
                out.push(send_with_retry(&pool, body, format, counts, &policy).await);
            }
            out
        })
    })
    .join()
    .expect("sender thread")
}

/// Encodes `d` as RW 1.0 (all samples in one request, series interleaved as a scrape
/// would be), plus the histograms and an exemplar on series 0.
fn rw1_body(d: &Data, with_native: bool) -> (bytes::Bytes, WireFormat, SentCounts) {
    let mut interner = SymbolInterner::default();
    let es = encoded(d, &mut interner);
    let mut enc = Rw1Encoder::new();
    let mut req = enc.begin();
    for (s, t, v) in &d.samples {
        req.push_sample(
            &es[*s],
            &RefSample {
                sref: *s as u64,
                t: *t,
                st: 0,
                v: *v,
            },
        );
    }
    let mut counts = SentCounts {
        samples: d.samples.len() as u64,
        histograms: 0,
        exemplars: 0,
    };
    if with_native {
        let t0 = d.samples[0].1;
        let _ = req.push_histogram(&es[1], t0 + 500, &hist());
        let _ = req.push_float_histogram(&es[2], t0 + 500, &fhist());
        let ex: [(&[u8], &[u8]); 1] = [(b"trace_id", b"4bf92f3577b34da6")];
        req.push_exemplar(&es[0], t0 + 1000, 1.0, ex.iter().copied());
        counts.histograms = 2;
        counts.exemplars = 1;
    }
    let body = req.finish().expect("encode");
    let mut c = Compressor::new(ringwrite::encode::Compression::Snappy);
    let wire = bytes::Bytes::copy_from_slice(c.compress(body.bytes).expect("compress"));
    (wire, WireFormat::Rw1, counts)
}

fn rw2_body(d: &Data) -> (bytes::Bytes, WireFormat, SentCounts) {
    let mut interner = SymbolInterner::default();
    let es = encoded(d, &mut interner);
    let mut enc = Rw2Encoder::new();
    let mut req = enc.begin(&interner);
    for (s, t, v) in &d.samples {
        req.push_sample(
            &es[*s],
            &RefSample {
                sref: *s as u64,
                t: *t,
                st: 0,
                v: *v,
            },
        );
    }
    let body = req.finish().expect("encode");
    let mut c = Compressor::new(ringwrite::encode::Compression::Snappy);
    let wire = bytes::Bytes::copy_from_slice(c.compress(body.bytes).expect("compress"));
    let counts = SentCounts {
        samples: d.samples.len() as u64,
        histograms: 0,
        exemplars: 0,
    };
    (wire, WireFormat::Rw2, counts)
}

/// Label set -> [(t, value bits)] that was sent.
fn expected(d: &Data) -> BTreeMap<LabelSet, Vec<(i64, u64)>> {
    let mut m: BTreeMap<LabelSet, Vec<(i64, u64)>> = BTreeMap::new();
    for (s, t, v) in &d.samples {
        m.entry(d.series[*s].clone())
            .or_default()
            .push((*t, v.to_bits()));
    }
    m
}

fn assert_sent(outcomes: &[BatchOutcome]) {
    for o in outcomes {
        assert!(
            matches!(o, BatchOutcome::Sent { .. }),
            "not delivered: {o:?}"
        );
    }
}

/// Prometheus query API: raw samples of `metric` over the last day, per label set.
/// Stale markers are not returned by PromQL, so they are left out of the comparison.
fn prom_query(port: u16, metric: &str) -> BTreeMap<LabelSet, Vec<(i64, String)>> {
    let q = format!("/api/v1/query?query={metric}%5B1d%5D");
    let (status, body) = http_get(port, &q).expect("query");
    assert_eq!(status, 200, "{body}");
    parse_matrix(&body)
}

/// A tiny parser for Prometheus's matrix JSON: enough for these tests.
fn parse_matrix(body: &str) -> BTreeMap<LabelSet, Vec<(i64, String)>> {
    let v: serde_json_lite::Value = serde_json_lite::parse(body);
    let mut out = BTreeMap::new();
    for r in v.get("data").get("result").array() {
        let mut l: LabelSet = r
            .get("metric")
            .object()
            .iter()
            .map(|(k, v)| (k.clone(), v.string()))
            .collect();
        l.sort();
        let vals = r
            .get("values")
            .array()
            .iter()
            .map(|p| {
                let p = p.array();
                ((p[0].number() * 1000.0).round() as i64, p[1].string())
            })
            .collect();
        out.insert(l, vals);
    }
    out
}

/// A sample value as Prometheus's JSON API writes it.
fn parse_prom_value(s: &str) -> f64 {
    match s {
        "NaN" => f64::from_bits(NORMAL_NAN_BITS),
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap_or_else(|_| panic!("bad value {s:?}")),
    }
}

#[test]
fn prometheus_242_stores_exactly_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let data_dir = dir.path().join("data");
    let mut prom = Prometheus::start(
        &cfg,
        &data_dir,
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms,exemplar-storage",
        ],
    );
    let url = format!("http://127.0.0.1:{}/api/v1/write", prom.port);
    let base = now_ms() - 60_000;
    let d1 = data("ringwrite_wire_rw1", base, &ALL_VALUES);
    let d2 = data("ringwrite_wire_rw2", base, &ALL_VALUES);
    let outcomes = send_all(&url, vec![rw1_body(&d1, true)]);
    assert_sent(&outcomes);
    // RW 2.0 to a 1.x receiver: a 2xx without Written headers -> fall back to RW 1.0.
    let outcomes = send_all(&url, vec![rw2_body(&d2)]);
    assert!(
        matches!(outcomes[0], BatchOutcome::FallBackToRw1 { .. }),
        "Prometheus 2.42 cannot read RW 2.0; expected a fallback, got {:?}",
        outcomes[0]
    );
    assert_sent(&send_all(&url, vec![rw1_body(&d2, false)]));

    // Query API: every non-stale sample, with Go's text for the value.
    for d in [&d1, &d2] {
        let metric = &d.series[0][0].1;
        let got = prom_query(prom.port, metric);
        // Prometheus prints the shortest round-trip decimal, so parsing it gives the
        // exact bits back (NaN compared as the Go NaN Prometheus renders).
        let got: BTreeMap<LabelSet, Vec<(i64, u64)>> = got
            .into_iter()
            .map(|(l, v)| {
                let vals = v
                    .into_iter()
                    .map(|(t, s)| (t, parse_prom_value(&s).to_bits()))
                    .collect();
                (l, vals)
            })
            .collect();
        let want: BTreeMap<LabelSet, Vec<(i64, u64)>> = expected(d)
            .into_iter()
            .map(|(l, v)| {
                let vals = v
                    .into_iter()
                    .filter(|(_, bits)| *bits != STALE_NAN_BITS)
                    .collect();
                (l, vals)
            })
            .collect();
        assert_eq!(got, want, "query API for {metric}");
    }

    // The receiver's own WAL: exact bits, staleness markers included.
    prom.stop();
    for d in [&d1, &d2] {
        let metric = d.series[0][0].1.clone();
        let c = common::walread::read_wal(&data_dir, |l| {
            l.iter().any(|(n, v)| n == "__name__" && *v == metric)
        });
        assert_eq!(c.floats, expected(d), "WAL of the receiver for {metric}");
        if std::ptr::eq(d, &d1) {
            let hs: Vec<_> = c.histograms.into_values().flatten().collect();
            let fhs: Vec<_> = c.float_histograms.into_values().flatten().collect();
            assert_eq!(hs, vec![(base + 500, hist())]);
            assert_eq!(fhs, vec![(base + 500, fhist())]);
            assert_eq!(c.exemplars.values().map(Vec::len).sum::<usize>(), 1);
        }
    }
}

#[test]
fn victoriametrics_stores_exactly_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (_vm, port) = common::vm::start_vm(dir.path());
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let base = now_ms() - 60_000;
    let d = data("ringwrite_wire_vm", base, &VM_VALUES);
    assert_sent(&send_all(&url, vec![rw1_body(&d, false)]));
    let _ = http_get(port, "/internal/force_flush");
    // Export returns raw samples as JSON lines: {"metric":{..},"values":[..],"timestamps":[..]}.
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let (status, body) =
            http_get(port, "/api/v1/export?match%5B%5D=ringwrite_wire_vm").unwrap();
        assert_eq!(status, 200, "{body}");
        got = BTreeMap::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v = serde_json_lite::parse(line);
            let mut l: LabelSet = v
                .get("metric")
                .object()
                .iter()
                .map(|(k, v)| (k.clone(), v.string()))
                .collect();
            l.sort();
            let ts: Vec<i64> = v
                .get("timestamps")
                .array()
                .iter()
                .map(|t| t.number() as i64)
                .collect();
            let vals: Vec<String> = v.get("values").array().iter().map(|x| x.raw()).collect();
            got.insert(l, ts.into_iter().zip(vals).collect::<Vec<_>>());
        }
        if got.values().map(Vec::len).sum::<usize>() >= d.samples.len() - d.series.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        let _ = http_get(port, "/internal/force_flush");
    }
    // Exact: every timestamp, every value (decimal text parses to the bits sent), and
    // the staleness marker kept (exported as `null`).
    let want = expected(&d);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "series labels"
    );
    for (l, w) in &want {
        let g: Vec<(i64, u64)> = got[l]
            .iter()
            .map(|(t, v)| {
                let bits = match v.as_str() {
                    "null" => STALE_NAN_BITS,
                    "Inf" | "+Inf" => f64::INFINITY.to_bits(),
                    "-Inf" => f64::NEG_INFINITY.to_bits(),
                    s => s
                        .parse::<f64>()
                        .unwrap_or_else(|_| panic!("{l:?}: value {s:?}"))
                        .to_bits(),
                };
                (*t, bits)
            })
            .collect();
        assert_eq!(&g, w, "{l:?}");
    }
}

/// A minimal JSON reader (the tests only need objects, arrays, strings and numbers).
mod serde_json_lite {
    #[derive(Debug, Clone)]
    pub enum Value {
        Null,
        Bool(bool),
        Num(f64, String),
        Str(String),
        Arr(Vec<Value>),
        Obj(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, k: &str) -> &Value {
            match self {
                Value::Obj(m) => m
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v)
                    .unwrap_or(&Value::Null),
                _ => &Value::Null,
            }
        }
        pub fn array(&self) -> &[Value] {
            match self {
                Value::Arr(a) => a,
                _ => &[],
            }
        }
        pub fn object(&self) -> &[(String, Value)] {
            match self {
                Value::Obj(m) => m,
                _ => &[],
            }
        }
        pub fn string(&self) -> String {
            match self {
                Value::Str(s) => s.clone(),
                other => panic!("not a string: {other:?}"),
            }
        }
        pub fn number(&self) -> f64 {
            match self {
                Value::Num(n, _) => *n,
                Value::Str(s) => s.parse().unwrap(),
                other => panic!("not a number: {other:?}"),
            }
        }
        /// The value's text: numbers as written, strings unquoted.
        pub fn raw(&self) -> String {
            match self {
                Value::Num(_, s) => s.clone(),
                Value::Str(s) => s.clone(),
                Value::Null => "null".into(),
                Value::Bool(b) => b.to_string(),
                other => panic!("not a scalar: {other:?}"),
            }
        }
    }

    pub fn parse(s: &str) -> Value {
        let b = s.as_bytes();
        let mut i = 0;
        value(b, &mut i)
    }

    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }

    fn value(b: &[u8], i: &mut usize) -> Value {
        ws(b, i);
        match b[*i] {
            b'{' => {
                *i += 1;
                let mut m = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b'}' {
                        *i += 1;
                        return Value::Obj(m);
                    }
                    let k = match value(b, i) {
                        Value::Str(s) => s,
                        o => panic!("key {o:?}"),
                    };
                    ws(b, i);
                    assert_eq!(b[*i], b':');
                    *i += 1;
                    let v = value(b, i);
                    m.push((k, v));
                    ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            b'[' => {
                *i += 1;
                let mut a = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b']' {
                        *i += 1;
                        return Value::Arr(a);
                    }
                    a.push(value(b, i));
                    ws(b, i);
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            b'"' => {
                *i += 1;
                let mut out = Vec::new();
                while b[*i] != b'"' {
                    if b[*i] == b'\\' {
                        *i += 1;
                        match b[*i] {
                            b'n' => out.push(b'\n'),
                            b't' => out.push(b'\t'),
                            b'r' => out.push(b'\r'),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'u' => {
                                let hex = std::str::from_utf8(&b[*i + 1..*i + 5]).unwrap();
                                let mut cp = u32::from_str_radix(hex, 16).unwrap();
                                *i += 4;
                                if (0xD800..0xDC00).contains(&cp) && b[*i + 1] == b'\\' {
                                    let lo = std::str::from_utf8(&b[*i + 3..*i + 7]).unwrap();
                                    let lo = u32::from_str_radix(lo, 16).unwrap();
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                    *i += 6;
                                }
                                let c = char::from_u32(cp).unwrap();
                                let mut buf = [0; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                            c => out.push(c),
                        }
                    } else {
                        out.push(b[*i]);
                    }
                    *i += 1;
                }
                *i += 1;
                Value::Str(String::from_utf8(out).unwrap())
            }
            b't' => {
                *i += 4;
                Value::Bool(true)
            }
            b'f' => {
                *i += 5;
                Value::Bool(false)
            }
            b'n' => {
                *i += 4;
                Value::Null
            }
            _ => {
                let start = *i;
                while *i < b.len()
                    && !matches!(b[*i], b',' | b']' | b'}')
                    && !b[*i].is_ascii_whitespace()
                {
                    *i += 1;
                }
                let s = std::str::from_utf8(&b[start..*i]).unwrap().to_string();
                Value::Num(s.parse().unwrap_or(f64::NAN), s)
            }
        }
    }
}
