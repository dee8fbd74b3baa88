//! Decoders for the Prometheus WAL record types (FORMATS.md §2), over borrowed bytes.

mod decode;
mod types;

pub use decode::*;
pub use types::*;
