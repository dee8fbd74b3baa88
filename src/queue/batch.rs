//! Turning a batch of queued items into one compressed request body.

use super::{Item, ItemKind};
use crate::encode::{
    Compression, Compressor, EncodeError, Pushed, Rw1Encoder, Rw2Encoder, SymbolInterner,
};
use crate::http::{SentCounts, WireFormat};
use crate::record::RefSample;
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
    /// Highest timestamp in the batch (ms).
    pub max_t: i64,
}

/// Encodes `batch` in `format` and compresses it into a body that can be handed to the
/// HTTP pool without copying.
pub fn encode_batch(
    enc: &mut Encoders,
    batch: &[Item],
    format: WireFormat,
    interner: &RwLock<SymbolInterner>,
) -> Result<(Bytes, Encoded), EncodeError> {
    let mut out = Encoded {
        max_t: i64::MIN,
        ..Encoded::default()
    };
    let raw: &[u8] = match format {
        WireFormat::Rw1 => {
            let mut req = enc.rw1.begin();
            for it in batch {
                out.max_t = out.max_t.max(it.t);
                let pushed = match &it.kind {
                    ItemKind::Sample { v, st } => {
                        let s = RefSample {
                            sref: 0,
                            t: it.t,
                            st: *st,
                            v: *v,
                        };
                        req.push_sample(&it.series, &s);
                        out.counts.samples += 1;
                        continue;
                    }
                    ItemKind::Histogram { h, .. } => req.push_histogram(&it.series, it.t, h),
                    ItemKind::FloatHistogram { h, .. } => {
                        req.push_float_histogram(&it.series, it.t, h)
                    }
                    ItemKind::Exemplar { v, labels } => {
                        req.push_exemplar(
                            &it.series,
                            it.t,
                            *v,
                            labels.iter().map(|(n, v)| (&n[..], &v[..])),
                        );
                        out.counts.exemplars += 1;
                        continue;
                    }
                };
                match pushed {
                    Pushed::Added => out.counts.histograms += 1,
                    Pushed::Dropped(_) => out.unsupported += 1,
                }
            }
            req.finish()?.bytes
        }
        WireFormat::Rw2 => {
            let interner = interner
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut req = enc.rw2.begin(&interner);
            for it in batch {
                out.max_t = out.max_t.max(it.t);
                let pushed = match &it.kind {
                    ItemKind::Sample { v, st } => {
                        let s = RefSample {
                            sref: 0,
                            t: it.t,
                            st: *st,
                            v: *v,
                        };
                        req.push_sample(&it.series, &s);
                        out.counts.samples += 1;
                        continue;
                    }
                    ItemKind::Histogram { st, h } => req.push_histogram(&it.series, it.t, *st, h),
                    ItemKind::FloatHistogram { st, h } => {
                        req.push_float_histogram(&it.series, it.t, *st, h)
                    }
                    ItemKind::Exemplar { v, labels } => {
                        req.push_exemplar(
                            &it.series,
                            it.t,
                            *v,
                            labels.iter().map(|(n, v)| (&n[..], &v[..])),
                        );
                        out.counts.exemplars += 1;
                        continue;
                    }
                };
                match pushed {
                    Pushed::Added => out.counts.histograms += 1,
                    Pushed::Dropped(_) => out.unsupported += 1,
                }
            }
            let raw = req.finish()?.bytes;
            // The borrow of the interner ends with the request; compress outside it.
            let body = enc.compressor.compress_into(raw, &mut enc.arena)?;
            return Ok((body, out));
        }
    };
    let body = enc.compressor.compress_into(raw, &mut enc.arena)?;
    Ok((body, out))
}
