//! Endpoint configuration with the field names of Prometheus's `remote_write` entry.
//!
//! Only the fields the HTTP layer needs are here (`url`, `name`, `remote_timeout`, `headers`,
//! `basic_auth`, `authorization`, `tls_config`) plus ringwrite's `protocol`. The structs
//! derive `serde::Deserialize` so the config loader can embed them; YAML parsing itself is not
//! done here. [`EndpointConfig::validate`] does the checks that need no file system access;
//! [`crate::http::Endpoint::new`] additionally reads TLS material and credential files.

use std::{collections::BTreeMap, fmt, path::PathBuf, time::Duration};

use serde::{Deserialize, Deserializer};

use super::{error::ConfigError, headers::RESERVED_HEADERS};

/// Prometheus's default `remote_timeout` (FORMATS.md §3.3).
pub const DEFAULT_REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// One `remote_write` endpoint, as far as the HTTP layer is concerned.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct EndpointConfig {
    /// `http://` or `https://` URL of the receiver, e.g. `http://mimir:8080/api/v1/push`.
    pub url: String,
    /// Name used in logs and metrics; defaults to the URL without user info.
    #[serde(default)]
    pub name: Option<String>,
    /// Timeout of one request, from picking a connection to the last response byte.
    #[serde(default = "default_remote_timeout", deserialize_with = "de_duration")]
    pub remote_timeout: Duration,
    /// Extra request headers. Reserved names (FORMATS.md §3.3) and `Authorization` are refused.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuthConfig>,
    /// `Authorization: <type> <credentials>`, e.g. a bearer token.
    #[serde(default)]
    pub authorization: Option<AuthorizationConfig>,
    /// OAuth 2.0 client credentials.
    #[serde(default)]
    pub oauth2: Option<super::OAuth2Config>,
    /// AWS Signature Version 4.
    #[serde(default)]
    pub sigv4: Option<super::SigV4Config>,
    /// TLS settings for `https://` URLs.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// Which HTTP version to speak (ringwrite extension, not in Prometheus).
    #[serde(default)]
    pub protocol: Protocol,
}

/// HTTP version selection. Prometheus 3 defaults to HTTP/1.1 (`enable_http2: false`);
/// `auto` does the same for cleartext and only uses HTTP/2 when TLS ALPN offers it.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/2 when TLS ALPN negotiates `h2`, otherwise HTTP/1.1 (cleartext is always HTTP/1.1).
    #[default]
    Auto,
    /// HTTP/2 over TLS; fails when the server does not negotiate `h2`.
    H2,
    /// HTTP/2 over cleartext TCP with prior knowledge (no Upgrade dance).
    H2c,
    /// HTTP/1.1 keep-alive only, for `http://` and `https://`.
    Http1,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::H2 => "h2",
            Self::H2c => "h2c",
            Self::Http1 => "http1",
        })
    }
}

/// `basic_auth:` block.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the user name (re-read when it changes).
    #[serde(default)]
    pub username_file: Option<PathBuf>,
    /// Password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding the password (re-read when it changes).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// `authorization:` block. `type` defaults to `Bearer`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Scheme, e.g. `Bearer`. `Basic` is refused: use `basic_auth`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Inline credentials.
    #[serde(default)]
    pub credentials: Option<Secret>,
    /// File holding the credentials (re-read when it changes, checked every few seconds).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

/// `tls_config:` block. Certificate verification is on unless `insecure_skip_verify`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Inline PEM CA certificates used instead of the system roots.
    #[serde(default)]
    pub ca: Option<String>,
    /// File with PEM CA certificates used instead of the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Inline PEM client certificate chain (mutual TLS).
    #[serde(default)]
    pub cert: Option<String>,
    /// File with the PEM client certificate chain (mutual TLS).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Inline PEM client private key.
    #[serde(default)]
    pub key: Option<Secret>,
    /// File with the PEM client private key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Name used for SNI and certificate verification instead of the URL host.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Accept any server certificate. Dangerous; meant for tests.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Lowest TLS version to offer.
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    /// Highest TLS version to offer.
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
}

/// TLS protocol versions, spelled as in Prometheus (`TLS12`, `TLS13`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    TLS12,
    /// TLS 1.3.
    TLS13,
}

/// A string that is never printed by `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for building a header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl EndpointConfig {
    /// A config with only `url` set and every other field at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: None,
            remote_timeout: DEFAULT_REMOTE_TIMEOUT,
            headers: BTreeMap::new(),
            basic_auth: None,
            authorization: None,
            oauth2: None,
            sigv4: None,
            tls_config: TlsConfig::default(),
            protocol: Protocol::Auto,
        }
    }

    /// The name logs and errors use: `name`, else the URL without user info.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        redact_url(&self.url)
    }

    /// Checks everything that needs no file access. Errors name the endpoint.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let endpoint = self.display_name();
        let uri: http::Uri =
            self.url
                .parse()
                .map_err(|e: http::uri::InvalidUri| ConfigError::InvalidUrl {
                    endpoint: endpoint.clone(),
                    url: redact_url(&self.url),
                    reason: e.to_string(),
                })?;
        let scheme = uri.scheme_str().unwrap_or("");
        if scheme != "http" && scheme != "https" {
            return Err(ConfigError::UnsupportedScheme {
                endpoint,
                scheme: scheme.to_string(),
            });
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(ConfigError::InvalidUrl {
                endpoint,
                url: redact_url(&self.url),
                reason: "the URL has no host".to_string(),
            });
        }
        let needed = match self.protocol {
            Protocol::H2 => Some("https"),
            Protocol::H2c => Some("http"),
            Protocol::Auto | Protocol::Http1 => None,
        };
        if let Some(needed) = needed.filter(|n| *n != scheme) {
            return Err(ConfigError::ProtocolSchemeMismatch {
                endpoint,
                protocol: self.protocol,
                scheme: scheme.to_string(),
                needed,
            });
        }
        if self.remote_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout { endpoint });
        }
        self.validate_headers(&endpoint)?;
        self.validate_auth(&endpoint)?;
        self.validate_tls(&endpoint)
    }

    fn validate_headers(&self, endpoint: &str) -> Result<(), ConfigError> {
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if lower == "authorization" {
                return Err(ConfigError::AuthorizationHeader {
                    endpoint: endpoint.to_string(),
                });
            }
            // Retry-Attempt is not in Prometheus's list, but ringwrite sets it per attempt.
            if RESERVED_HEADERS.contains(&lower.as_str()) || lower == "retry-attempt" {
                return Err(ConfigError::ReservedHeader {
                    endpoint: endpoint.to_string(),
                    header: name.clone(),
                });
            }
            if let Err(e) = http::HeaderName::from_bytes(name.as_bytes()) {
                return Err(ConfigError::InvalidHeader {
                    endpoint: endpoint.to_string(),
                    header: name.clone(),
                    reason: e.to_string(),
                });
            }
            if let Err(e) = http::HeaderValue::from_str(value) {
                return Err(ConfigError::InvalidHeader {
                    endpoint: endpoint.to_string(),
                    header: name.clone(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(())
    }

    fn validate_auth(&self, endpoint: &str) -> Result<(), ConfigError> {
        let conflict = |field: &'static str| ConfigError::ConflictingSecret {
            endpoint: endpoint.to_string(),
            field,
        };
        let methods = [
            self.basic_auth.is_some(),
            self.authorization.is_some(),
            self.oauth2.is_some(),
            self.sigv4.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err(ConfigError::ConflictingAuth {
                endpoint: endpoint.to_string(),
            });
        }
        if let Some(basic) = &self.basic_auth {
            if basic.username.is_some() && basic.username_file.is_some() {
                return Err(conflict("basic_auth.username"));
            }
            if basic.password.is_some() && basic.password_file.is_some() {
                return Err(conflict("basic_auth.password"));
            }
        }
        if let Some(authz) = &self.authorization {
            if authz.credentials.is_some() && authz.credentials_file.is_some() {
                return Err(conflict("authorization.credentials"));
            }
            let kind = authz.kind.as_deref().unwrap_or("Bearer");
            if kind.eq_ignore_ascii_case("basic") {
                return Err(ConfigError::BasicAuthorizationType {
                    endpoint: endpoint.to_string(),
                });
            }
            if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError::InvalidAuthorizationType {
                    endpoint: endpoint.to_string(),
                    kind: kind.to_string(),
                });
            }
        }
        Ok(())
    }

    fn validate_tls(&self, endpoint: &str) -> Result<(), ConfigError> {
        let tls = &self.tls_config;
        let conflict = |field: &'static str| ConfigError::ConflictingSecret {
            endpoint: endpoint.to_string(),
            field,
        };
        if tls.ca.is_some() && tls.ca_file.is_some() {
            return Err(conflict("tls_config.ca"));
        }
        if tls.cert.is_some() && tls.cert_file.is_some() {
            return Err(conflict("tls_config.cert"));
        }
        if tls.key.is_some() && tls.key_file.is_some() {
            return Err(conflict("tls_config.key"));
        }
        let has_cert = tls.cert.is_some() || tls.cert_file.is_some();
        let has_key = tls.key.is_some() || tls.key_file.is_some();
        if has_cert != has_key {
            return Err(ConfigError::CertWithoutKey {
                endpoint: endpoint.to_string(),
            });
        }
        if let (Some(min), Some(max)) = (tls.min_version, tls.max_version) {
            if min > max {
                return Err(ConfigError::TlsVersionRange {
                    endpoint: endpoint.to_string(),
                });
            }
        }
        if let Some(name) = &tls.server_name {
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                return Err(ConfigError::InvalidServerName {
                    endpoint: endpoint.to_string(),
                    server_name: name.clone(),
                });
            }
        }
        Ok(())
    }
}

fn default_remote_timeout() -> Duration {
    DEFAULT_REMOTE_TIMEOUT
}

/// Removes `user:password@` from a URL so it can be logged.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Parses a Prometheus duration (`30s`, `1m30s`, `500ms`, `1h`, `2d`, `1w`, `1y`, `0`).
///
/// Units must appear largest first and at most once, as in Prometheus's
/// `model.ParseDuration`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let bad = || format!("not a valid duration: {text:?} (expected e.g. 30s, 1m30s, 500ms)");
    let mut rest = text;
    let mut next_unit = 0;
    let mut total_ms: u64 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let index = UNITS[next_unit..]
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(bad)?
            + next_unit;
        next_unit = index + 1;
        let ms = value.checked_mul(UNITS[index].1).ok_or_else(bad)?;
        total_ms = total_ms.checked_add(ms).ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total_ms))
}

fn de_duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_duration_table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("30s", Some(30_000)),
            ("1m30s", Some(90_000)),
            ("500ms", Some(500)),
            ("1h", Some(3_600_000)),
            ("2d", Some(172_800_000)),
            ("1w", Some(604_800_000)),
            ("1y", Some(31_536_000_000)),
            ("1s500ms", Some(1500)),
            ("0", Some(0)),
            ("0s", Some(0)),
            ("", None),
            ("30", None),
            ("s", None),
            ("30s1m", None),
            ("1m1m", None),
            ("-1s", None),
            ("1.5s", None),
            ("10x", None),
            ("99999999999999999999y", None),
        ];
        for (text, want) in cases {
            let got = parse_duration(text).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, *want, "parse_duration({text:?})");
        }
    }

    #[test]
    fn redact_url_table() {
        let cases = [
            ("http://u:p@host:1/x", "http://host:1/x"),
            ("https://host/a@b", "https://host/a@b"),
            ("http://host", "http://host"),
            ("http://a@b@host/?q=@", "http://host/?q=@"),
            ("not a url", "not a url"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    fn with(f: impl FnOnce(&mut EndpointConfig)) -> EndpointConfig {
        let mut cfg = EndpointConfig::new("https://recv.example:443/api/v1/write");
        cfg.name = Some("ep1".into());
        f(&mut cfg);
        cfg
    }

    #[test]
    fn validate_table() {
        type Case = (&'static str, EndpointConfig, Option<&'static str>);
        let cases: Vec<Case> = vec![
            ("defaults", with(|_| {}), None),
            (
                "bad scheme",
                with(|c| c.url = "ftp://x/y".into()),
                Some("unsupported URL scheme"),
            ),
            (
                "not a url",
                with(|c| c.url = "http://".into()),
                Some("invalid url"),
            ),
            (
                "h2c needs http",
                with(|c| c.protocol = Protocol::H2c),
                Some("protocol h2c needs an http:// URL"),
            ),
            (
                "h2 needs https",
                with(|c| {
                    c.url = "http://x/y".into();
                    c.protocol = Protocol::H2
                }),
                Some("protocol h2 needs an https:// URL"),
            ),
            (
                "reserved header any case",
                with(|c| {
                    c.headers.insert("Content-Type".into(), "x".into());
                }),
                Some("reserved header \"Content-Type\""),
            ),
            (
                "user-agent reserved",
                with(|c| {
                    c.headers.insert("user-agent".into(), "x".into());
                }),
                Some("reserved header"),
            ),
            (
                "retry-attempt is set per attempt",
                with(|c| {
                    c.headers.insert("Retry-Attempt".into(), "1".into());
                }),
                Some("reserved header"),
            ),
            (
                "authorization header",
                with(|c| {
                    c.headers.insert("Authorization".into(), "Bearer x".into());
                }),
                Some("use basic_auth or authorization"),
            ),
            (
                "custom header ok",
                with(|c| {
                    c.headers.insert("X-Scope-OrgID".into(), "tenant".into());
                }),
                None,
            ),
            (
                "bad header value",
                with(|c| {
                    c.headers.insert("X-A".into(), "a\nb".into());
                }),
                Some("invalid header"),
            ),
            (
                "both auths",
                with(|c| {
                    c.basic_auth = Some(BasicAuthConfig::default());
                    c.authorization = Some(AuthorizationConfig::default());
                }),
                Some("more than one of basic_auth, authorization"),
            ),
            (
                "password and file",
                with(|c| {
                    c.basic_auth = Some(BasicAuthConfig {
                        password: Some(Secret::new("p")),
                        password_file: Some("/x".into()),
                        ..Default::default()
                    })
                }),
                Some("basic_auth.password"),
            ),
            (
                "credentials and file",
                with(|c| {
                    c.authorization = Some(AuthorizationConfig {
                        credentials: Some(Secret::new("t")),
                        credentials_file: Some("/x".into()),
                        ..Default::default()
                    })
                }),
                Some("authorization.credentials"),
            ),
            (
                "basic type",
                with(|c| {
                    c.authorization = Some(AuthorizationConfig {
                        kind: Some("basic".into()),
                        ..Default::default()
                    })
                }),
                Some("use basic_auth"),
            ),
            (
                "cert without key",
                with(|c| c.tls_config.cert_file = Some("/c".into())),
                Some("both cert and key"),
            ),
            (
                "zero timeout",
                with(|c| c.remote_timeout = Duration::ZERO),
                Some("remote_timeout"),
            ),
            (
                "tls version range",
                with(|c| {
                    c.tls_config.min_version = Some(TlsVersion::TLS13);
                    c.tls_config.max_version = Some(TlsVersion::TLS12);
                }),
                Some("min_version"),
            ),
        ];
        for (label, cfg, want) in cases {
            match (cfg.validate(), want) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{label}: {msg:?} lacks {want:?}");
                    assert!(
                        msg.contains("ep1"),
                        "{label}: {msg:?} does not name the endpoint"
                    );
                }
                (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn display_name_redacts_user_info() {
        let cfg = EndpointConfig::new("https://user:pass@host/write");
        assert_eq!(cfg.display_name(), "https://host/write");
        assert!(!format!("{:?}", Secret::new("hunter2")).contains("hunter2"));
    }
}
