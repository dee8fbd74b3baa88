//! Decoders for the Prometheus WAL record types (FORMATS.md §2), over borrowed bytes.
//!
//! [`decode`] takes one reassembled, decompressed record and returns a [`Record`] holding
//! a lazy decoder for its entries. [`encode`] writes records byte-for-byte as Prometheus
//! does. [`owned`] is an allocating convenience form for tests and diagnostics.

mod decode;
pub mod encode;
mod error;
mod histogram;
pub mod owned;
mod reduce;
mod types;
mod varint;

pub use decode::*;
pub use error::{DecodeError, DecodeErrorKind, PrimitiveFault};
pub use histogram::{
    is_known_schema, FloatHistogramsDecoder, HistogramsDecoder, EXPONENTIAL_SCHEMA_MAX,
    EXPONENTIAL_SCHEMA_MAX_RESERVED, EXPONENTIAL_SCHEMA_MIN_RESERVED,
};
pub use types::*;
