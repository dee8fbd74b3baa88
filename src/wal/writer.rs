//! A WAL writer that lays records out exactly like Prometheus's `WL.log`
//! (FORMATS.md §1.2–1.3): 32 KiB pages, fragments that never cross a page, zero-length
//! fragments when exactly 7 bytes remain, page flushes without padding, segment rotation
//! before a record that does not fit, and padding of the last page on close.
//!
//! ringwrite itself never writes a WAL; this is for tests, fixtures and the benchmark
//! generator, which need WALs that Prometheus (and our reader) accept.

use super::dir::segment_name;
use super::fragment::{put_fragment, FragmentKind, HEADER_SIZE, PAGE_SIZE, SNAPPY_FLAG, ZSTD_FLAG};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Record compression, as `--storage.tsdb.wal-compression(-type)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Snappy,
    Zstd,
}

/// Writes segments `dir/NNNNNNNN`.
pub struct WalWriter {
    dir: PathBuf,
    segment_size: usize,
    compression: Compression,
    index: u64,
    file: File,
    page: Vec<u8>,
    /// Bytes of `page` in use.
    alloc: usize,
    /// Bytes of `page` already written to the file.
    flushed: usize,
    /// Full pages written to the current segment.
    done_pages: usize,
    comp_buf: Vec<u8>,
    frag_buf: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl WalWriter {
    /// Creates `dir` if needed and starts segment `first_index` (truncating it).
    /// `segment_size` must be a multiple of the page size.
    pub fn create(
        dir: &Path,
        first_index: u64,
        segment_size: usize,
        compression: Compression,
    ) -> std::io::Result<WalWriter> {
        if segment_size == 0 || segment_size % PAGE_SIZE != 0 {
            return Err(std::io::Error::other(format!(
                "invalid segment size {segment_size}: must be a positive multiple of {PAGE_SIZE}"
            )));
        }
        std::fs::create_dir_all(dir)?;
        let file = File::create(dir.join(segment_name(first_index)))?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            segment_size,
            compression,
            index: first_index,
            file,
            page: vec![0; PAGE_SIZE],
            alloc: 0,
            flushed: 0,
            done_pages: 0,
            comp_buf: Vec::new(),
            frag_buf: Vec::with_capacity(PAGE_SIZE),
            snappy: snap::raw::Encoder::new(),
        })
    }

    /// Index of the segment being written.
    pub fn segment(&self) -> u64 {
        self.index
    }

    /// Byte offset in the current segment where the next record's first fragment will go
    /// (if it fits in this segment).
    pub fn offset(&self) -> u64 {
        (self.done_pages * PAGE_SIZE + self.alloc) as u64
    }

    fn pages_per_segment(&self) -> usize {
        self.segment_size / PAGE_SIZE
    }

    /// Appends records (each type byte first) and flushes the page without padding, like
    /// one `WL.Log(recs...)` call.
    pub fn log(&mut self, recs: &[&[u8]]) -> std::io::Result<()> {
        for rec in recs {
            self.log_one(rec)?;
        }
        if self.alloc > self.flushed {
            self.flush_page(false)?;
        }
        Ok(())
    }

    fn log_one(&mut self, rec: &[u8]) -> std::io::Result<()> {
        let mut flag = 0u8;
        let mut comp = std::mem::take(&mut self.comp_buf);
        let data: &[u8] = match self.compression {
            Compression::None => rec,
            Compression::Snappy => {
                comp.resize(snap::raw::max_compress_len(rec.len()), 0);
                let n = self
                    .snappy
                    .compress(rec, &mut comp)
                    .map_err(std::io::Error::other)?;
                comp.truncate(n);
                if n < rec.len() {
                    flag = SNAPPY_FLAG;
                    &comp
                } else {
                    rec
                }
            }
            Compression::Zstd => {
                comp.clear();
                comp = zstd::bulk::compress(rec, 3)?;
                if comp.len() < rec.len() {
                    flag = ZSTD_FLAG;
                    &comp
                } else {
                    rec
                }
            }
        };
        // Would the record fit in what is left of this segment? If not, start the next
        // one first (records never cross segments).
        let left = (PAGE_SIZE - self.alloc).saturating_sub(HEADER_SIZE)
            + (PAGE_SIZE - HEADER_SIZE)
                * (self.pages_per_segment().saturating_sub(self.done_pages + 1));
        let res = (|| {
            if data.len() > left {
                self.next_segment()?;
            }
            let mut rest = data;
            let mut i = 0;
            while i == 0 || !rest.is_empty() {
                let l = rest.len().min(PAGE_SIZE - self.alloc - HEADER_SIZE);
                let (part, tail) = rest.split_at(l);
                let last = tail.is_empty();
                let kind = match (i == 0, last) {
                    (true, true) => FragmentKind::Full,
                    (true, false) => FragmentKind::First,
                    (false, true) => FragmentKind::Last,
                    (false, false) => FragmentKind::Middle,
                };
                self.frag_buf.clear();
                put_fragment(&mut self.frag_buf, kind, flag, part);
                self.page[self.alloc..self.alloc + self.frag_buf.len()]
                    .copy_from_slice(&self.frag_buf);
                self.alloc += self.frag_buf.len();
                if PAGE_SIZE - self.alloc < HEADER_SIZE {
                    self.flush_page(true)?;
                }
                rest = tail;
                i += 1;
            }
            Ok(())
        })();
        self.comp_buf = comp;
        res
    }

    /// Writes the unwritten part of the page; with `clear`, pads it to 32 KiB first and
    /// starts a new page.
    fn flush_page(&mut self, clear: bool) -> std::io::Result<()> {
        if clear {
            self.page[self.alloc..].fill(0);
            self.alloc = PAGE_SIZE;
        }
        self.file.write_all(&self.page[self.flushed..self.alloc])?;
        self.flushed = self.alloc;
        if clear {
            self.page.fill(0);
            self.alloc = 0;
            self.flushed = 0;
            self.done_pages += 1;
        }
        Ok(())
    }

    /// Pads the current page (if it holds data) and starts segment `index + 1`.
    pub fn next_segment(&mut self) -> std::io::Result<()> {
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        self.file.sync_data()?;
        self.index += 1;
        self.file = File::create(self.dir.join(segment_name(self.index)))?;
        self.done_pages = 0;
        Ok(())
    }

    /// Pads the last page (if it holds data) and syncs, like `WL.Close`.
    pub fn close(mut self) -> std::io::Result<()> {
        if self.alloc > 0 {
            self.flush_page(true)?;
        }
        self.file.sync_all()
    }
}
