//! ringwrite: a standalone Prometheus remote-write sender that tails the Prometheus WAL.
//!
//! The modules follow the data flow in DESIGN.md: [`wal`] reads segments and yields raw
//! records with their positions, [`record`] decodes them over borrowed bytes.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod cli;
pub mod http;
pub mod record;
pub mod sink;
pub mod wal;
