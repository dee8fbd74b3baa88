//! The reader side of the shards: routes items by series ref, in chunks, into bounded
//! channels. A full channel blocks the reader (backpressure), never drops.

use super::{Item, QueueStats, ShardMsg};
use crate::record::SeriesRef;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The sending end of one shard's queue.
pub struct ShardHandle {
    pub tx: flume::Sender<ShardMsg>,
}

/// Routes items to the current set of shards.
pub struct Router {
    shards: Vec<ShardHandle>,
    chunks: Vec<Vec<Item>>,
    chunk_max: usize,
    stats: Arc<QueueStats>,
    /// Times a send found the queue full and had to wait (`enqueue_retries_total`).
    pub enqueue_waits: u64,
}

impl Router {
    /// `capacity` samples per shard (Prometheus `capacity`) are split into chunks of at
    /// most `chunk_max` items (one batch's worth: a shard wakes up once per batch, not per
    /// sample); the channel holds `capacity / chunk_max` chunks.
    pub fn new(stats: Arc<QueueStats>, max_samples_per_send: usize) -> Router {
        Router {
            shards: Vec::new(),
            chunks: Vec::new(),
            chunk_max: max_samples_per_send.clamp(64, 8192),
            stats,
            enqueue_waits: 0,
        }
    }

    /// Channel bound (in chunks) for a shard of `capacity` samples.
    pub fn channel_bound(&self, capacity: usize) -> usize {
        (capacity / self.chunk_max).max(1)
    }

    pub fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Installs a new set of shards (after the old ones were stopped).
    pub fn set_shards(&mut self, shards: Vec<ShardHandle>) {
        self.chunks = (0..shards.len()).map(|_| Vec::new()).collect();
        self.shards = shards;
    }

    /// Queues `item` for the shard of `sref` (`ref mod N`, like Prometheus).
    #[inline]
    pub fn route(&mut self, sref: SeriesRef, item: Item) {
        let n = self.shards.len();
        debug_assert!(n > 0, "no shards");
        let k = (sref % n as u64) as usize;
        let chunk = &mut self.chunks[k];
        if chunk.capacity() == 0 {
            chunk.reserve(self.chunk_max);
        }
        chunk.push(item);
        if chunk.len() >= self.chunk_max {
            self.send_chunk(k);
        }
    }

    /// Hands every partial chunk to its shard (when the reader is idle, or its oldest
    /// item has waited long enough).
    pub fn flush(&mut self) {
        for k in 0..self.chunks.len() {
            if !self.chunks[k].is_empty() {
                self.send_chunk(k);
            }
        }
    }

    /// Flushes, then sends progress mark `seq` to every shard, after the items routed
    /// before it.
    pub fn mark(&mut self, seq: u64) {
        self.flush();
        for (k, s) in self.shards.iter().enumerate() {
            if s.tx.send(ShardMsg::Mark(seq)).is_err() {
                tracing::error!(shard = k, "Shard task is gone; progress cannot advance.");
            }
        }
    }

    fn send_chunk(&mut self, k: usize) {
        let items = std::mem::take(&mut self.chunks[k]);
        self.stats
            .pending
            .fetch_add(items.len() as i64, Ordering::Relaxed);
        let tx = &self.shards[k].tx;
        match tx.try_send(ShardMsg::Items(items)) {
            Ok(()) => {}
            Err(flume::TrySendError::Full(msg)) => {
                // Backpressure: wait for the shard, however long it takes.
                self.enqueue_waits += 1;
                let _ = tx.send(msg);
            }
            Err(flume::TrySendError::Disconnected(_)) => {
                tracing::error!(shard = k, "Shard task is gone; its queued items are lost.");
            }
        }
    }

    /// Flushes, then stops every shard and waits until each has sent what it held (or
    /// `deadline` passes). Returns true if all finished in time.
    pub fn stop_all(&mut self, deadline: Duration) -> bool {
        self.flush();
        let (ack_tx, ack_rx) = flume::unbounded();
        let n = self.shards.len();
        for s in &self.shards {
            let _ = s.tx.send(ShardMsg::Stop(ack_tx.clone()));
        }
        let end = std::time::Instant::now() + deadline;
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
