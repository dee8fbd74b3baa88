#![allow(dead_code)]
//! An in-process receiver handler that decodes every RW 1.0 / 2.0 request and records,
//! per series (labels as `name=value,...`), every accepted (timestamp, value bits) in
//! arrival order. Faults are scripted: every `fail_every`-th request fails (503 / 429
//! with Retry-After alternately), and while `down` is set every request gets a 503.

use prost::Message;
use ringwrite::encode::proto::{v1, v2};
use ringwrite::sink::{Handler, ReceivedRequest, Reply};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Per series: accepted (timestamp, value bits), in arrival order.
pub type Accepted = BTreeMap<String, Vec<(i64, u64)>>;

#[derive(Default)]
pub struct Recorder {
    pub accepted: Mutex<Accepted>,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub samples: AtomicU64,
    pub fail_every: u64,
    pub down: AtomicBool,
}

impl Recorder {
    pub fn new(fail_every: u64) -> Recorder {
        Recorder {
            fail_every,
            ..Recorder::default()
        }
    }

    pub fn snapshot(&self) -> Accepted {
        self.accepted.lock().unwrap().clone()
    }
}

impl Handler for Recorder {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if self.down.load(Ordering::SeqCst) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Some(Reply::status(503));
        }
        if self.fail_every > 0 && n % self.fail_every == 0 {
            self.failures.fetch_add(1, Ordering::SeqCst);
            // Alternate a 503 and a 429 with Retry-After (retry_on_http_429 is on).
            return Some(if n % (2 * self.fail_every) == 0 {
                Reply::retry_after(429, "1")
            } else {
                Reply::status(503)
            });
        }
        let body = match &req.decompressed {
            Some(Ok(b)) => b,
            other => panic!("undecodable body: {other:?}"),
        };
        let v2 = req
            .headers
            .get("content-type")
            .is_some_and(|c| c.to_str().unwrap_or("").contains("v2"));
        let mut acc = self.accepted.lock().unwrap();
        let mut samples = 0u64;
        if v2 {
            let r = v2::Request::decode(&body[..]).expect("RW 2.0 body");
            for ts in r.timeseries {
                let labels: Vec<String> = ts
                    .labels_refs
                    .chunks(2)
                    .map(|p| format!("{}={}", r.symbols[p[0] as usize], r.symbols[p[1] as usize]))
                    .collect();
                let e = acc.entry(labels.join(",")).or_default();
                for s in ts.samples {
                    e.push((s.timestamp, s.value.to_bits()));
                    samples += 1;
                }
            }
            self.samples.fetch_add(samples, Ordering::SeqCst);
            return Some(Reply::written(samples, 0, 0));
        }
        let r = v1::WriteRequest::decode(&body[..]).expect("RW 1.0 body");
        for ts in r.timeseries {
            let labels: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            let e = acc.entry(labels.join(",")).or_default();
            for s in ts.samples {
                e.push((s.timestamp, s.value.to_bits()));
                samples += 1;
            }
        }
        self.samples.fetch_add(samples, Ordering::SeqCst);
        Some(Reply::no_content())
    }
}

/// What arrived compared with what was written.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Written but never accepted.
    pub missing: u64,
    /// Accepted more than once (beyond the first).
    pub duplicates: u64,
    /// Accepted but never written.
    pub unexpected: u64,
    /// Series whose first arrivals are not in timestamp order.
    pub out_of_order_series: u64,
}

/// Compares `got` with `want` (per series, timestamps ascending).
pub fn compare(want: &Accepted, got: &Accepted) -> Delivery {
    let mut d = Delivery::default();
    for (k, w) in want {
        let g = got.get(k).map(Vec::as_slice).unwrap_or(&[]);
        let mut seen = std::collections::HashSet::new();
        let mut firsts = Vec::new();
        for x in g {
            if seen.insert(*x) {
                firsts.push(*x);
            } else {
                d.duplicates += 1;
            }
        }
        if firsts.windows(2).any(|p| p[0].0 >= p[1].0) {
            d.out_of_order_series += 1;
        }
        let wset: std::collections::HashSet<_> = w.iter().copied().collect();
        d.missing += w.iter().filter(|x| !seen.contains(x)).count() as u64;
        d.unexpected += seen.iter().filter(|x| !wset.contains(x)).count() as u64;
    }
    for (k, g) in got {
        if !want.contains_key(k) {
            d.unexpected += g.len() as u64;
        }
    }
    d
}
