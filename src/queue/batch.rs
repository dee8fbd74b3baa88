//! Turning a batch of queued items into one compressed request body.

use super::{Item, ItemKind, OwnedLabels, ShardSeries};
use crate::encode::{
    Compression, Compressor, EncodeError, EncodedSeries, Pushed, Rw1Encoder, Rw1Request,
    Rw2Encoder, Rw2Request, SymbolInterner,
};
use crate::http::{SentCounts, WireFormat};
use crate::record::{FloatHistogram, Histogram, RefSample};
use bytes::{Bytes, BytesMut};
use std::sync::RwLock;

/// The reusable encoders and buffers of one shard.
pub struct Encoders {
    rw1: Rw1Encoder,
    rw2: Rw2Encoder,
    compressor: Compressor,
    arena: BytesMut,
}

impl Default for Encoders {
    fn default() -> Self {
        Encoders {
            rw1: Rw1Encoder::new(),
            rw2: Rw2Encoder::new(),
            compressor: Compressor::new(Compression::Snappy),
            arena: BytesMut::with_capacity(1 << 20),
        }
    }
}

/// What went into a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Encoded {
    pub counts: SentCounts,
    /// Items the protocol cannot carry (RW 1.0 and custom-bucket histograms).
    pub unsupported: u64,
    /// Items whose series the shard was never told about (a bug: counted, not sent).
    pub missing: u64,
    /// Highest timestamp in the batch (ms).
    pub max_t: i64,
}

/// What both request builders offer, so one loop fills either.
trait Request {
    fn sample(&mut self, series: &EncodedSeries, s: &RefSample);
    fn histogram(&mut self, series: &EncodedSeries, t: i64, st: i64, h: &Histogram) -> Pushed;
    fn float_histogram(
        &mut self,
        series: &EncodedSeries,
        t: i64,
        st: i64,
        h: &FloatHistogram,
    ) -> Pushed;
    fn exemplar(&mut self, series: &EncodedSeries, t: i64, v: f64, labels: &OwnedLabels);
}

impl Request for Rw1Request<'_> {
    fn sample(&mut self, series: &EncodedSeries, s: &RefSample) {
        self.push_sample(series, s)
    }
    fn histogram(&mut self, series: &EncodedSeries, t: i64, _st: i64, h: &Histogram) -> Pushed {
        self.push_histogram(series, t, h)
    }
    fn float_histogram(
        &mut self,
        series: &EncodedSeries,
        t: i64,
        _st: i64,
        h: &FloatHistogram,
    ) -> Pushed {
        self.push_float_histogram(series, t, h)
    }
    fn exemplar(&mut self, series: &EncodedSeries, t: i64, v: f64, labels: &OwnedLabels) {
        self.push_exemplar(series, t, v, labels.iter().map(|(n, v)| (&n[..], &v[..])))
    }
}

impl Request for Rw2Request<'_> {
    fn sample(&mut self, series: &EncodedSeries, s: &RefSample) {
        self.push_sample(series, s)
    }
    fn histogram(&mut self, series: &EncodedSeries, t: i64, st: i64, h: &Histogram) -> Pushed {
        self.push_histogram(series, t, st, h)
    }
    fn float_histogram(
        &mut self,
        series: &EncodedSeries,
        t: i64,
        st: i64,
        h: &FloatHistogram,
    ) -> Pushed {
        self.push_float_histogram(series, t, st, h)
    }
    fn exemplar(&mut self, series: &EncodedSeries, t: i64, v: f64, labels: &OwnedLabels) {
        self.push_exemplar(series, t, v, labels.iter().map(|(n, v)| (&n[..], &v[..])))
    }
}

/// Pushes every item of `batch` into `req`, counting what went in.
fn push_all(req: &mut impl Request, batch: &[Item], series: &ShardSeries, out: &mut Encoded) {
    // The series of a batch are scattered over memory: each is looked up once and
    // prefetched `AHEAD` items early (one block each, reached from the table's pointer).
    const AHEAD: usize = 16;
    let mut ring: [Option<&EncodedSeries>; AHEAD] = [None; AHEAD];
    let lookup = |i: usize| batch.get(i).and_then(|n| series.get(n.sref));
    for (i, slot) in ring.iter_mut().enumerate() {
        *slot = lookup(i);
        if let Some(s) = slot {
            s.prefetch();
        }
    }
    for (i, it) in batch.iter().enumerate() {
        let current = ring[i % AHEAD];
        let next = lookup(i + AHEAD);
        if let Some(s) = next {
            s.prefetch();
        }
        ring[i % AHEAD] = next;
        let Some(s) = current else {
            out.missing += 1;
            continue;
        };
        out.max_t = out.max_t.max(it.t);
        let pushed = match &it.kind {
            ItemKind::Sample { v, st } => {
                let sample = RefSample {
                    sref: 0,
                    t: it.t,
                    st: *st,
                    v: *v,
                };
                req.sample(s, &sample);
                out.counts.samples += 1;
                continue;
            }
            ItemKind::Histogram { st, h } => req.histogram(s, it.t, *st, h),
            ItemKind::FloatHistogram { st, h } => req.float_histogram(s, it.t, *st, h),
            ItemKind::Exemplar { v, labels } => {
                req.exemplar(s, it.t, *v, labels);
                out.counts.exemplars += 1;
                continue;
            }
        };
        match pushed {
            Pushed::Added => out.counts.histograms += 1,
            Pushed::Dropped(_) => out.unsupported += 1,
        }
    }
}

/// Encodes `batch` in `format` and compresses it into a body that can be handed to the
/// HTTP pool without copying.
pub fn encode_batch(
    enc: &mut Encoders,
    batch: &[Item],
    series: &ShardSeries,
    format: WireFormat,
    interner: &RwLock<SymbolInterner>,
) -> Result<(Bytes, Encoded), EncodeError> {
    let mut out = Encoded {
        max_t: i64::MIN,
        ..Encoded::default()
    };
    let body = match format {
        WireFormat::Rw1 => {
            let mut req = enc.rw1.begin();
            push_all(&mut req, batch, series, &mut out);
            let raw = req.finish()?.bytes;
            enc.compressor.compress_into(raw, &mut enc.arena)?
        }
        WireFormat::Rw2 => {
            let interner = interner
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut req = enc.rw2.begin(&interner);
            push_all(&mut req, batch, series, &mut out);
            let raw = req.finish()?.bytes;
            enc.compressor.compress_into(raw, &mut enc.arena)?
        }
    };
    Ok((body, out))
}
