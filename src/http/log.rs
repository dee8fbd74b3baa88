//! Rate limiting for per-batch log lines: a failing receiver must not flood the log. The
//! limiter is shared by an endpoint's pools on every core (see `Endpoint::log_limits`), so
//! the limit is one line per interval per endpoint, with the count of suppressed lines.

pub(crate) use crate::logging::RateLimit as LogLimiter;
