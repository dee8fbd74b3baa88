//! Durable progress: per endpoint, the WAL position below which every sample has been
//! acknowledged by the receiver (or dropped with a counted reason).
//!
//! How the position is known without tagging every item: the reader sends a numbered
//! *mark* to every shard after the items it routed (at each flush, every ~20 ms). A shard
//! completes a mark once every item it received before it has finished sending. The
//! endpoint's acknowledged position is the position of the newest mark that every shard
//! has completed ([`MarkLog`], [`AckSlots`]). Because shards keep per-series order and
//! each mark follows the items routed before it, everything before that position is done.
//!
//! The position is saved under `--storage.path` ([`ProgressStore`]) atomically — temp file,
//! fsync, rename, fsync of the directory — every few seconds and at shutdown. A restart
//! resumes from it: at-least-once delivery, with duplicates bounded by what was queued or
//! in flight between the last save and the crash.

mod store;

pub use store::{ProgressError, ProgressStore, Saved, Wanted};

use crate::wal::reader::Position;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The reader's log of issued marks and what they cover.
#[derive(Debug, Default)]
pub struct MarkLog {
    /// Issued and not yet completed by every shard: (seq, position after the items).
    pending: VecDeque<(u64, Position)>,
    /// The last issued mark's seq (0: none yet).
    last_seq: u64,
    last_pos: Option<Position>,
    /// Everything before this position is acknowledged.
    acked: Option<Position>,
}

impl MarkLog {
    /// Starts with everything before `acked` already acknowledged (a resumed endpoint).
    pub fn new(acked: Option<Position>) -> MarkLog {
        MarkLog {
            acked,
            last_pos: acked,
            ..MarkLog::default()
        }
    }

    /// A new mark for `pos` (the position of the next record to read), or `None` if the
    /// position has not moved since the last mark.
    pub fn issue(&mut self, pos: Position) -> Option<u64> {
        // Replayed records (before a resume position) never move progress back.
        if self.last_pos.is_some_and(|last| pos <= last) {
            return None;
        }
        self.last_seq += 1;
        self.last_pos = Some(pos);
        self.pending.push_back((self.last_seq, pos));
        Some(self.last_seq)
    }

    /// The seq of the newest issued mark.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Marks issued but not completed by every shard.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Every shard has completed marks up to `seq`: returns the acknowledged position if
    /// it moved.
    pub fn complete_through(&mut self, seq: u64) -> Option<Position> {
        let mut moved = None;
        while let Some(&(s, pos)) = self.pending.front() {
            if s > seq {
                break;
            }
            self.pending.pop_front();
            moved = Some(pos);
        }
        if let Some(p) = moved {
            self.acked = Some(p);
        }
        moved
    }

    /// Everything before this position is acknowledged.
    pub fn acked(&self) -> Option<Position> {
        self.acked
    }
}

/// One slot per shard holding the seq of the newest mark it completed. Slots of stopped
/// shards stay counted until they reach the last mark they were given (a reshard or stop
/// that timed out leaves old shards still sending).
#[derive(Debug, Default)]
pub struct AckSlots {
    current: Vec<Arc<AtomicU64>>,
    retiring: Vec<(Arc<AtomicU64>, u64)>,
}

impl AckSlots {
    /// Retires the current slots (they must reach `last_seq`) and makes `n` new ones that
    /// start at `last_seq`: a new shard has nothing from before.
    pub fn replace(&mut self, n: usize, last_seq: u64) -> Vec<Arc<AtomicU64>> {
        for slot in self.current.drain(..) {
            self.retiring.push((slot, last_seq));
        }
        self.current = (0..n).map(|_| Arc::new(AtomicU64::new(last_seq))).collect();
        self.current.clone()
    }

    /// The newest seq every shard (current and retiring) has completed.
    pub fn min_completed(&mut self) -> u64 {
        self.retiring
            .retain(|(slot, target)| slot.load(Ordering::Acquire) < *target);
        let cur = self.current.iter().map(|s| s.load(Ordering::Acquire));
        let old = self.retiring.iter().map(|(s, _)| s.load(Ordering::Acquire));
        cur.chain(old).min().unwrap_or(u64::MAX)
    }
}

/// A shard's side of the marks: counts items in and out, completes marks in order.
#[derive(Debug)]
pub struct ShardMarks {
    slot: Arc<AtomicU64>,
    received: u64,
    done: u64,
    /// (items received before the mark, seq)
    waiting: VecDeque<(u64, u64)>,
}

impl ShardMarks {
    pub fn new(slot: Arc<AtomicU64>) -> ShardMarks {
        ShardMarks {
            slot,
            received: 0,
            done: 0,
            waiting: VecDeque::new(),
        }
    }

    /// `n` items arrived.
    pub fn received(&mut self, n: usize) {
        self.received += n as u64;
    }

    /// Mark `seq` arrived after everything received so far.
    pub fn mark(&mut self, seq: u64) {
        if self.done >= self.received && self.waiting.is_empty() {
            self.slot.store(seq, Ordering::Release);
        } else {
            self.waiting.push_back((self.received, seq));
        }
    }

    /// `n` items finished (acknowledged, or dropped with a counted reason).
    pub fn finished(&mut self, n: usize) {
        self.done += n as u64;
        let mut last = None;
        while let Some(&(need, seq)) = self.waiting.front() {
            if need > self.done {
                break;
            }
            self.waiting.pop_front();
            last = Some(seq);
        }
        if let Some(seq) = last {
            self.slot.store(seq, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(segment: u64, offset: u64) -> Position {
        Position { segment, offset }
    }

    #[test]
    fn mark_log_acks_in_order_and_skips_unmoved_positions() {
        let mut log = MarkLog::new(None);
        assert_eq!(log.issue(pos(1, 10)), Some(1));
        assert_eq!(log.issue(pos(1, 10)), None);
        assert_eq!(log.issue(pos(1, 5)), None, "never backwards");
        assert_eq!(log.issue(pos(1, 20)), Some(2));
        assert_eq!(log.issue(pos(2, 0)), Some(3));
        assert_eq!(log.complete_through(0), None);
        assert_eq!(log.complete_through(2), Some(pos(1, 20)));
        assert_eq!(log.acked(), Some(pos(1, 20)));
        assert_eq!(log.pending(), 1);
        assert_eq!(log.complete_through(2), None);
        assert_eq!(log.complete_through(u64::MAX), Some(pos(2, 0)));
        let mut resumed = MarkLog::new(Some(pos(5, 100)));
        assert_eq!(
            resumed.issue(pos(4, 900)),
            None,
            "replay before the resume point"
        );
        assert_eq!(resumed.issue(pos(5, 100)), None);
        assert_eq!(resumed.issue(pos(5, 200)), Some(1));
    }

    #[test]
    fn shard_marks_complete_only_after_prior_items_finish() {
        let slot = Arc::new(AtomicU64::new(0));
        let mut m = ShardMarks::new(Arc::clone(&slot));
        m.mark(1); // nothing outstanding
        assert_eq!(slot.load(Ordering::Relaxed), 1);
        m.received(10);
        m.mark(2);
        m.received(5);
        m.mark(3);
        m.finished(9);
        assert_eq!(slot.load(Ordering::Relaxed), 1);
        m.finished(1);
        assert_eq!(slot.load(Ordering::Relaxed), 2);
        m.finished(5);
        assert_eq!(slot.load(Ordering::Relaxed), 3);
        m.mark(4);
        assert_eq!(slot.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn retiring_slots_hold_progress_until_they_finish() {
        let mut slots = AckSlots::default();
        let a = slots.replace(2, 0);
        a[0].store(5, Ordering::Relaxed);
        a[1].store(3, Ordering::Relaxed);
        assert_eq!(slots.min_completed(), 3);
        // Reshard after mark 7: old slots must still reach 7.
        let b = slots.replace(1, 7);
        assert_eq!(slots.min_completed(), 3);
        a[1].store(7, Ordering::Relaxed);
        assert_eq!(slots.min_completed(), 5);
        a[0].store(7, Ordering::Relaxed);
        assert_eq!(slots.min_completed(), 7);
        b[0].store(9, Ordering::Relaxed);
        assert_eq!(slots.min_completed(), 9);
    }
}
