//! OAuth 2.0 client credentials (RFC 6749 §4.4) for `oauth2:` endpoints.
//!
//! One [`TokenSource`] per endpoint owns a small background thread that fetches the token,
//! and fetches the next one when three quarters of its lifetime have passed, so shards never
//! wait for a token while a valid one exists. Shards read the current token through a
//! per-core cache that only takes the source's lock when the token's generation changed.
//! Before the first token arrives (or when every token has expired because the token server
//! is down), a send waits for one within its `remote_timeout`.
//!
//! A `401` from the receiver asks for one new token (once per token generation, however
//! many shards saw the 401) and the request is sent once more with it.
//!
//! As Go's `clientcredentials` (Prometheus): the client id and secret go in a Basic
//! `Authorization` header, URL-encoded; if the token server refuses that with 400 or 401,
//! they are sent in the form body instead, and whichever worked is kept. `client_secret_file`
//! is read on every fetch, so a rotated secret is used at the next refresh. Neither the secret
//! nor a token ever appears in a log line or an error.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};

use http::HeaderValue;
use serde::Deserialize;

use super::{
    auth::base64,
    blocking::{self, Target},
    config::{Secret, TlsConfig},
    error::ConfigError,
    tls::{self, ALPN_HTTP1},
};

/// `oauth2:` block (prometheus/common `OAuth2`, without the proxy keys).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// File holding the client secret (read on every token fetch).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes to request (joined with spaces).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The token endpoint.
    pub token_url: String,
    /// Extra form parameters for the token request.
    #[serde(default)]
    pub endpoint_params: BTreeMap<String, String>,
    /// TLS settings for the token endpoint.
    #[serde(default)]
    pub tls_config: TlsConfig,
}

/// Retry delays after a failed fetch: first, and cap.
const FETCH_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
/// Least time between two fetches asked for by 401s.
const MIN_FORCED_INTERVAL: Duration = Duration::from_millis(200);
/// A token with no `expires_in` is fetched again after this long anyway.
const NO_EXPIRY_REFRESH: Duration = Duration::from_secs(3600);

/// A token as shards use it.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    /// `Authorization` value (marked sensitive).
    pub(crate) header: HeaderValue,
    /// Stop using it after this (a little before the server's expiry).
    pub(crate) valid_until: Option<Instant>,
    pub(crate) generation: u64,
}

impl Token {
    pub(crate) fn is_valid(&self, now: Instant) -> bool {
        self.valid_until.is_none_or(|t| now < t)
    }
}

/// One endpoint's token, kept fresh by a background thread that ends when this is dropped.
#[derive(Debug)]
pub(crate) struct TokenSource {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    endpoint: Arc<str>,
    generation: AtomicU64,
    fetches: AtomicU64,
    stop: AtomicBool,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    token: Option<Token>,
    /// A 401 asked for a token newer than this generation.
    refresh_after: Option<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for TokenSource {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
    }
}

/// What the fetcher thread needs.
struct Fetcher {
    shared: Arc<Shared>,
    target: Target,
    client_id: String,
    secret: SecretRef,
    form: Vec<(String, String)>,
    timeout: Duration,
    in_body: bool,
}

enum SecretRef {
    Inline(String),
    File(PathBuf),
}

/// Why a fetch failed. Never holds the secret or a token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("token request to {url} failed: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("cannot read client_secret_file {}: {source}", path.display())]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token endpoint {url} answered {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("token endpoint {url} answered 2xx without a usable access_token: {reason}")]
    BadToken { url: String, reason: &'static str },
}

/// The fields of a token response ringwrite uses (RFC 6749 §5.1, §5.2).
#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    /// Seconds; some servers send a string.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenSource {
    /// Validates `cfg`, reads the secret file once (a missing file is a config error), and
    /// starts the fetcher thread, which asks for the first token at once.
    pub(crate) fn start(
        endpoint: &str,
        cfg: &OAuth2Config,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::OAuth2 {
            endpoint: endpoint.to_string(),
            reason,
        };
        if cfg.client_id.is_empty() {
            return Err(bad("client_id must be set".into()));
        }
        let secret = match (&cfg.client_secret, &cfg.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "at most one of client_secret and client_secret_file may be set".into(),
                ))
            }
            (_, Some(path)) => {
                std::fs::read_to_string(path).map_err(|source| ConfigError::CredentialsFile {
                    endpoint: endpoint.to_string(),
                    what: "oauth2.client_secret_file",
                    path: path.clone(),
                    source,
                })?;
                SecretRef::File(path.clone())
            }
            (s, None) => SecretRef::Inline(s.as_ref().map_or("", |s| s.expose()).to_string()),
        };
        if cfg.endpoint_params.contains_key("scope") && !cfg.scopes.is_empty() {
            return Err(bad(
                "endpoint_params cannot set \"scope\" together with scopes".into(),
            ));
        }
        let target = target(endpoint, cfg)?;
        let mut form = vec![("grant_type".to_string(), "client_credentials".to_string())];
        if !cfg.scopes.is_empty() {
            form.push(("scope".into(), cfg.scopes.join(" ")));
        }
        for (k, v) in &cfg.endpoint_params {
            form.retain(|(name, _)| name != k);
            form.push((k.clone(), v.clone()));
        }
        let shared = Arc::new(Shared {
            endpoint: Arc::from(endpoint),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let fetcher = Fetcher {
            shared: Arc::clone(&shared),
            target,
            client_id: cfg.client_id.clone(),
            secret,
            form,
            timeout,
            in_body: false,
        };
        std::thread::Builder::new()
            .name(format!("ringwrite-oauth2-{endpoint}"))
            .spawn(move || fetcher.run())
            .map_err(|e| bad(format!("cannot start the token thread: {e}")))?;
        Ok(Self { shared })
    }

    /// Generation of the newest token (0: none yet). Lock-free.
    pub(crate) fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// The newest token, if any (takes the lock: callers cache it by generation).
    pub(crate) fn current(&self) -> Option<Token> {
        self.shared.lock().token.clone()
    }

    /// Token requests made so far (successful or not).
    pub(crate) fn fetches(&self) -> u64 {
        self.shared.fetches.load(Ordering::Relaxed)
    }

    /// The receiver refused the token of generation `used`: fetch a newer one, unless that
    /// already happened or was asked for.
    pub(crate) fn reject(&self, used: u64) {
        let mut state = self.shared.lock();
        if self.shared.generation.load(Ordering::Acquire) > used {
            return;
        }
        if state.refresh_after.is_none_or(|g| g < used) {
            state.refresh_after = Some(used);
            self.shared.wake.notify_all();
        }
    }
}

fn target(endpoint: &str, cfg: &OAuth2Config) -> Result<Target, ConfigError> {
    let bad = |reason: String| ConfigError::OAuth2 {
        endpoint: endpoint.to_string(),
        reason,
    };
    let uri: http::Uri = cfg
        .token_url
        .parse()
        .map_err(|e| bad(format!("token_url: {e}")))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("token_url must be an http:// or https:// URL".into())),
    };
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty())
        .ok_or_else(|| bad("token_url has no host".into()))?;
    let host = authority.host().to_string();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tls = if https {
        Some((
            tls::client_config(endpoint, &cfg.tls_config, &[ALPN_HTTP1])?,
            tls::server_name(endpoint, &cfg.tls_config, &host)?,
        ))
    } else {
        None
    };
    Ok(Target {
        authority: match authority.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        },
        host,
        port,
        path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        tls,
    })
}

impl Fetcher {
    fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let mut next_due = Instant::now();
        let mut backoff = FETCH_BACKOFF.0;
        let mut last_fetch: Option<Instant> = None;
        let mut failing = false;
        loop {
            {
                let mut state = shared.lock();
                loop {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let now = Instant::now();
                    let forced_ok = last_fetch.is_none_or(|t| now >= t + MIN_FORCED_INTERVAL);
                    if now >= next_due || (state.refresh_after.is_some() && forced_ok) {
                        break;
                    }
                    let mut wait = next_due - now;
                    if state.refresh_after.is_some() {
                        if let Some(t) = last_fetch {
                            wait =
                                wait.min((t + MIN_FORCED_INTERVAL).saturating_duration_since(now));
                        }
                    }
                    state = shared
                        .wake
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                state.refresh_after = None;
            }
            let started = Instant::now();
            last_fetch = Some(started);
            shared.fetches.fetch_add(1, Ordering::Relaxed);
            match self.fetch() {
                Ok((header, lifetime)) => {
                    let generation = shared.generation.load(Ordering::Acquire) + 1;
                    let token = Token {
                        header,
                        valid_until: lifetime
                            .map(|l| started + l - (l / 10).min(Duration::from_secs(10))),
                        generation,
                    };
                    next_due = started + lifetime.map_or(NO_EXPIRY_REFRESH, |l| l * 3 / 4);
                    shared.lock().token = Some(token);
                    shared.generation.store(generation, Ordering::Release);
                    backoff = FETCH_BACKOFF.0;
                    if std::mem::take(&mut failing) {
                        tracing::info!(endpoint = %shared.endpoint, "OAuth2 token fetched again.");
                    }
                    tracing::debug!(endpoint = %shared.endpoint, generation, ?lifetime, "OAuth2 token fetched.");
                }
                Err(error) => {
                    failing = true;
                    tracing::warn!(endpoint = %shared.endpoint, %error, retry_in = ?backoff,
                        "Cannot fetch an OAuth2 token; sends wait once the current token expires.");
                    next_due = Instant::now() + backoff;
                    backoff = (backoff * 2).min(FETCH_BACKOFF.1);
                }
            }
        }
    }

    /// One token request (two when the server refuses the Basic header style).
    fn fetch(&mut self) -> Result<(HeaderValue, Option<Duration>), TokenError> {
        let url = format!(
            "{}://{}{}",
            if self.target.tls.is_some() {
                "https"
            } else {
                "http"
            },
            self.target.authority,
            self.target.path_and_query
        );
        let secret = match &self.secret {
            SecretRef::Inline(s) => s.clone(),
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|source| TokenError::SecretFile {
                    path: path.clone(),
                    source,
                })?,
        };
        let first = self.request(&url, &secret, self.in_body);
        let reply = match first {
            Err(TokenError::Status {
                status: 400 | 401, ..
            }) if !self.in_body => {
                let second = self.request(&url, &secret, true);
                if second.is_ok() {
                    self.in_body = true;
                }
                second?
            }
            other => other?,
        };
        parse_token(&url, &reply)
    }

    fn request(&self, url: &str, secret: &str, in_body: bool) -> Result<Vec<u8>, TokenError> {
        let mut form = self.form.clone();
        let basic;
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ];
        if in_body {
            form.push(("client_id".into(), self.client_id.clone()));
            form.push(("client_secret".into(), secret.to_string()));
        } else {
            basic = format!(
                "Basic {}",
                base64(
                    format!("{}:{}", form_encode(&self.client_id), form_encode(secret)).as_bytes()
                )
            );
            headers.push(("Authorization", &basic));
        }
        form.sort();
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let reply = blocking::post(&self.target, &headers, body.as_bytes(), self.timeout).map_err(
            |source| TokenError::Io {
                url: url.to_string(),
                source,
            },
        )?;
        if !(200..300).contains(&reply.status) {
            let detail = serde_json::from_slice::<TokenResponse>(&reply.body)
                .ok()
                .and_then(|r| r.error.map(|e| (e, r.error_description)))
                .map_or_else(String::new, |(e, d)| {
                    let mut s = format!(": {}", clip(&e));
                    if let Some(d) = d {
                        s.push_str(&format!(" ({})", clip(&d)));
                    }
                    s
                });
            return Err(TokenError::Status {
                url: url.to_string(),
                status: reply.status,
                detail,
            });
        }
        Ok(reply.body)
    }
}

/// The `Authorization` value and lifetime from a 2xx token response.
fn parse_token(url: &str, body: &[u8]) -> Result<(HeaderValue, Option<Duration>), TokenError> {
    let bad = |reason| TokenError::BadToken {
        url: url.to_string(),
        reason,
    };
    let resp: TokenResponse = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let token = resp
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("no access_token"))?;
    // Go oauth2's Token.Type(): "bearer" in any case becomes "Bearer"; empty means Bearer.
    let kind = match resp.token_type.as_deref() {
        None | Some("") => "Bearer".to_string(),
        Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_string(),
        Some(t) => t.to_string(),
    };
    let mut header = HeaderValue::from_str(&format!("{kind} {token}"))
        .map_err(|_| bad("the token has characters not allowed in a header"))?;
    header.set_sensitive(true);
    let lifetime = match resp.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s > 0.0)
    .map(Duration::from_secs_f64);
    Ok((header, lifetime))
}

/// At most 200 characters of a server-provided error text.
fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// `application/x-www-form-urlencoded` encoding of one name or value (Go's
/// `url.QueryEscape`: space becomes `+`).
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encode_table() {
        let cases = [
            ("abc", "abc"),
            ("a b", "a+b"),
            ("a+b/c=d&e", "a%2Bb%2Fc%3Dd%26e"),
            ("ü", "%C3%BC"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(form_encode(input), want, "{input}");
        }
    }

    #[test]
    fn token_response_table() {
        // (body, Ok((header, lifetime secs)) or Err(fragment))
        type Case = (
            &'static str,
            Result<(&'static str, Option<f64>), &'static str>,
        );
        let cases: [Case; 7] = [
            (
                r#"{"access_token":"t1","token_type":"bearer","expires_in":3600}"#,
                Ok(("Bearer t1", Some(3600.0))),
            ),
            (r#"{"access_token":"t2"}"#, Ok(("Bearer t2", None))),
            (
                r#"{"access_token":"t3","token_type":"MAC","expires_in":"60"}"#,
                Ok(("MAC t3", Some(60.0))),
            ),
            (
                r#"{"access_token":"t4","expires_in":0}"#,
                Ok(("Bearer t4", None)),
            ),
            (r#"{"token_type":"bearer"}"#, Err("no access_token")),
            ("<html>", Err("not JSON")),
            (r#"{"access_token":"a\nb"}"#, Err("not allowed")),
        ];
        for (body, want) in cases {
            match (parse_token("u", body.as_bytes()), want) {
                (Ok((h, l)), Ok((wh, wl))) => {
                    assert_eq!(h, wh, "{body}");
                    assert!(h.is_sensitive());
                    assert_eq!(l.map(|d| d.as_secs_f64()), wl, "{body}");
                }
                (Err(e), Err(frag)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(frag), "{body}: {msg}");
                }
                (got, _) => panic!("{body}: {got:?}"),
            }
        }
    }

    #[test]
    fn config_errors_name_the_problem() {
        let base = OAuth2Config {
            client_id: "id".into(),
            token_url: "http://127.0.0.1:1/token".into(),
            ..Default::default()
        };
        let cases: [(&str, OAuth2Config, &str); 4] = [
            (
                "no client id",
                OAuth2Config {
                    client_id: String::new(),
                    ..base.clone()
                },
                "client_id",
            ),
            (
                "bad url",
                OAuth2Config {
                    token_url: "ftp://x/".into(),
                    ..base.clone()
                },
                "token_url",
            ),
            (
                "both secrets",
                OAuth2Config {
                    client_secret: Some(Secret::new("s3cr3t")),
                    client_secret_file: Some("/x".into()),
                    ..base.clone()
                },
                "client_secret_file",
            ),
            (
                "missing secret file",
                OAuth2Config {
                    client_secret_file: Some("/nonexistent/secret".into()),
                    ..base.clone()
                },
                "/nonexistent/secret",
            ),
        ];
        for (case, cfg, want) in cases {
            let err = TokenSource::start("ep", &cfg, Duration::from_secs(1)).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(want) && msg.contains("ep"), "{case}: {msg}");
            assert!(!msg.contains("s3cr3t"), "{case}: {msg}");
        }
    }
}
