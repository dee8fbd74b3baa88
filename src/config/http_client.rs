//! The HTTP client part of a `remote_write` entry (prometheus/common `HTTPClientConfig`,
//! inlined into the entry): `basic_auth`, `authorization`, `tls_config`, the deprecated
//! `bearer_token[_file]`, and the `headers` rules of Prometheus's `validateHeaders`.
//!
//! Files (`password_file`, `ca_file`, ...) are kept as paths, made absolute against the
//! config file's directory like Prometheus's `SetDirectory`, and read by the HTTP layer when it
//! connects, so rotated secrets are picked up without a reload.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::EndpointError;

/// A secret value from the config file: never printed by `Debug` or serialized (both show
/// `<secret>`, as Prometheus's `config.Secret` does). Use [`Secret::expose`] to read it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for building the request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// An empty secret counts as "not set", as in Prometheus.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// Where a credential comes from once the config is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource<'a> {
    /// Read this file on every use (Prometheus re-reads it per request).
    File(&'a Path),
    /// The value written in the config file.
    Inline(&'a Secret),
}

/// `basic_auth`. Exactly one of `password` / `password_file` (or neither: empty password),
/// and at most one of `username` / `username_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default, deserialize_with = "de_opt_path")]
    pub username_file: Option<PathBuf>,
    #[serde(default)]
    pub password: Secret,
    #[serde(default, deserialize_with = "de_opt_path")]
    pub password_file: Option<PathBuf>,
    /// Secret-manager reference (Prometheus): not supported, rejected when set.
    #[serde(default, skip_serializing)]
    pub(crate) username_ref: Option<String>,
    /// Secret-manager reference (Prometheus): not supported, rejected when set.
    #[serde(default, skip_serializing)]
    pub(crate) password_ref: Option<String>,
}

impl BasicAuth {
    /// Where the password comes from; `None` means an empty password.
    pub fn password_source(&self) -> Option<CredentialSource<'_>> {
        match (&self.password_file, self.password.is_empty()) {
            (Some(file), _) => Some(CredentialSource::File(file)),
            (None, false) => Some(CredentialSource::Inline(&self.password)),
            (None, true) => None,
        }
    }

    fn validate(&mut self, base_dir: Option<&Path>) -> Result<(), EndpointError> {
        if self.username_ref.is_some() || self.password_ref.is_some() {
            return Err(EndpointError::Unsupported {
                key: "basic_auth.username_ref/password_ref",
                hint: "secret managers are not available outside Prometheus; use password_file",
            });
        }
        if !self.username.is_empty() && self.username_file.is_some() {
            return Err(EndpointError::Exclusive {
                section: "basic_auth",
                fields: "username and username_file",
            });
        }
        if !self.password.is_empty() && self.password_file.is_some() {
            return Err(EndpointError::Exclusive {
                section: "basic_auth",
                fields: "password and password_file",
            });
        }
        resolve(&mut self.username_file, base_dir);
        resolve(&mut self.password_file, base_dir);
        Ok(())
    }
}

/// `authorization`: sends `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme; default `Bearer`. `Basic` is refused (use `basic_auth`).
    #[serde(default = "default_auth_type", rename = "type")]
    pub auth_type: String,
    #[serde(default)]
    pub credentials: Secret,
    #[serde(default, deserialize_with = "de_opt_path")]
    pub credentials_file: Option<PathBuf>,
    #[serde(default, skip_serializing)]
    credentials_ref: Option<String>,
}

impl Authorization {
    /// A `Bearer` authorization, as the deprecated `bearer_token[_file]` keys produce.
    pub fn bearer(credentials: Secret, credentials_file: Option<PathBuf>) -> Self {
        Self {
            auth_type: default_auth_type(),
            credentials,
            credentials_file,
            credentials_ref: None,
        }
    }

    /// Where the credentials come from; `None` means empty credentials.
    pub fn credentials_source(&self) -> Option<CredentialSource<'_>> {
        match (&self.credentials_file, self.credentials.is_empty()) {
            (Some(file), _) => Some(CredentialSource::File(file)),
            (None, false) => Some(CredentialSource::Inline(&self.credentials)),
            (None, true) => None,
        }
    }

    fn validate(&mut self, base_dir: Option<&Path>) -> Result<(), EndpointError> {
        if self.credentials_ref.is_some() {
            return Err(EndpointError::Unsupported {
                key: "authorization.credentials_ref",
                hint: "secret managers are not available outside Prometheus; use credentials_file",
            });
        }
        if !self.credentials.is_empty() && self.credentials_file.is_some() {
            return Err(EndpointError::Exclusive {
                section: "authorization",
                fields: "credentials and credentials_file",
            });
        }
        self.auth_type = self.auth_type.trim().to_owned();
        if self.auth_type.is_empty() {
            self.auth_type = default_auth_type();
        }
        if self.auth_type.eq_ignore_ascii_case("basic") {
            return Err(EndpointError::AuthorizationTypeBasic);
        }
        resolve(&mut self.credentials_file, base_dir);
        Ok(())
    }
}

fn default_auth_type() -> String {
    "Bearer".to_owned()
}

/// A TLS protocol version (`min_version` / `max_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "TLS10")]
    Tls10,
    #[serde(rename = "TLS11")]
    Tls11,
    #[serde(rename = "TLS12")]
    Tls12,
    #[serde(rename = "TLS13")]
    Tls13,
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tls10 => "TLS10",
            Self::Tls11 => "TLS11",
            Self::Tls12 => "TLS12",
            Self::Tls13 => "TLS13",
        })
    }
}

/// `tls_config`. Inline PEM (`ca`, `cert`, `key`) or files; client cert and key come together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM text of the CA bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(default, deserialize_with = "de_opt_path")]
    pub ca_file: Option<PathBuf>,
    /// PEM text of the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(default, deserialize_with = "de_opt_path")]
    pub cert_file: Option<PathBuf>,
    /// PEM text of the client key.
    #[serde(default)]
    pub key: Secret,
    #[serde(default, deserialize_with = "de_opt_path")]
    pub key_file: Option<PathBuf>,
    /// Name to verify the server certificate against (and to send as SNI).
    #[serde(default)]
    pub server_name: String,
    /// Skip server certificate verification (dangerous; for tests).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `TLS10` and `TLS11` are accepted and mean TLS 1.2: rustls has no older versions.
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
    #[serde(default, skip_serializing)]
    ca_ref: Option<String>,
    #[serde(default, skip_serializing)]
    cert_ref: Option<String>,
    #[serde(default, skip_serializing)]
    key_ref: Option<String>,
}

impl TlsConfig {
    /// Where the CA bundle comes from, if set (otherwise: the system roots).
    pub fn ca_source(&self) -> Option<PemSource<'_>> {
        pem_source(self.ca.as_deref(), self.ca_file.as_deref())
    }

    /// Where the client certificate comes from, if any.
    pub fn cert_source(&self) -> Option<PemSource<'_>> {
        pem_source(self.cert.as_deref(), self.cert_file.as_deref())
    }

    /// Where the client key comes from, if any.
    pub fn key_source(&self) -> Option<PemSource<'_>> {
        let inline = (!self.key.is_empty()).then(|| self.key.expose());
        pem_source(inline, self.key_file.as_deref())
    }

    /// Checks exclusive keys, the cert/key pair and the version range; makes paths absolute.
    pub(crate) fn validate(&mut self, base_dir: Option<&Path>) -> Result<(), EndpointError> {
        if self.ca_ref.is_some() || self.cert_ref.is_some() || self.key_ref.is_some() {
            return Err(EndpointError::Unsupported {
                key: "tls_config.ca_ref/cert_ref/key_ref",
                hint: "secret managers are not available outside Prometheus; use the *_file keys",
            });
        }
        let exclusive = |a: bool, b: bool, fields: &'static str| {
            if a && b {
                Err(EndpointError::Exclusive {
                    section: "tls_config",
                    fields,
                })
            } else {
                Ok(())
            }
        };
        exclusive(self.ca.is_some(), self.ca_file.is_some(), "ca and ca_file")?;
        exclusive(
            self.cert.is_some(),
            self.cert_file.is_some(),
            "cert and cert_file",
        )?;
        exclusive(
            !self.key.is_empty(),
            self.key_file.is_some(),
            "key and key_file",
        )?;
        let has_cert = self.cert.is_some() || self.cert_file.is_some();
        let has_key = !self.key.is_empty() || self.key_file.is_some();
        if has_cert != has_key {
            return Err(EndpointError::TlsCertKeyPair { has_cert });
        }
        if let Some(max) = self.max_version {
            if max < TlsVersion::Tls12 {
                return Err(EndpointError::TlsVersionUnsupported { version: max });
            }
            if let Some(min) = self.min_version.filter(|min| *min > max) {
                return Err(EndpointError::TlsVersionRange { min, max });
            }
        }
        resolve(&mut self.ca_file, base_dir);
        resolve(&mut self.cert_file, base_dir);
        resolve(&mut self.key_file, base_dir);
        Ok(())
    }
}

/// Inline PEM text or a file holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemSource<'a> {
    File(&'a Path),
    Inline(&'a str),
}

fn pem_source<'a>(inline: Option<&'a str>, file: Option<&'a Path>) -> Option<PemSource<'a>> {
    match (file, inline) {
        (Some(file), _) => Some(PemSource::File(file)),
        (None, Some(text)) => Some(PemSource::Inline(text)),
        (None, None) => None,
    }
}

/// Headers that ringwrite sets itself or that belong to the connection (FORMATS.md §3.3;
/// Prometheus `config.reservedHeaders`). Compared in lower case.
pub const RESERVED_HEADERS: [&str; 16] = [
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Prometheus's `validateHeaders`, plus what an HTTP/2 sender needs: names and values must be
/// valid HTTP, and two spellings of one name (`X-Scope-OrgID`, `x-scope-orgid`) are an error
/// because which one wins would be arbitrary.
pub(crate) fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), EndpointError> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            return Err(EndpointError::AuthorizationHeader {
                header: name.clone(),
            });
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(EndpointError::ReservedHeader {
                header: name.clone(),
            });
        }
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(EndpointError::InvalidHeaderName {
                header: name.clone(),
            });
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(EndpointError::InvalidHeaderValue {
                header: name.clone(),
            });
        }
        if let Some(other) = seen.insert(lower, name) {
            return Err(EndpointError::DuplicateHeader {
                header: name.clone(),
                other: other.to_owned(),
            });
        }
    }
    Ok(())
}

/// Joins a relative path with the config file's directory (Prometheus `config.JoinDir`).
pub(crate) fn resolve(path: &mut Option<PathBuf>, base_dir: Option<&Path>) {
    if let (Some(p), Some(dir)) = (path.as_mut(), base_dir) {
        if p.is_relative() {
            *p = dir.join(&*p);
        }
    }
}

/// An optional path where `""` means "not set", as in Prometheus.
pub(crate) fn de_opt_path<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<PathBuf>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()).map(PathBuf::from))
}

/// Validates the auth and TLS parts of one endpoint and makes their paths absolute.
pub(crate) fn validate_auth(
    basic_auth: &mut Option<BasicAuth>,
    authorization: &mut Option<Authorization>,
    tls: &mut TlsConfig,
    base_dir: Option<&Path>,
) -> Result<(), EndpointError> {
    if let Some(b) = basic_auth.as_mut() {
        b.validate(base_dir)?;
    }
    if let Some(a) = authorization.as_mut() {
        a.validate(base_dir)?;
    }
    tls.validate(base_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<secret>");
        let b = BasicAuth {
            username: "u".into(),
            password: s.clone(),
            ..BasicAuth::default()
        };
        let yaml = serde_yaml_ng::to_string(&b).unwrap_or_default();
        assert!(!yaml.contains("hunter2"), "{yaml}");
        assert!(!format!("{b:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn relative_files_join_the_config_dir() {
        let mut p = Some(PathBuf::from("secrets/pw"));
        resolve(&mut p, Some(Path::new("/etc/ringwrite")));
        assert_eq!(p, Some(PathBuf::from("/etc/ringwrite/secrets/pw")));
        let mut abs = Some(PathBuf::from("/run/pw"));
        resolve(&mut abs, Some(Path::new("/etc/ringwrite")));
        assert_eq!(abs, Some(PathBuf::from("/run/pw")));
    }

    #[test]
    fn header_rules() {
        let check = |name: &str, value: &str| {
            let mut h = BTreeMap::new();
            h.insert(name.to_owned(), value.to_owned());
            validate_headers(&h)
        };
        assert_eq!(check("X-Scope-OrgID", "tenant-1"), Ok(()));
        for reserved in RESERVED_HEADERS {
            let upper = reserved.to_ascii_uppercase();
            assert_eq!(
                check(&upper, "x"),
                Err(EndpointError::ReservedHeader { header: upper }),
            );
        }
        assert!(matches!(
            check("authorization", "Bearer x"),
            Err(EndpointError::AuthorizationHeader { .. })
        ));
        assert!(matches!(
            check("bad header", "x"),
            Err(EndpointError::InvalidHeaderName { .. })
        ));
        assert!(matches!(
            check("X-Ok", "line\nbreak"),
            Err(EndpointError::InvalidHeaderValue { .. })
        ));
        let mut dup = BTreeMap::new();
        dup.insert("X-Tenant".to_owned(), "a".to_owned());
        dup.insert("x-tenant".to_owned(), "b".to_owned());
        assert!(matches!(
            validate_headers(&dup),
            Err(EndpointError::DuplicateHeader { .. })
        ));
    }
}
