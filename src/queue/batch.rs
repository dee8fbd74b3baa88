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
            enc.compressor.compress_rw2_into(raw, &mut enc.arena)?
        }
    };
    Ok((body, out))
}

/// Empties `batch`, from which `encoded` was just made. A float sample owns nothing, so
/// when the encoder counted every item as one (nearly always), the items are forgotten
/// at once instead of each being checked for something to free (2 % of a core loop's
/// time went to that scan, perf).
pub fn clear_batch(batch: &mut Vec<Item>, encoded: &Encoded) {
    if encoded.counts.samples == batch.len() as u64 {
        // SAFETY: `push_all` counts a sample only for an `ItemKind::Sample` item, whose
        // fields (`f64`, `i64`) and the item's (`SeriesRef`, `i64`) have no destructor;
        // so every item of `batch` is plain data and shortening the vector leaks nothing.
        unsafe { batch.set_len(0) };
    } else {
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::EncodedSeries;

    fn setup() -> (ShardSeries, RwLock<SymbolInterner>) {
        let mut interner = SymbolInterner::new();
        let mut series = ShardSeries::new(1);
        for (sref, name) in [(1, "a"), (2, "b")] {
            let s = EncodedSeries::new([(&b"__name__"[..], name.as_bytes())], &mut interner);
            series.announce(sref, s.unwrap());
        }
        (series, RwLock::new(interner))
    }

    fn sample(sref: u64, t: i64) -> Item {
        Item::sample(sref, t, 1.5)
    }

    /// `clear_batch` forgets items without dropping them only when the encoder counted
    /// every item as a float sample: a histogram, an exemplar or an item of an unknown
    /// series must each make the counts disagree, so those batches are dropped item by
    /// item.
    #[test]
    fn only_all_sample_batches_skip_item_drops() {
        let (series, interner) = setup();
        let mut enc = Encoders::default();
        let histogram = Item {
            sref: 2,
            t: 3,
            kind: ItemKind::Histogram {
                st: 0,
                h: Box::new(Histogram {
                    count: 1,
                    ..Histogram::default()
                }),
            },
        };
        let exemplar = Item {
            sref: 1,
            t: 4,
            kind: ItemKind::Exemplar {
                v: 2.0,
                labels: Box::new(vec![(b"trace_id"[..].into(), b"abc"[..].into())].into()),
            },
        };
        let cases: Vec<(Vec<Item>, bool)> = vec![
            (vec![sample(1, 1), sample(2, 2)], true),
            (vec![sample(1, 1), histogram], false),
            (vec![sample(1, 1), exemplar], false),
            (vec![sample(1, 1), sample(9, 2)], false),
        ];
        for format in [WireFormat::Rw1, WireFormat::Rw2] {
            for (items, all_samples) in &cases {
                let mut batch = items.clone();
                let (body, encoded) =
                    encode_batch(&mut enc, &batch, &series, format, &interner).unwrap();
                assert!(!body.is_empty());
                assert_eq!(
                    encoded.counts.samples == batch.len() as u64,
                    *all_samples,
                    "{format:?} {items:?}"
                );
                let capacity = batch.capacity();
                clear_batch(&mut batch, &encoded);
                assert!(batch.is_empty());
                assert_eq!(batch.capacity(), capacity, "the vector is kept for reuse");
            }
        }
    }
}
