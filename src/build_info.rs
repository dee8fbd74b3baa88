//! What this binary is: version, git revision and branch, build user and date, compiler
//! and target (set by `build.rs`). Shown by `ringwrite --version` in Prometheus's layout and
//! exported as `ringwrite_build_info`.

/// The crate version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Full git commit hash, or `unknown` (a build without `.git` and `RINGWRITE_REVISION`).
pub const REVISION: &str = env!("RINGWRITE_REVISION");
pub const BRANCH: &str = env!("RINGWRITE_BRANCH");
pub const BUILD_USER: &str = env!("RINGWRITE_BUILD_USER");
/// `YYYYMMDD-HH:MM:SS` UTC (`SOURCE_DATE_EPOCH` when set).
pub const BUILD_DATE: &str = env!("RINGWRITE_BUILD_DATE");
/// `rustc` version, e.g. `1.85.0` (Prometheus's `goversion`).
pub const RUST_VERSION: &str = env!("RINGWRITE_RUST_VERSION");
/// Target triple, e.g. `x86_64-unknown-linux-gnu`.
pub const TARGET: &str = env!("RINGWRITE_TARGET");

/// `ringwrite --version` after clap's `ringwrite ` prefix; Prometheus's layout:
///
/// ```text
/// ringwrite 0.1.0 (branch: main, revision: 0123abcd...)
///   build user:       root@builder
///   build date:       20261127-16:30:00
///   rust version:     1.85.0
///   platform:         x86_64-unknown-linux-gnu
/// ```
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (branch: ",
    env!("RINGWRITE_BRANCH"),
    ", revision: ",
    env!("RINGWRITE_REVISION"),
    ")\n  build user:       ",
    env!("RINGWRITE_BUILD_USER"),
    "\n  build date:       ",
    env!("RINGWRITE_BUILD_DATE"),
    "\n  rust version:     ",
    env!("RINGWRITE_RUST_VERSION"),
    "\n  platform:         ",
    env!("RINGWRITE_TARGET"),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_filled_and_well_formed() {
        assert!(LONG_VERSION.starts_with(VERSION));
        let date = BUILD_DATE.as_bytes();
        assert_eq!(date.len(), 17, "{BUILD_DATE}");
        assert_eq!(
            (date[8], date[11], date[14]),
            (b'-', b':', b':'),
            "{BUILD_DATE}"
        );
        assert!(RUST_VERSION.split('.').count() >= 3, "{RUST_VERSION}");
        assert!(
            REVISION == "unknown"
                || (REVISION.len() == 40 && REVISION.bytes().all(|b| b.is_ascii_hexdigit())),
            "{REVISION}"
        );
    }
}
