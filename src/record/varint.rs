//! Primitive readers and writers of the WAL record encoding (FORMATS.md §2.1): BE64,
//! uvarint (Go `binary.PutUvarint`), zigzag varint (Go `binary.PutVarint`) and
//! uvarint-length-prefixed byte strings.
//!
//! The reader is the hot path of sample decoding, so every primitive has a fast path that
//! works on a fixed-size array taken with one bounds check (the compiler then drops the
//! per-byte checks), and a `#[cold]` slow path for the last few bytes of a record.
//! Overflow rules follow Go's `binary.Uvarint` (as re-implemented by `dennwc/varint`, which
//! Prometheus uses): at most 10 bytes, and the 10th byte must be 0 or 1. Non-minimal
//! encodings (`0x80 0x00`) are accepted, as in Go.

/// Longest uvarint encoding of a u64.
pub const MAX_VARINT_LEN: usize = 10;

/// Why a primitive read failed. The caller adds the record type and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The record ended inside a varint.
    TruncatedVarint,
    /// The varint does not fit in 64 bits.
    VarintOverflow,
    /// A fixed-size field or a string needs more bytes than are left.
    UnexpectedEnd { need: usize, have: usize },
}

/// A cursor over one record. `pos` is the offset within the whole record (type byte
/// included), which is what errors report. On a failed read `pos` is left at the start
/// of the field that failed.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` positioned at `pos` (which must be `<= buf.len()`).
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        debug_assert!(pos <= buf.len());
        Reader {
            buf,
            pos: pos.min(buf.len()),
        }
    }

    #[inline(always)]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline(always)]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline(always)]
    fn rest(&self) -> &'a [u8] {
        // `pos <= buf.len()` is an invariant of every method, so this never panics.
        &self.buf[self.pos..]
    }

    /// Moves to the end: nothing more will be read (used to fuse decoders after an error).
    pub(crate) fn finish(&mut self) {
        self.pos = self.buf.len();
    }

    /// Moves back to `pos`, a position this reader was at before.
    pub(crate) fn rewind(&mut self, pos: usize) {
        debug_assert!(pos <= self.pos);
        self.pos = pos.min(self.pos);
    }

    /// The bytes between `start` and the current position.
    #[inline(always)]
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start..self.pos]
    }

    #[inline(always)]
    pub(crate) fn byte(&mut self) -> Result<u8, Fault> {
        match self.rest().first() {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(Fault::UnexpectedEnd { need: 1, have: 0 }),
        }
    }

    #[inline(always)]
    pub(crate) fn be64(&mut self) -> Result<u64, Fault> {
        match self.rest().first_chunk::<8>() {
            Some(c) => {
                self.pos += 8;
                Ok(u64::from_be_bytes(*c))
            }
            None => Err(Fault::UnexpectedEnd {
                need: 8,
                have: self.remaining(),
            }),
        }
    }

    #[inline(always)]
    pub(crate) fn uvarint(&mut self) -> Result<u64, Fault> {
        let rest = self.rest();
        let Some(chunk) = rest.first_chunk::<MAX_VARINT_LEN>() else {
            return self.uvarint_slow();
        };
        let b0 = chunk[0];
        if b0 < 0x80 {
            self.pos += 1;
            return Ok(u64::from(b0));
        }
        let mut x = u64::from(b0 & 0x7f);
        for (i, &b) in chunk.iter().enumerate().skip(1) {
            if b < 0x80 {
                if i == MAX_VARINT_LEN - 1 && b > 1 {
                    return Err(Fault::VarintOverflow);
                }
                self.pos += i + 1;
                return Ok(x | (u64::from(b) << (7 * i)));
            }
            x |= u64::from(b & 0x7f) << (7 * i);
        }
        Err(Fault::VarintOverflow)
    }

    /// Fewer than 10 bytes left: check every byte against the end.
    #[cold]
    #[inline(never)]
    fn uvarint_slow(&mut self) -> Result<u64, Fault> {
        let rest = self.rest();
        let mut x = 0u64;
        for (i, &b) in rest.iter().enumerate().take(MAX_VARINT_LEN) {
            if b < 0x80 {
                if i == MAX_VARINT_LEN - 1 && b > 1 {
                    return Err(Fault::VarintOverflow);
                }
                self.pos += i + 1;
                return Ok(x | (u64::from(b) << (7 * i)));
            }
            x |= u64::from(b & 0x7f) << (7 * i);
        }
        if rest.len() >= MAX_VARINT_LEN {
            Err(Fault::VarintOverflow)
        } else {
            Err(Fault::TruncatedVarint)
        }
    }

    /// A zigzag varint (Go `binary.Varint`).
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<i64, Fault> {
        self.uvarint().map(unzigzag)
    }

    /// A uvarint length followed by that many bytes, borrowed.
    #[inline(always)]
    pub(crate) fn uvarint_bytes(&mut self) -> Result<&'a [u8], Fault> {
        let start = self.pos;
        let len = self.uvarint()?;
        let rest = self.rest();
        match usize::try_from(len).ok().and_then(|l| rest.get(..l)) {
            Some(s) => {
                self.pos += s.len();
                Ok(s)
            }
            None => {
                // Report the string as starting at its length prefix.
                self.pos = start;
                Err(Fault::UnexpectedEnd {
                    need: usize::try_from(len).unwrap_or(usize::MAX),
                    have: rest.len(),
                })
            }
        }
    }

    /// Fails unless at least `n` elements of at least `min_size` bytes each could still
    /// follow. Used before reserving space for a declared element count, so a corrupt count
    /// can neither allocate huge buffers nor loop for long.
    #[inline]
    pub(crate) fn check_count(&self, n: u64, min_size: usize) -> Result<usize, Fault> {
        let have = self.remaining();
        match usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(min_size).map(|need| (n, need)))
        {
            Some((n, need)) if need <= have => Ok(n),
            Some((_, need)) => Err(Fault::UnexpectedEnd { need, have }),
            None => Err(Fault::UnexpectedEnd {
                need: usize::MAX,
                have,
            }),
        }
    }
}

/// Go's zigzag decoding (`binary.Varint`).
#[inline(always)]
pub fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Go's zigzag encoding (`binary.PutVarint`).
#[inline(always)]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Appends `v` as a uvarint (Go `binary.PutUvarint`).
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let mut tmp = [0u8; MAX_VARINT_LEN];
    let mut i = 0;
    while v >= 0x80 {
        tmp[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    tmp[i] = v as u8;
    out.extend_from_slice(&tmp[..=i]);
}

/// Appends `v` as a zigzag varint (Go `binary.PutVarint`).
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

/// Appends `v` as 8 big-endian bytes.
#[inline]
pub fn put_be64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a uvarint length and the bytes (Go `PutUvarintStr`).
#[inline]
pub fn put_uvarint_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_uvarint(b: &[u8]) -> (Result<u64, Fault>, usize) {
        let mut r = Reader::new(b, 0);
        let v = r.uvarint();
        (v, r.pos())
    }

    #[test]
    fn uvarint_table() {
        let cases: &[(&[u8], Result<u64, Fault>, usize)] = &[
            (&[0x00], Ok(0), 1),
            (&[0x7f], Ok(127), 1),
            (&[0x80, 0x01], Ok(128), 2),
            (&[0xac, 0x02], Ok(300), 2),
            // Non-minimal encodings are accepted, as by Go.
            (&[0x80, 0x00], Ok(0), 2),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                Ok(u64::MAX),
                10,
            ),
            // 10th byte > 1 overflows.
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                Err(Fault::VarintOverflow),
                0,
            ),
            // 11 bytes overflow.
            (
                &[
                    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
                ],
                Err(Fault::VarintOverflow),
                0,
            ),
            (&[], Err(Fault::TruncatedVarint), 0),
            (&[0x80], Err(Fault::TruncatedVarint), 0),
            (&[0xff, 0xff, 0xff], Err(Fault::TruncatedVarint), 0),
        ];
        for (bytes, want, want_pos) in cases {
            let (got, pos) = read_uvarint(bytes);
            assert_eq!(got, *want, "bytes {bytes:02x?}");
            assert_eq!(pos, *want_pos, "pos for {bytes:02x?}");
            // The slow path must agree when the same bytes are followed by padding.
            let mut padded = bytes.to_vec();
            padded.extend_from_slice(&[0x00; 12]);
            let (got_fast, _) = read_uvarint(&padded);
            if want.is_ok() {
                assert_eq!(got_fast, *want, "fast path for {bytes:02x?}");
            }
        }
    }

    #[test]
    fn zigzag_table() {
        let cases: &[(i64, u64)] = &[
            (0, 0),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, u64::MAX - 1),
            (i64::MIN, u64::MAX),
        ];
        for &(v, z) in cases {
            assert_eq!(zigzag(v), z);
            assert_eq!(unzigzag(z), v);
        }
    }

    #[test]
    fn uvarint_bytes_out_of_bounds_keeps_position() {
        let buf = [0x05, b'a', b'b'];
        let mut r = Reader::new(&buf, 0);
        assert_eq!(
            r.uvarint_bytes(),
            Err(Fault::UnexpectedEnd { need: 5, have: 2 })
        );
        assert_eq!(r.pos(), 0);
    }

    #[test]
    fn check_count_rejects_counts_beyond_input() {
        let buf = [0u8; 10];
        let r = Reader::new(&buf, 0);
        assert_eq!(r.check_count(5, 2), Ok(5));
        assert!(r.check_count(6, 2).is_err());
        assert!(r.check_count(u64::MAX, 8).is_err());
    }

    proptest! {
        #[test]
        fn varint_round_trip(v: i64, u: u64, pad in 0usize..12) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            put_uvarint(&mut out, u);
            let n = out.len();
            out.extend(std::iter::repeat_n(0xffu8, pad));
            let mut r = Reader::new(&out, 0);
            prop_assert_eq!(r.varint(), Ok(v));
            prop_assert_eq!(r.uvarint(), Ok(u));
            prop_assert_eq!(r.pos(), n);
        }

        #[test]
        fn truncated_varint_never_decodes(u in 128u64.., cut in 1usize..10) {
            let mut out = Vec::new();
            put_uvarint(&mut out, u);
            let cut = cut.min(out.len() - 1);
            let mut r = Reader::new(&out[..cut], 0);
            prop_assert_eq!(r.uvarint(), Err(Fault::TruncatedVarint));
        }
    }
}
