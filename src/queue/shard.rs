//! One shard: collects items into batches (closed at `max_samples_per_send` or after
//! `batch_send_deadline`), encodes, sends with retries, one request at a time.

use super::batch::{clear_batch, encode_batch, Encoded, Encoders};
use super::{now_ms, Item, Loss, QueueStats, ShardMsg, ShardSeries};
use crate::encode::{EncodedSeries, SymbolInterner};
use crate::http::{send_with_retry_as, BatchOutcome, Pool, RetryPolicy, WireFormat};
use crate::progress::ShardMarks;
use crate::record::SeriesRef;
use crate::reshard::ReshardPause;
use bytes::Bytes;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Per-endpoint settings a shard needs.
#[derive(Clone, Debug)]
pub struct ShardSettings {
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub retry: RetryPolicy,
    /// The configured protocol; the endpoint may have fallen back to RW 1.0.
    pub format: WireFormat,
    /// `sample_age_limit`: data older than this is dropped before a retry (zero: off).
    pub sample_age_limit: Duration,
    /// `max_samples_per_second` / `max_bytes_per_second` (`None`: unlimited).
    pub rate_limit: Option<Arc<super::RateLimit>>,
    /// `tenant_label`: batches are split per tenant header (`None`: one request per batch).
    pub tenants: Option<Arc<super::Tenants>>,
}

/// Everything a shard task owns or shares.
pub struct ShardContext {
    pub id: usize,
    /// How many shards the endpoint has now (this shard gets refs with `ref mod shards == id`).
    pub shards: usize,
    pub rx: flume::Receiver<ShardMsg>,
    pub pool: Rc<Pool>,
    pub settings: ShardSettings,
    pub stats: Arc<QueueStats>,
    pub interner: Arc<RwLock<SymbolInterner>>,
    pub pause: Arc<ReshardPause>,
    pub metrics: Option<Arc<dyn SendObserver>>,
    /// Where this shard reports completed progress marks.
    pub marks: ShardMarks,
}

/// Hooks for metrics: called after every finished batch.
pub trait SendObserver: Send + Sync {
    /// `outcome` of a batch of `items` that took `elapsed`.
    fn batch_done(
        &self,
        outcome: &BatchOutcome,
        counts: &crate::http::SentCounts,
        bytes: usize,
        elapsed: Duration,
    );
    fn retried(&self, counts: &crate::http::SentCounts);
    fn unsupported(&self, n: u64);
    /// Seconds from the newest sample of an acknowledged batch to its acknowledgement.
    fn lag(&self, secs: f64);
}

/// What the shard loop holds between batches. While a request is in flight the shard
/// fills and encodes the next full batch from here (see [`look_ahead`]), so the core has
/// work instead of sleeping until the answer, and the next request leaves as soon as the
/// previous one is answered: still one request in flight, in order.
struct Queue {
    /// Items received beyond the current batch, in order.
    backlog: VecDeque<Item>,
    /// A message [`look_ahead`] took from the channel that was not items; handled first.
    stashed: Option<ShardMsg>,
    /// The next full batch, already encoded.
    ready: Option<Ready>,
    max: usize,
    /// Off for the final flush (the reader is gone): nothing may be left behind.
    look_ahead: bool,
}

/// A full batch encoded while the previous request was in flight.
struct Ready {
    items: Vec<Item>,
    body: Pre,
}

/// A batch's body encoded ahead, and the format it was encoded in.
type Pre = (Bytes, Encoded, WireFormat);

/// The shard loop. Returns when told to stop (after sending what it holds) or when the
/// reader side is gone.
pub async fn run_shard(mut ctx: ShardContext) {
    let mut enc = Encoders::default();
    let mut series = ShardSeries::new(ctx.shards);
    let mut batch: Vec<Item> = Vec::with_capacity(ctx.settings.max_samples_per_send);
    let mut deadline: Option<Instant> = None;
    let max = ctx.settings.max_samples_per_send.max(1);
    let mut stop: Option<flume::Sender<()>> = None;
    let mut q = Queue {
        backlog: VecDeque::new(),
        stashed: None,
        ready: None,
        max,
        // Per-tenant batches are split just before sending: no look-ahead into the
        // channel there; a tenant's group is encoded while the one before it is in flight
        // (see `send_batch`).
        look_ahead: ctx.settings.tenants.is_none(),
    };
    loop {
        if batch.is_empty() {
            if let Some(ready) = q.ready.take() {
                batch = ready.items;
                send_batch(
                    &mut ctx,
                    &mut enc,
                    &mut series,
                    &mut batch,
                    &mut q,
                    Some(ready.body),
                )
                .await;
                deadline = None;
                continue;
            }
        }
        while batch.len() < max {
            match q.backlog.pop_front() {
                Some(it) => batch.push(it),
                None => break,
            }
        }
        // A partial batch always has a deadline, also when it is what was left over
        // after a full one was sent.
        if !batch.is_empty() && deadline.is_none() {
            deadline = Some(Instant::now() + ctx.settings.batch_send_deadline);
        }
        if batch.len() >= max || (stop.is_some() && !batch.is_empty()) {
            send_batch(&mut ctx, &mut enc, &mut series, &mut batch, &mut q, None).await;
            deadline = None;
            continue;
        }
        if let Some(tx) = stop.take() {
            if q.backlog.is_empty() && q.stashed.is_none() {
                let _ = tx.send(());
                return;
            }
            stop = Some(tx);
            if q.stashed.is_none() {
                continue;
            }
        }
        let msg = if let Some(m) = q.stashed.take() {
            Ok(m)
        } else {
            match deadline {
                None => ctx.rx.recv_async().await,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        send_batch(&mut ctx, &mut enc, &mut series, &mut batch, &mut q, None).await;
                        deadline = None;
                        continue;
                    }
                    match monoio::time::timeout(d - now, ctx.rx.recv_async()).await {
                        Ok(m) => m,
                        Err(_) => {
                            send_batch(&mut ctx, &mut enc, &mut series, &mut batch, &mut q, None)
                                .await;
                            deadline = None;
                            continue;
                        }
                    }
                }
            }
        };
        match msg {
            Ok(ShardMsg::Items(chunk)) => {
                let n = receive(&mut ctx.marks, &mut series, chunk.series, chunk.items.len());
                if batch.is_empty() && q.backlog.is_empty() && n <= max {
                    // A whole chunk is a batch: no copy.
                    batch = chunk.items;
                } else {
                    q.backlog.extend(chunk.items)
                }
            }
            Ok(ShardMsg::Forget(refs)) => series.forget(&refs),
            Ok(ShardMsg::Mark(seq)) => ctx.marks.mark(seq),
            Ok(ShardMsg::Stop(tx)) => stop = Some(tx),
            Err(_) => {
                // The reader is gone: send what is left, then end.
                q.look_ahead = false;
                q.backlog.extend(batch.drain(..));
                while !q.backlog.is_empty() {
                    batch.extend(q.backlog.drain(..max.min(q.backlog.len())));
                    send_batch(&mut ctx, &mut enc, &mut series, &mut batch, &mut q, None).await;
                }
                return;
            }
        }
    }
}

/// Counts a chunk of `n` items as received and learns its new series; returns `n`.
fn receive(
    marks: &mut ShardMarks,
    series: &mut ShardSeries,
    announced: Vec<(SeriesRef, Arc<EncodedSeries>)>,
    n: usize,
) -> usize {
    for (sref, s) in announced {
        series.announce(sref, s);
    }
    marks.received(n);
    series.received(n);
    n
}

/// Runs while a request is in flight: takes what the channel already holds (never
/// waits) and, when that makes a full batch, encodes it into `q.ready`. A message other
/// than items stops the taking and is kept for the loop, so everything is handled in
/// the order it came.
#[allow(clippy::too_many_arguments)]
fn look_ahead(
    q: &mut Queue,
    rx: &flume::Receiver<ShardMsg>,
    marks: &mut ShardMarks,
    series: &mut ShardSeries,
    enc: &mut Encoders,
    format: WireFormat,
    interner: &RwLock<SymbolInterner>,
    stats: &QueueStats,
) {
    if !q.look_ahead || q.ready.is_some() {
        return;
    }
    let take = q.max.min(q.backlog.len());
    // Leftovers start a vector with room for the whole batch, so that the chunks
    // appended below never grow (and copy) it; none: the first chunk becomes the batch.
    let mut items: Vec<Item> = Vec::new();
    if take > 0 {
        items.reserve_exact(q.max);
        items.extend(q.backlog.drain(..take));
    }
    while items.len() < q.max && q.stashed.is_none() {
        match rx.try_recv() {
            Ok(ShardMsg::Items(mut chunk)) => {
                receive(marks, series, chunk.series, chunk.items.len());
                let room = q.max - items.len();
                if items.is_empty() && chunk.items.len() <= room {
                    // A whole chunk starts the batch: no copy (chunks are batch-sized).
                    items = chunk.items;
                } else if chunk.items.len() <= room {
                    items.append(&mut chunk.items);
                } else {
                    q.backlog.extend(chunk.items.drain(room..));
                    items.append(&mut chunk.items);
                }
            }
            Ok(other) => q.stashed = Some(other),
            // Empty, or the reader is gone: the loop finds out on its next receive.
            Err(_) => break,
        }
    }
    if items.len() < q.max {
        // Not a full batch: the backlog was emptied into `items` and nothing overflowed,
        // so putting them back in order is an append.
        debug_assert!(q.backlog.is_empty());
        q.backlog.extend(items);
        return;
    }
    match encode_batch(enc, &items, series, format, interner) {
        Ok((body, encoded)) => {
            stats.batches_encoded_ahead.fetch_add(1, Ordering::Relaxed);
            q.ready = Some(Ready {
                items,
                body: (body, encoded, format),
            });
        }
        // The loop encodes this batch again in its turn and reports the error then.
        Err(_) => {
            for it in items.into_iter().rev() {
                q.backlog.push_front(it);
            }
        }
    }
}

/// Lets the tasks woken by a send run first (the HTTP/2 connection task writes the
/// request), so that the work done after this overlaps the request's round trip. A monoio
/// task that wakes itself is polled again before any other task, so the wake comes from
/// a task spawned behind the ones already woken.
async fn let_send_go() {
    let done = Rc::new(std::cell::Cell::new(false));
    let mut spawned = false;
    std::future::poll_fn(|cx| {
        if done.get() {
            return std::task::Poll::Ready(());
        }
        if !spawned {
            spawned = true;
            let (done, waker) = (Rc::clone(&done), cx.waker().clone());
            monoio::spawn(async move {
                done.set(true);
                waker.wake();
            });
        }
        std::task::Poll::Pending
    })
    .await
}

/// The oldest timestamp in `batch` when `sample_age_limit` is on.
fn oldest_t(settings: &ShardSettings, batch: &[Item]) -> Option<i64> {
    if settings.sample_age_limit.is_zero() {
        return None;
    }
    batch.iter().map(|i| i.t).min()
}

/// Timestamps (ms) below this are too old for `limit`.
pub fn age_cutoff(limit: Duration) -> i64 {
    now_ms() - limit.as_millis().min(i64::MAX as u128) as i64
}

/// Removes items older than `sample_age_limit` from `batch`, counting them.
fn drop_too_old(ctx: &ShardContext, batch: &mut Vec<Item>) {
    let cutoff = age_cutoff(ctx.settings.sample_age_limit);
    let before = batch.len();
    batch.retain(|it| {
        let keep = it.t >= cutoff;
        if !keep {
            ctx.stats.drops.add(it.metric_kind(), Loss::TooOld, 1);
        }
        keep
    });
    let dropped = (before - batch.len()) as u64;
    ctx.stats.data_dropped.fetch_add(dropped, Ordering::Relaxed);
}

/// Encodes and sends `batch` (one request per tenant with `tenant_label`) until it is
/// accepted or dropped, then clears it and reports it finished.
async fn send_batch(
    ctx: &mut ShardContext,
    enc: &mut Encoders,
    series: &mut ShardSeries,
    batch: &mut Vec<Item>,
    q: &mut Queue,
    pre: Option<Pre>,
) {
    if batch.is_empty() {
        return;
    }
    let finished = batch.len();
    match ctx.settings.tenants.clone() {
        Some(tenants) => {
            // One request per tenant, in turn; each group's body is encoded while the
            // group before it is in flight.
            let mut groups = tenants.split(std::mem::take(batch), series);
            let mut pre: Option<Pre> = None;
            for i in 0..groups.len() {
                let Some(((tenant, group), rest)) = groups[i..].split_first_mut() else {
                    break;
                };
                let next = rest.first().map(|(_, items)| items.as_slice());
                let tenant = tenant.clone();
                pre = send_group(ctx, enc, series, group, tenant, q, pre.take(), next).await;
            }
        }
        None => {
            send_group(ctx, enc, series, batch, None, q, pre, None).await;
        }
    }
    ctx.stats
        .pending
        .fetch_sub(finished as i64, Ordering::Relaxed);
    batch.clear();
    ctx.marks.finished(finished);
    series.finished(finished);
}

/// Encodes and sends one request's worth of items until accepted or dropped. While it is
/// in flight, encodes `next` (the next tenant's group of the same batch) and returns that
/// body, or, without `next`, looks ahead into the channel (see [`look_ahead`]).
#[allow(clippy::too_many_arguments)]
async fn send_group(
    ctx: &mut ShardContext,
    enc: &mut Encoders,
    series: &mut ShardSeries,
    batch: &mut Vec<Item>,
    tenant: Option<(http::HeaderName, http::HeaderValue)>,
    q: &mut Queue,
    mut pre: Option<Pre>,
    next: Option<&[Item]>,
) -> Option<Pre> {
    let mut next_pre: Option<Pre> = None;
    if let Some(limit) = &ctx.settings.rate_limit {
        // Before `start`: waiting for the rate limit is not send time (resharding reads it).
        limit.acquire(ctx.id).await;
    }
    let start = Instant::now();
    let mut format = ctx.pool.endpoint().wire_format(ctx.settings.format);
    let mut rebuild: Option<Duration> = None;
    loop {
        if let Some(sleep) = rebuild.take() {
            // Prometheus rebuilds a retried request without data past sample_age_limit.
            drop_too_old(ctx, batch);
            monoio::time::sleep(sleep).await;
            if batch.is_empty() {
                break;
            }
        }
        let encoded = match pre.take() {
            Some((body, encoded, f)) if f == format => Ok((body, encoded)),
            _ => encode_batch(enc, batch, series, format, &ctx.interner),
        };
        let (body, encoded) = match encoded {
            Ok(x) => x,
            Err(error) => {
                tracing::error!(endpoint = ctx.pool.endpoint().name(), shard = ctx.id, %error,
                    "Cannot encode a batch; dropping it.");
                ctx.stats
                    .data_dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                ctx.stats
                    .samples_failed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                break;
            }
        };
        if encoded.missing > 0 {
            // Cannot happen unless the reader failed to announce a series; never silent.
            tracing::error!(
                endpoint = ctx.pool.endpoint().name(),
                shard = ctx.id,
                items = encoded.missing,
                "Items whose series this shard does not know; dropping them."
            );
            ctx.stats.drops.add(
                crate::metrics::Kind::Samples,
                Loss::UnknownSeries,
                encoded.missing,
            );
            ctx.stats
                .data_dropped
                .fetch_add(encoded.missing, Ordering::Relaxed);
        }
        if encoded.unsupported > 0 {
            ctx.stats
                .data_dropped
                .fetch_add(encoded.unsupported, Ordering::Relaxed);
            if let Some(m) = &ctx.metrics {
                m.unsupported(encoded.unsupported);
            }
        }
        let counts = encoded.counts;
        if counts.total() == 0 {
            break;
        }
        let bytes = body.len();
        let pause = &ctx.pause;
        let metrics = ctx.metrics.clone();
        let stats = &ctx.stats;
        let oldest = oldest_t(&ctx.settings, batch);
        let limit = ctx.settings.sample_age_limit;
        let rebuild_slot = &mut rebuild;
        let mut on_retry = |sleep: Duration| {
            pause.on_recoverable_error(now_ms() as u64, sleep);
            stats.retries.fetch_add(1, Ordering::Relaxed);
            if let Some(m) = &metrics {
                m.retried(&counts);
            }
            if oldest.is_some_and(|t| t < age_cutoff(limit)) {
                *rebuild_slot = Some(sleep);
                return false;
            }
            true
        };
        let send = send_with_retry_as(
            &ctx.pool,
            body,
            format,
            counts,
            tenant.clone(),
            &ctx.settings.retry,
            &mut on_retry,
        );
        let (rx, marks, interner) = (&ctx.rx, &mut ctx.marks, &ctx.interner);
        let next_slot = &mut next_pre;
        let ahead = async {
            let_send_go().await;
            match next {
                Some(items) if next_slot.is_none() => {
                    // An error is reported when that group is encoded again in its turn.
                    if let Ok((body, encoded)) = encode_batch(enc, items, series, format, interner)
                    {
                        stats.batches_encoded_ahead.fetch_add(1, Ordering::Relaxed);
                        *next_slot = Some((body, encoded, format));
                    }
                }
                Some(_) => {}
                None => look_ahead(q, rx, marks, series, enc, format, interner, stats),
            }
        };
        let (outcome, ()) = monoio::join!(send, ahead);
        if rebuild.is_some() {
            continue;
        }
        if let Some(m) = &ctx.metrics {
            m.batch_done(&outcome, &counts, bytes, start.elapsed());
        }
        if let Some(limit) = &ctx.settings.rate_limit {
            limit.sent(ctx.id, counts.total(), bytes, &outcome, start.elapsed());
        }
        let samples = counts.samples + counts.histograms;
        match &outcome {
            BatchOutcome::FallBackToRw1 { .. } if format == WireFormat::Rw2 => {
                format = WireFormat::Rw1;
                continue;
            }
            BatchOutcome::Sent { written, .. } => {
                if let Some(m) = &ctx.metrics {
                    m.lag((now_ms() - encoded.max_t) as f64 / 1000.0);
                }
                let acked = written.map_or(samples, |w| (w.samples + w.histograms).min(samples));
                ctx.stats.samples_acked.fetch_add(acked, Ordering::Relaxed);
                ctx.stats
                    .samples_failed
                    .fetch_add(samples - acked, Ordering::Relaxed);
                ctx.stats
                    .exemplars_acked
                    .fetch_add(counts.exemplars, Ordering::Relaxed);
            }
            _ => {
                ctx.stats
                    .samples_failed
                    .fetch_add(samples, Ordering::Relaxed);
            }
        }
        ctx.stats
            .data_out
            .fetch_add(counts.total(), Ordering::Relaxed);
        ctx.stats.note_sent_timestamp(encoded.max_t);
        clear_batch(batch, &encoded);
        break;
    }
    ctx.stats.data_out_duration_nanos.fetch_add(
        start.elapsed().as_nanos().min(u64::MAX as u128) as u64,
        Ordering::Relaxed,
    );
    ctx.stats.last_send_ms.store(now_ms(), Ordering::Relaxed);
    next_pre
}
