//! Reading the Prometheus WAL (FORMATS.md §1): segment and checkpoint discovery
//! ([`dir`]), memory-mapped segments ([`mmap`]), the page/fragment parser
//! ([`fragment`]), record reassembly per segment ([`reader`]) and the live tail over a
//! whole directory ([`tail`]).

pub mod dir;
pub mod error;
pub mod fragment;
pub mod mmap;
pub mod notify;
pub mod reader;
pub mod tail;
pub mod writer;

pub use dir::{CheckpointRef, SegmentRef};
pub use error::{Corruption, CorruptionReason, WalError};
pub use reader::{Position, Read, SegmentReader};
