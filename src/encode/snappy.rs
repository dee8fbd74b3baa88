//! A snappy block-format compressor for RW 2.0 request bodies.
//!
//! Same format and greedy algorithm as `snap` (and golang/snappy): 64 KiB blocks, a hash
//! of 4 bytes into a table of recent positions, literals and copies. Two differences make
//! it faster on RW 2.0 bodies (bench/RESULTS.md, "Session 10"):
//!
//! * a table of at most 2^12 entries instead of 2^14: it stays in L1, and because recent
//!   positions overwrite old ones, the short offsets between one `TimeSeries` and the
//!   next are found (better compression too);
//! * Google snappy's fast paths: the 16 positions after a match are probed one by one with
//!   one 8-byte load per 4, and a literal of at most 16 bytes is copied with one 16-byte
//!   store.
//!
//! RW 1.0 bodies (long label strings repeated far apart) are as fast with `snap`, which
//! keeps them. Output is checked against `snap`'s decoder in the tests.

use bytes::{Bytes, BytesMut};

/// Uncompressed bytes per block; copies never reach into an earlier block.
const BLOCK: usize = 1 << 16;
/// Most hash table entries (see the module docs).
const MAX_TABLE: usize = 1 << 12;
/// Bytes at the end of a block that are never a match start, so that 8- and 16-byte
/// loads near the search position stay inside the block.
const INPUT_MARGIN: usize = 16 - 1;
/// Shorter blocks are one literal.
const MIN_NON_LITERAL_BLOCK: usize = 1 + 1 + INPUT_MARGIN;
/// Extra writable room the fast paths need past the final output (a 16-byte literal
/// store for a shorter literal); reserved on top of [`max_compressed_len`].
const SCRATCH: usize = 16;

/// Longest output for `n` input bytes (snappy's `MaxCompressedLength`).
pub(crate) const fn max_compressed_len(n: usize) -> usize {
    32 + n + n / 6
}

/// Reusable compressor state: the hash table.
pub(crate) struct SnappyEncoder {
    table: Box<[u16; MAX_TABLE]>,
}

impl std::fmt::Debug for SnappyEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnappyEncoder").finish_non_exhaustive()
    }
}

impl SnappyEncoder {
    pub(crate) fn new() -> SnappyEncoder {
        SnappyEncoder {
            table: Box::new([0; MAX_TABLE]),
        }
    }

    /// Compresses `input` (at most `u32::MAX` bytes) and returns it as [`Bytes`] carved
    /// from `arena`, written there directly (no copy of the output). `arena` must be
    /// empty; it is left empty.
    pub(crate) fn compress_into(&mut self, input: &[u8], arena: &mut BytesMut) -> Bytes {
        assert!(
            u32::try_from(input.len()).is_ok(),
            "snappy input over 4 GiB"
        );
        debug_assert!(arena.is_empty());
        let room = max_compressed_len(input.len()) + SCRATCH;
        arena.reserve(room);
        let start = arena.len();
        let out = arena.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        // SAFETY: `room` bytes after `start` are reserved, which `compress_raw` needs.
        let n = unsafe { self.compress_raw(input, out) };
        debug_assert!(n <= max_compressed_len(input.len()));
        // SAFETY: `compress_raw` initialised the first `n` bytes after `start`.
        unsafe { arena.set_len(start + n) };
        arena.split().freeze()
    }

    /// Writes the compressed form of `input` at `out` and returns its length.
    ///
    /// # Safety
    /// `out` must be valid for writes of `max_compressed_len(input.len()) + SCRATCH`
    /// bytes (initialised or not); `input.len() <= u32::MAX`.
    unsafe fn compress_raw(&mut self, input: &[u8], out: *mut u8) -> usize {
        let mut op = out;
        let mut v = input.len() as u64;
        // SAFETY: all writes below: the preamble takes at most 5 bytes; a block of `len`
        // bytes takes at most `len + len / 61 + 3` (see `compress_block`), so the whole
        // output stays within `max_compressed_len(input.len())`, and no element writes
        // more than `SCRATCH` bytes past its end: all within the caller's room.
        unsafe {
            while v >= 0x80 {
                op.write(v as u8 | 0x80);
                op = op.add(1);
                v >>= 7;
            }
            op.write(v as u8);
            op = op.add(1);
            for block in input.chunks(BLOCK) {
                op = if block.len() < MIN_NON_LITERAL_BLOCK {
                    emit_literal(op, block.as_ptr(), block.len(), false)
                } else {
                    compress_block(&mut self.table[..], block, op)
                };
            }
            op.offset_from(out) as usize
        }
    }
}

/// # Safety
/// `p` must be valid for reads of 4 bytes.
#[inline(always)]
unsafe fn load32(p: *const u8) -> u32 {
    // SAFETY: per the caller; no alignment is required.
    unsafe { p.cast::<u32>().read_unaligned() }
}

/// # Safety
/// `p` must be valid for reads of 8 bytes.
#[inline(always)]
unsafe fn load64(p: *const u8) -> u64 {
    // SAFETY: per the caller; no alignment is required.
    unsafe { p.cast::<u64>().read_unaligned() }
}

/// Writes a literal of the `len >= 1` bytes at `lit` and returns the end of the output.
/// With `fast` and `len <= 16`, the bytes are copied with one 16-byte copy.
///
/// # Safety
/// `op` must be valid for writes of `len + 5` bytes (`17` when `fast` and `len <= 16`),
/// `lit` for reads of `len` bytes (16 when `fast` and `len <= 16`); they do not overlap.
#[inline(always)]
unsafe fn emit_literal(mut op: *mut u8, lit: *const u8, len: usize, fast: bool) -> *mut u8 {
    let n = len - 1;
    // SAFETY: per the caller.
    unsafe {
        if fast && len <= 16 {
            op.write((n << 2) as u8);
            std::ptr::copy_nonoverlapping(lit, op.add(1), 16);
            return op.add(len + 1);
        }
        if n < 60 {
            op.write((n << 2) as u8);
            op = op.add(1);
        } else {
            // 1 to 4 length bytes, little-endian.
            let bytes = (64 - (n as u64).leading_zeros() as usize).div_ceil(8);
            op.write(((59 + bytes) << 2) as u8);
            let le = (n as u32).to_le_bytes();
            std::ptr::copy_nonoverlapping(le.as_ptr(), op.add(1), bytes);
            op = op.add(1 + bytes);
        }
        std::ptr::copy_nonoverlapping(lit, op, len);
        op.add(len)
    }
}

/// One copy element of `4 <= len <= 64` bytes from `offset < 65536` back.
///
/// # Safety
/// `op` must be valid for writes of 3 bytes.
#[inline(always)]
unsafe fn emit_copy_at_most_64(op: *mut u8, offset: usize, len: usize) -> *mut u8 {
    debug_assert!((4..=64).contains(&len) && (1..BLOCK).contains(&offset));
    // SAFETY: per the caller.
    unsafe {
        if len < 12 && offset < 2048 {
            op.write((1 | ((len - 4) << 2) | ((offset >> 8) << 5)) as u8);
            op.add(1).write(offset as u8);
            op.add(2)
        } else {
            op.write((2 | ((len - 1) << 2)) as u8);
            op.add(1)
                .cast::<u16>()
                .write_unaligned((offset as u16).to_le());
            op.add(3)
        }
    }
}

/// Copy elements for `len >= 4` bytes from `offset` back (3 bytes per 64 at most).
///
/// # Safety
/// `op` must be valid for writes of `3 * len.div_ceil(60)` bytes.
#[inline(always)]
unsafe fn emit_copy(mut op: *mut u8, offset: usize, mut len: usize) -> *mut u8 {
    // SAFETY: per the caller: each element takes at most 3 bytes for at least 4 input
    // bytes (60 or 64 but for the last).
    unsafe {
        if len < 12 {
            return emit_copy_at_most_64(op, offset, len);
        }
        while len >= 68 {
            op = emit_copy_at_most_64(op, offset, 64);
            len -= 64;
        }
        if len > 64 {
            op = emit_copy_at_most_64(op, offset, 60);
            len -= 60;
        }
        emit_copy_at_most_64(op, offset, len)
    }
}

/// How many bytes from `b` on equal those from `a` (`a < b`), not reading past `end`.
///
/// # Safety
/// `base` must be valid for reads of `end` bytes; `a < b <= end`.
#[inline(always)]
unsafe fn match_len(base: *const u8, mut a: usize, mut b: usize, end: usize) -> usize {
    let start = b;
    // SAFETY: every load is of bytes below `end` (8-byte loads only while b + 8 <= end,
    // and a < b).
    unsafe {
        while b + 8 <= end {
            let x = load64(base.add(a)) ^ load64(base.add(b));
            if x != 0 {
                return b - start + (x.trailing_zeros() / 8) as usize;
            }
            a += 8;
            b += 8;
        }
        while b < end && *base.add(a) == *base.add(b) {
            a += 1;
            b += 1;
        }
    }
    b - start
}

/// Compresses one block of `MIN_NON_LITERAL_BLOCK..=BLOCK` bytes to `op` and returns the
/// end of its output, at most `len + len / 61 + 3` bytes long (a literal of up to 60
/// bytes costs one byte more than it covers and the copy after it at least one byte
/// less; a longer literal at most 3 bytes more), with at most `SCRATCH` more bytes
/// written past it.
///
/// # Safety
/// `op` must be valid for writes of `src.len() + src.len() / 61 + 3 + SCRATCH` bytes.
unsafe fn compress_block(table: &mut [u16], src: &[u8], mut op: *mut u8) -> *mut u8 {
    let n = src.len();
    debug_assert!((MIN_NON_LITERAL_BLOCK..=BLOCK).contains(&n));
    let mut size = 256;
    let mut shift = 32 - 8;
    while size < MAX_TABLE && size < n {
        size *= 2;
        shift -= 1;
    }
    let table = &mut table[..size];
    table.fill(0);
    let t = table.as_mut_ptr();
    // < size: the top `32 - shift` bits of a 32-bit product.
    let hash = |x: u32| (x.wrapping_mul(0x1E35_A7BD) >> shift) as usize;
    let base = src.as_ptr();
    // Matches start below `ip_limit`, so the loads at and after them stay in the block.
    let ip_limit = n - INPUT_MARGIN;
    let mut next_emit = 0;
    let mut ip = 1;
    // SAFETY: reads: every load starts at a position p with p + 8 <= n (p + 16 <= n for
    // the literal fast copy), shown at each; table entries are block positions below
    // the current one, so `base + c` reads within the block. Writes: entries are indexed
    // by `hash`, which is below `size`. Output: within the bound in the doc comment, and
    // the only writes past an element are the fast literal's 16-byte copy (at most 15
    // past it).
    unsafe {
        'outer: loop {
            // Search for a match at or after `ip`; emit the literal before it.
            let mut candidate;
            'search: {
                let mut skip = 32;
                // Fast path: the next 16 positions, 4 per 8-byte load (loads at
                // ip..=ip + 16, below ip_limit + 8 <= n - 7).
                if ip + 16 <= ip_limit {
                    let mut data = load64(base.add(ip));
                    for j in 0..4 {
                        for k in 0..4 {
                            let i = 4 * j + k;
                            let dword = data as u32;
                            let h = hash(dword);
                            candidate = usize::from(*t.add(h));
                            *t.add(h) = (ip + i) as u16;
                            if load32(base.add(candidate)) == dword {
                                debug_assert!(candidate < ip + i);
                                // next_emit >= ip - 1 here, so the literal is at most
                                // 16 bytes and its 16-byte copy ends below n.
                                op =
                                    emit_literal(op, base.add(next_emit), ip + i - next_emit, true);
                                ip += i;
                                break 'search;
                            }
                            data >>= 8;
                        }
                        data = load64(base.add(ip + 4 * j + 4));
                    }
                    ip += 16;
                    skip += 16;
                }
                // Then probe further and further apart while nothing matches.
                let mut next_ip = ip;
                let mut next_hash = hash(load32(base.add(ip)));
                loop {
                    ip = next_ip;
                    let h = next_hash;
                    let step = skip >> 5;
                    skip += step;
                    next_ip = ip + step;
                    if next_ip > ip_limit {
                        break 'outer;
                    }
                    next_hash = hash(load32(base.add(next_ip)));
                    candidate = usize::from(*t.add(h));
                    *t.add(h) = ip as u16;
                    if load32(base.add(candidate)) == load32(base.add(ip)) {
                        debug_assert!(candidate < ip);
                        op = emit_literal(op, base.add(next_emit), ip - next_emit, false);
                        break 'search;
                    }
                }
            }
            // Copies, for as long as the position after one starts another match.
            loop {
                let start = ip;
                let len = 4 + match_len(base, candidate + 4, ip + 4, n);
                ip += len;
                op = emit_copy(op, start - candidate, len);
                next_emit = ip;
                if ip >= ip_limit {
                    break 'outer;
                }
                // ip - 1 + 8 <= n: ip < ip_limit.
                let x = load64(base.add(ip - 1));
                *t.add(hash(x as u32)) = (ip - 1) as u16;
                let h = hash((x >> 8) as u32);
                candidate = usize::from(*t.add(h));
                *t.add(h) = ip as u16;
                if load32(base.add(candidate)) != (x >> 8) as u32 {
                    ip += 1;
                    break;
                }
            }
        }
        if next_emit < n {
            op = emit_literal(op, base.add(next_emit), n - next_emit, false);
        }
    }
    op
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(input: &[u8]) -> usize {
        let mut enc = SnappyEncoder::new();
        let mut arena = BytesMut::new();
        let out = enc.compress_into(input, &mut arena);
        assert!(arena.is_empty());
        assert!(out.len() <= max_compressed_len(input.len()));
        let back = snap::raw::Decoder::new()
            .decompress_vec(&out)
            .expect("snap decodes it");
        assert_eq!(back, input, "round trip of {} bytes", input.len());
        out.len()
    }

    /// Deterministic bytes over an alphabet of `alpha` symbols (1 = one repeated byte).
    fn noise(len: usize, alpha: u64, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % alpha) as u8
            })
            .collect()
    }

    #[test]
    fn every_length_and_block_boundary_round_trips() {
        for len in (0..600).chain([
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            BLOCK + MIN_NON_LITERAL_BLOCK - 1,
            2 * BLOCK + 17,
            300_001,
        ]) {
            for alpha in [1, 2, 4, 40, 256] {
                round_trip(&noise(len, alpha, len as u64 * 31 + alpha));
            }
        }
    }

    #[test]
    fn long_matches_and_long_literals() {
        // A run far longer than one copy element (64), and incompressible stretches
        // longer than a one-byte literal length (60) and than 2^16.
        let mut v = vec![7u8; 100_000];
        v.extend(noise(70_000, 256, 3));
        v.extend_from_within(..5_000);
        let n = round_trip(&v);
        assert!(n < v.len(), "the runs compress");
    }

    #[test]
    fn compresses_rw2_bodies_like_snap() {
        // Body-like data: records of one shape whose bytes differ in a few places.
        let mut body = Vec::new();
        for i in 0u32..2000 {
            body.extend_from_slice(&[0x2a, 0x21, 0x0a, 0x0c, 1, 7 + (i % 97) as u8, 2, 9]);
            body.extend_from_slice(&(i % 16).to_le_bytes());
            body.extend_from_slice(&[0x12, 0x10, 0x09]);
            body.extend_from_slice(&(f64::from(i % 1000) / 4.0).to_le_bytes());
            body.extend_from_slice(&[0x10, 0x80, 0xb0, 0xc4, 0xf1, 0xbb, 0x31, 0x2a, 0x00]);
        }
        let ours = round_trip(&body);
        let theirs = snap::raw::Encoder::new().compress_vec(&body).unwrap().len();
        // The smaller table finds fewer far matches: within 10 % of snap on this
        // synthetic body (on bodies from the benches it is within 2 %, often smaller).
        assert!(
            ours <= theirs + theirs / 10,
            "ours {ours} bytes, snap {theirs}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_round_trip(v in proptest::collection::vec(any::<u8>(), 0..5000)) {
            round_trip(&v);
        }

        #[test]
        fn repetitive_bytes_round_trip(
            pieces in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 1..40), 1usize..50), 1..60),
        ) {
            let v: Vec<u8> = pieces
                .iter()
                .flat_map(|(piece, times)| piece.iter().copied().cycle().take(piece.len() * times))
                .collect();
            round_trip(&v);
        }
    }
}
