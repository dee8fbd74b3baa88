//! Helpers shared by the integration tests: dump parsers and process management.
pub mod dump;
pub mod prom;
pub mod recorder;
pub mod vm;
pub mod walread;
