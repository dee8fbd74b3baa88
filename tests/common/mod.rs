//! Helpers shared by the integration tests: dump parsers and process management.
pub mod dump;
pub mod prom;
pub mod recorder;
pub mod ringwrite;
pub mod vm;
pub mod walgen;
pub mod walread;
