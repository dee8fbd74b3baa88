//! Truncation survival: segments and checkpoints that Prometheus deletes before every
//! endpoint has finished with them stay readable in `<storage.path>/spool/`.
//!
//! The spool mirrors the WAL with hard links (same filesystem: free until Prometheus
//! deletes its name; else a copy of each sealed segment). Readers open a segment from the
//! spool when the WAL no longer has it ([`crate::wal::tail::TailOptions::fallback`]).
//!
//! What is kept follows Prometheus's own rule, relative to the slowest endpoint: with
//! `need` the lowest segment any endpoint still needs (its acknowledged position), the
//! spool keeps the newest checkpoint `C` below `need` and every segment after `C` — what
//! a resumed reader replays to rebuild its series — and releases the rest.
//!
//! Disk is bounded by `max_spool_bytes`, counting only bytes the spool alone holds (files
//! the WAL deleted, and copies). Over budget, the oldest such segment is released; its
//! samples are counted first so readers that lose it report `reason="spool_full"`.

mod scan;

use crate::wal::dir::{self, Listing};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use scan::{count_data, DataCounts};

/// A failure while maintaining the spool (logged; shipping continues).
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool: cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool: {0}")]
    Wal(#[from] crate::wal::WalError),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError {
    let path = path.to_path_buf();
    move |source| SpoolError::Io { op, path, source }
}

/// Spool settings.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    pub wal_dir: PathBuf,
    /// `<storage.path>/spool`.
    pub dir: PathBuf,
    /// Bytes the spool alone may hold.
    pub max_bytes: u64,
    /// How often the WAL directory is compared with the spool.
    pub interval: Duration,
}

/// One endpoint's claim: the lowest segment it still needs (`u64::MAX`: not known yet,
/// keep everything).
#[derive(Debug)]
pub struct Claim(AtomicU64);

impl Claim {
    pub fn set(&self, segment: u64) {
        self.0.store(segment, Ordering::Release);
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub linked: usize,
    pub copied: usize,
    pub released: usize,
    pub evicted: Vec<u64>,
    /// Bytes held by the spool alone after the pass.
    pub held_bytes: u64,
}

/// The spool shared by every endpoint.
pub struct Spool {
    opts: SpoolOptions,
    claims: Mutex<Vec<Arc<Claim>>>,
    /// Segments evicted over budget, with what they held.
    evicted: Mutex<BTreeMap<u64, DataCounts>>,
    held: AtomicU64,
    failures: AtomicU64,
    warned_copy: AtomicBool,
}

impl Spool {
    /// Creates `opts.dir` if needed.
    pub fn open(opts: SpoolOptions) -> Result<Arc<Spool>, SpoolError> {
        std::fs::create_dir_all(&opts.dir).map_err(io("create directory", &opts.dir))?;
        Ok(Arc::new(Spool {
            opts,
            claims: Mutex::new(Vec::new()),
            evicted: Mutex::new(BTreeMap::new()),
            held: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            warned_copy: AtomicBool::new(false),
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.opts.dir
    }

    /// Registers an endpoint; drop the claim (or set it high) when it stops.
    pub fn claim(&self) -> Arc<Claim> {
        let c = Arc::new(Claim(AtomicU64::new(u64::MAX)));
        lock(&self.claims).push(Arc::clone(&c));
        c
    }

    /// Bytes the spool alone holds.
    pub fn held_bytes(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Passes that failed (I/O errors, e.g. a full disk).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// What the evicted segments in `first..=last` held (segments not evicted by the
    /// spool are not included: their loss is a truncation).
    pub fn evicted_in(&self, first: u64, last: u64) -> (DataCounts, u64) {
        let ev = lock(&self.evicted);
        let mut sum = DataCounts::default();
        let mut n = 0;
        for (_, c) in ev.range(first..=last) {
            sum.add(c);
            n += 1;
        }
        (sum, n)
    }

    /// The lowest segment any live endpoint needs (`None`: some endpoint does not know
    /// yet, keep everything).
    fn need(&self) -> Option<u64> {
        let mut claims = lock(&self.claims);
        claims.retain(|c| Arc::strong_count(c) > 1);
        let mut need = u64::MAX;
        for c in claims.iter() {
            need = need.min(c.0.load(Ordering::Acquire));
        }
        (need != u64::MAX).then_some(need)
    }

    /// Runs [`Spool::sync`] every interval until `stop` is set.
    pub fn spawn(self: &Arc<Spool>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("ringwrite-spool".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = me.sync() {
                        let n = me.failures.fetch_add(1, Ordering::Relaxed);
                        if n % 60 == 0 {
                            tracing::error!(error = %e, failures = n + 1,
                                "Cannot keep WAL segments in the spool; if Prometheus truncates them now, endpoints behind will lose them.");
                        }
                    }
                    std::thread::sleep(me.opts.interval);
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the spool thread: {e}"))
    }

    /// One pass: link what is new, release what no endpoint needs, enforce the budget.
    pub fn sync(&self) -> Result<SyncReport, SpoolError> {
        let mut report = SyncReport::default();
        let wal = dir::list(&self.opts.wal_dir)?;
        let spool = dir::list(&self.opts.dir)?;
        let need = self.need();
        // The newest checkpoint below `need` (anywhere) is the replay base.
        let mut all = wal.clone();
        dir::merge_listing(&mut all, spool.clone());
        let base = need.and_then(|n| {
            all.checkpoints
                .iter()
                .rev()
                .find(|c| c.index < n)
                .map(|c| c.index)
        });
        let newest_wal = wal.segments.last().map(|s| s.index);
        // 1. Mirror segments after the base.
        for s in &wal.segments {
            if base.is_some_and(|b| s.index <= b) {
                continue;
            }
            let dst = self.opts.dir.join(dir::segment_name(s.index));
            let sealed = newest_wal.is_some_and(|n| s.index < n);
            match self.mirror(&s.path, &dst, sealed)? {
                Mirrored::Linked => report.linked += 1,
                Mirrored::Copied => report.copied += 1,
                Mirrored::Already | Mirrored::Later => {}
            }
        }
        // 2. Mirror checkpoints at or after the base.
        for c in &wal.checkpoints {
            if base.is_some_and(|b| c.index < b) {
                continue;
            }
            let dst = self.opts.dir.join(dir::checkpoint_name(c.index));
            if !dst.exists() {
                self.mirror_checkpoint(&c.path, &dst)?;
                report.linked += 1;
            }
        }
        // 3. Release what the base covers.
        if let Some(b) = base {
            for s in spool.segments.iter().filter(|s| s.index <= b) {
                std::fs::remove_file(&s.path).map_err(io("remove", &s.path))?;
                report.released += 1;
            }
            for c in spool.checkpoints.iter().filter(|c| c.index < b) {
                std::fs::remove_dir_all(&c.path).map_err(io("remove", &c.path))?;
                report.released += 1;
            }
        }
        // 4. Budget: bytes only the spool holds.
        let spool = dir::list(&self.opts.dir)?;
        let mut held = held_bytes(&spool)?;
        let mut candidates: Vec<(u64, PathBuf, u64)> = Vec::new();
        for s in &spool.segments {
            let m = std::fs::metadata(&s.path).map_err(io("stat", &s.path))?;
            if m.nlink() == 1 {
                candidates.push((s.index, s.path.clone(), m.len()));
            }
        }
        for (index, path, len) in candidates {
            if held <= self.opts.max_bytes {
                break;
            }
            let counts = count_data(&path).unwrap_or_default();
            tracing::error!(segment = index, bytes = len, samples = counts.samples,
                max_spool_bytes = self.opts.max_bytes,
                "Spool over its budget: releasing the oldest segment Prometheus already deleted; endpoints that have not read it lose it.");
            lock(&self.evicted).insert(index, counts);
            std::fs::remove_file(&path).map_err(io("remove", &path))?;
            held -= len;
            report.evicted.push(index);
        }
        self.held.store(held, Ordering::Relaxed);
        report.held_bytes = held;
        Ok(report)
    }

    /// Keeps `dst` the same file as `src`: a hard link, else (other filesystem) a copy of
    /// a sealed segment. A replaced WAL file (repair) replaces the spool's copy.
    fn mirror(&self, src: &Path, dst: &Path, sealed: bool) -> Result<Mirrored, SpoolError> {
        let sm = match std::fs::metadata(src) {
            Ok(m) => m,
            // Deleted between the listing and now: nothing to mirror.
            Err(_) => return Ok(Mirrored::Already),
        };
        if let Ok(dm) = std::fs::metadata(dst) {
            let same = dm.ino() == sm.ino() && dm.dev() == sm.dev();
            let copy_done = dm.nlink() == 1 && dm.len() == sm.len();
            if same || copy_done {
                return Ok(Mirrored::Already);
            }
        }
        let tmp = dst.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        match std::fs::hard_link(src, &tmp) {
            Ok(()) => {
                std::fs::rename(&tmp, dst).map_err(io("rename", dst))?;
                Ok(Mirrored::Linked)
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EXDEV)
                    || e.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                if !self.warned_copy.swap(true, Ordering::Relaxed) {
                    tracing::warn!(wal = %src.display(), spool = %self.opts.dir.display(), error = %e,
                        "Cannot hard-link WAL segments into the spool (another filesystem?); copying sealed segments instead.");
                }
                if !sealed {
                    return Ok(Mirrored::Later);
                }
                std::fs::copy(src, &tmp).map_err(io("copy into", &tmp))?;
                std::fs::rename(&tmp, dst).map_err(io("rename", dst))?;
                Ok(Mirrored::Copied)
            }
            Err(e) => Err(SpoolError::Io {
                op: "hard-link into",
                path: tmp,
                source: e,
            }),
        }
    }

    fn mirror_checkpoint(&self, src: &Path, dst: &Path) -> Result<(), SpoolError> {
        let tmp = dst.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io("create directory", &tmp))?;
        let listing = dir::list(src)?;
        for s in &listing.segments {
            let d = tmp.join(dir::segment_name(s.index));
            if std::fs::hard_link(&s.path, &d).is_err() {
                std::fs::copy(&s.path, &d).map_err(io("copy into", &d))?;
            }
        }
        std::fs::rename(&tmp, dst).map_err(io("rename", dst))?;
        Ok(())
    }
}

enum Mirrored {
    Linked,
    Copied,
    Already,
    /// A live segment that can only be copied once sealed.
    Later,
}

/// Bytes of spool files no other name refers to.
fn held_bytes(l: &Listing) -> Result<u64, SpoolError> {
    let mut held = 0;
    for s in &l.segments {
        let m = std::fs::metadata(&s.path).map_err(io("stat", &s.path))?;
        if m.nlink() == 1 {
            held += m.len();
        }
    }
    for c in &l.checkpoints {
        for s in &dir::list(&c.path)?.segments {
            let m = std::fs::metadata(&s.path).map_err(io("stat", &s.path))?;
            if m.nlink() == 1 {
                held += m.len();
            }
        }
    }
    Ok(held)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
