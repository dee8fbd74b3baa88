//! A Prometheus-format WAL generator for `ringwrite bench` and the tests.
//!
//! It appends what a Prometheus server with `series / series_per_target` targets would:
//! one commit per scrape of one target (Series and Metadata records on the target's first
//! scrape, then Samples, HistogramSamples and Exemplars records), either as fast as it can
//! or spread evenly so that `rate` samples per second arrive, each target scraped once per
//! interval at its own offset. Segments rotate at `segment_size` between scrapes (so a
//! scrape's records share a segment); with `checkpoint_every`, once that many segments sit
//! after the last checkpoint it writes `checkpoint.N` (series and metadata of the targets
//! whose first scrape is in the segments covered) for the oldest two thirds of them and
//! deletes those segments and older checkpoints, as Prometheus's head truncation does.
//!
//! What is written is a pure function of [`Model`] (see model.rs), so the verifying sink
//! ([`verify`]) checks arrivals without a copy. The wall-clock time of every scrape's append
//! goes to an [`AppendLog`], from which the sink computes append-to-ack lag.

pub mod model;
pub mod sinks;
pub mod verify;
pub mod wire;

pub use model::{LabelShape, Model, SeriesKind, Timestamps};

use crate::record::{encode, RefMetadata, RefSample};
use crate::wal::dir::{checkpoint_name, segment_name};
use crate::wal::fragment::{HEADER_SIZE, PAGE_SIZE};
use crate::wal::writer::{Compression, WalWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the generator writes.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub model: Model,
    /// Samples per second over all series; `None` writes as fast as possible.
    pub rate: Option<f64>,
    pub segment_size: usize,
    pub compression: Compression,
    /// Checkpoint when this many segments follow the last checkpoint (`None`: never).
    pub checkpoint_every: Option<u64>,
}

/// Wall-clock append time of every scrape, in microseconds since `epoch` (0: not yet
/// appended). Written by the generator, read by the sink.
pub struct AppendLog {
    pub epoch: Instant,
    times: Vec<AtomicU64>,
}

impl AppendLog {
    pub fn new(scrapes: u64, epoch: Instant) -> AppendLog {
        AppendLog {
            epoch,
            times: (0..scrapes).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Microseconds since the epoch, at least 1.
    pub fn now_us(&self) -> u64 {
        (self.epoch.elapsed().as_micros() as u64).max(1)
    }

    fn set(&self, seq: u64, us: u64) {
        if let Some(t) = self.times.get(seq as usize) {
            t.store(us, Ordering::Release);
        }
    }

    /// When scrape `seq` was appended, if it was.
    pub fn get(&self, seq: u64) -> Option<u64> {
        match self.times.get(seq as usize)?.load(Ordering::Acquire) {
            0 => None,
            us => Some(us),
        }
    }
}

/// Counters of a running generator.
#[derive(Debug, Default)]
pub struct GenProgress {
    pub samples: AtomicU64,
    pub histograms: AtomicU64,
    pub exemplars: AtomicU64,
    pub scrapes: AtomicU64,
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
    pub checkpoints: AtomicU64,
    /// Scrapes whose records were deleted with their segments (covered by a checkpoint).
    pub scrapes_truncated: AtomicU64,
    pub done: AtomicBool,
}

/// What a finished run wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenSummary {
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
    pub scrapes: u64,
    pub segments: u64,
    pub checkpoints: u64,
    /// First scrape (in append order) still in a segment on disk.
    pub first_retained_scrape: u64,
    /// CPU time of the thread that ran the generator, up to its end.
    pub thread_cpu: Duration,
}

/// Writes a WAL directory.
pub struct Generator {
    spec: GenSpec,
    dir: PathBuf,
    writer: Option<WalWriter>,
    progress: Arc<GenProgress>,
    log: Arc<AppendLog>,
    /// Oldest segment on disk.
    first_segment: u64,
    /// First scrape seq of each segment since `first_segment`.
    segment_first_scrape: Vec<(u64, u64)>,
    first_retained_scrape: u64,
    /// Last timestamp per target (wall-clock mode).
    last_ts: Vec<i64>,
    buf: [Vec<u8>; 5],
}

impl Generator {
    /// Creates `dir` (the WAL directory) and its first segment.
    pub fn create(dir: &Path, spec: GenSpec, log: Arc<AppendLog>) -> std::io::Result<Generator> {
        let writer = WalWriter::create(dir, 0, spec.segment_size, spec.compression)?;
        let targets = spec.model.targets() as usize;
        Ok(Generator {
            spec,
            dir: dir.to_path_buf(),
            writer: Some(writer),
            progress: Arc::new(GenProgress::default()),
            log,
            first_segment: 0,
            segment_first_scrape: vec![(0, 0)],
            first_retained_scrape: 0,
            last_ts: vec![i64::MIN; targets],
            buf: Default::default(),
        })
    }

    pub fn progress(&self) -> Arc<GenProgress> {
        Arc::clone(&self.progress)
    }

    /// Writes every scrape (or until `stop`), then pads and syncs the last segment.
    pub fn run(mut self, stop: &AtomicBool) -> std::io::Result<GenSummary> {
        let model = self.spec.model.clone();
        let targets = model.targets();
        // Time between two scrapes of one target, and between two targets' scrapes.
        let step = self.spec.rate.filter(|r| *r > 0.0).map(|rate| {
            let interval = model.series as f64 / rate;
            Duration::from_secs_f64(interval / targets.max(1) as f64)
        });
        let start = Instant::now();
        let mut seq = 0u64;
        'outer: for index in 0..model.samples_per_series {
            for target in 0..targets {
                if stop.load(Ordering::Relaxed) {
                    break 'outer;
                }
                if let Some(step) = step {
                    let due = start + step.mul_f64(seq as f64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                self.scrape(&model, target, index, seq)?;
                seq += 1;
            }
        }
        if let Some(w) = self.writer.take() {
            w.close()?;
        }
        let p = &self.progress;
        p.done.store(true, Ordering::Release);
        Ok(GenSummary {
            samples: p.samples.load(Ordering::Relaxed),
            histograms: p.histograms.load(Ordering::Relaxed),
            exemplars: p.exemplars.load(Ordering::Relaxed),
            scrapes: seq,
            segments: p.segments.load(Ordering::Relaxed) + 1,
            checkpoints: p.checkpoints.load(Ordering::Relaxed),
            first_retained_scrape: self.first_retained_scrape,
            thread_cpu: crate::runtime::thread_cpu(),
        })
    }

    /// Appends one target's scrape as one commit.
    fn scrape(&mut self, model: &Model, target: u64, index: u64, seq: u64) -> std::io::Result<()> {
        let t = match model.synthetic_timestamp(target, index) {
            Some(t) => t,
            None => {
                let now = crate::queue::now_ms();
                let last = &mut self.last_ts[target as usize];
                *last = now.max(last.saturating_add(1));
                *last
            }
        };
        let mut bufs = std::mem::take(&mut self.buf);
        let res = self.scrape_into(&mut bufs, model, target, index, seq, t);
        self.buf = bufs;
        res
    }

    /// [`Generator::scrape`] with its record buffers.
    fn scrape_into(
        &mut self,
        bufs: &mut [Vec<u8>; 5],
        model: &Model,
        target: u64,
        index: u64,
        seq: u64,
        t: i64,
    ) -> std::io::Result<()> {
        let ids = model.target_series(target);
        for b in bufs.iter_mut() {
            b.clear();
        }
        let [series_rec, meta_rec, samples_rec, hist_rec, ex_rec] = bufs;
        if index == 0 {
            series_record(series_rec, model, ids.clone());
            if model.metadata {
                metadata_record(meta_rec, model, ids.clone());
            }
        }
        let samples: Vec<RefSample> = ids
            .clone()
            .filter(|&id| model.kind(id) == SeriesKind::Float)
            .map(|id| RefSample {
                sref: id + 1,
                t,
                st: 0,
                v: model.value(id, index),
            })
            .collect();
        if !samples.is_empty() {
            encode::samples_v1(samples_rec, &samples);
        }
        let hists: Vec<_> = ids
            .clone()
            .filter(|&id| model.kind(id) == SeriesKind::Histogram)
            .map(|id| (id, model.histogram(id, index)))
            .collect();
        if !hists.is_empty() {
            let entries: Vec<_> = hists
                .iter()
                .map(|(id, h)| encode::HistogramSample {
                    sref: id + 1,
                    t,
                    st: 0,
                    h,
                })
                .collect();
            encode::histogram_samples_v1(hist_rec, false, &entries);
        }
        let ex: Vec<_> = ids
            .clone()
            .filter(|&id| model.has_exemplar(id, index))
            .map(|id| {
                (
                    id,
                    vec![("trace_id".to_string(), Model::exemplar_trace_id(id, index))],
                )
            })
            .collect();
        if !ex.is_empty() {
            encode::exemplars(
                ex_rec,
                ex.iter()
                    .map(|(id, l)| (id + 1, t, model.value(*id, index), l)),
            );
        }
        // Prometheus's headAppender.log order.
        let recs: Vec<&[u8]> = [
            &*series_rec,
            &*meta_rec,
            &*samples_rec,
            &*ex_rec,
            &*hist_rec,
        ]
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.as_slice())
        .collect();
        self.rotate_if_needed(&recs, seq)?;
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| std::io::Error::other("generator already closed"))?;
        writer.log(&recs)?;
        self.log.set(seq, self.log.now_us());
        let p = &self.progress;
        p.samples.fetch_add(samples.len() as u64, Ordering::Relaxed);
        p.histograms
            .fetch_add(hists.len() as u64, Ordering::Relaxed);
        p.exemplars.fetch_add(ex.len() as u64, Ordering::Relaxed);
        p.bytes
            .fetch_add(recs.iter().map(|r| r.len() as u64).sum(), Ordering::Relaxed);
        p.scrapes.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Starts the next segment first if the scrape might not fit in this one, so no scrape
    /// spans two segments (then truncation drops whole scrapes).
    fn rotate_if_needed(&mut self, recs: &[&[u8]], seq: u64) -> std::io::Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        // Upper bound: raw bytes (compression never grows a record) plus a fragment
        // header per page each record may touch, plus a page of slack for padding.
        let raw: usize = recs.iter().map(|r| r.len()).sum();
        let headers = recs
            .iter()
            .map(|r| (r.len() / (PAGE_SIZE - HEADER_SIZE) + 2) * HEADER_SIZE)
            .sum::<usize>();
        let need = raw + headers + PAGE_SIZE;
        if writer.offset() == 0 || writer.offset() as usize + need <= self.spec.segment_size {
            return Ok(());
        }
        writer.next_segment()?;
        let segment = writer.segment();
        self.progress.segments.fetch_add(1, Ordering::Relaxed);
        self.segment_first_scrape.push((segment, seq));
        if let Some(every) = self.spec.checkpoint_every.filter(|e| *e > 0) {
            // Prometheus's truncateWAL: never the segment being written; the lower two
            // thirds of the others.
            let first = self.first_segment;
            if segment - first >= every {
                let last = first + (segment - 1 - first) * 2 / 3;
                if last > first {
                    self.checkpoint(last)?;
                }
            }
        }
        Ok(())
    }

    /// Writes `checkpoint.<last>` and deletes the segments up to `last` and older
    /// checkpoints (Prometheus: `Checkpoint`, `Truncate(last + 1)`, `DeleteCheckpoints`).
    fn checkpoint(&mut self, last: u64) -> std::io::Result<()> {
        let model = self.spec.model.clone();
        let retained = self
            .segment_first_scrape
            .iter()
            .find(|(s, _)| *s == last + 1)
            .map(|(_, seq)| *seq)
            .unwrap_or(0);
        // Targets whose first scrape (seq = target) lies in the covered segments.
        let targets = retained.min(model.targets());
        let tmp = self.dir.join(format!("{}.tmp", checkpoint_name(last)));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut w = WalWriter::create(&tmp, 0, self.spec.segment_size, self.spec.compression)?;
        let mut rec = Vec::new();
        for target in 0..targets {
            rec.clear();
            series_record(&mut rec, &model, model.target_series(target));
            w.log(&[&rec])?;
        }
        if model.metadata {
            for target in 0..targets {
                rec.clear();
                metadata_record(&mut rec, &model, model.target_series(target));
                w.log(&[&rec])?;
            }
        }
        w.close()?;
        let final_dir = self.dir.join(checkpoint_name(last));
        std::fs::rename(&tmp, &final_dir)?;
        for s in self.first_segment..=last {
            std::fs::remove_file(self.dir.join(segment_name(s)))?;
        }
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name.strip_prefix("checkpoint.") {
                if n.parse::<u64>().is_ok_and(|n| n < last) {
                    std::fs::remove_dir_all(entry.path())?;
                }
            }
        }
        self.first_segment = last + 1;
        self.segment_first_scrape.retain(|(s, _)| *s > last);
        self.first_retained_scrape = retained;
        self.progress.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.progress
            .scrapes_truncated
            .store(retained, Ordering::Relaxed);
        Ok(())
    }
}

/// The Series record of series `ids` (WAL ref = id + 1).
fn series_record(out: &mut Vec<u8>, model: &Model, ids: std::ops::Range<u64>) {
    let labels: Vec<_> = ids.clone().map(|id| model.labels(id)).collect();
    encode::series(out, ids.zip(labels.iter()).map(|(id, l)| (id + 1, l)));
}

/// The Metadata record of series `ids`.
fn metadata_record(out: &mut Vec<u8>, model: &Model, ids: std::ops::Range<u64>) {
    let metas: Vec<_> = ids.map(|id| (id, model.metadata(id))).collect();
    let entries: Vec<RefMetadata<'_>> = metas
        .iter()
        .map(|(id, (mtype, unit, help))| RefMetadata {
            sref: id + 1,
            mtype: *mtype,
            unit: unit.as_bytes(),
            help: help.as_bytes(),
        })
        .collect();
    encode::metadata(out, &entries);
}
