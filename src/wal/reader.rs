//! Reassembles logical records from the fragments of one segment (FORMATS.md §1.2–1.5).

use super::error::{Corruption, CorruptionReason};
use super::fragment::{self, FragmentKind, Step, SNAPPY_FLAG, ZSTD_FLAG};
use super::mmap::MappedSegment;
use std::path::Path;

/// Upper bound on one decompressed record. Prometheus's biggest records (checkpoint
/// batches, very large scrapes) are a few MiB; a corrupt length prefix must not make us
/// allocate gigabytes.
pub const MAX_RECORD_SIZE: usize = 256 << 20;

/// Pages this far behind the read position are released from the mapping.
const RELEASE_EVERY: u64 = 8 << 20;

/// Where a record starts: the segment and the byte offset of its first fragment.
/// A reader can be started at any such position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08}:{}", self.segment, self.offset)
    }
}

impl std::str::FromStr for Position {
    type Err = String;
    /// `SEGMENT:OFFSET` (segment as a number, leading zeros allowed), or `SEGMENT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seg, off) = s.split_once(':').unwrap_or((s, "0"));
        let segment = seg
            .parse()
            .map_err(|_| format!("bad segment number {seg:?} in {s:?} (want SEGMENT:OFFSET)"))?;
        let offset = off
            .parse()
            .map_err(|_| format!("bad byte offset {off:?} in {s:?} (want SEGMENT:OFFSET)"))?;
        Ok(Position { segment, offset })
    }
}

/// What [`SegmentReader::next_read`] produced.
#[derive(Debug)]
pub enum Read<'a> {
    /// A complete, decompressed record (type byte first) starting at `offset`.
    Record { offset: u64, bytes: &'a [u8] },
    /// A corrupt stretch, already skipped.
    Corrupt(Corruption),
    /// No complete record available: on a live segment, wait for more; on a sealed one,
    /// this is the end.
    Pending,
}

/// What [`SegmentReader::poll`] found; a record's bytes are then at
/// [`SegmentReader::record`].
#[derive(Debug)]
pub enum Poll {
    Record,
    Corrupt(Corruption),
    Pending,
}

/// Where the bytes of the last complete record are.
#[derive(Debug, Clone, Copy)]
enum Loc {
    None,
    /// Uncompressed single fragment: straight from the mapping.
    Mapped(usize, usize),
    /// Uncompressed, assembled from several fragments.
    Assembled,
    /// Decompressed into `out`.
    Decompressed,
}

/// Counters a reader keeps about what it tolerated.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReaderStats {
    /// Fragments that crossed a page boundary (Prometheus: `record_span_page`).
    pub spans_page: u64,
    pub records: u64,
    pub bytes_compressed_snappy: u64,
    pub bytes_compressed_zstd: u64,
}

/// Reads the records of one segment, in order, from a mapped file.
pub struct SegmentReader {
    seg: MappedSegment,
    index: u64,
    checkpoint: Option<u64>,
    /// Offset of the next fragment to parse.
    off: usize,
    /// Set when a newer segment exists: an incomplete tail is then torn, not pending.
    sealed: bool,
    /// Start offset and compression of the record being assembled from several fragments.
    open: Option<(usize, u8)>,
    asm: Vec<u8>,
    out: Vec<u8>,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    torn_reported: bool,
    stats: ReaderStats,
    last: Loc,
    last_offset: u64,
    /// Offset below which the mapping's pages were released.
    released: u64,
}

impl SegmentReader {
    /// Opens segment `index` at `path`, positioned at byte `offset` (a record boundary).
    pub fn open(
        path: &Path,
        index: u64,
        checkpoint: Option<u64>,
        offset: u64,
    ) -> std::io::Result<SegmentReader> {
        let seg = MappedSegment::open(path)?;
        Ok(Self::from_mapped(seg, index, checkpoint, offset))
    }

    pub fn from_mapped(
        seg: MappedSegment,
        index: u64,
        checkpoint: Option<u64>,
        offset: u64,
    ) -> SegmentReader {
        SegmentReader {
            seg,
            index,
            checkpoint,
            off: offset as usize,
            sealed: false,
            open: None,
            asm: Vec::new(),
            out: Vec::new(),
            zstd: None,
            torn_reported: false,
            stats: ReaderStats::default(),
            last: Loc::None,
            last_offset: 0,
            released: 0,
        }
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    /// The checkpoint this segment belongs to, if any.
    pub fn checkpoint(&self) -> Option<u64> {
        self.checkpoint
    }

    pub fn segment(&self) -> &MappedSegment {
        &self.seg
    }

    /// Offset just past the last complete record returned (or the start offset), i.e.
    /// where a reader opened later would resume.
    pub fn offset(&self) -> u64 {
        match self.open {
            Some((start, _)) => start as u64,
            None => self.off as u64,
        }
    }

    pub fn stats(&self) -> ReaderStats {
        self.stats
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Marks the segment as finished by the writer (a newer segment exists). Call
    /// [`SegmentReader::refresh`] afterwards so the final size is seen.
    pub fn seal(&mut self) {
        self.sealed = true;
    }

    /// Re-reads the file size; true if there are new bytes.
    pub fn refresh(&mut self) -> std::io::Result<bool> {
        self.seg.refresh()
    }

    fn corrupt(&self, offset: usize, reason: CorruptionReason) -> Corruption {
        Corruption {
            checkpoint: self.checkpoint,
            segment: self.index,
            offset: offset as u64,
            reason,
        }
    }

    /// Parses forward to the next complete record and returns it. Never blocks; never
    /// reads past the file size seen at the last refresh.
    pub fn next_read(&mut self) -> Read<'_> {
        match self.poll() {
            Poll::Record => {
                let (offset, bytes) = self.record();
                Read::Record { offset, bytes }
            }
            Poll::Corrupt(c) => Read::Corrupt(c),
            Poll::Pending => Read::Pending,
        }
    }

    /// The record found by the last [`Poll::Record`]: its offset and bytes.
    pub fn record(&self) -> (u64, &[u8]) {
        let bytes: &[u8] = match self.last {
            Loc::None => &[],
            Loc::Mapped(s, e) => &self.seg.data()[s..e],
            Loc::Assembled => &self.asm,
            Loc::Decompressed => &self.out,
        };
        (self.last_offset, bytes)
    }

    /// Like [`SegmentReader::next_read`] without borrowing the reader in the result.
    pub fn poll(&mut self) -> Poll {
        // Keep RSS bounded on big segments: release what is far behind us.
        let done = self.offset();
        if done >= self.released + RELEASE_EVERY {
            self.seg.release_before(done);
            self.released = done;
        }
        loop {
            let data = self.seg.data();
            let at = self.off;
            match fragment::step(data, at) {
                Step::Padding { next } => self.off = next,
                Step::NeedMore { zeros_only } => {
                    if self.sealed && !self.torn_reported && (self.open.is_some() || !zeros_only) {
                        self.torn_reported = true;
                        let start = self.open.map_or(at, |(s, _)| s);
                        self.open = None;
                        self.off = data.len();
                        return Poll::Corrupt(self.corrupt(start, CorruptionReason::TornTail));
                    }
                    return Poll::Pending;
                }
                Step::Corrupt { reason, resume } => {
                    // Anything assembled so far is lost with the corrupt fragment.
                    // If the resume point is not written yet, reading continues there
                    // once it is.
                    self.open = None;
                    self.off = resume;
                    return Poll::Corrupt(self.corrupt(at, reason));
                }
                Step::Fragment {
                    kind,
                    compression,
                    start,
                    end,
                    spans_page,
                } => {
                    if spans_page {
                        self.stats.spans_page += 1;
                    }
                    self.off = end;
                    match (kind, self.open) {
                        (FragmentKind::Full, None) => {
                            return self.finish(at, compression, start, end, false);
                        }
                        (FragmentKind::First, None) => {
                            self.asm.clear();
                            self.asm.extend_from_slice(&data[start..end]);
                            self.open = Some((at, compression));
                        }
                        (FragmentKind::Middle, Some(_)) => {
                            self.asm.extend_from_slice(&data[start..end]);
                        }
                        (FragmentKind::Last, Some((rec_start, comp))) => {
                            self.asm.extend_from_slice(&data[start..end]);
                            self.open = None;
                            return self.finish(rec_start, comp, 0, 0, true);
                        }
                        (FragmentKind::Full | FragmentKind::First, Some((rec_start, _))) => {
                            // The open record is broken; this fragment starts afresh on
                            // the next call.
                            self.open = None;
                            self.off = at;
                            return Poll::Corrupt(self.corrupt(
                                rec_start,
                                CorruptionReason::UnexpectedFragment {
                                    got: kind.name(),
                                    in_record: true,
                                },
                            ));
                        }
                        (FragmentKind::Middle | FragmentKind::Last, None) => {
                            return Poll::Corrupt(self.corrupt(
                                at,
                                CorruptionReason::UnexpectedFragment {
                                    got: kind.name(),
                                    in_record: false,
                                },
                            ));
                        }
                    }
                }
            }
        }
    }

    /// Completes the record at `rec_start`, decompressing it if flagged. Its bytes are
    /// the mapped `start..end` (single fragment) or the assembly buffer.
    fn finish(
        &mut self,
        rec_start: usize,
        compression: u8,
        start: usize,
        end: usize,
        assembled: bool,
    ) -> Poll {
        self.stats.records += 1;
        self.last_offset = rec_start as u64;
        let src: &[u8] = if assembled {
            &self.asm
        } else {
            &self.seg.data()[start..end]
        };
        let res = if compression & SNAPPY_FLAG != 0 {
            self.stats.bytes_compressed_snappy += src.len() as u64;
            decompress_snappy(src, &mut self.out)
        } else if compression & ZSTD_FLAG != 0 {
            self.stats.bytes_compressed_zstd += src.len() as u64;
            decompress_zstd(src, &mut self.out, &mut self.zstd)
        } else {
            self.last = if assembled {
                Loc::Assembled
            } else {
                Loc::Mapped(start, end)
            };
            return Poll::Record;
        };
        match res {
            Ok(()) => {
                self.last = Loc::Decompressed;
                Poll::Record
            }
            Err(reason) => {
                self.last = Loc::None;
                Poll::Corrupt(self.corrupt(rec_start, reason))
            }
        }
    }
}

fn decompress_snappy(src: &[u8], out: &mut Vec<u8>) -> Result<(), CorruptionReason> {
    let err = |e: snap::Error| CorruptionReason::Decompress {
        codec: "snappy",
        msg: e.to_string(),
    };
    let n = snap::raw::decompress_len(src).map_err(err)?;
    if n > MAX_RECORD_SIZE {
        return Err(CorruptionReason::RecordTooLarge(n));
    }
    if out.len() < n {
        out.resize(n, 0);
    }
    let got = snap::raw::Decoder::new()
        .decompress(src, &mut out[..n])
        .map_err(err)?;
    out.truncate(got);
    Ok(())
}

fn decompress_zstd(
    src: &[u8],
    out: &mut Vec<u8>,
    dec: &mut Option<zstd::bulk::Decompressor<'static>>,
) -> Result<(), CorruptionReason> {
    let err = |e: std::io::Error| CorruptionReason::Decompress {
        codec: "zstd",
        msg: e.to_string(),
    };
    out.clear();
    match zstd::zstd_safe::get_frame_content_size(src) {
        Ok(Some(n)) if n as usize > MAX_RECORD_SIZE => {
            Err(CorruptionReason::RecordTooLarge(n as usize))
        }
        Ok(Some(n)) => {
            // Prometheus (klauspost EncodeAll) writes the content size into the frame
            // header: decompress in one call into the reused buffer.
            let d = match dec {
                Some(d) => d,
                None => dec.insert(zstd::bulk::Decompressor::new().map_err(err)?),
            };
            out.reserve(n as usize);
            d.decompress_to_buffer(src, out).map_err(err)?;
            Ok(())
        }
        _ => {
            // No content size in the header: stream, bounded by MAX_RECORD_SIZE.
            let mut r = zstd::stream::read::Decoder::new(src).map_err(err)?;
            let mut limited = std::io::Read::take(&mut r, MAX_RECORD_SIZE as u64 + 1);
            std::io::copy(&mut limited, out).map_err(err)?;
            if out.len() > MAX_RECORD_SIZE {
                return Err(CorruptionReason::RecordTooLarge(out.len()));
            }
            Ok(())
        }
    }
}
