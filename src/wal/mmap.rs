//! A segment file mapped into memory, read only up to its current size.

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Virtual headroom mapped past the end of the file, so a live segment that keeps
/// growing is re-mapped rarely (mapping is address space, not memory).
const MAP_HEADROOM: u64 = 64 << 20;

/// Identity of a file: a segment replaced under the same name (Prometheus's repair)
/// has a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// One mapped segment. [`MappedSegment::data`] never reaches past the size the file had
/// at the last [`MappedSegment::refresh`], whatever the mapping's length.
pub struct MappedSegment {
    path: PathBuf,
    file: File,
    map: Option<Mmap>,
    size: u64,
    id: FileId,
}

impl MappedSegment {
    pub fn open(path: &Path) -> std::io::Result<MappedSegment> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let mut seg = MappedSegment {
            path: path.to_path_buf(),
            file,
            map: None,
            size: 0,
            id: FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            },
        };
        seg.remap(meta.len())?;
        Ok(seg)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn id(&self) -> FileId {
        self.id
    }

    /// Size of the file at the last refresh.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's bytes `[0, size)`.
    pub fn data(&self) -> &[u8] {
        match &self.map {
            // `remap` guarantees map.len() >= size; the slice is bounded by the size the
            // file had when we last looked, never by the mapping's length.
            Some(m) => &m[..self.size as usize],
            None => &[],
        }
    }

    /// Re-reads the file size (one `fstat`). Returns true if the file grew.
    pub fn refresh(&mut self) -> std::io::Result<bool> {
        let len = self.file.metadata()?.len();
        if len <= self.size {
            // A segment never shrinks while Prometheus runs (see the SAFETY note in
            // `remap`); keep the old bound if it appears to.
            return Ok(false);
        }
        let mapped = self.map.as_ref().map_or(0, |m| m.len() as u64);
        if len > mapped {
            self.remap(len)?;
        } else {
            self.size = len;
        }
        Ok(true)
    }

    /// Whether the file has been unlinked (the mapping still reads it).
    pub fn is_deleted(&self) -> std::io::Result<bool> {
        Ok(self.file.metadata()?.nlink() == 0)
    }

    /// Tells the kernel the segment will be read front to back (read-ahead on a cold
    /// page cache).
    pub fn advise_sequential(&self) {
        if let Some(m) = &self.map {
            // Advice is a hint; failure changes nothing but speed.
            let _ = m.advise(Advice::Sequential);
        }
    }

    /// Drops this process's page mappings below `offset` (the pages stay in the page
    /// cache), so reading a large segment front to back keeps RSS flat instead of growing
    /// to the segment size.
    pub fn release_before(&self, offset: u64) {
        let Some(m) = &self.map else { return };
        let page = 4096u64;
        let end = (offset.min(self.size) / page) * page;
        if end == 0 {
            return;
        }
        // SAFETY: MADV_DONTNEED on a read-only, shared, file-backed mapping only discards
        // our page-table entries: a later access faults the page back in from the page
        // cache / file with the same contents, so no slice we hand out (all bounded by
        // `size`, and all read-only) can observe different bytes or dangling memory.
        let _ = unsafe { m.unchecked_advise_range(UncheckedAdvice::DontNeed, 0, end as usize) };
    }

    fn remap(&mut self, len: u64) -> std::io::Result<()> {
        let map_len = len
            .checked_add(MAP_HEADROOM)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| std::io::Error::other("segment too large to map"))?;
        // SAFETY: mapping a file is only sound while nobody truncates it below what we
        // read, and the contents we read may change under us. The contract, as in
        // ripgrep's mmap module, is:
        // - We map read-only and shared, and every slice we hand out is bounded by the
        //   file size observed with fstat (`self.size`), never by the mapping length, so
        //   we never touch pages past EOF (those would raise SIGBUS, or read as zeros
        //   that look like page padding).
        // - Bytes below `st_size` are fully written: Linux's write() copies data into the
        //   page cache before it raises i_size. Prometheus only appends to a segment; it
        //   never truncates or rewrites one in place: repair renames the corrupt file and
        //   writes a new one (new inode, our mapping keeps the old one alive), truncation
        //   unlinks whole files (the mapping stays readable), and a torn last page is
        //   padded by appending zeros. A process that truncates a segment file in place
        //   while we read it is outside this contract and can crash us with SIGBUS.
        // - Concurrent appends only change bytes past our bound, and every fragment is
        //   checked with its CRC before use, so a racing writer cannot make us accept
        //   wrong data.
        let map = unsafe { MmapOptions::new().len(map_len).map(&self.file)? };
        self.map = Some(map);
        self.size = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_are_bounded_by_file_size_and_follow_growth() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("00000000");
        let mut f = std::fs::File::create(&p).unwrap();
        let mut seg = MappedSegment::open(&p).unwrap();
        assert_eq!(seg.data(), b"");
        assert!(!seg.refresh().unwrap());
        f.write_all(b"hello").unwrap();
        assert!(seg.refresh().unwrap());
        assert_eq!(seg.data(), b"hello");
        // Growth past the mapped headroom re-maps.
        let big = vec![7u8; (MAP_HEADROOM + 10) as usize];
        f.write_all(&big).unwrap();
        assert!(seg.refresh().unwrap());
        assert_eq!(seg.data().len(), 5 + big.len());
        assert_eq!(&seg.data()[..5], b"hello");
        assert!(seg.data()[5..].iter().all(|&b| b == 7));
    }

    #[test]
    fn unlinked_file_stays_readable_and_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("00000001");
        std::fs::write(&p, b"abc").unwrap();
        let seg = MappedSegment::open(&p).unwrap();
        assert!(!seg.is_deleted().unwrap());
        std::fs::remove_file(&p).unwrap();
        assert!(seg.is_deleted().unwrap());
        assert_eq!(seg.data(), b"abc");
    }

    #[test]
    fn replaced_file_has_new_id() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("00000002");
        std::fs::write(&p, b"a").unwrap();
        let a = MappedSegment::open(&p).unwrap();
        std::fs::rename(&p, d.path().join("00000002.repair")).unwrap();
        std::fs::write(&p, b"b").unwrap();
        let b = MappedSegment::open(&p).unwrap();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.data(), b"a");
    }
}
