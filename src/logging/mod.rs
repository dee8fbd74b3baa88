//! Structured logs, the way Prometheus writes them: `--log.level` and
//! `--log.format=logfmt|json`, one line per event on standard error, every tracing field
//! kept as a key (`endpoint`, `shard`, `segment`, `error`, ...).
//!
//! ```text
//! ts=2026-11-27T16:30:00.123Z caller=supervisor/mod.rs:312 level=info msg="Endpoint started." endpoint=mimir
//! {"ts":"2026-11-27T16:30:00.123Z","caller":"supervisor/mod.rs:312","level":"info","msg":"Endpoint started.","endpoint":"mimir"}
//! ```
//!
//! Besides the line, every warning or error that carries an `endpoint` field is remembered
//! per endpoint ([`last_error`]) for `/status`, whatever the log level. [`RateLimit`] keeps
//! per-batch errors to one line per interval with a count of the suppressed ones.

mod format;
mod last_error;
mod ratelimit;

pub(crate) use format::civil_from_days;
pub use format::{rfc3339, LogFormat};
pub use last_error::{forget_endpoint, last_error};
pub use ratelimit::RateLimit;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    #[error("--log.level {level:?}: {reason} (use error, warn, info, debug or trace, or a tracing filter such as `info,ringwrite::http=debug`)")]
    BadLevel { level: String, reason: String },
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Installs the global logger: `level` filters the lines written in `format`; warnings and
/// errors with an `endpoint` field are remembered for [`last_error`] regardless of `level`.
pub fn init(level: &str, format: LogFormat) -> Result<(), LoggingError> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).map_err(|e| LoggingError::BadLevel {
            level: level.to_owned(),
            reason: e.to_string(),
        })?;
    tracing_subscriber::registry()
        .with(format::LineLayer::stderr(format).with_filter(filter))
        .with(last_error::LastErrorLayer.with_filter(tracing::level_filters::LevelFilter::WARN))
        .try_init()
        .map_err(|_| LoggingError::AlreadyInstalled)
}
