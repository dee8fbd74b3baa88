//! The benchmark's receivers: an in-process [`Sink`] (h2c, TLS h2 or HTTP/1.1) on its own
//! pinned core, either verifying every request against the generator's model
//! ([`Verifier`]) or only counting (null sink: RW 1.0 bodies are not even decompressed;
//! RW 2.0 bodies are skimmed for the `X-Prometheus-Remote-Write-*-Written` counts, without
//! which a sender falls back to RW 1.0).

use super::verify::{Faults, Verifier};
use super::{AppendLog, Model};
use crate::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the sink does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkMode {
    Null,
    Verify,
}

/// A running benchmark receiver.
pub struct BenchSink {
    pub sink: Sink,
    /// Set in [`SinkMode::Verify`].
    pub verifier: Option<Arc<Verifier>>,
    pub null: Option<Arc<NullCounter>>,
}

impl BenchSink {
    /// Starts the receiver, pinned to `core` if given.
    pub fn start(
        mode: SinkMode,
        transport: SinkTransport,
        core: Option<usize>,
        faults: Faults,
        model: Arc<Model>,
        log: Arc<AppendLog>,
    ) -> std::io::Result<BenchSink> {
        let mut b = Sink::builder(transport).record(false);
        if let Some(core) = core {
            b = b.pin_to_core(core);
        }
        let (verifier, null) = match mode {
            SinkMode::Verify => (Some(Arc::new(Verifier::new(model, log, faults))), None),
            SinkMode::Null => (None, Some(Arc::new(NullCounter::new(faults)))),
        };
        let handler: Arc<dyn Handler> = match (&verifier, &null) {
            (Some(v), _) => v.clone(),
            (None, Some(n)) => n.clone(),
            // INVARIANT: exactly one of the two is set just above.
            (None, None) => unreachable!("a bench sink has a handler"),
        };
        // The null sink only needs bodies for RW 2.0, and decompresses per request then.
        let sink = b
            .decompress(mode == SinkMode::Verify)
            .handler(handler)
            .start()?;
        Ok(BenchSink {
            sink,
            verifier,
            null,
        })
    }

    /// Samples and histograms counted (verified, for the verifying sink).
    pub fn samples(&self) -> u64 {
        match (&self.verifier, &self.null) {
            (Some(v), _) => v.verified(),
            (_, Some(n)) => n.samples.load(Ordering::Relaxed),
            _ => 0,
        }
    }
}

/// The null sink's handler: counts, answers 204 (with Written counts for RW 2.0).
pub struct NullCounter {
    faults: Faults,
    pub requests: AtomicU64,
    /// Samples + histograms (RW 2.0 only; RW 1.0 bodies are not read).
    pub samples: AtomicU64,
    decoder: std::sync::Mutex<snap::raw::Decoder>,
}

impl NullCounter {
    fn new(faults: Faults) -> NullCounter {
        NullCounter {
            faults,
            requests: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            decoder: std::sync::Mutex::new(snap::raw::Decoder::new()),
        }
    }
}

impl Handler for NullCounter {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let reply = if self.faults.error_every > 0 && n % self.faults.error_every == 0 {
            Reply::status(503)
        } else if req
            .headers
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.contains("io.prometheus.write.v2"))
        {
            let body = self
                .decoder
                .lock()
                .ok()
                .and_then(|mut d| d.decompress_vec(&req.body).ok())
                .unwrap_or_default();
            let (s, h, e) = count_v2(&body);
            self.samples.fetch_add(s + h, Ordering::Relaxed);
            Reply::written(s, h, e)
        } else {
            Reply::no_content()
        };
        Some(if self.faults.latency.is_zero() {
            reply
        } else {
            reply.delayed(self.faults.latency)
        })
    }
}

fn varint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*i)?;
        *i += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Calls `f(field, payload)` for every length-delimited field of a message; stops at the
/// first malformed byte.
fn length_delimited(b: &[u8], mut f: impl FnMut(u64, &[u8])) {
    let mut i = 0;
    while i < b.len() {
        let Some(key) = varint(b, &mut i) else { return };
        let skip = match key & 7 {
            0 => varint(b, &mut i).map(|_| 0),
            1 => Some(8),
            2 => {
                let Some(n) = varint(b, &mut i).and_then(|n| usize::try_from(n).ok()) else {
                    return;
                };
                let Some(payload) = i.checked_add(n).and_then(|end| b.get(i..end)) else {
                    return;
                };
                f(key >> 3, payload);
                Some(n)
            }
            5 => Some(4),
            _ => None,
        };
        let Some(skip) = skip else { return };
        i += skip;
    }
}

/// (samples, histograms, exemplars) in an RW 2.0 `Request` body, without decoding it.
pub fn count_v2(body: &[u8]) -> (u64, u64, u64) {
    let (mut s, mut h, mut e) = (0, 0, 0);
    length_delimited(body, |field, ts| {
        if field == 5 {
            length_delimited(ts, |f, _| match f {
                2 => s += 1,
                3 => h += 1,
                4 => e += 1,
                _ => {}
            });
        }
    });
    (s, h, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::proto::v2;
    use prost::Message;

    #[test]
    fn count_v2_agrees_with_prost() {
        let cases: [(usize, usize, usize); 4] = [(0, 0, 0), (3, 0, 1), (0, 2, 0), (200, 7, 9)];
        for (s, h, e) in cases {
            let ts = v2::TimeSeries {
                labels_refs: vec![1, 2],
                samples: (0..s)
                    .map(|i| v2::Sample {
                        value: i as f64,
                        timestamp: 1_000 + i as i64,
                        start_timestamp: 0,
                    })
                    .collect(),
                histograms: (0..h).map(|_| v2::Histogram::default()).collect(),
                exemplars: (0..e)
                    .map(|i| v2::Exemplar {
                        labels_refs: vec![],
                        value: 1.0,
                        timestamp: i as i64,
                    })
                    .collect(),
                ..Default::default()
            };
            let req = v2::Request {
                symbols: vec!["".into(), "a".into(), "b".into()],
                timeseries: vec![ts.clone(), ts],
            };
            let body = req.encode_to_vec();
            assert_eq!(
                count_v2(&body),
                (2 * s as u64, 2 * h as u64, 2 * e as u64),
                "{s} {h} {e}"
            );
            // Truncated bodies never panic and never count more.
            let cut = count_v2(&body[..body.len() / 2]);
            assert!(cut.0 <= 2 * s as u64);
        }
    }
}
