//! The page/fragment layer of a segment (FORMATS.md §1.2): one pure step function that
//! looks at the bytes at an offset and says what is there.

use super::error::CorruptionReason;

/// Segments are sequences of 32 KiB pages.
pub const PAGE_SIZE: usize = 32 * 1024;
/// type/flags byte + u16 length + u32 CRC32C.
pub const HEADER_SIZE: usize = 7;
/// Record is snappy-block compressed.
pub const SNAPPY_FLAG: u8 = 0x08;
/// Record is one zstd frame.
pub const ZSTD_FLAG: u8 = 0x10;
const TYPE_MASK: u8 = 0x07;

/// Fragment types (low 3 bits of the header byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentKind {
    Full = 1,
    First = 2,
    Middle = 3,
    Last = 4,
}

impl FragmentKind {
    pub fn name(self) -> &'static str {
        match self {
            FragmentKind::Full => "full",
            FragmentKind::First => "first",
            FragmentKind::Middle => "middle",
            FragmentKind::Last => "last",
        }
    }
}

/// What [`step`] found at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A fragment whose CRC checks. `data` is `start..end` in the segment.
    Fragment {
        kind: FragmentKind,
        /// `SNAPPY_FLAG` / `ZSTD_FLAG` bits of the header.
        compression: u8,
        start: usize,
        end: usize,
        /// Tolerated like Prometheus's permissive LiveReader: the fragment crosses a page
        /// boundary, which the writer never does.
        spans_page: bool,
    },
    /// Zero padding up to `next`, a page boundary.
    Padding { next: usize },
    /// Not enough bytes yet. `zeros_only` is true when everything from the offset to the
    /// end of the data is zero padding (a clean end for a sealed segment).
    NeedMore { zeros_only: bool },
    /// Corruption at the offset. Reading can resume at `resume` (the next page).
    Corrupt {
        reason: CorruptionReason,
        resume: usize,
    },
}

/// The first page boundary strictly after `off`.
pub fn next_page(off: usize) -> usize {
    (off / PAGE_SIZE + 1) * PAGE_SIZE
}

/// Parses whatever starts at `off` in `data` (a segment's bytes up to its current size).
#[inline]
pub fn step(data: &[u8], off: usize) -> Step {
    let Some(&hdr) = data.get(off) else {
        return Step::NeedMore { zeros_only: true };
    };
    if hdr == 0 {
        // Page term: the rest of the page is zero padding.
        let page_end = next_page(off);
        let avail = &data[off..data.len().min(page_end)];
        if avail.iter().any(|&b| b != 0) {
            return Step::Corrupt {
                reason: CorruptionReason::NonZeroPadding,
                resume: page_end,
            };
        }
        if data.len() < page_end {
            return Step::NeedMore { zeros_only: true };
        }
        return Step::Padding { next: page_end };
    }
    let kind = match hdr & TYPE_MASK {
        1 => FragmentKind::Full,
        2 => FragmentKind::First,
        3 => FragmentKind::Middle,
        4 => FragmentKind::Last,
        _ => {
            return Step::Corrupt {
                reason: CorruptionReason::InvalidFragmentType(hdr),
                resume: next_page(off),
            }
        }
    };
    let Some(h) = data.get(off..off + HEADER_SIZE) else {
        return Step::NeedMore { zeros_only: false };
    };
    let len = u16::from_be_bytes([h[1], h[2]]) as usize;
    let crc = u32::from_be_bytes([h[3], h[4], h[5], h[6]]);
    if HEADER_SIZE + len > PAGE_SIZE {
        return Step::Corrupt {
            reason: CorruptionReason::FragmentTooLarge(HEADER_SIZE + len),
            resume: next_page(off),
        };
    }
    let start = off + HEADER_SIZE;
    let end = start + len;
    let Some(payload) = data.get(start..end) else {
        return Step::NeedMore { zeros_only: false };
    };
    let actual = crc32c::crc32c(payload);
    if actual != crc {
        return Step::Corrupt {
            reason: CorruptionReason::Crc {
                expected: crc,
                actual,
            },
            resume: next_page(off),
        };
    }
    Step::Fragment {
        kind,
        compression: hdr & (SNAPPY_FLAG | ZSTD_FLAG),
        start,
        end,
        spans_page: off % PAGE_SIZE + HEADER_SIZE + len > PAGE_SIZE,
    }
}

/// Writes one fragment header + data (the writer side of [`step`]); used by tests and the
/// benchmark WAL writer.
pub fn put_fragment(out: &mut Vec<u8>, kind: FragmentKind, compression: u8, data: &[u8]) {
    debug_assert!(data.len() + HEADER_SIZE <= PAGE_SIZE);
    out.push(kind as u8 | compression);
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(data).to_be_bytes());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(kind: FragmentKind, comp: u8, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put_fragment(&mut v, kind, comp, data);
        v
    }

    #[test]
    fn full_fragment() {
        let b = frag(FragmentKind::Full, SNAPPY_FLAG, b"abc");
        assert_eq!(
            step(&b, 0),
            Step::Fragment {
                kind: FragmentKind::Full,
                compression: SNAPPY_FLAG,
                start: 7,
                end: 10,
                spans_page: false
            }
        );
    }

    #[test]
    fn zero_length_fragment_is_legal() {
        let b = frag(FragmentKind::First, 0, b"");
        assert!(matches!(
            step(&b, 0),
            Step::Fragment {
                start: 7,
                end: 7,
                ..
            }
        ));
    }

    #[test]
    fn every_prefix_of_a_fragment_needs_more() {
        let b = frag(FragmentKind::Full, 0, b"hello world");
        for n in 1..b.len() {
            assert_eq!(
                step(&b[..n], 0),
                Step::NeedMore { zeros_only: false },
                "{n}"
            );
        }
    }

    #[test]
    fn crc_mismatch_resumes_at_next_page() {
        let mut b = frag(FragmentKind::Full, 0, b"hello");
        b[8] ^= 1;
        match step(&b, 0) {
            Step::Corrupt {
                reason: CorruptionReason::Crc { .. },
                resume,
            } => assert_eq!(resume, PAGE_SIZE),
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn padding_to_page_end() {
        let mut b = frag(FragmentKind::Full, 0, b"x");
        let off = b.len();
        b.resize(PAGE_SIZE, 0);
        assert_eq!(step(&b, off), Step::Padding { next: PAGE_SIZE });
        assert_eq!(
            step(&b[..off + 3], off),
            Step::NeedMore { zeros_only: true }
        );
        b[PAGE_SIZE - 1] = 1;
        assert!(matches!(
            step(&b, off),
            Step::Corrupt {
                reason: CorruptionReason::NonZeroPadding,
                ..
            }
        ));
    }

    #[test]
    fn invalid_type_and_oversize() {
        let b = [0x05u8, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            step(&b, 0),
            Step::Corrupt {
                reason: CorruptionReason::InvalidFragmentType(5),
                ..
            }
        ));
        let b = [0x01u8, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(
            step(&b, 0),
            Step::Corrupt {
                reason: CorruptionReason::FragmentTooLarge(_),
                ..
            }
        ));
    }

    #[test]
    fn page_spanning_fragment_is_flagged() {
        let mut b = vec![0u8; PAGE_SIZE - 10];
        let off = b.len();
        b.extend(frag(FragmentKind::Full, 0, &[9u8; 20]));
        assert!(matches!(
            step(&b, off),
            Step::Fragment {
                spans_page: true,
                ..
            }
        ));
    }
}
