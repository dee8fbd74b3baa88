//! HTTP transport for remote write: one connection [`Pool`] per (core, endpoint).
//!
//! What lives here, in data-flow order:
//! - [`config`]: the Prometheus-compatible `remote_write` endpoint fields this layer uses
//!   (`url`, `remote_timeout`, `headers`, `basic_auth`, `authorization`, `oauth2`, `sigv4`,
//!   `tls_config`) plus ringwrite's `protocol` switch, with [`EndpointConfig::validate`].
//! - [`Endpoint`]: the validated, thread-shareable form (TLS config built, credentials read
//!   once, header templates rendered). One per endpoint, shared by every core.
//! - [`Pool`]: per core (state is `!Send`, it lives on one monoio runtime). It keeps several
//!   HTTP/2 connections (h2c prior knowledge, or TLS with ALPN `h2`) with a cap on
//!   concurrent streams each, or HTTP/1.1 keep-alive connections (`protocol: http1`, or
//!   `auto` when ALPN offers no `h2`). See USERS.md item 14 for why there are *several*
//!   connections and not one multiplexed socket.
//! - [`classify`] turns a response into a [`Disposition`] (sent / retry / drop / fall back
//!   to RW 1.0) as pure data, and [`Backoff`] computes the sleeps (FORMATS.md §3.4, §4.4).
//! - [`send_with_retry`] is the per-batch loop tying these together.
//!
//! Every HTTP/2 and HTTP/1.1 byte goes through monoio's `poll-io` bridge
//! (`TcpStream::into_poll_io()`), so `h2` and `tokio-rustls` work unchanged
//! (RUNTIME-NOTES.md §2, §6).

pub(crate) mod auth;
mod backoff;
mod blocking;
pub mod config;
mod endpoint;
mod error;
mod h1;
mod h2conn;
mod headers;
pub(crate) mod io;
mod log;
pub(crate) mod notify;
mod oauth2;
mod pool;
mod response;
mod retry;
pub(crate) mod sigv4;
mod tls;

pub use backoff::Backoff;
pub use config::{
    AuthorizationConfig, BasicAuthConfig, EndpointConfig, Protocol, Secret, TlsConfig, TlsVersion,
};
pub use endpoint::Endpoint;
pub use error::{ConfigError, SendError, Stage};
pub use headers::{user_agent, WireFormat, RESERVED_HEADERS};
pub use oauth2::OAuth2Config;
pub use pool::{Pool, PoolOptions, PoolStats, WriteRequest};
pub use response::{
    classify, retry_after, Disposition, DropReason, FallbackCause, Response, SentCounts,
    WrittenStats, MAX_ERROR_BODY,
};
pub use retry::{
    send_with_retry, send_with_retry_as, send_with_retry_observed, BatchOutcome, RetryPolicy,
};
pub use sigv4::SigV4Config;
