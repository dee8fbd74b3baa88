//! The benchmark's receivers: an in-process [`Sink`] (h2c, TLS h2 or HTTP/1.1) on its own
//! pinned core, either verifying every request against the generator's model
//! ([`Verifier`]) or only counting (null sink: RW 1.0 bodies are not even decompressed;
//! RW 2.0 bodies are skimmed for the `X-Prometheus-Remote-Write-*-Written` counts, without
//! which a sender falls back to RW 1.0).

use super::verify::{Faults, Verifier};
use super::wire::count_v2;
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
            let (s, h, e) = count_v2(&body).unwrap_or_default();
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
