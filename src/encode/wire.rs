//! Protobuf wire primitives for the hand-written encoders: varints, tags and the
//! reserve-then-backpatch length prefix.
//!
//! Everything writes into a caller-owned `Vec<u8>` that is reused across requests, so
//! the hot path never allocates once the buffer has grown to its steady-state size.

/// Wire type 0 (varint).
pub(crate) const WIRE_VARINT: u8 = 0;
/// Wire type 1 (fixed 64-bit).
pub(crate) const WIRE_FIXED64: u8 = 1;
/// Wire type 2 (length-delimited).
pub(crate) const WIRE_LEN: u8 = 2;

/// The one-byte key of a field numbered below 16.
pub(crate) const fn tag(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

/// Number of bytes `v` takes as a varint (1..=10).
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    // Each varint byte carries 7 bits; `| 1` makes 0 count as one significant bit.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v` as a varint.
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        buf.push(v as u8);
        return;
    }
    let mut tmp = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        tmp[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    tmp[n] = v as u8;
    buf.extend_from_slice(&tmp[..=n]);
}

/// Writes `v` as a varint at the start of `out` and returns its length. Panics if `out`
/// is shorter than [`varint_len`]`(v)`; callers size their stack buffers for the worst
/// case.
#[inline]
pub(crate) fn encode_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

/// Writes `v` as a varint at `dst` and returns its length (1..=5).
///
/// # Safety
/// `dst` must be valid for writes of 5 bytes (the fast path stores two bytes even for
/// a one-byte varint; the extra byte is left behind as scratch).
#[inline(always)]
pub(crate) unsafe fn write_varint_u32_raw(dst: *mut u8, v: u32) -> usize {
    if v < 1 << 14 {
        // Request symbol indices are almost always below 16384: store two bytes without
        // branching on the length and keep the second only if it is needed.
        let two = u16::from(v >= 0x80);
        let pair = (v as u16 & 0x7f) | (two << 7) | ((v as u16 >> 7) << 8);
        // SAFETY: the caller guarantees 5 writable bytes; no alignment is required.
        unsafe { dst.cast::<u16>().write_unaligned(pair.to_le()) };
        return 1 + usize::from(two);
    }
    // SAFETY: a u32 varint has at most 5 bytes, all within the caller's 5.
    unsafe { write_varint_raw(dst, u64::from(v)) }
}

/// Writes `v` as a varint at `dst`, byte by byte, and returns its length.
///
/// # Safety
/// `dst` must be valid for writes of `varint_len(v)` bytes.
#[inline(always)]
unsafe fn write_varint_raw(dst: *mut u8, mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        // SAFETY: byte n < varint_len(v), within the caller's bytes.
        unsafe { dst.add(n).write((v as u8) | 0x80) };
        v >>= 7;
        n += 1;
    }
    // SAFETY: as above.
    unsafe { dst.add(n).write(v as u8) };
    n + 1
}

/// Appends the varints of `values` with one capacity check for the whole run instead
/// of one per byte.
#[inline]
pub(crate) fn put_varints(buf: &mut Vec<u8>, values: &[u32]) {
    let max = 5 * values.len();
    buf.reserve(max);
    let start = buf.len();
    let base = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    let mut n = 0;
    for &v in values {
        // SAFETY: `max` bytes are reserved after `start`. Value i starts at n <= 5 * i,
        // so its 5 writable bytes end at or below 5 * (i + 1) <= max.
        n += unsafe { write_varint_u32_raw(base.add(n), v) };
    }
    // SAFETY: exactly the `n` bytes after `start` were initialised, and n <= max.
    unsafe { buf.set_len(start + n) };
}

/// Appends the first `n` of the 16 little-endian bytes of `bytes` with one store.
#[inline(always)]
pub(crate) fn put_u128_prefix(buf: &mut Vec<u8>, bytes: u128, n: usize) {
    let n = n.min(16);
    buf.reserve(16);
    let len = buf.len();
    // SAFETY: `reserve(16)` guarantees 16 writable bytes after `len`; no alignment is
    // required.
    unsafe {
        buf.as_mut_ptr()
            .add(len)
            .cast::<u128>()
            .write_unaligned(bytes.to_le())
    };
    // SAFETY: the n <= 16 bytes after `len` were just initialised.
    unsafe { buf.set_len(len + n) };
}

/// Writes `v` as a varint of exactly `width` bytes into `out` (non-minimal padding with
/// continuation bits if `width` is larger than needed). Callers pass
/// `width == varint_len(v)` except in tests.
pub(crate) fn write_varint_fixed(out: &mut [u8], mut v: u64, width: usize) {
    for (i, b) in out.iter_mut().take(width).enumerate() {
        let last = i + 1 == width;
        *b = if last {
            v as u8
        } else {
            (v as u8 & 0x7f) | 0x80
        };
        v >>= 7;
    }
}

/// Zigzag for `sint64`.
#[inline]
pub(crate) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Zigzag for `sint32`.
#[inline]
pub(crate) fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// Appends a fixed64 (little-endian) double, keeping its exact bit pattern.
#[inline]
pub(crate) fn put_f64(buf: &mut Vec<u8>, v: f64) {
    buf.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// Size of a length-delimited field body of `len` bytes including its one-byte key and
/// its length prefix.
#[inline]
pub(crate) fn len_field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A length prefix whose value is not known yet: `width` bytes are reserved at `pos`
/// and the body starts right after them. [`LenSlot::patch`] fills in the real length,
/// moving the body if the guess was wrong, so the output always uses minimal varints
/// (byte-identical to what prost or gogo would produce).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LenSlot {
    pos: usize,
    width: usize,
}

impl LenSlot {
    /// Reserves room for the length of a body expected to be `expected_len` bytes.
    #[inline]
    pub(crate) fn reserve(buf: &mut Vec<u8>, expected_len: usize) -> LenSlot {
        let pos = buf.len();
        let width = varint_len(expected_len as u64);
        // A loop rather than a variable-length copy, which would call memset.
        for _ in 0..width {
            buf.push(0);
        }
        LenSlot { pos, width }
    }

    /// A slot of `width` bytes at `pos` that the caller has already filled with zeros.
    #[inline]
    pub(crate) fn reserved(pos: usize, width: usize) -> LenSlot {
        LenSlot { pos, width }
    }

    /// First byte of the body.
    #[inline]
    pub(crate) fn body_start(&self) -> usize {
        self.pos + self.width
    }

    /// Writes the final length of the body (everything from `body_start` to the end of
    /// `buf`), shifting the body when the reserved width was not the minimal one.
    #[inline(always)]
    pub(crate) fn patch(self, buf: &mut Vec<u8>) {
        let len = buf.len() - self.body_start();
        // The common cases, a body that fits the reserved one or two bytes exactly.
        if self.width == 1 && len < 0x80 {
            buf[self.pos] = len as u8;
        } else if self.width == 2 && (0x80..0x4000).contains(&len) {
            buf[self.pos..self.pos + 2].copy_from_slice(&[len as u8 | 0x80, (len >> 7) as u8]);
        } else {
            self.patch_slow(buf, len);
        }
    }

    #[inline(never)]
    fn patch_slow(self, buf: &mut Vec<u8>, len: usize) {
        let start = self.body_start();
        let need = varint_len(len as u64);
        if need != self.width {
            let end = buf.len();
            if need > self.width {
                let grow = need - self.width;
                buf.resize(end + grow, 0);
                buf.copy_within(start..end, start + grow);
            } else {
                let shrink = self.width - need;
                buf.copy_within(start..end, start - shrink);
                buf.truncate(end - shrink);
            }
        }
        write_varint_fixed(&mut buf[self.pos..self.pos + need], len as u64, need);
    }
}

/// The varint of `v < 2^56` as the little-endian bytes of one `u64`, and its length.
#[inline(always)]
fn wide_bits(v: u64) -> (u64, usize) {
    debug_assert!(v < 1 << 56);
    if v >> 35 != 0 && v >> 42 == 0 {
        // Millisecond timestamps from 2004 to 2109: always six bytes.
        let mut x = 0;
        for k in 0..6 {
            x |= (v << k) & (0x7f << (8 * k));
        }
        return (x | 0x80_8080_8080, 6);
    }
    let len = varint_len(v);
    let mut x = 0;
    for k in 0..8 {
        x |= (v << k) & (0x7f << (8 * k));
    }
    // Continuation bits on every byte but the last: len <= 8, so the shift is <= 56.
    (
        x | (0x8080_8080_8080_8080 & ((1u64 << (8 * (len - 1))) - 1)),
        len,
    )
}

/// [`encode_varint`] without a loop for values below 2^56 (timestamps in milliseconds
/// take six bytes): the 7-bit groups are spread into one 8-byte store; the bytes after
/// the varint are scratch.
///
/// # Safety
/// `dst` must be valid for writes of 10 bytes.
#[inline(always)]
unsafe fn write_varint_wide_raw(dst: *mut u8, v: u64) -> usize {
    if v < 1 << 56 {
        let (x, len) = wide_bits(v);
        // SAFETY: the caller guarantees 10 writable bytes; no alignment is required.
        unsafe { dst.cast::<u64>().write_unaligned(x.to_le()) };
        return len;
    }
    // SAFETY: a varint has at most 10 bytes, all within the caller's 10.
    unsafe { write_varint_raw(dst, v) }
}

/// Most bytes of a `Sample` field: key, one length byte, `value` (9), `timestamp` (11)
/// and `start_timestamp` (11).
pub(crate) const SAMPLE_FIELD_MAX: usize = 2 + 9 + 11 + 11;

/// Sizes and writes `Sample` fields (RW 1.0 and RW 2.0 share its layout: `double value =
/// 1; int64 timestamp = 2;` and RW 2.0's `int64 start_timestamp = 3`; zero fields are
/// left out, proto3), keeping the `timestamp` field of the last sample sized between samples:
/// the samples of a request mostly share their timestamp (a scrape's samples all do), so
/// the varint's bit spreading (~30 instructions) runs once per timestamp, not per sample.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TimestampCache {
    t: i64,
    /// Key and varint as the little-endian bytes of one `u64`, when they fit 8 bytes
    /// (`0 < t < 2^49`; milliseconds until the year 19800).
    field: u64,
    /// Bytes of the field: 0 for `t == 0` (left out).
    len: usize,
}

impl TimestampCache {
    /// Size of the `Sample` field of `(v, t, st)`, key included; remembers `t` for
    /// [`TimestampCache::put_sample`].
    #[inline(always)]
    pub(crate) fn sample_len(&mut self, v: f64, t: i64, st: i64) -> usize {
        if t != self.t {
            self.set(t);
        }
        let st_len = if st != 0 {
            1 + varint_len(st as u64)
        } else {
            0
        };
        2 + if v.to_bits() != 0 { 9 } else { 0 } + self.len + st_len
    }

    #[inline(always)]
    fn set(&mut self, t: i64) {
        self.t = t;
        if t == 0 {
            (self.field, self.len) = (0, 0);
        } else if (1..1 << 49).contains(&t) {
            let (bits, n) = wide_bits(t as u64);
            self.field = u64::from(tag(2, WIRE_VARINT)) | bits << 8;
            self.len = 1 + n;
        } else {
            // Written by `write_varint_wide_raw`.
            (self.field, self.len) = (0, 1 + varint_len(t as u64));
        }
    }

    /// Appends the `Sample` field `key` of `n` bytes, as [`TimestampCache::sample_len`]
    /// just sized it (same `v` and `st`, the timestamp it remembered). Written straight
    /// into the buffer: building it in a stack array and copying that costs
    /// store-forwarding stalls (the copy's wide loads span the array's narrow stores).
    #[inline(always)]
    pub(crate) fn put_sample(&self, buf: &mut Vec<u8>, key: u8, v: f64, st: i64, n: usize) {
        // The last varint may store 10 bytes where it needs fewer.
        buf.reserve(SAMPLE_FIELD_MAX + 10);
        let len = buf.len();
        // SAFETY: `SAMPLE_FIELD_MAX + 10` bytes are reserved after `len`. The writes end
        // by `n <= SAMPLE_FIELD_MAX` plus at most 10 scratch bytes of a varint store
        // (the timestamp's 8-byte store ends within its field plus 7 scratch bytes).
        unsafe {
            let p = buf.as_mut_ptr().add(len);
            p.write(key);
            // n - 2 <= 31: one length byte.
            p.add(1).write((n - 2) as u8);
            let mut o = 2;
            let bits = v.to_bits();
            if bits != 0 {
                p.add(2).write(tag(1, WIRE_FIXED64));
                p.add(3).cast::<u64>().write_unaligned(bits.to_le());
                o = 11;
            }
            if self.field != 0 {
                p.add(o).cast::<u64>().write_unaligned(self.field.to_le());
                o += self.len;
            } else if self.t != 0 {
                p.add(o).write(tag(2, WIRE_VARINT));
                o += 1 + write_varint_wide_raw(p.add(o + 1), self.t as u64);
            }
            if st != 0 {
                p.add(o).write(tag(3, WIRE_VARINT));
                o += 1 + write_varint_wide_raw(p.add(o + 1), st as u64);
            }
            debug_assert_eq!(o, n);
        }
        // SAFETY: the n bytes after `len` were written above.
        unsafe { buf.set_len(len + n) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_table() {
        let cases: &[(u64, usize)] = &[
            (0, 1),
            (1, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            ((1 << 21) - 1, 3),
            (1 << 21, 4),
            (u64::from(u32::MAX), 5),
            ((1 << 63) - 1, 9),
            (1 << 63, 10),
            (u64::MAX, 10),
        ];
        for &(v, want) in cases {
            assert_eq!(varint_len(v), want, "varint_len({v})");
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), want, "put_varint({v}) length");
        }
    }

    #[test]
    fn put_varint_matches_prost() {
        for v in [0u64, 1, 150, 300, 1 << 35, u64::MAX, (-1i64) as u64] {
            let mut ours = Vec::new();
            put_varint(&mut ours, v);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(v, &mut theirs);
            assert_eq!(ours, theirs, "varint {v}");
        }
    }

    #[test]
    fn encode_varint_and_bulk_writer_match_put_varint() {
        let values = [0u32, 1, 127, 128, 300, 16_384, u32::MAX];
        let mut want = vec![7u8];
        let mut payload = 0;
        for &v in &values {
            put_varint(&mut want, u64::from(v));
            payload += varint_len(u64::from(v));
            let mut one = [0u8; 10];
            let n = encode_varint(&mut one, u64::from(v));
            assert_eq!(n, varint_len(u64::from(v)));
            let mut via_put = Vec::new();
            put_varint(&mut via_put, u64::from(v));
            assert_eq!(&one[..n], via_put.as_slice(), "encode_varint({v})");
        }
        let mut got = vec![7u8];
        put_varints(&mut got, &values);
        assert_eq!(got, want);
        assert_eq!(got.len(), 1 + payload);
    }

    #[test]
    fn wide_varint_matches_encode_varint() {
        let values = [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            1_700_000_000_000,
            (1 << 35) - 1,
            1 << 35,
            (1 << 42) - 1,
            1 << 42,
            (1 << 49) - 1,
            (1 << 56) - 1,
            1 << 56,
            u64::MAX,
        ];
        for v in values {
            let mut want = vec![0u8; 10];
            let n = encode_varint(&mut want, v);
            let mut got = vec![0xeeu8; 12];
            // SAFETY: `got` has 12 writable bytes.
            let m = unsafe { write_varint_wide_raw(got.as_mut_ptr().add(1), v) };
            assert_eq!(m, n, "length of {v}");
            assert_eq!(got[1..=m], want[..n], "bytes of {v}");
            assert_eq!(got[0], 0xee, "nothing written before {v}");
        }
    }

    #[test]
    fn sample_field_matches_prost() {
        use prost::Message;
        #[derive(Clone, PartialEq, prost::Message)]
        struct Sample {
            #[prost(double, tag = "1")]
            value: f64,
            #[prost(int64, tag = "2")]
            timestamp: i64,
            #[prost(int64, tag = "3")]
            start_timestamp: i64,
        }
        // -0.0 is left out: prost omits it as a default, this encoder keeps its sign bit.
        let values = [0.0, 1.5, f64::NAN, f64::MAX];
        let times = [
            0i64,
            1,
            300,
            1_700_000_000_000,
            (1 << 49) - 1,
            1 << 49,
            -1,
            i64::MAX,
            i64::MIN,
        ];
        // One cache through every combination, and each timestamp twice in a row, so
        // that reuse and every change between cached forms (fast, wide, zero) are seen.
        let mut ts = TimestampCache::default();
        for &t in &times {
            for &v in &values {
                for &st in &[0, 1_699_999_999_000, -5] {
                    let msg = Sample {
                        value: v,
                        timestamp: t,
                        start_timestamp: st,
                    };
                    let mut want = vec![0xee];
                    prost::encoding::message::encode(2, &msg, &mut want);
                    let n = ts.sample_len(v, t, st);
                    let mut got = vec![0xee];
                    ts.put_sample(&mut got, tag(2, WIRE_LEN), v, st, n);
                    assert_eq!(got, want, "value {v} t {t} st {st}");
                    let back = Sample::decode(&got[3..]).unwrap();
                    assert_eq!(back.timestamp, t);
                    assert_eq!(back.start_timestamp, st);
                }
            }
        }
        for &t in times.iter().rev() {
            let n = ts.sample_len(2.5, t, 0);
            let mut got = Vec::new();
            ts.put_sample(&mut got, 0x12, 2.5, 0, n);
            assert_eq!(
                Sample::decode(&got[2..]).unwrap().timestamp,
                t,
                "t {t} after a change"
            );
        }
        let mut got = Vec::new();
        let mut ts = TimestampCache::default();
        let n = ts.sample_len(-0.0, 0, 0);
        ts.put_sample(&mut got, 0x12, -0.0, 0, n);
        let back = Sample::decode(&got[2..]).unwrap();
        assert_eq!(
            back.value.to_bits(),
            (-0.0f64).to_bits(),
            "sign of -0.0 kept"
        );
    }

    #[test]
    fn put_u128_prefix_keeps_only_n_bytes() {
        for n in [0, 1, 2, 15, 16, 17] {
            let mut buf = vec![0xee];
            put_u128_prefix(
                &mut buf,
                u128::from_le_bytes(std::array::from_fn(|i| i as u8 + 1)),
                n,
            );
            let kept = n.min(16);
            let want: Vec<u8> = std::iter::once(0xee).chain(1..=kept as u8).collect();
            assert_eq!(buf, want, "n = {n}");
        }
    }

    #[test]
    fn zigzag_table() {
        let cases64: &[(i64, u64)] = &[
            (0, 0),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, u64::MAX - 1),
            (i64::MIN, u64::MAX),
        ];
        for &(v, want) in cases64 {
            assert_eq!(zigzag64(v), want, "zigzag64({v})");
        }
        let cases32: &[(i32, u64)] = &[
            (0, 0),
            (-1, 1),
            (1, 2),
            (i32::MAX, 0xffff_fffe),
            (i32::MIN, 0xffff_ffff),
        ];
        for &(v, want) in cases32 {
            assert_eq!(zigzag32(v), want, "zigzag32({v})");
        }
    }

    #[test]
    fn len_slot_patches_with_minimal_varint() {
        // (guessed body length, real body length): exact, grow across 128, shrink.
        for (guess, real) in [
            (10usize, 10usize),
            (10, 200),
            (200, 10),
            (100, 20_000),
            (20_000, 1),
            (200, 200),
            (200, 16_383),
            (200, 16_384),
        ] {
            let mut buf = vec![0xaa];
            let slot = LenSlot::reserve(&mut buf, guess);
            let body: Vec<u8> = (0..real).map(|i| i as u8).collect();
            buf.extend_from_slice(&body);
            slot.patch(&mut buf);
            let mut want = vec![0xaa];
            put_varint(&mut want, real as u64);
            want.extend_from_slice(&body);
            assert_eq!(buf, want, "guess {guess} real {real}");
        }
    }
}
