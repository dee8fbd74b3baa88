//! prost types generated from the official schemas in `proto/` (FORMATS.md §3.1, §4.1).
//!
//! They are the reference decoder for tests and for the in-process test receiver; the
//! hot path never uses them. The files are generated once and committed (no protoc or
//! build script needed); `tests/encode_proto_sync.rs` fails if they drift from
//! `proto/` and explains how to regenerate them.

/// RW 1.0: package `prometheus` (`prompb/remote.proto` + `prompb/types.proto`).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!("v1_generated.rs");
}

/// RW 2.0: package `io.prometheus.write.v2`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v2 {
    include!("v2_generated.rs");
}
