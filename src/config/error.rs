//! Errors and warnings from loading a config. Every message names the file, and for
//! endpoint problems the endpoint (`remote_write[1] "mimir"`, or `remote_write[1]
//! (https://host/push)` when it has no name), so the operator can find the line to fix.

use std::path::PathBuf;

use super::http_client::TlsVersion;
use super::relabel::RelabelError;
use super::remote_write::Protocol;

/// The config could not be loaded. Nothing of it is applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two entries hash the same: the same endpoint configured twice.
    #[error(
        "{origin}: remote_write{second} is identical to remote_write{first} (url {url}); \
         duplicate remote write configs are not allowed"
    )]
    DuplicateEndpoint {
        origin: String,
        first: String,
        second: String,
        url: String,
    },
    /// Two entries with the same `name` (or a written name equal to a generated one).
    #[error(
        "{origin}: remote_write{second} has the same name {name:?} as remote_write{first}; \
         names must be unique"
    )]
    DuplicateName {
        origin: String,
        name: String,
        first: String,
        second: String,
    },
    /// A problem inside one `remote_write` entry.
    #[error("{origin}: remote_write{endpoint}: {kind}")]
    Endpoint {
        origin: String,
        /// `[index] "name"` or `[index] (url)`, printed after `remote_write`.
        endpoint: String,
        kind: EndpointError,
    },
    /// `global.external_labels` has an invalid label.
    #[error("{origin}: global.external_labels: {name:?} is not a valid label name")]
    ExternalLabel { origin: String, name: String },
    /// The file has no `remote_write` entry: ringwrite would have nothing to do.
    #[error("{origin}: no remote_write endpoints configured (ringwrite needs at least one)")]
    NoRemoteWrite { origin: String },
    /// The config file could not be read.
    #[error("read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A value in the top-level `ringwrite:` section is invalid.
    #[error("{origin}: ringwrite.{key}: {reason}")]
    Ringwrite {
        origin: String,
        key: &'static str,
        reason: String,
    },
    /// Not YAML, or YAML that does not fit the schema (unknown key, wrong type, bad duration).
    /// `line`/`column` are 1-based; `message` names the path, e.g.
    /// `remote_write[0].queue_config: unknown field `max_shard`, expected one of ...`.
    #[error("{origin}: line {line} column {column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Like `Syntax`, when the YAML library could not tell where.
    #[error("{origin}: {message}")]
    SyntaxUnlocated { origin: String, message: String },
}

/// What is wrong with one `remote_write` entry. Messages follow Prometheus's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    #[error(
        "{header:?}: the authorization header must be set via basic_auth or authorization, \
         not headers"
    )]
    AuthorizationHeader { header: String },
    #[error(r#"authorization type cannot be set to "basic", use "basic_auth" instead"#)]
    AuthorizationTypeBasic,
    #[error("headers {header:?} and {other:?} are the same header; keep one")]
    DuplicateHeader { header: String, other: String },
    #[error("{section}: at most one of {fields} must be configured")]
    Exclusive {
        section: &'static str,
        fields: &'static str,
    },
    #[error("headers: {header:?} is not a valid HTTP header name")]
    InvalidHeaderName { header: String },
    #[error("headers: the value of {header:?} is not a valid HTTP header value")]
    InvalidHeaderValue { header: String },
    #[error(
        "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam must \
         be configured. Currently configured: {configured:?}"
    )]
    MultipleAuth { configured: Vec<&'static str> },
    #[error(
        "protocol: {protocol} contradicts enable_http2 (remove enable_http2 or change protocol)"
    )]
    ProtocolHttp2Conflict { protocol: Protocol },
    #[error("protocol: {protocol} cannot be used with a {scheme}:// url (h2 needs https, h2c needs http)")]
    ProtocolScheme { protocol: Protocol, scheme: String },
    #[error("queue_config.{field} {reason}")]
    Queue { field: &'static str, reason: String },
    #[error("write_relabel_configs[{index}]: {reason}")]
    Relabel { index: usize, reason: RelabelError },
    #[error("headers: {header} is a reserved header. It must not be changed")]
    ReservedHeader { header: String },
    #[error("tls_config: {}", if *.has_cert {
        "exactly one of key or key_file must be configured when a client certificate is configured"
    } else {
        "exactly one of cert or cert_file must be configured when a client key is configured"
    })]
    TlsCertKeyPair { has_cert: bool },
    #[error("tls_config: min_version {min} is above max_version {max}")]
    TlsVersionRange { min: TlsVersion, max: TlsVersion },
    #[error(
        "tls_config: max_version {version} is not supported (ringwrite speaks TLS 1.2 and 1.3)"
    )]
    TlsVersionUnsupported { version: TlsVersion },
    /// A Prometheus key that ringwrite does not implement.
    #[error("{key} is not supported by ringwrite: {hint}")]
    Unsupported {
        key: &'static str,
        hint: &'static str,
    },
    #[error("url {url:?}: {reason}")]
    Url { url: String, reason: &'static str },
    #[error("{reason}")]
    Tenant { reason: String },
    /// A required key of a sub-section is missing.
    #[error("{key} must be set")]
    Missing { key: &'static str },
    #[error(
        "sigv4: must provide an AWS SigV4 access key and a secret key if credentials are \
         specified in the SigV4 config"
    )]
    SigV4Keys,
}

/// Something accepted but worth telling the operator; log each at WARN after loading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// A shard can hold less than one full batch, so batches are sent short.
    #[error(
        "remote_write{endpoint}: queue_config.capacity ({capacity}) is less than \
         max_samples_per_send ({max_samples_per_send}); batches will be sent before they are \
         full"
    )]
    CapacityBelowBatchSize {
        endpoint: String,
        capacity: usize,
        max_samples_per_send: usize,
    },
    /// `round_robin_dns: true` has no effect in ringwrite: it always does this.
    #[error(
        "remote_write{endpoint}: round_robin_dns has no effect: ringwrite always resolves the \
         host again for each new connection and starts each at the next address"
    )]
    RoundRobinDnsIgnored { endpoint: String },
    /// `min_version` TLS10/TLS11: rustls negotiates 1.2 or 1.3 only.
    #[error(
        "remote_write{endpoint}: tls_config.min_version {requested} is treated as TLS12 \
         (ringwrite speaks TLS 1.2 and 1.3)"
    )]
    TlsMinVersionRaised {
        endpoint: String,
        requested: TlsVersion,
    },
}
