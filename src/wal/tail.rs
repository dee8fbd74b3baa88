//! Following a whole WAL directory: the newest checkpoint, then every segment in order,
//! then the live segment as Prometheus appends to it (FORMATS.md §1.4–1.7).
//!
//! Everything that happens to the directory is an [`Event`] the caller sees: new
//! records, corruption, segment boundaries, new checkpoints, segments deleted before we
//! could read them (truncation), segments replaced under the same name (repair). None of
//! it is an error that stops the tail.

use super::dir::{self, CheckpointRef, SegmentRef};
use super::error::{Corruption, WalError};
use super::mmap::MappedSegment;
use super::notify::Notifier;
use super::reader::{Poll, Position, ReaderStats, SegmentReader};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to tail.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// Keep waiting for new data at the end of the live segment.
    pub follow: bool,
    /// Read the newest checkpoint before the segments.
    pub read_checkpoint: bool,
    /// Where records of interest start. Records before it (from the checkpoint and from
    /// earlier segments) are still delivered, flagged `replay`, so a caller can rebuild its
    /// series; `None` starts at the first segment after the checkpoint with nothing
    /// flagged.
    pub from: Option<Position>,
    /// Polling interval when inotify is unavailable, and the upper bound of any sleep.
    pub poll_interval: Duration,
    /// How often to list the directory for new checkpoints, lost or replaced segments.
    pub rescan_interval: Duration,
    /// Use inotify (true) or only polling (false).
    pub inotify: bool,
    /// A second directory holding segments and checkpoints that were deleted from the
    /// WAL (ringwrite's spool): a segment or checkpoint missing from the WAL is read from
    /// here if it exists.
    pub fallback: Option<PathBuf>,
}

impl Default for TailOptions {
    fn default() -> Self {
        TailOptions {
            follow: false,
            read_checkpoint: true,
            from: None,
            poll_interval: Duration::from_millis(100),
            rescan_interval: Duration::from_secs(1),
            inotify: true,
            fallback: None,
        }
    }
}

/// A complete record with where it came from.
#[derive(Debug)]
pub struct RawRecord<'a> {
    /// Segment and byte offset of the record's first fragment. For checkpoint records the
    /// segment is the checkpoint's own segment number.
    pub pos: Position,
    /// `Some(N)` for records read from `checkpoint.N`.
    pub checkpoint: Option<u64>,
    /// The record lies before [`TailOptions::from`]: use it to rebuild state only.
    pub replay: bool,
    /// Decompressed record, type byte first.
    pub bytes: &'a [u8],
}

/// What the tailer saw.
#[derive(Debug)]
pub enum Event<'a> {
    Record(RawRecord<'a>),
    /// A corrupt stretch, skipped; counted by the caller.
    Corruption(Corruption),
    /// Reading of `checkpoint.N` begins / ended.
    CheckpointStart {
        index: u64,
    },
    CheckpointEnd {
        index: u64,
    },
    /// Reading of a WAL segment begins at `offset`.
    SegmentStart {
        index: u64,
        offset: u64,
    },
    /// A sealed segment was read to its end.
    SegmentEnd {
        index: u64,
        stats: ReaderStats,
    },
    /// A checkpoint newer than the one read appeared (Prometheus truncated the WAL).
    NewCheckpoint {
        index: u64,
        path: PathBuf,
    },
    /// Segments `first..=last` were deleted before they could be read: their records
    /// are lost to this reader.
    SegmentsLost {
        first: u64,
        last: u64,
    },
    /// The segment being read was replaced by a new file of the same name (Prometheus's
    /// WAL repair). Reading continues in the new file at the same offset if it is long
    /// enough, otherwise with the next segment.
    SegmentReplaced {
        index: u64,
        offset: u64,
    },
    /// Follow mode: nothing new arrived within the wait.
    Idle,
    /// Not following: everything on disk has been read.
    End,
}

/// Result of one state-machine step.
enum Step {
    /// The current reader holds a complete record; `bytes` is filled in by the caller.
    Record(RawRecord<'static>),
    Event(Event<'static>),
    Continue,
}

enum Phase {
    Start,
    Checkpoint {
        cp: CheckpointRef,
        segs: Vec<SegmentRef>,
        next: usize,
        reader: Option<SegmentReader>,
    },
    Segment(SegmentReader),
    /// Waiting for segment `index` to appear.
    Awaiting(u64),
    Done,
}

/// Follows one WAL directory. Pull-based: [`Tailer::next_event`] never reads ahead, so a
/// caller that stops pulling applies backpressure all the way to the disk.
pub struct Tailer {
    dir: PathBuf,
    opts: TailOptions,
    phase: Phase,
    notifier: Option<Notifier>,
    last_rescan: Instant,
    /// Newest checkpoint index seen (read or announced).
    checkpoint_seen: Option<u64>,
    corruptions: u64,
    /// Events to deliver before the next record (e.g. `SegmentStart`).
    queued: VecDeque<Event<'static>>,
}

impl Tailer {
    /// Opens `path` (a WAL directory or a Prometheus data directory holding `wal/`).
    /// Fails if the directory is not a WAL or its segments have a gap.
    pub fn open(path: &Path, opts: TailOptions) -> Result<Tailer, WalError> {
        let dir = dir::resolve_wal_dir(path)?;
        let listing = dir::list(&dir)?;
        dir::check_sequential(&dir, &listing.segments)?;
        for p in &listing.ignored {
            tracing::warn!(path = %p.display(), "Ignoring a file that is not a WAL segment.");
        }
        if let (Some(from), Some(last)) = (opts.from, listing.segments.last()) {
            if from.segment > last.index {
                return Err(WalError::BadPosition {
                    pos: from.to_string(),
                    why: format!("the newest segment is {:08}", last.index),
                });
            }
        }
        let notifier = opts
            .follow
            .then(|| Notifier::new(&dir, opts.poll_interval, opts.inotify));
        Ok(Tailer {
            dir,
            opts,
            phase: Phase::Start,
            notifier,
            last_rescan: Instant::now(),
            checkpoint_seen: None,
            corruptions: 0,
            queued: VecDeque::new(),
        })
    }

    /// The WAL directory being read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether inotify (rather than polling) drives the tail.
    pub fn uses_inotify(&self) -> bool {
        self.notifier.as_ref().is_some_and(|n| n.is_inotify())
    }

    /// Position of the next record to be read from the WAL proper (not the checkpoint).
    pub fn position(&self) -> Option<Position> {
        match &self.phase {
            Phase::Segment(r) => Some(Position {
                segment: r.index(),
                offset: r.offset(),
            }),
            Phase::Awaiting(i) => Some(Position {
                segment: *i,
                offset: 0,
            }),
            _ => None,
        }
    }

    /// Corrupt stretches seen so far.
    pub fn corruptions(&self) -> u64 {
        self.corruptions
    }

    /// Segment `index` in the WAL, or else in the fallback directory if it is there.
    fn seg_path(&self, index: u64) -> PathBuf {
        let p = self.dir.join(dir::segment_name(index));
        if let Some(fb) = self.opts.fallback.as_ref().filter(|_| !p.exists()) {
            let q = fb.join(dir::segment_name(index));
            if q.exists() {
                return q;
            }
        }
        p
    }

    /// The WAL's segments and checkpoints, plus those only the fallback still has.
    fn listing(&self) -> Result<dir::Listing, WalError> {
        let mut l = dir::list(&self.dir)?;
        if let Some(fb) = &self.opts.fallback {
            if fb.is_dir() {
                let extra = dir::list(fb)?;
                dir::merge_listing(&mut l, extra);
            }
        }
        Ok(l)
    }

    /// Returns the next event. In follow mode it waits up to `wait` for new data and
    /// returns [`Event::Idle`] if none came.
    pub fn next_event(&mut self, wait: Duration) -> Result<Event<'_>, WalError> {
        let deadline = Instant::now() + wait;
        loop {
            match self.advance(deadline)? {
                Step::Record(meta) => {
                    let bytes = self.current_bytes();
                    return Ok(Event::Record(RawRecord { bytes, ..meta }));
                }
                Step::Event(ev) => return Ok(ev),
                Step::Continue => {}
            }
        }
    }

    /// Bytes of the record the current reader just produced.
    fn current_bytes(&self) -> &[u8] {
        match &self.phase {
            Phase::Segment(r)
            | Phase::Checkpoint {
                reader: Some(r), ..
            } => r.record().1,
            _ => &[],
        }
    }

    /// One state-machine step; never borrows record bytes (see `next_event`).
    fn advance(&mut self, deadline: Instant) -> Result<Step, WalError> {
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Start => Ok(self.start()?.map_or(Step::Continue, Step::Event)),
            Phase::Checkpoint {
                cp,
                segs,
                next,
                reader: Some(mut r),
            } => {
                let polled = r.poll();
                let (index, offset) = (r.index(), r.record().0);
                let cp_index = cp.index;
                let exhausted = matches!(polled, Poll::Pending);
                self.phase = Phase::Checkpoint {
                    cp,
                    segs,
                    next,
                    reader: (!exhausted).then_some(r),
                };
                Ok(match polled {
                    Poll::Record => Step::Record(RawRecord {
                        pos: Position {
                            segment: index,
                            offset,
                        },
                        checkpoint: Some(cp_index),
                        replay: self.opts.from.is_some(),
                        bytes: &[],
                    }),
                    Poll::Corrupt(c) => {
                        self.corruptions += 1;
                        Step::Event(Event::Corruption(c))
                    }
                    Poll::Pending => Step::Continue,
                })
            }
            Phase::Checkpoint {
                cp,
                segs,
                next,
                reader: None,
            } => {
                if next < segs.len() {
                    let s = &segs[next];
                    let mut r = SegmentReader::open(&s.path, s.index, Some(cp.index), 0)
                        .map_err(|e| WalError::io(&s.path, "open checkpoint segment", e))?;
                    r.seal();
                    r.segment().advise_sequential();
                    self.phase = Phase::Checkpoint {
                        cp,
                        segs,
                        next: next + 1,
                        reader: Some(r),
                    };
                    Ok(Step::Continue)
                } else {
                    let index = cp.index;
                    self.phase = self.first_segment_phase(Some(index))?;
                    Ok(Step::Event(Event::CheckpointEnd { index }))
                }
            }
            Phase::Segment(mut r) => {
                if let Some(ev) = self.queued.pop_front() {
                    self.phase = Phase::Segment(r);
                    return Ok(Step::Event(ev));
                }
                let polled = r.poll();
                let (index, offset) = (r.index(), r.record().0);
                self.phase = Phase::Segment(r);
                match polled {
                    Poll::Record => {
                        let pos = Position {
                            segment: index,
                            offset,
                        };
                        Ok(Step::Record(RawRecord {
                            pos,
                            checkpoint: None,
                            replay: self.opts.from.is_some_and(|f| pos < f),
                            bytes: &[],
                        }))
                    }
                    Poll::Corrupt(c) => {
                        self.corruptions += 1;
                        Ok(Step::Event(Event::Corruption(c)))
                    }
                    Poll::Pending => Ok(self
                        .at_segment_end(deadline)?
                        .map_or(Step::Continue, Step::Event)),
                }
            }
            Phase::Awaiting(index) => {
                self.phase = Phase::Awaiting(index);
                if self.seg_path(index).exists() {
                    self.phase = self.open_segment(index, 0)?;
                    return Ok(Step::Continue);
                }
                if let Some(ev) = self.rescan_for_gap(index)? {
                    return Ok(Step::Event(ev));
                }
                if !self.opts.follow {
                    self.phase = Phase::Done;
                    return Ok(Step::Event(Event::End));
                }
                if !self.wait_until(deadline) {
                    return Ok(Step::Event(Event::Idle));
                }
                Ok(Step::Continue)
            }
            Phase::Done => Ok(Step::Event(Event::End)),
        }
    }

    /// First call: decide where to begin.
    fn start(&mut self) -> Result<Option<Event<'static>>, WalError> {
        let listing = self.listing()?;
        self.checkpoint_seen = listing.checkpoints.last().map(|c| c.index);
        // Resuming: the newest checkpoint before the start position (a newer one covers
        // segments we still have to read, and would hide series they need).
        let cp = match self.opts.from {
            Some(f) => listing
                .checkpoints
                .iter()
                .rev()
                .find(|c| c.index < f.segment)
                .or(listing.checkpoints.last())
                .cloned(),
            None => listing.checkpoints.last().cloned(),
        };
        if let Some(cp) = cp {
            // Replay the checkpoint only when the caller wants it and it precedes the
            // start position (a checkpoint past it would hold records after `from`).
            let wanted =
                self.opts.read_checkpoint && self.opts.from.is_none_or(|f| cp.index < f.segment);
            if wanted {
                let cl = dir::list(&cp.path)?;
                dir::check_sequential(&cp.path, &cl.segments)?;
                let index = cp.index;
                self.phase = Phase::Checkpoint {
                    cp,
                    segs: cl.segments,
                    next: 0,
                    reader: None,
                };
                return Ok(Some(Event::CheckpointStart { index }));
            }
            // A checkpoint at or after the start position is not read; segments are then
            // read from the start position's segment (or the first one there is), not
            // from after the checkpoint.
            let after = match self.opts.from {
                Some(f) if f.segment <= cp.index => None,
                _ => Some(cp.index),
            };
            self.phase = self.first_segment_phase(after)?;
        } else {
            self.phase = self.first_segment_phase(None)?;
        }
        Ok(None)
    }

    /// The phase that reads the first WAL segment after checkpoint `cp` (or the start
    /// position's segment).
    fn first_segment_phase(&mut self, cp: Option<u64>) -> Result<Phase, WalError> {
        let listing = self.listing()?;
        let after_cp = cp.map_or(0, |c| c + 1);
        let first_present = listing
            .segments
            .iter()
            .map(|s| s.index)
            .find(|&i| i >= after_cp);
        let Some(fp) = first_present else {
            // Empty WAL (only a checkpoint, or nothing yet): wait for the next segment.
            let want = self.opts.from.map_or(after_cp, |f| f.segment.max(after_cp));
            return Ok(Phase::Awaiting(want));
        };
        match self.opts.from {
            None => self.open_segment(fp, 0),
            Some(f) if f.segment < fp => {
                // The segment we were asked to start in is gone (truncated).
                tracing::error!(first = f.segment, last = fp - 1,
                    "WAL segments at the start position were deleted before they could be read; their samples are lost.");
                self.queued.push_back(Event::SegmentsLost {
                    first: f.segment,
                    last: fp - 1,
                });
                self.open_segment(fp, 0)
            }
            // Replay from the first segment so series records before `from` are seen.
            Some(_) if self.opts.read_checkpoint => self.open_segment(fp, 0),
            Some(f) => self.open_segment(f.segment, f.offset),
        }
    }

    fn open_segment(&mut self, index: u64, offset: u64) -> Result<Phase, WalError> {
        let path = self.seg_path(index);
        let r = SegmentReader::open(&path, index, None, offset)
            .map_err(|e| WalError::io(&path, "open segment", e))?;
        if let Some(size) = Some(r.segment().size()).filter(|&s| offset > s) {
            return Err(WalError::BadPosition {
                pos: Position {
                    segment: index,
                    offset,
                }
                .to_string(),
                why: format!("segment {index:08} has only {size} bytes"),
            });
        }
        r.segment().advise_sequential();
        self.queued.push_back(Event::SegmentStart { index, offset });
        Ok(Phase::Segment(r))
    }

    /// The live reader has nothing complete. Decide: more bytes, a newer segment, a lost
    /// or replaced segment, or wait.
    fn at_segment_end(&mut self, deadline: Instant) -> Result<Option<Event<'static>>, WalError> {
        let Phase::Segment(r) = &mut self.phase else {
            return Ok(None);
        };
        let index = r.index();
        let path = self.dir.join(dir::segment_name(index));
        if r.is_sealed() {
            let stats = r.stats();
            self.phase = Phase::Awaiting(index + 1);
            return Ok(Some(Event::SegmentEnd { index, stats }));
        }
        if r.refresh()
            .map_err(|e| WalError::io(&path, "stat segment", e))?
        {
            return Ok(None);
        }
        // Check for a newer segment before concluding the current one is complete: the
        // writer pads and finishes a segment before it creates the next one, so once the
        // next exists, a final refresh sees every byte of this one.
        let rescan_due = self.last_rescan.elapsed() >= self.opts.rescan_interval;
        if self.seg_path(index + 1).exists() || (rescan_due && self.newer_exists(index)?) {
            if let Phase::Segment(r) = &mut self.phase {
                r.seal();
                r.refresh()
                    .map_err(|e| WalError::io(&path, "stat segment", e))?;
            }
            return Ok(None);
        }
        if let Some(ev) = self.rescan_current(index)? {
            return Ok(Some(ev));
        }
        if !self.opts.follow {
            self.phase = Phase::Done;
            return Ok(Some(Event::End));
        }
        if !self.wait_until(deadline) {
            // Look once more before reporting idle: a change may have raced the wait.
            if let Phase::Segment(r) = &mut self.phase {
                if r.refresh()
                    .map_err(|e| WalError::io(&path, "stat segment", e))?
                {
                    return Ok(None);
                }
            }
            return Ok(Some(Event::Idle));
        }
        Ok(None)
    }

    fn newer_exists(&self, index: u64) -> Result<bool, WalError> {
        Ok(self
            .listing()?
            .segments
            .last()
            .is_some_and(|s| s.index > index))
    }

    /// Periodic directory scan while tailing the live segment: new checkpoints, and
    /// whether the file we read was replaced (repair) or deleted.
    fn rescan_current(&mut self, index: u64) -> Result<Option<Event<'static>>, WalError> {
        if self.last_rescan.elapsed() < self.opts.rescan_interval {
            return Ok(None);
        }
        self.last_rescan = Instant::now();
        if let Some(ev) = self.check_new_checkpoint()? {
            return Ok(Some(ev));
        }
        let path = self.seg_path(index);
        let Phase::Segment(r) = &mut self.phase else {
            return Ok(None);
        };
        match MappedSegment::open(&path) {
            Ok(fresh) if fresh.id() != r.segment().id() => {
                let offset = r.offset();
                tracing::warn!(
                    segment = index,
                    offset,
                    "WAL segment was replaced (repair?); continuing in the new file."
                );
                if fresh.size() >= offset {
                    self.phase =
                        Phase::Segment(SegmentReader::from_mapped(fresh, index, None, offset));
                } else {
                    self.phase = Phase::Awaiting(index + 1);
                }
                Ok(Some(Event::SegmentReplaced { index, offset }))
            }
            _ => Ok(None),
        }
    }

    fn check_new_checkpoint(&mut self) -> Result<Option<Event<'static>>, WalError> {
        let listing = self.listing()?;
        if let Some(cp) = listing.checkpoints.last() {
            if self.checkpoint_seen.is_none_or(|s| cp.index > s) {
                self.checkpoint_seen = Some(cp.index);
                return Ok(Some(Event::NewCheckpoint {
                    index: cp.index,
                    path: cp.path.clone(),
                }));
            }
        }
        Ok(None)
    }

    /// Waiting for segment `index`: if later segments exist but not this one, the ones
    /// in between were deleted before we got to them.
    fn rescan_for_gap(&mut self, index: u64) -> Result<Option<Event<'static>>, WalError> {
        let listing = self.listing()?;
        if let Some(first_after) = listing.segments.iter().find(|s| s.index > index) {
            // Re-check the wanted one: it may have been created between the two looks.
            if self.seg_path(index).exists() {
                return Ok(None);
            }
            let first = index;
            let last = first_after.index - 1;
            tracing::error!(
                first,
                last,
                "WAL segments were deleted before they could be read; their samples are lost."
            );
            self.phase = self.open_segment(first_after.index, 0)?;
            return Ok(Some(Event::SegmentsLost { first, last }));
        }
        if self.opts.follow && self.last_rescan.elapsed() >= self.opts.rescan_interval {
            self.last_rescan = Instant::now();
            return self.check_new_checkpoint();
        }
        Ok(None)
    }

    /// Waits for a directory change until `deadline`; false if the deadline passed.
    fn wait_until(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        if let Some(n) = self.notifier.as_mut() {
            n.wait(deadline - now);
        } else {
            std::thread::sleep((deadline - now).min(self.opts.poll_interval));
        }
        Instant::now() < deadline
    }
}
