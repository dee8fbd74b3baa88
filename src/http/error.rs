//! Errors of the HTTP layer. Every message names the endpoint and says what failed.
//!
//! What to *do* about an outcome is not an error concern: see [`super::Disposition`].

use std::{fmt, io, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use super::config::Protocol;

/// A configuration that cannot work. Found at startup (or reload), never per request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `authorization` is in `headers`.
    #[error("endpoint {endpoint}: the Authorization header cannot be set in headers; use basic_auth or authorization")]
    AuthorizationHeader { endpoint: String },
    /// `authorization.type: Basic`.
    #[error("endpoint {endpoint}: authorization type cannot be \"Basic\"; use basic_auth instead")]
    BasicAuthorizationType { endpoint: String },
    /// A client certificate without a key or the other way round.
    #[error("endpoint {endpoint}: tls_config needs both cert and key (cert_file/key_file) for client authentication, or neither")]
    CertWithoutKey { endpoint: String },
    /// More than one of `basic_auth`, `authorization`, `oauth2`, `sigv4`.
    #[error("endpoint {endpoint}: more than one of basic_auth, authorization, oauth2 and sigv4 is set; keep one")]
    ConflictingAuth { endpoint: String },
    /// A secret given inline and as a file.
    #[error("endpoint {endpoint}: {field} and {field}_file are both set; keep one")]
    ConflictingSecret {
        endpoint: String,
        field: &'static str,
    },
    /// A credentials or password file cannot be read.
    #[error("endpoint {endpoint}: cannot read {what} {}: {source}", path.display())]
    CredentialsFile {
        endpoint: String,
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A credential that cannot be put in a header (e.g. a newline inside the token).
    #[error("endpoint {endpoint}: {what} contains characters not allowed in an HTTP header")]
    InvalidCredentials {
        endpoint: String,
        what: &'static str,
    },
    /// An `oauth2` block that cannot work.
    #[error("endpoint {endpoint}: oauth2: {reason}")]
    OAuth2 { endpoint: String, reason: String },
    /// A `sigv4` block that cannot work (no region, no credentials...).
    #[error("endpoint {endpoint}: sigv4: {reason}")]
    SigV4 { endpoint: String, reason: String },
    /// `authorization.type` is empty or has spaces.
    #[error("endpoint {endpoint}: invalid authorization type {kind:?}")]
    InvalidAuthorizationType { endpoint: String, kind: String },
    /// A header name or value HTTP cannot carry.
    #[error("endpoint {endpoint}: invalid header {header:?}: {reason}")]
    InvalidHeader {
        endpoint: String,
        header: String,
        reason: String,
    },
    /// `tls_config.server_name` (or the URL host) is not a DNS name or IP address.
    #[error("endpoint {endpoint}: invalid TLS server name {server_name:?}")]
    InvalidServerName {
        endpoint: String,
        server_name: String,
    },
    /// The URL does not parse.
    #[error("endpoint {endpoint}: invalid url {url:?}: {reason}")]
    InvalidUrl {
        endpoint: String,
        url: String,
        reason: String,
    },
    /// `protocol` does not fit the URL scheme.
    #[error("endpoint {endpoint}: protocol {protocol} needs an {needed}:// URL, got {scheme}://")]
    ProtocolSchemeMismatch {
        endpoint: String,
        protocol: Protocol,
        scheme: String,
        needed: &'static str,
    },
    /// A user header that ringwrite sets itself (FORMATS.md §3.3).
    #[error("endpoint {endpoint}: reserved header {header:?} cannot be set in headers")]
    ReservedHeader { endpoint: String, header: String },
    /// CA, certificate or key that cannot be read or used.
    #[error("endpoint {endpoint}: tls_config {what}: {reason}")]
    TlsMaterial {
        endpoint: String,
        what: String,
        reason: String,
    },
    /// `min_version` above `max_version`.
    #[error("endpoint {endpoint}: tls_config min_version is above max_version")]
    TlsVersionRange { endpoint: String },
    /// The URL scheme is neither http nor https.
    #[error("endpoint {endpoint}: unsupported URL scheme {scheme:?}; use http:// or https://")]
    UnsupportedScheme { endpoint: String, scheme: String },
    /// `remote_timeout: 0`.
    #[error("endpoint {endpoint}: remote_timeout must be greater than 0")]
    ZeroTimeout { endpoint: String },
}

/// Where a request was when it failed or timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for a free connection or stream slot in the pool.
    AcquiringConnection,
    /// Waiting for an OAuth2 token (none fetched yet, or the last one expired).
    AwaitingToken,
    /// TCP connect.
    Connecting,
    /// TLS handshake.
    TlsHandshake,
    /// HTTP/2 connection preface and SETTINGS exchange.
    H2Handshake,
    /// Writing the request head and body.
    SendingRequest,
    /// Waiting for the response head.
    AwaitingResponse,
    /// Reading the response body.
    ReadingBody,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AcquiringConnection => "waiting for a free connection",
            Self::AwaitingToken => "waiting for an OAuth2 token",
            Self::Connecting => "connecting",
            Self::TlsHandshake => "in the TLS handshake",
            Self::H2Handshake => "in the HTTP/2 handshake",
            Self::SendingRequest => "sending the request",
            Self::AwaitingResponse => "awaiting the response",
            Self::ReadingBody => "reading the response body",
        })
    }
}

/// A request that got no HTTP response. Every variant is retryable (FORMATS.md §3.4:
/// transport errors are recoverable) unless [`SendError::is_retryable`] says otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// TLS ALPN did not pick `h2` but `protocol: h2` requires it.
    #[error("endpoint {endpoint}: the server did not negotiate HTTP/2 over TLS (ALPN: {negotiated}); set protocol: auto or http1")]
    AlpnNoH2 {
        endpoint: Arc<str>,
        negotiated: String,
    },
    /// The TCP connection could not be opened (refused, unreachable...).
    #[error("endpoint {endpoint}: connect to {addr} failed: {source}")]
    Connect {
        endpoint: Arc<str>,
        addr: SocketAddr,
        source: io::Error,
    },
    /// The connection was closed or reset before the response was complete.
    #[error("endpoint {endpoint}: connection lost while {stage}: {source}")]
    ConnectionLost {
        endpoint: Arc<str>,
        stage: Stage,
        source: io::Error,
    },
    /// The server sent GOAWAY and the request was refused on every fresh connection tried.
    #[error("endpoint {endpoint}: HTTP/2 request refused (GOAWAY/REFUSED_STREAM) on {tries} connections: {source}")]
    GoAway {
        endpoint: Arc<str>,
        tries: u32,
        source: h2::Error,
    },
    /// The HTTP/2 connection preface or SETTINGS exchange failed.
    #[error("endpoint {endpoint}: HTTP/2 handshake failed (is this an HTTP/2 server?): {source}")]
    H2Handshake {
        endpoint: Arc<str>,
        source: h2::Error,
    },
    /// An HTTP/2 stream or connection error (e.g. RST_STREAM from the server).
    #[error("endpoint {endpoint}: HTTP/2 error while {stage}: {source}")]
    H2 {
        endpoint: Arc<str>,
        stage: Stage,
        source: h2::Error,
    },
    /// The response was not valid HTTP.
    #[error("endpoint {endpoint}: malformed HTTP response: {detail}")]
    Protocol { endpoint: Arc<str>, detail: String },
    /// The host name did not resolve.
    #[error("endpoint {endpoint}: cannot resolve {host}: {source}")]
    Resolve {
        endpoint: Arc<str>,
        host: String,
        source: io::Error,
    },
    /// The pool was closed while the request waited.
    #[error("endpoint {endpoint}: connection pool closed")]
    Shutdown { endpoint: Arc<str> },
    /// `remote_timeout` elapsed.
    #[error("endpoint {endpoint}: request timed out after {after:?} while {stage}")]
    Timeout {
        endpoint: Arc<str>,
        after: Duration,
        stage: Stage,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, not a TLS server...).
    #[error("endpoint {endpoint}: TLS handshake with {server_name} failed: {source}")]
    TlsHandshake {
        endpoint: Arc<str>,
        server_name: String,
        source: io::Error,
    },
}

impl SendError {
    /// Whether the batch should be retried with backoff. Everything except a closed pool.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Shutdown { .. })
    }

    /// A short stable label for metrics and log fields.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AlpnNoH2 { .. } => "alpn",
            Self::Connect { .. } => "connect",
            Self::ConnectionLost { .. } => "connection_lost",
            Self::GoAway { .. } => "goaway",
            Self::H2Handshake { .. } => "h2_handshake",
            Self::H2 { .. } => "h2",
            Self::Protocol { .. } => "protocol",
            Self::Resolve { .. } => "resolve",
            Self::Shutdown { .. } => "shutdown",
            Self::Timeout { .. } => "timeout",
            Self::TlsHandshake { .. } => "tls_handshake",
        }
    }
}
