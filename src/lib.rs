//! ringwrite: a standalone Prometheus remote-write sender that tails the Prometheus WAL.
//!
//! The modules follow the data flow in DESIGN.md: [`wal`] reads segments and yields raw
//! records with their positions, [`record`] decodes them over borrowed bytes, [`encode`]
//! writes remote-write requests, [`http`] sends them, [`reshard`] decides the shard count,
//! [`config`] reads the Prometheus-compatible configuration.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod build_info;
pub mod cli;
pub mod config;
pub mod encode;
pub mod gen;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod queue;
pub mod record;
pub mod relabel;
pub mod reshard;
pub mod runtime;
pub mod series;
pub mod sink;
pub mod spool;
pub mod supervisor;
pub mod wal;
pub mod web;
