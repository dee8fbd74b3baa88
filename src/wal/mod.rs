//! Reading the Prometheus WAL (FORMATS.md §1).
