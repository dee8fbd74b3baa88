//! Remote-write request encoders: RW 1.0 `prometheus.WriteRequest` (FORMATS.md §3) and
//! RW 2.0 `io.prometheus.write.v2.Request` (§4), written by hand straight into reused
//! buffers, then compressed (snappy block format) into a second reused buffer.
//!
//! How a shard uses it:
//!
//! ```text
//! series cache:  EncodedSeries::new(labels, &mut interner)  once per series
//! per batch:     let mut req = rw2.begin(&interner);           (or rw1.begin())
//!                req.push_sample(&series, sample); req.push_histogram(...); ...
//!                let body = req.finish()?;                     raw protobuf + counts
//!                let wire = compressor.compress(body.bytes)?;  snappy block format
//! ```
//!
//! Metadata: RW 1.0 sends `MetricMetadata` entries per request
//! ([`Rw1Request::push_metadata`], `WriteRequest.metadata` = field 3); RW 2.0 sends it
//! with every `TimeSeries`, taken from the series ([`EncodedSeries::with_metadata`]).
//!
//! One encoder per core is enough (encoding is synchronous); an [`Rw2Encoder`] keeps an
//! 8-byte remap entry per interned string, so its memory grows with the interner.
//!
//! Why by hand: label bytes are pre-encoded once per series (RW 1.0) and label symbols
//! are resolved through a generation-stamped array (RW 2.0), so a sample costs a memcpy
//! plus ~20 bytes of varints, with no allocation and no string hashing. prost with
//! reused structs is ~17x slower (RUNTIME-NOTES.md §7). The prost types in [`proto`]
//! are the reference decoder the tests compare against.
//!
//! Grouping: consecutive items of the same series (same [`EncodedSeries::id`]) share one
//! `TimeSeries` as long as the kind fits (samples and histograms never share one, as RW
//! 2.0 requires) and timestamps do not go backwards (a new `TimeSeries` is started
//! instead, so every `TimeSeries` is sorted by time). Items of a series that are not
//! adjacent in the batch go to separate `TimeSeries`, which every receiver accepts;
//! a caller that wants fewer, larger `TimeSeries` (e.g. when catching up a backlog)
//! can stable-sort its batch by series first, which keeps per-series order.

mod compress;
mod group;
mod histogram;
pub mod proto;
mod rw1;
mod rw2;
mod series;
mod snappy;
mod symbols;
mod wire;

pub use compress::{Compression, Compressor};
pub use rw1::{Rw1Encoder, Rw1Request};
pub use rw2::{NameSlots, Rw2Encoder, Rw2Request, SLOTS_MIN_RATIO};
pub use series::{EncodedSeries, SeriesMetadata};
pub use symbols::{SymbolId, SymbolInterner, MAX_NAME_SLOTS, MAX_REQUEST_SYMBOLS, MAX_SYMBOLS};

/// Errors from building series, encoding or compressing a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error(
        "symbol interner is full ({limit} strings); the series cache must rebuild it \
         (too much label churn since the last rebuild)"
    )]
    TooManySymbols { limit: usize },
    #[error(
        "series with {labels} labels and {bytes} bytes of them is too large to keep \
         (at most 32767 labels and 4 GiB)"
    )]
    SeriesTooLarge { labels: usize, bytes: usize },
    #[error("request uses more than {limit} distinct strings; lower max_samples_per_send")]
    TooManyRequestSymbols { limit: usize },
    #[error(
        "symbol id {id} is not in the interner passed to the request; the series was \
         built with a different SymbolInterner"
    )]
    UnknownSymbol { id: u32 },
    #[error(
        "request body of {len} bytes is larger than {compression:?} can compress in one \
         block (limit {limit} bytes); lower max_samples_per_send"
    )]
    TooLarge {
        len: usize,
        limit: usize,
        compression: Compression,
    },
    #[error("{compression:?} compression of a {len}-byte request body failed: {source}")]
    Compress {
        len: usize,
        compression: Compression,
        #[source]
        source: snap::Error,
    },
}

/// What one request holds, for the caller's `*_total` counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchStats {
    /// `TimeSeries` messages written.
    pub timeseries: u64,
    pub samples: u64,
    /// Integer and float native histograms.
    pub histograms: u64,
    pub exemplars: u64,
    /// RW 1.0 `MetricMetadata` entries.
    pub metadata: u64,
    /// Native histograms with custom buckets left out of an RW 1.0 request, to be
    /// counted as dropped with reason [`DropReason::NhcbInRw1NotSupported`].
    pub nhcb_dropped: u64,
}

/// An encoded, uncompressed request body and what it contains.
#[derive(Debug, Clone, Copy)]
pub struct Encoded<'a> {
    /// The serialised protobuf message.
    pub bytes: &'a [u8],
    pub stats: BatchStats,
}

/// Outcome of pushing one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a dropped item must be counted by the caller"]
pub enum Pushed {
    /// The item is in the request.
    Added,
    /// The item cannot be sent with this protocol and was left out.
    Dropped(DropReason),
}

/// Why an item was left out of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// RW 1.0 cannot carry native histograms with custom buckets (schema -53); Prometheus
    /// drops them with this reason since v3.7 (FORMATS.md §3.1).
    NhcbInRw1NotSupported,
}

impl DropReason {
    /// The `reason` label value Prometheus uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NhcbInRw1NotSupported => "nhcb_in_rw1_not_supported",
        }
    }
}
