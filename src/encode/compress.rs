//! Request body compression into a reused buffer.
//!
//! Remote write uses the snappy **block** format (a varint of the uncompressed length
//! followed by literal/copy elements, golang/snappy `Encode`); the framed/stream format
//! is forbidden by the spec (FORMATS.md §3.2). [`Compression`] leaves room for zstd,
//! which RW 2.0 may allow later.

use bytes::{Bytes, BytesMut};

use super::snappy::SnappyEncoder;
use super::EncodeError;

/// The body compression of a request, sent as `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Snappy block format, the only encoding RW 1.0 and RW 2.0 define.
    #[default]
    Snappy,
}

impl Compression {
    /// The `Content-Encoding` header value.
    pub fn content_encoding(self) -> &'static str {
        match self {
            Compression::Snappy => "snappy",
        }
    }
}

/// Compresses request bodies into one reused output buffer.
pub struct Compressor {
    compression: Compression,
    snappy: snap::raw::Encoder,
    /// For RW 2.0 bodies (see [`super::snappy`]).
    rw2: SnappyEncoder,
    /// Kept at its largest length so it is never zero-filled again.
    out: Vec<u8>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("compression", &self.compression)
            .field("capacity", &self.out.len())
            .finish()
    }
}

impl Compressor {
    pub fn new(compression: Compression) -> Compressor {
        Compressor {
            compression,
            snappy: snap::raw::Encoder::new(),
            rw2: SnappyEncoder::new(),
            out: Vec::new(),
        }
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Compresses `raw`; the result stays valid until the next call.
    pub fn compress(&mut self, raw: &[u8]) -> Result<&[u8], EncodeError> {
        match self.compression {
            Compression::Snappy => {
                let max = snap::raw::max_compress_len(raw.len());
                if max == 0 {
                    return Err(self.too_large(raw));
                }
                if self.out.len() < max {
                    self.out.resize(max, 0);
                }
                let n = self.snappy.compress(raw, &mut self.out).map_err(|source| {
                    EncodeError::Compress {
                        len: raw.len(),
                        compression: self.compression,
                        source,
                    }
                })?;
                Ok(&self.out[..n])
            }
        }
    }

    /// Compresses `raw` and hands the result out as refcounted [`Bytes`] carved from
    /// `arena`: everything in `arena` plus the new body is returned, so callers keep
    /// the arena empty between calls. Once the returned bodies are dropped, `arena`
    /// reuses their space (RUNTIME-NOTES.md §2: avoids a large allocation per request).
    pub fn compress_into(
        &mut self,
        raw: &[u8],
        arena: &mut BytesMut,
    ) -> Result<Bytes, EncodeError> {
        let body = self.compress(raw)?;
        arena.extend_from_slice(body);
        Ok(arena.split().freeze())
    }

    /// [`Compressor::compress_into`] for an RW 2.0 body: snappy from
    /// [`super::snappy`], faster on RW 2.0 bodies than `snap` and written straight into
    /// `arena` (bench/RESULTS.md, "Session 10").
    pub fn compress_rw2_into(
        &mut self,
        raw: &[u8],
        arena: &mut BytesMut,
    ) -> Result<Bytes, EncodeError> {
        match self.compression {
            Compression::Snappy => {
                if u32::try_from(raw.len()).is_err() {
                    return Err(self.too_large(raw));
                }
                Ok(self.rw2.compress_into(raw, arena))
            }
        }
    }

    /// A body longer than snappy's 32-bit length field.
    fn too_large(&self, raw: &[u8]) -> EncodeError {
        EncodeError::TooLarge {
            len: raw.len(),
            limit: u32::MAX as usize,
            compression: self.compression,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappy_block_format_round_trips() {
        let raw: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut c = Compressor::new(Compression::Snappy);
        let compressed = c.compress(&raw).unwrap().to_vec();
        assert!(compressed.len() < raw.len());
        // Block format starts with the uncompressed length, never the stream identifier.
        assert_ne!(&compressed[..4], &[0xff, 0x06, 0x00, 0x00]);
        let len = snap::raw::decompress_len(&compressed).unwrap();
        assert_eq!(len, raw.len());
        assert_eq!(
            snap::raw::Decoder::new()
                .decompress_vec(&compressed)
                .unwrap(),
            raw
        );
    }

    #[test]
    fn reuse_and_arena() {
        let mut c = Compressor::new(Compression::default());
        assert_eq!(c.compression().content_encoding(), "snappy");
        let mut arena = BytesMut::with_capacity(1 << 16);
        let a = c
            .compress_into(b"first body first body", &mut arena)
            .unwrap();
        let b = c.compress_into(b"second", &mut arena).unwrap();
        let mut d = snap::raw::Decoder::new();
        assert_eq!(d.decompress_vec(&a).unwrap(), b"first body first body");
        assert_eq!(d.decompress_vec(&b).unwrap(), b"second");
        assert!(arena.is_empty());
        let empty = c.compress(b"").unwrap();
        assert_eq!(d.decompress_vec(empty).unwrap(), b"");
    }
}
