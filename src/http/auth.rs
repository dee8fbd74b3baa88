//! The `Authorization` header: basic auth or `<type> <credentials>`, from inline values or
//! files that are re-read when they change.
//!
//! Files are read once at startup (a missing file is a config error naming the endpoint),
//! then each core's [`Authorizer`] checks the file's metadata at most once per `recheck`
//! interval and re-reads it when mtime, size or inode changed (an atomic rename or a
//! Kubernetes secret symlink swap changes the inode). A file that becomes unreadable keeps
//! the last good value and logs a warning: the receiver's 401 is a clearer signal than a
//! local error, and a rotation usually completes within seconds.
//!
//! `oauth2` ([`super::oauth2`]) and `sigv4` ([`super::sigv4`]) produce their headers per
//! request through the same [`Authorizer`]: a cached token, or a signature over the body.

use std::{
    cell::RefCell,
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use http::{HeaderName, HeaderValue};

use super::{
    config::{AuthorizationConfig, BasicAuthConfig},
    error::ConfigError,
    headers::WireFormat,
    oauth2::{Token, TokenSource},
    sigv4::SigV4Signer,
};

/// Identity of a file version: changes when the file is rewritten or replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    mtime: Option<SystemTime>,
    len: u64,
    ino: u64,
    dev: u64,
}

impl Fingerprint {
    pub(crate) fn of(meta: &fs::Metadata) -> Self {
        Self {
            mtime: meta.modified().ok(),
            len: meta.len(),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

/// A credential value and, for files, what version of the file it came from.
#[derive(Clone, Debug)]
pub(crate) enum SecretSource {
    Inline(String),
    File {
        path: PathBuf,
        value: String,
        fingerprint: Fingerprint,
    },
}

impl SecretSource {
    fn inline(value: &str) -> Self {
        Self::Inline(value.to_string())
    }

    /// Reads `path` now; `what` names the field in errors.
    fn file(endpoint: &str, what: &'static str, path: &Path) -> Result<Self, ConfigError> {
        let (value, fingerprint) =
            read_secret(path).map_err(|source| ConfigError::CredentialsFile {
                endpoint: endpoint.to_string(),
                what,
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self::File {
            path: path.to_path_buf(),
            value,
            fingerprint,
        })
    }

    fn value(&self) -> &str {
        match self {
            Self::Inline(v) => v,
            Self::File { value, .. } => value,
        }
    }
}

fn read_secret(path: &Path) -> io::Result<(String, Fingerprint)> {
    let meta = fs::metadata(path)?;
    let text = fs::read_to_string(path)?;
    Ok((text.trim().to_string(), Fingerprint::of(&meta)))
}

/// The validated auth settings of an endpoint (thread-shareable; values read at startup).
#[derive(Clone, Debug)]
pub(crate) enum AuthSpec {
    None,
    Basic {
        username: SecretSource,
        password: SecretSource,
    },
    Authorization {
        kind: String,
        credentials: SecretSource,
    },
    /// A token kept fresh by a background thread.
    OAuth2(std::sync::Arc<TokenSource>),
    /// Each request signed.
    SigV4(std::sync::Arc<SigV4Signer>),
}

impl AuthSpec {
    /// Builds the spec, reading credential files once. The config must be validated.
    pub(crate) fn new(
        endpoint: &str,
        basic: Option<&BasicAuthConfig>,
        authz: Option<&AuthorizationConfig>,
    ) -> Result<Self, ConfigError> {
        let spec = if let Some(b) = basic {
            let username = match (&b.username, &b.username_file) {
                (_, Some(path)) => SecretSource::file(endpoint, "basic_auth.username_file", path)?,
                (u, None) => SecretSource::inline(u.as_deref().unwrap_or("")),
            };
            let password = match (&b.password, &b.password_file) {
                (_, Some(path)) => SecretSource::file(endpoint, "basic_auth.password_file", path)?,
                (p, None) => SecretSource::inline(p.as_ref().map_or("", |s| s.expose())),
            };
            Self::Basic { username, password }
        } else if let Some(a) = authz {
            let credentials = match (&a.credentials, &a.credentials_file) {
                (_, Some(path)) => {
                    SecretSource::file(endpoint, "authorization.credentials_file", path)?
                }
                (c, None) => SecretSource::inline(c.as_ref().map_or("", |s| s.expose())),
            };
            Self::Authorization {
                kind: a.kind.clone().unwrap_or_else(|| "Bearer".to_string()),
                credentials,
            }
        } else {
            Self::None
        };
        if let Some(result) = spec.render() {
            result.map_err(|what| ConfigError::InvalidCredentials {
                endpoint: endpoint.to_string(),
                what,
            })?;
        }
        Ok(spec)
    }

    /// The header for the current values; `Err(field)` when they cannot form a header.
    fn render(&self) -> Option<Result<HeaderValue, &'static str>> {
        let text = match self {
            Self::None | Self::OAuth2(_) | Self::SigV4(_) => return None,
            Self::Basic { username, password } => {
                let pair = format!("{}:{}", username.value(), password.value());
                format!("Basic {}", base64(pair.as_bytes()))
            }
            Self::Authorization { kind, credentials } => {
                format!("{kind} {}", credentials.value())
            }
        };
        Some(
            HeaderValue::from_str(&text)
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
                .map_err(|_| match self {
                    Self::Basic { .. } => "basic_auth",
                    _ => "authorization credentials",
                }),
        )
    }

    fn sources_mut(&mut self) -> impl Iterator<Item = &mut SecretSource> {
        let (a, b) = match self {
            Self::None | Self::OAuth2(_) | Self::SigV4(_) => (None, None),
            Self::Basic { username, password } => (Some(username), Some(password)),
            Self::Authorization { credentials, .. } => (Some(credentials), None),
        };
        a.into_iter().chain(b)
    }
}

/// What one request carries for authentication.
#[derive(Debug, Default)]
pub(crate) struct RequestAuth {
    pub(crate) authorization: Option<HeaderValue>,
    /// SigV4's `X-Amz-*` headers.
    pub(crate) extra: Vec<(HeaderName, HeaderValue)>,
    /// The OAuth2 token generation used, to refresh after a 401.
    pub(crate) token_generation: Option<u64>,
}

/// Which way [`Authorizer::for_request`] builds the headers (taken out of the `RefCell`).
enum Kind {
    Static,
    OAuth2(std::sync::Arc<TokenSource>),
    SigV4(std::sync::Arc<SigV4Signer>),
}

/// Per-core producer of the `Authorization` header value.
#[derive(Debug)]
pub(crate) struct Authorizer {
    endpoint: std::sync::Arc<str>,
    recheck: Duration,
    state: RefCell<State>,
    /// OAuth2: this core's copy of the newest token (refreshed when the generation moves).
    token: RefCell<Option<Token>>,
}

#[derive(Debug)]
struct State {
    spec: AuthSpec,
    header: Option<HeaderValue>,
    last_check: Instant,
}

impl Authorizer {
    pub(crate) fn new(endpoint: std::sync::Arc<str>, spec: AuthSpec, recheck: Duration) -> Self {
        // INVARIANT: AuthSpec::new already rendered this spec successfully, so `ok()` only
        // maps `None` (no auth) to `None`.
        let header = spec.render().and_then(Result::ok);
        Self {
            endpoint,
            recheck,
            state: RefCell::new(State {
                spec,
                header,
                last_check: Instant::now(),
            }),
            token: RefCell::new(None),
        }
    }

    /// The OAuth2 token source, if this endpoint uses one.
    pub(crate) fn token_source(&self) -> Option<std::sync::Arc<TokenSource>> {
        match &self.state.borrow().spec {
            AuthSpec::OAuth2(src) => Some(std::sync::Arc::clone(src)),
            _ => None,
        }
    }

    /// The headers for one request of `body` in `format`, or `None` while an OAuth2
    /// endpoint has no valid token (the caller waits and asks again).
    pub(crate) fn for_request(
        &self,
        now: Instant,
        format: WireFormat,
        body: &[u8],
    ) -> Option<RequestAuth> {
        let kind = match &self.state.borrow().spec {
            AuthSpec::OAuth2(src) => Kind::OAuth2(std::sync::Arc::clone(src)),
            AuthSpec::SigV4(signer) => Kind::SigV4(std::sync::Arc::clone(signer)),
            _ => Kind::Static,
        };
        let signer = match kind {
            Kind::OAuth2(src) => {
                let mut cached = self.token.borrow_mut();
                let generation = src.generation();
                if cached.as_ref().is_none_or(|t| t.generation != generation) {
                    *cached = src.current();
                }
                let token = cached.as_ref().filter(|t| t.is_valid(now))?;
                return Some(RequestAuth {
                    authorization: Some(token.header.clone()),
                    extra: Vec::new(),
                    token_generation: Some(token.generation),
                });
            }
            Kind::SigV4(signer) => {
                signer.refresh(now, self.recheck);
                signer
            }
            Kind::Static => {
                return Some(RequestAuth {
                    authorization: self.header(now),
                    ..RequestAuth::default()
                })
            }
        };
        let signed = signer.sign(format, body, std::time::SystemTime::now());
        Some(RequestAuth {
            authorization: Some(signed.authorization),
            extra: signed.extra,
            token_generation: None,
        })
    }

    /// The header value to send now, re-reading changed files at most every `recheck`.
    pub(crate) fn header(&self, now: Instant) -> Option<HeaderValue> {
        let mut state = self.state.borrow_mut();
        if now.saturating_duration_since(state.last_check) >= self.recheck {
            state.last_check = now;
            if self.refresh(&mut state.spec) {
                match state.spec.render() {
                    Some(Ok(v)) => state.header = Some(v),
                    Some(Err(what)) => tracing::warn!(
                        endpoint = %self.endpoint,
                        what,
                        "Credentials file now holds a value that cannot be sent as a header; keeping the previous value."
                    ),
                    None => {}
                }
            }
        }
        state.header.clone()
    }

    /// Re-reads changed files; true when a value changed.
    fn refresh(&self, spec: &mut AuthSpec) -> bool {
        let mut changed = false;
        for source in spec.sources_mut() {
            let SecretSource::File {
                path,
                value,
                fingerprint,
            } = source
            else {
                continue;
            };
            let current = fs::metadata(&*path).map(|m| Fingerprint::of(&m));
            match current {
                Ok(fp) if fp == *fingerprint => {}
                Ok(_) => match read_secret(path) {
                    Ok((new_value, new_fp)) => {
                        *fingerprint = new_fp;
                        if *value != new_value {
                            *value = new_value;
                            changed = true;
                            tracing::info!(endpoint = %self.endpoint, path = %path.display(), "Credentials file changed; using the new value.");
                        }
                    }
                    Err(error) => {
                        tracing::warn!(endpoint = %self.endpoint, path = %path.display(), %error, "Cannot re-read credentials file; keeping the previous value.")
                    }
                },
                Err(error) => {
                    tracing::warn!(endpoint = %self.endpoint, path = %path.display(), %error, "Cannot stat credentials file; keeping the previous value.")
                }
            }
        }
        changed
    }
}

/// Standard base64 with padding (RFC 4648 §4), for basic auth.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(s & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::{io::Write, sync::Arc};

    use super::*;
    use crate::http::config::Secret;

    #[test]
    fn base64_table() {
        // RFC 4648 §10 test vectors.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("user:pass", "dXNlcjpwYXNz"),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn header_values() {
        let basic = AuthSpec::new(
            "e",
            Some(&BasicAuthConfig {
                username: Some("user".into()),
                password: Some(Secret::new("pass")),
                ..Default::default()
            }),
            None,
        )
        .unwrap();
        assert_eq!(basic.render().unwrap().unwrap(), "Basic dXNlcjpwYXNz");
        let bearer = AuthSpec::new(
            "e",
            None,
            Some(&AuthorizationConfig {
                credentials: Some(Secret::new("tok")),
                ..Default::default()
            }),
        )
        .unwrap();
        assert_eq!(bearer.render().unwrap().unwrap(), "Bearer tok");
        let custom = AuthSpec::new(
            "e",
            None,
            Some(&AuthorizationConfig {
                kind: Some("Token".into()),
                credentials: Some(Secret::new("abc")),
                ..Default::default()
            }),
        )
        .unwrap();
        assert_eq!(custom.render().unwrap().unwrap(), "Token abc");
        assert!(AuthSpec::new("e", None, None).unwrap().render().is_none());
    }

    #[test]
    fn bad_credentials_are_a_config_error() {
        let err = AuthSpec::new(
            "ep",
            None,
            Some(&AuthorizationConfig {
                credentials: Some(Secret::new("a\nb")),
                ..Default::default()
            }),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ep"), "{err}");
    }

    #[test]
    fn missing_file_is_a_config_error() {
        let err = AuthSpec::new(
            "ep",
            None,
            Some(&AuthorizationConfig {
                credentials_file: Some("/nonexistent/token".into()),
                ..Default::default()
            }),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("ep") && msg.contains("/nonexistent/token"),
            "{msg}"
        );
    }

    #[test]
    fn file_is_reread_after_change_and_only_after_recheck() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        fs::write(&path, "first\n").unwrap();
        let spec = AuthSpec::new(
            "e",
            None,
            Some(&AuthorizationConfig {
                credentials_file: Some(path.clone()),
                ..Default::default()
            }),
        )
        .unwrap();
        let recheck = Duration::from_secs(5);
        let auth = Authorizer::new(Arc::from("e"), spec, recheck);
        let t0 = Instant::now();
        assert_eq!(auth.header(t0).unwrap(), "Bearer first");
        // Replace via rename: new inode, even if mtime granularity hid the change.
        let tmp = dir.path().join("token.new");
        let mut f = fs::File::create(&tmp).unwrap();
        f.write_all(b"  second  ").unwrap();
        drop(f);
        fs::rename(&tmp, &path).unwrap();
        assert_eq!(
            auth.header(t0 + Duration::from_secs(1)).unwrap(),
            "Bearer first"
        );
        assert_eq!(auth.header(t0 + recheck * 2).unwrap(), "Bearer second");
        // Deleting the file keeps the last good value.
        fs::remove_file(&path).unwrap();
        assert_eq!(auth.header(t0 + recheck * 4).unwrap(), "Bearer second");
    }
}
