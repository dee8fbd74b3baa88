//! The reader side of the shards: routes items by series ref, in chunks, into bounded
//! channels. A full channel blocks the reader (backpressure), never drops.

use super::{Chunk, Item, QueueStats, RefDivisor, ShardMsg};
use crate::encode::EncodedSeries;
use crate::record::SeriesRef;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The sending end of one shard's queue.
pub struct ShardHandle {
    pub tx: flume::Sender<ShardMsg>,
}

/// Routes items to the current set of shards.
pub struct Router {
    shards: Vec<ShardHandle>,
    /// `ref mod shards.len()` for every routed item.
    divisor: RefDivisor,
    chunks: Vec<Chunk>,
    chunk_max: usize,
    /// Bumped with every new set of shards: a series announced in an older epoch must be
    /// announced again (see [`Router::epoch`]).
    epoch: u32,
    stats: Arc<QueueStats>,
    /// Times a send found the queue full and had to wait (`enqueue_retries_total`).
    pub enqueue_waits: u64,
    /// Times the reader slept on a full queue (one wait may take several).
    pub full_sleeps: u64,
    /// Set when the endpoint is stopping: a reader blocked on a full queue gives up.
    stop: Option<Arc<AtomicBool>>,
    /// A chunk was abandoned because of a stop: nothing after it may count as progress.
    aborted: bool,
    /// Per shard, how long it has lately taken to take one chunk off its full queue (see
    /// [`Router::send`]); zero until measured. Per shard: one stuck behind a slow
    /// request must not make the reader oversleep the others.
    per_chunk: Vec<Duration>,
}

impl Router {
    /// `capacity` samples per shard (Prometheus `capacity`) are split into chunks of at
    /// most `chunk_max` items (one batch's worth: a shard wakes up once per batch, not per
    /// sample); the channel holds `capacity / chunk_max` chunks.
    pub fn new(stats: Arc<QueueStats>, max_samples_per_send: usize) -> Router {
        Router {
            shards: Vec::new(),
            chunks: Vec::new(),
            divisor: RefDivisor::new(1),
            chunk_max: max_samples_per_send.clamp(64, 8192),
            epoch: 0,
            stats,
            enqueue_waits: 0,
            full_sleeps: 0,
            stop: None,
            aborted: false,
            per_chunk: Vec::new(),
        }
    }

    /// While `flag` is set, a send blocked on a full queue is abandoned (Prometheus's
    /// TestQueueFilledDeadlock: a stop must not wait for a stuck receiver to drain the
    /// queue). Abandoned items are not acknowledged, so saved progress stays before them
    /// and a restart sends them.
    pub fn set_stop_flag(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    /// Whether a stop made the router abandon queued items.
    pub fn aborted(&self) -> bool {
        self.aborted
    }

    /// Channel bound (in chunks) for a shard of `capacity` samples.
    pub fn channel_bound(&self, capacity: usize) -> usize {
        (capacity / self.chunk_max).max(1)
    }

    pub fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Installs a new set of shards (after the old ones were stopped). Their series
    /// tables start empty: the epoch changes, so every series is announced again.
    pub fn set_shards(&mut self, shards: Vec<ShardHandle>) {
        self.chunks = (0..shards.len()).map(|_| Chunk::default()).collect();
        self.per_chunk = vec![Duration::ZERO; shards.len()];
        self.divisor = RefDivisor::new(shards.len());
        self.shards = shards;
        self.epoch = self.epoch.wrapping_add(1).max(1);
    }

    /// The current set of shards; never 0 once shards are set, so a series' "announced
    /// in epoch" can start at 0.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Queues `item` for the shard of `sref` (`ref mod N`, like Prometheus), announcing
    /// `series` to that shard first when the caller has not done so in this epoch.
    #[inline(always)]
    pub fn route(&mut self, item: Item, announce: Option<Arc<EncodedSeries>>) {
        if self.aborted {
            return;
        }
        debug_assert!(!self.shards.is_empty(), "no shards");
        let k = self.divisor.rem(item.sref) as usize;
        let chunk = &mut self.chunks[k];
        if chunk.items.capacity() == 0 {
            chunk.items.reserve(self.chunk_max);
        }
        if let Some(series) = announce {
            chunk.series.push((item.sref, series));
        }
        chunk.items.push(item);
        if chunk.items.len() >= self.chunk_max {
            self.send_chunk(k);
        }
    }

    /// Tells every shard to forget `refs` (retired by a checkpoint), after the items
    /// routed before.
    pub fn forget(&mut self, refs: &[SeriesRef]) {
        let n = self.shards.len();
        if n == 0 || refs.is_empty() {
            return;
        }
        self.flush();
        let mut per: Vec<Vec<SeriesRef>> = vec![Vec::new(); n];
        for &r in refs {
            per[(r % n as u64) as usize].push(r);
        }
        for (k, refs) in per.into_iter().enumerate() {
            if !refs.is_empty() && !self.aborted {
                self.send(k, ShardMsg::Forget(refs));
            }
        }
    }

    /// Hands every partial chunk to its shard (when the reader is idle, or its oldest
    /// item has waited long enough).
    pub fn flush(&mut self) {
        if self.aborted {
            for c in &mut self.chunks {
                c.items.clear();
                c.series.clear();
            }
            return;
        }
        for k in 0..self.chunks.len() {
            if !self.chunks[k].items.is_empty() {
                self.send_chunk(k);
            }
        }
    }

    /// Flushes, then sends progress mark `seq` to every shard, after the items routed
    /// before it.
    pub fn mark(&mut self, seq: u64) {
        self.flush();
        for k in 0..self.shards.len() {
            if self.aborted {
                return;
            }
            self.send(k, ShardMsg::Mark(seq));
        }
    }

    #[inline(never)]
    fn send_chunk(&mut self, k: usize) {
        let chunk = std::mem::take(&mut self.chunks[k]);
        self.stats
            .pending
            .fetch_add(chunk.items.len() as i64, Ordering::Relaxed);
        self.send(k, ShardMsg::Items(chunk));
    }

    /// Queues `msg` for shard `k`. A full queue makes the reader wait (backpressure),
    /// however long it takes, unless the endpoint is stopping.
    ///
    /// The reader polls rather than blocking in the channel: a blocked sender must be
    /// woken by the shard's core with a futex call for every chunk it takes, a system call
    /// and an inter-processor interrupt on the hottest thread (6 % of its time when the
    /// reader runs ahead, perf). The first pause is the time the shard lately took to
    /// drain half its queue (200 µs before that is known), so a reader that runs ahead
    /// fills several chunks per wake-up rather than sleeping once per chunk; then it
    /// doubles up to 1 ms. After 100 ms of waiting (a slow or down receiver, not a busy
    /// shard) the pause grows to 50 ms, so a reader held up for hours costs next to
    /// nothing.
    fn send(&mut self, k: usize, msg: ShardMsg) {
        let tx = &self.shards[k].tx;
        let mut msg = match tx.try_send(msg) {
            Ok(()) => return,
            Err(flume::TrySendError::Full(m)) => m,
            Err(flume::TrySendError::Disconnected(_)) => {
                tracing::error!(shard = k, "Shard task is gone; what it was sent is lost.");
                return;
            }
        };
        self.enqueue_waits += 1;
        // Wait for about half the queue to drain, not for the first free slot: the
        // reader then fills several chunks per wake-up instead of sleeping once per
        // chunk (each sleep is a context switch and a timer on the reader's core).
        let bound = tx.capacity().unwrap_or(1).max(1);
        let mut pause = if self.per_chunk[k].is_zero() {
            Duration::from_micros(200)
        } else {
            (self.per_chunk[k] * bound.div_ceil(2) as u32)
                .clamp(Duration::from_micros(50), Duration::from_millis(10))
        };
        let waiting = std::time::Instant::now();
        let mut first = true;
        loop {
            let slept = std::time::Instant::now();
            std::thread::sleep(pause);
            self.full_sleeps += 1;
            if std::mem::take(&mut first) {
                // Chunks the shard took while the reader slept: an estimate of its pace.
                let freed = bound.saturating_sub(tx.len());
                if freed > 0 {
                    self.per_chunk[k] = slept.elapsed() / freed as u32;
                }
            }
            let cap = if waiting.elapsed() < Duration::from_millis(100) {
                Duration::from_millis(1)
            } else {
                Duration::from_millis(50)
            };
            pause = (pause * 2).min(cap);
            match tx.try_send(msg) {
                Ok(()) => return,
                Err(flume::TrySendError::Full(m)) => {
                    if self
                        .stop
                        .as_ref()
                        .is_some_and(|s| s.load(Ordering::Relaxed))
                    {
                        let n = match &m {
                            ShardMsg::Items(chunk) => chunk.items.len() as i64,
                            _ => 0,
                        };
                        self.stats.pending.fetch_sub(n, Ordering::Relaxed);
                        tracing::warn!(
                            shard = k,
                            items = n,
                            "Stopping while the queue is full: queued items are left for the next start."
                        );
                        self.aborted = true;
                        return;
                    }
                    msg = m;
                }
                Err(flume::TrySendError::Disconnected(_)) => {
                    tracing::error!(shard = k, "Shard task is gone; what it was sent is lost.");
                    return;
                }
            }
        }
    }

    /// Flushes, then stops every shard and waits until each has sent what it held (or
    /// `deadline` passes). Returns true if all finished in time.
    pub fn stop_all(&mut self, deadline: Duration) -> bool {
        self.flush();
        let (ack_tx, ack_rx) = flume::unbounded();
        let n = self.shards.len();
        let end = std::time::Instant::now() + deadline;
        for s in &self.shards {
            // A full queue takes the Stop once it drains; give up at the deadline.
            let left = end.saturating_duration_since(std::time::Instant::now());
            let _ = s.tx.send_timeout(ShardMsg::Stop(ack_tx.clone()), left);
        }
        let mut done = 0;
        while done < n {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match ack_rx.recv_timeout(left) {
                Ok(()) => done += 1,
                Err(_) => break,
            }
        }
        self.shards.clear();
        self.chunks.clear();
        done == n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::SymbolInterner;

    fn series(name: &str) -> Arc<EncodedSeries> {
        let mut i = SymbolInterner::new();
        EncodedSeries::new([(&b"__name__"[..], name.as_bytes())], &mut i).unwrap()
    }

    fn item(sref: SeriesRef, t: i64) -> Item {
        Item::sample(sref, t, 0.0)
    }

    /// A router over `n` shards and the receiving ends of their queues.
    fn router(n: usize) -> (Router, Vec<flume::Receiver<ShardMsg>>) {
        let mut r = Router::new(QueueStats::new(), 64);
        let (handles, rxs): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| {
                let (tx, rx) = flume::bounded(16);
                (ShardHandle { tx }, rx)
            })
            .unzip();
        r.set_shards(handles);
        (r, rxs)
    }

    #[test]
    fn announcements_travel_with_the_first_items_of_their_shard() {
        let (mut r, rxs) = router(2);
        let epoch = r.epoch();
        assert_ne!(epoch, 0, "0 means never announced");
        let (a, b) = (series("a"), series("b"));
        r.route(item(4, 1), Some(Arc::clone(&a)));
        r.route(item(4, 2), None);
        r.route(item(5, 1), Some(Arc::clone(&b)));
        r.flush();
        for (k, (sref, s, ts)) in [(0, (4, &a, vec![1, 2])), (1, (5, &b, vec![1]))] {
            match rxs[k].try_recv() {
                Ok(ShardMsg::Items(chunk)) => {
                    assert_eq!(chunk.series.len(), 1, "shard {k}");
                    assert_eq!(chunk.series[0].0, sref);
                    assert!(Arc::ptr_eq(&chunk.series[0].1, s));
                    let got: Vec<i64> = chunk.items.iter().map(|i| i.t).collect();
                    assert_eq!(got, ts, "shard {k}");
                }
                _ => panic!("shard {k}: no chunk"),
            }
        }
        // A new set of shards is a new epoch: callers announce every series again.
        let (handles, _rx): (Vec<_>, Vec<_>) = (0..3)
            .map(|_| {
                let (tx, rx) = flume::bounded(16);
                (ShardHandle { tx }, rx)
            })
            .unzip();
        r.set_shards(handles);
        assert_ne!(r.epoch(), epoch);
    }

    #[test]
    fn a_reader_ahead_of_its_shard_sleeps_once_per_several_chunks() {
        // One shard whose queue holds 8 chunks of 64 items and that takes a chunk every
        // 200 µs: the reader (far faster) waits for half the queue to drain, not for each
        // free slot. Waiting per slot would sleep about once per chunk.
        let mut r = Router::new(QueueStats::new(), 64);
        let (tx, rx) = flume::bounded(8);
        r.set_shards(vec![ShardHandle { tx }]);
        let chunks = 200;
        let consumer = std::thread::spawn(move || {
            let mut next = 0;
            let mut took = 0;
            while took < chunks {
                let start = std::time::Instant::now();
                match rx.recv() {
                    Ok(ShardMsg::Items(c)) => {
                        for it in &c.items {
                            assert_eq!(it.t, next, "items arrive in order");
                            next += 1;
                        }
                        took += 1;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
                while start.elapsed() < Duration::from_micros(200) {
                    std::hint::spin_loop();
                }
            }
            next
        });
        let s = series("a");
        for t in 0..chunks * 64 {
            r.route(item(0, t as i64), (t == 0).then(|| Arc::clone(&s)));
        }
        assert_eq!(consumer.join().unwrap(), chunks as i64 * 64, "nothing lost");
        assert!(r.enqueue_waits >= 10, "the reader ran ahead");
        assert!(
            r.full_sleeps < chunks as u64 / 2,
            "{} sleeps for {chunks} chunks ({} waits)",
            r.full_sleeps,
            r.enqueue_waits
        );
    }

    #[test]
    fn forget_follows_the_items_routed_before_it() {
        let (mut r, rxs) = router(2);
        r.route(item(2, 1), Some(series("x")));
        r.route(item(3, 1), Some(series("y")));
        r.forget(&[2, 3, 7]);
        for (k, want) in [(0, vec![2]), (1, vec![3, 7])] {
            assert!(
                matches!(rxs[k].try_recv(), Ok(ShardMsg::Items(c)) if c.items.len() == 1),
                "shard {k}: the partial chunk first"
            );
            match rxs[k].try_recv() {
                Ok(ShardMsg::Forget(refs)) => assert_eq!(refs, want, "shard {k}"),
                _ => panic!("shard {k}: no forget"),
            }
        }
    }
}
