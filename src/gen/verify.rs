//! The verifying receiver: a [`Handler`] that decodes every RW 1.0 / 2.0 request (with
//! the zero-copy reader of wire.rs) and checks it against the generator's [`Model`]: each series found by
//! its `id` label has exactly the model's labels, its samples and histograms arrive in
//! order with the model's values and timestamps, with no gap and no duplicate, and its
//! exemplars are the model's. Lag (WAL append to this answer) is read from the
//! [`AppendLog`] per sample into an hdrhistogram, overall and per second.
//!
//! Faults for tests of the harness itself and of senders: a fixed delay before every
//! answer, a `503` for every n-th request (not counted: the sender must resend it), and
//! "losing" the first n samples of accepted requests (the run must then fail).

use super::model::{Model, SeriesKind, Timestamps};
use super::wire::{self, Series};
use super::AppendLog;
use crate::sink::{Handler, ReceivedRequest, Reply};
use hdrhistogram::Histogram as Hdr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Scripted misbehaviour of the sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Delay before every answer.
    pub latency: Duration,
    /// Answer every n-th request with 503 without looking at it (0: never).
    pub error_every: u64,
    /// Ignore this many samples of accepted requests (they then count as missing).
    pub drop_samples: u64,
}

/// Error kinds the verifier counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyErrors {
    pub undecodable: u64,
    pub unknown_series: u64,
    pub label_mismatch: u64,
    pub bad_value: u64,
    pub bad_timestamp: u64,
    /// A sample whose index is below the next expected one (sent twice).
    pub duplicate: u64,
    /// A sample whose index is above the next expected one (an earlier one is missing or
    /// arrives later).
    pub out_of_order: u64,
    pub bad_exemplar: u64,
}

impl VerifyErrors {
    pub fn total(&self) -> u64 {
        self.undecodable
            + self.unknown_series
            + self.label_mismatch
            + self.bad_value
            + self.bad_timestamp
            + self.duplicate
            + self.out_of_order
            + self.bad_exemplar
    }
}

/// Per-second figures for plots.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Samples and histograms verified in this second.
    pub samples: u64,
    pub lag: Hdr<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct SeriesState {
    next: u64,
    last_t: i64,
    exemplars: u64,
    labels_checked: bool,
}

struct State {
    series: Vec<SeriesState>,
    samples: u64,
    histograms: u64,
    exemplars: u64,
    metadata: u64,
    requests: u64,
    refused: u64,
    dropped: u64,
    errors: VerifyErrors,
    examples: Vec<String>,
    lag: Hdr<u64>,
    ticks: Vec<Tick>,
}

/// The final verdict.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub ok: bool,
    /// Float samples verified.
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
    /// Metadata entries received (not verified: RW 1.0 sends them on a timer).
    pub metadata: u64,
    /// Samples and histograms written but never verified.
    pub missing: u64,
    pub missing_exemplars: u64,
    /// Requests accepted / refused by a scripted 503.
    pub requests: u64,
    pub refused: u64,
    pub errors: VerifyErrors,
    /// The first few problems, readable.
    pub examples: Vec<String>,
    /// Lag in microseconds.
    pub lag: Hdr<u64>,
    pub ticks: Vec<Tick>,
}

const MAX_EXAMPLES: usize = 10;

fn new_hdr() -> Hdr<u64> {
    // INVARIANT: constant, valid bounds (1 µs .. 1 h, 3 significant digits: low >= 1,
    // high >= 2 * low, sigfig <= 5), for which the constructor cannot fail.
    Hdr::new_with_bounds(1, 3_600_000_000, 3).expect("valid hdrhistogram bounds")
}

/// Checks what arrives against the model.
pub struct Verifier {
    model: Arc<Model>,
    log: Arc<AppendLog>,
    faults: Faults,
    state: Mutex<State>,
}

impl Verifier {
    pub fn new(model: Arc<Model>, log: Arc<AppendLog>, faults: Faults) -> Verifier {
        let n = model.series as usize;
        Verifier {
            model,
            log,
            faults,
            state: Mutex::new(State {
                series: vec![SeriesState::default(); n],
                samples: 0,
                histograms: 0,
                exemplars: 0,
                metadata: 0,
                requests: 0,
                refused: 0,
                dropped: 0,
                errors: VerifyErrors::default(),
                examples: Vec::new(),
                lag: new_hdr(),
                ticks: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Samples + histograms verified so far.
    pub fn verified(&self) -> u64 {
        let s = self.lock();
        s.samples + s.histograms
    }

    /// Errors so far.
    pub fn errors(&self) -> u64 {
        self.lock().errors.total()
    }

    /// Lag percentile so far, in milliseconds.
    pub fn lag_ms(&self, q: f64) -> f64 {
        self.lock().lag.value_at_quantile(q) as f64 / 1000.0
    }

    /// The verdict, given how many scrapes the generator appended.
    pub fn report(&self, scrapes_written: u64) -> VerifyReport {
        let s = self.lock();
        let m = &self.model;
        let targets = m.targets().max(1);
        let mut missing = 0;
        let mut missing_exemplars = 0;
        let mut examples = s.examples.clone();
        for (id, st) in s.series.iter().enumerate() {
            let id = id as u64;
            let target = m.target_of(id);
            // Scrapes of this target among the first `scrapes_written`.
            let expected = (scrapes_written + targets - 1 - target) / targets;
            let expected = expected.min(m.samples_per_series);
            if st.next < expected {
                missing += expected - st.next;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(format!(
                        "series {id}: {} of {expected} samples arrived",
                        st.next
                    ));
                }
            }
            let ex = if m.has_exemplar(id, 0) {
                expected.div_ceil(super::model::EXEMPLAR_SAMPLE_EVERY)
            } else {
                0
            };
            missing_exemplars += ex.saturating_sub(st.exemplars);
        }
        let ok = missing == 0
            && missing_exemplars == 0
            && s.errors.total() == 0
            && s.samples + s.histograms > 0;
        VerifyReport {
            ok,
            samples: s.samples,
            histograms: s.histograms,
            exemplars: s.exemplars,
            metadata: s.metadata,
            missing,
            missing_exemplars,
            requests: s.requests,
            refused: s.refused,
            errors: s.errors,
            examples,
            lag: s.lag.clone(),
            ticks: s.ticks.clone(),
        }
    }
}

impl Handler for Verifier {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        let reply = self.check(req);
        Some(if self.faults.latency.is_zero() {
            reply
        } else {
            reply.delayed(self.faults.latency)
        })
    }
}

impl Verifier {
    fn check(&self, req: &ReceivedRequest) -> Reply {
        let mut st = self.lock();
        st.requests += 1;
        if self.faults.error_every > 0 && st.requests % self.faults.error_every == 0 {
            st.refused += 1;
            return Reply::status(503);
        }
        let v2 = is_v2(req);
        let Some(Ok(body)) = &req.decompressed else {
            st.errors.undecodable += 1;
            return Reply::status(400);
        };
        let (mut s, mut h, mut e) = (0, 0, 0);
        let now = self.log.now_us();
        let mut each = |series: Series<'_>| {
            if series.metadata {
                st.metadata += 1;
            }
            let (a, b, c) = self.series(&mut st, &series, now);
            (s, h, e) = (s + a, h + b, e + c);
        };
        let read = if v2 {
            wire::read_rw2(body, &mut each).map(|()| 0)
        } else {
            wire::read_rw1(body, &mut each)
        };
        match read {
            Ok(metadata) => st.metadata += metadata,
            Err(_) => {
                st.errors.undecodable += 1;
                return Reply::status(400);
            }
        }
        if v2 {
            Reply::written(s, h, e)
        } else {
            Reply::no_content()
        }
    }

    fn error(st: &mut State, msg: impl FnOnce() -> String) {
        if st.examples.len() < MAX_EXAMPLES {
            st.examples.push(msg());
        }
    }

    /// Checks one time series; returns what it carried (samples, histograms, exemplars).
    fn series(&self, st: &mut State, ts: &Series<'_>, now_us: u64) -> (u64, u64, u64) {
        let m = &*self.model;
        let carried = (
            ts.samples.len() as u64,
            ts.histograms.len() as u64,
            ts.exemplars.len() as u64,
        );
        let id = ts
            .labels
            .iter()
            .find(|(n, _)| *n == "id")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .filter(|id| *id < m.series);
        let Some(id) = id else {
            st.errors.unknown_series += 1;
            Self::error(st, || format!("unknown series {:?}", ts.labels));
            return carried;
        };
        let idx = id as usize;
        if !st.series[idx].labels_checked {
            st.series[idx].labels_checked = true;
            let want = m.labels(id);
            let same = want.len() == ts.labels.len()
                && want
                    .iter()
                    .zip(&ts.labels)
                    .all(|((a, b), (c, d))| a == c && b == d);
            if !same {
                st.errors.label_mismatch += 1;
                Self::error(st, || {
                    format!("series {id}: labels {:?}, want {want:?}", ts.labels)
                });
            }
        }
        let target = m.target_of(id);
        let kind = m.kind(id);
        // (timestamp, index the value encodes) of what this series should carry; the
        // other kind must be absent.
        let (points, other): (Vec<(i64, Option<u64>)>, usize) = match kind {
            SeriesKind::Float => (
                ts.samples
                    .iter()
                    .map(|(t, v)| (*t, m.index_of_value(id, *v)))
                    .collect(),
                ts.histograms.len(),
            ),
            SeriesKind::Histogram => (
                ts.histograms
                    .iter()
                    .map(|(t, c)| (*t, c.and_then(Model::index_of_histogram_count)))
                    .collect(),
                ts.samples.len(),
            ),
        };
        if other > 0 {
            st.errors.bad_value += 1;
            Self::error(st, || {
                format!("series {id} ({kind:?}): {other} points of the other kind")
            });
        }
        for (t, index) in points {
            if st.dropped < self.faults.drop_samples {
                st.dropped += 1;
                continue;
            }
            let Some(index) = index else {
                st.errors.bad_value += 1;
                Self::error(st, || {
                    format!("series {id}: value at {t} is not the model's")
                });
                continue;
            };
            let SeriesState { next, last_t, .. } = st.series[idx];
            let t_ok = match m.timestamps {
                Timestamps::Synthetic { .. } => m.synthetic_timestamp(target, index) == Some(t),
                Timestamps::WallClock => t > last_t,
            };
            if index < next {
                st.errors.duplicate += 1;
                Self::error(st, || {
                    format!("series {id}: sample {index} again (next {next})")
                });
                continue;
            }
            if index > next {
                st.errors.out_of_order += 1;
                Self::error(st, || {
                    format!("series {id}: sample {index} arrived, {next} expected")
                });
            }
            st.series[idx].next = index + 1;
            st.series[idx].last_t = t;
            if !t_ok {
                st.errors.bad_timestamp += 1;
                Self::error(st, || {
                    format!("series {id}: sample {index} has timestamp {t}")
                });
                continue;
            }
            match kind {
                SeriesKind::Float => st.samples += 1,
                SeriesKind::Histogram => st.histograms += 1,
            }
            if let Some(at) = self.log.get(m.scrape_seq(target, index)) {
                let lag = now_us.saturating_sub(at).max(1);
                st.lag.saturating_record(lag);
                let sec = (now_us / 1_000_000) as usize;
                while st.ticks.len() <= sec {
                    st.ticks.push(Tick {
                        samples: 0,
                        lag: new_hdr(),
                    });
                }
                st.ticks[sec].samples += 1;
                st.ticks[sec].lag.saturating_record(lag);
            }
        }
        for (t, v, labels) in &ts.exemplars {
            let index = m.index_of_value(id, *v);
            let good = index.is_some_and(|i| {
                m.has_exemplar(id, i)
                    && labels.len() == 1
                    && labels[0].0 == "trace_id"
                    && labels[0].1 == Model::exemplar_trace_id(id, i)
                    && m.synthetic_timestamp(target, i)
                        .is_none_or(|want| want == *t)
            });
            if good {
                st.series[idx].exemplars += 1;
                st.exemplars += 1;
            } else {
                st.errors.bad_exemplar += 1;
                Self::error(st, || {
                    format!("series {id}: exemplar {v} at {t} {labels:?}")
                });
            }
        }
        carried
    }
}

fn is_v2(req: &ReceivedRequest) -> bool {
    req.headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.contains("io.prometheus.write.v2"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::proto::{v1, v2};
    use crate::gen::LabelShape;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method, Version};
    use prost::Message;
    use std::time::Instant;

    fn model() -> Arc<Model> {
        Arc::new(Model {
            series: 20,
            series_per_target: 10,
            samples_per_series: 3,
            shape: LabelShape::default(),
            histograms: true,
            exemplars: false,
            metadata: false,
            timestamps: Timestamps::Synthetic {
                start_ms: 1_000_000,
                interval_ms: 1000,
            },
        })
    }

    fn request(body: Vec<u8>, v2: bool) -> ReceivedRequest {
        let mut headers = HeaderMap::new();
        let ct = if v2 {
            "application/x-protobuf;proto=io.prometheus.write.v2.Request"
        } else {
            "application/x-protobuf"
        };
        headers.insert("content-type", HeaderValue::from_static(ct));
        ReceivedRequest {
            connection: 1,
            version: Version::HTTP_2,
            tls: false,
            method: Method::POST,
            path: "/api/v1/write".into(),
            headers,
            body: Bytes::new(),
            decompressed: Some(Ok(body)),
        }
    }

    /// An RW 1.0 request with the model's samples `(id, index)`; `edit` may spoil one.
    fn rw1(m: &Model, points: &[(u64, u64)], edit: impl Fn(&mut v1::TimeSeries)) -> Vec<u8> {
        let timeseries = points
            .iter()
            .map(|&(id, i)| {
                let t = m
                    .synthetic_timestamp(m.target_of(id), i)
                    .unwrap_or_default();
                let mut ts = v1::TimeSeries {
                    labels: m
                        .labels(id)
                        .into_iter()
                        .map(|(name, value)| v1::Label { name, value })
                        .collect(),
                    ..Default::default()
                };
                match m.kind(id) {
                    SeriesKind::Float => ts.samples.push(v1::Sample {
                        value: m.value(id, i),
                        timestamp: t,
                    }),
                    SeriesKind::Histogram => ts.histograms.push(v1::Histogram {
                        count: Some(v1::histogram::Count::CountInt(m.histogram(id, i).count)),
                        timestamp: t,
                        ..Default::default()
                    }),
                }
                edit(&mut ts);
                ts
            })
            .collect();
        v1::WriteRequest {
            timeseries,
            metadata: Vec::new(),
        }
        .encode_to_vec()
    }

    fn all(m: &Model) -> Vec<(u64, u64)> {
        (0..m.samples_per_series)
            .flat_map(|i| (0..m.series).map(move |id| (id, i)))
            .collect()
    }

    fn verifier(faults: Faults) -> (Arc<Model>, Verifier) {
        let m = model();
        let log = Arc::new(AppendLog::new(m.scrapes(), Instant::now()));
        for seq in 0..m.scrapes() {
            log.set(seq, 1);
        }
        (m.clone(), Verifier::new(m, log, faults))
    }

    #[test]
    fn everything_once_in_order_passes() {
        let (m, v) = verifier(Faults::default());
        let points = all(&m);
        for chunk in points.chunks(7) {
            let r = v.handle(&request(rw1(&m, chunk, |_| {}), false));
            assert_eq!(r, Some(Reply::no_content()));
        }
        let rep = v.report(m.scrapes());
        assert!(rep.ok, "{:?} {:?}", rep.errors, rep.examples);
        let (f, h, _) = m.totals();
        assert_eq!((rep.samples, rep.histograms, rep.missing), (f, h, 0));
        assert_eq!(rep.lag.len(), f + h);
        // A run cut short only expects what was written.
        let (m2, v2) = verifier(Faults::default());
        let first: Vec<_> = all(&m2).into_iter().filter(|p| p.1 == 0).collect();
        v2.handle(&request(rw1(&m2, &first, |_| {}), false));
        assert!(v2.report(m2.targets()).ok);
        assert!(!v2.report(m2.targets() + 1).ok);
    }

    type Spoil = fn(&mut v1::TimeSeries);

    #[test]
    fn each_kind_of_wrong_arrival_is_caught() {
        let spoil_value: Spoil = |ts| {
            if let Some(s) = ts.samples.first_mut() {
                s.value += 1.0;
            }
        };
        let spoil_ts: Spoil = |ts| {
            if let Some(s) = ts.samples.first_mut() {
                s.timestamp += 1;
            }
        };
        let spoil_label: Spoil = |ts| ts.labels[0].value.push('x');
        let spoil_id: Spoil = |ts| {
            for l in &mut ts.labels {
                if l.name == "id" {
                    l.value = "999".into();
                }
            }
        };
        let none: Spoil = |_| {};
        // (points sent, spoiler applied to series 0's first arrival, expected error field)
        type Case = (
            &'static str,
            Vec<(u64, u64)>,
            Spoil,
            fn(&VerifyErrors) -> u64,
        );
        let cases: Vec<Case> = vec![
            ("duplicate", vec![(0, 0), (0, 0)], none, |e| e.duplicate),
            ("gap", vec![(0, 0), (0, 2)], none, |e| e.out_of_order),
            ("reorder", vec![(0, 1), (0, 0)], none, |e| {
                e.duplicate + e.out_of_order - 1
            }),
            ("value", vec![(0, 0)], spoil_value, |e| e.bad_value),
            ("timestamp", vec![(0, 0)], spoil_ts, |e| e.bad_timestamp),
            ("labels", vec![(0, 0)], spoil_label, |e| e.label_mismatch),
            ("unknown", vec![(0, 0)], spoil_id, |e| e.unknown_series),
        ];
        for (name, points, spoil, field) in cases {
            let (m, v) = verifier(Faults::default());
            for (n, p) in points.iter().enumerate() {
                let body = rw1(&m, &[*p], |ts| {
                    if n == 0 {
                        spoil(ts)
                    }
                });
                v.handle(&request(body, false));
            }
            let rep = v.report(m.scrapes());
            assert!(!rep.ok, "{name}");
            assert_eq!(field(&rep.errors), 1, "{name}: {:?}", rep.errors);
            assert!(!rep.examples.is_empty(), "{name}");
        }
    }

    #[test]
    fn faults_refuse_requests_and_lose_samples() {
        let (m, v) = verifier(Faults {
            error_every: 2,
            ..Faults::default()
        });
        let points = all(&m);
        // Every second request is refused with 503 and must be resent to count.
        for chunk in points.chunks(5) {
            let body = rw1(&m, chunk, |_| {});
            assert_eq!(
                v.handle(&request(body.clone(), false)),
                Some(Reply::no_content())
            );
            assert_eq!(v.handle(&request(body, false)), Some(Reply::status(503)));
        }
        let rep = v.report(m.scrapes());
        assert!(rep.ok, "{:?}", rep.examples);
        assert_eq!(rep.refused, rep.requests / 2);

        let (m, v) = verifier(Faults {
            drop_samples: 1,
            latency: Duration::from_millis(3),
            ..Faults::default()
        });
        let r = v.handle(&request(rw1(&m, &all(&m), |_| {}), false));
        assert_eq!(
            r,
            Some(Reply::no_content().delayed(Duration::from_millis(3)))
        );
        let rep = v.report(m.scrapes());
        assert!(!rep.ok);
        // The lost sample shows as a gap before the series' next one.
        let (f, h, _) = m.totals();
        assert_eq!(rep.errors.out_of_order, 1);
        assert_eq!(rep.samples + rep.histograms, f + h - 1);
    }

    #[test]
    fn rw2_requests_are_verified_and_answered_with_written_counts() {
        let (m, v) = verifier(Faults::default());
        let mut symbols = vec![String::new()];
        let mut sym = |s: &str| {
            if let Some(i) = symbols.iter().position(|x| x == s) {
                return i as u32;
            }
            symbols.push(s.to_string());
            (symbols.len() - 1) as u32
        };
        let mut timeseries = Vec::new();
        for (id, i) in all(&m).into_iter().filter(|p| p.1 == 0) {
            let t = m
                .synthetic_timestamp(m.target_of(id), i)
                .unwrap_or_default();
            let mut ts = v2::TimeSeries {
                labels_refs: m
                    .labels(id)
                    .iter()
                    .flat_map(|(n, v)| [sym(n), sym(v)])
                    .collect(),
                ..Default::default()
            };
            match m.kind(id) {
                SeriesKind::Float => ts.samples.push(v2::Sample {
                    value: m.value(id, i),
                    timestamp: t,
                    start_timestamp: 0,
                }),
                SeriesKind::Histogram => ts.histograms.push(v2::Histogram {
                    count: Some(v2::histogram::Count::CountInt(m.histogram(id, i).count)),
                    timestamp: t,
                    ..Default::default()
                }),
            }
            timeseries.push(ts);
        }
        let body = v2::Request {
            symbols,
            timeseries,
        }
        .encode_to_vec();
        let r = v.handle(&request(body, true));
        let (f, h, _) = m.totals();
        let (f, h) = (f / m.samples_per_series, h / m.samples_per_series);
        assert_eq!(r, Some(Reply::written(f, h, 0)));
        let rep = v.report(m.targets());
        assert!(rep.ok, "{:?}", rep.examples);
        assert_eq!((rep.samples, rep.histograms), (f, h));
    }
}
