//! Shards (FORMATS.md §5.2): bounded queues between the WAL reader and the senders.
//! `shard = series ref mod N`, so each series stays in order; each shard has one request in
//! flight and retries it until it is accepted or dropped, so order holds through retries;
//! a full queue makes the reader wait (backpressure), never a drop.
//!
//! The reader side ([`Router`]) runs on the endpoint's WAL thread; each shard
//! ([`run_shard`]) is a task on one of the pinned core loops.

mod batch;
mod divisor;
mod drops;
mod ratelimit;
mod router;
mod series;
mod shard;
mod tenant;

pub use batch::{encode_batch, Encoders};
pub use divisor::RefDivisor;
pub use drops::{Drops, Loss, KINDS};
pub use ratelimit::RateLimit;
pub use router::{Router, ShardHandle};
pub use series::ShardSeries;
pub use shard::{age_cutoff, run_shard, SendObserver, ShardContext, ShardSettings};
pub use tenant::{label_value, TenantGroup, Tenants};

use crate::encode::EncodedSeries;
use crate::record::{FloatHistogram, Histogram, SeriesRef};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// One queued entry: its series ref (the shard holds the series, see [`ShardSeries`])
/// and what to send.
#[derive(Debug, Clone)]
pub struct Item {
    pub sref: SeriesRef,
    pub t: i64,
    pub kind: ItemKind,
}

/// Exemplar labels owned by a queued item (name, value).
pub type OwnedLabels = Box<[(Box<[u8]>, Box<[u8]>)]>;

#[derive(Debug, Clone)]
pub enum ItemKind {
    Sample {
        v: f64,
        st: i64,
    },
    Histogram {
        st: i64,
        h: Box<Histogram>,
    },
    FloatHistogram {
        st: i64,
        h: Box<FloatHistogram>,
    },
    /// Boxed twice so that `ItemKind` stays 24 bytes (items are copied through the queues).
    Exemplar {
        v: f64,
        labels: Box<OwnedLabels>,
    },
}

// Queued items are written by the reader and read by a shard's core: keep them small.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Item>() == 40);

impl Item {
    /// The kind of data this item counts as in the metrics.
    pub fn metric_kind(&self) -> crate::metrics::Kind {
        match self.kind {
            ItemKind::Sample { .. } => crate::metrics::Kind::Samples,
            ItemKind::Histogram { .. } | ItemKind::FloatHistogram { .. } => {
                crate::metrics::Kind::Histograms
            }
            ItemKind::Exemplar { .. } => crate::metrics::Kind::Exemplars,
        }
    }

    /// Whether this item counts as a sample (float or histogram) for batch sizes.
    pub fn is_exemplar(&self) -> bool {
        matches!(self.kind, ItemKind::Exemplar { .. })
    }
}

#[cfg(test)]
impl Item {
    /// A float sample of `sref` at `t`, for tests.
    pub(crate) fn sample(sref: SeriesRef, t: i64, v: f64) -> Item {
        Item {
            sref,
            t,
            kind: ItemKind::Sample { v, st: 0 },
        }
    }
}

/// Items for one shard, with the series announced to it first (see [`ShardSeries`]).
#[derive(Default)]
pub struct Chunk {
    pub series: Vec<(SeriesRef, Arc<EncodedSeries>)>,
    pub items: Vec<Item>,
}

/// Messages from the reader to a shard.
pub enum ShardMsg {
    Items(Chunk),
    /// A checkpoint retired these refs: forget them after what was received before.
    Forget(Vec<SeriesRef>),
    /// Progress mark `seq`: complete it once every item received before it has finished
    /// (see `progress`).
    Mark(u64),
    /// Send everything queued, then stop and answer on the channel.
    Stop(flume::Sender<()>),
}

/// Counters the resharding controller and the metrics read (FORMATS.md §5.4–5.5), shared
/// by all shards of one endpoint.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Items whose send finished (sent or dropped by the receiver).
    pub data_out: AtomicU64,
    /// Items dropped before sending (unknown series, too old, unsupported).
    pub data_dropped: AtomicU64,
    /// Nanoseconds spent sending, retries and backoff included.
    pub data_out_duration_nanos: AtomicU64,
    /// Highest sample timestamp (ms) in a finished batch.
    pub highest_sent_ms: AtomicI64,
    /// Wall clock (ms since the epoch) of the last finished send.
    pub last_send_ms: AtomicI64,
    /// Items currently queued or in flight.
    pub pending: AtomicI64,
    /// Samples (float + histogram) acknowledged by the receiver.
    pub samples_acked: AtomicU64,
    /// Samples lost to non-recoverable errors or a hard stop.
    pub samples_failed: AtomicU64,
    /// Exemplars acknowledged.
    pub exemplars_acked: AtomicU64,
    /// Retries (one per backoff sleep).
    pub retries: AtomicU64,
    /// Request bodies encoded while the shard's previous request was in flight: its next
    /// batch (see `shard::look_ahead`), or with `tenant_label` the next tenant's group.
    pub batches_encoded_ahead: AtomicU64,
    /// Dropped before sending, by kind and reason.
    pub drops: Drops,
}

impl QueueStats {
    pub fn new() -> Arc<QueueStats> {
        Arc::new(QueueStats::default())
    }

    pub(crate) fn note_sent_timestamp(&self, t_ms: i64) {
        self.highest_sent_ms.fetch_max(t_ms, Ordering::Relaxed);
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
