//! AWS Signature Version 4 for `sigv4:` endpoints (Amazon Managed Service for Prometheus,
//! service `aps`).
//!
//! Every request is signed on its own: the signature covers the method, the path, the
//! query, the headers ringwrite sets (Host, Content-Encoding, Content-Type, the remote-write
//! version, `X-Amz-Date`, `X-Amz-Content-Sha256`, `X-Amz-Security-Token`) and the SHA-256 of
//! the compressed body, so a retry is signed again with a fresh date. User `headers:` are sent
//! unsigned (SigV4 allows that; none of them may be `x-amz-*`, those are reserved).
//!
//! Credentials are resolved at startup, in this order: `access_key` + `secret_key` from
//! the config; the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE` or
//! `~/.aws/credentials`) when `profile` is set; the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); the shared credentials file with
//! `AWS_PROFILE` or `default`. `role_arn` (STS AssumeRole) is refused by the config layer.
//! Credentials that came from the shared file are re-read when the file changes (checked
//! like a `credentials_file`, see [`super::auth`]), so tools that rotate short-lived session
//! tokens into it need no restart; a file that becomes unreadable or loses the profile
//! keeps the last good credentials and logs a warning.
//!
//! The pure steps (canonical request, string to sign, signing key) are separate functions
//! so the AWS test-suite vectors can check each one.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Mutex, RwLock},
    time::{Duration, Instant, SystemTime},
};

use http::{HeaderName, HeaderValue};
use ring::{digest, hmac};
use serde::Deserialize;

use super::{auth::Fingerprint, config::Secret, error::ConfigError, headers::WireFormat};

/// The service name Prometheus signs remote write for.
pub const DEFAULT_SERVICE: &str = "aps";

/// `sigv4:` block (prometheus/common `sigv4.SigV4Config`, minus `role_arn`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SigV4Config {
    /// AWS region; else `AWS_REGION` / `AWS_DEFAULT_REGION`.
    #[serde(default)]
    pub region: Option<String>,
    /// Access key id; needs `secret_key` too.
    #[serde(default)]
    pub access_key: Option<String>,
    /// Secret access key.
    #[serde(default)]
    pub secret_key: Option<Secret>,
    /// Profile in the shared credentials file.
    #[serde(default)]
    pub profile: Option<String>,
    /// Service to sign for; default `aps`.
    #[serde(default)]
    pub service_name: Option<String>,
}

/// Resolved AWS credentials. `Debug` shows only the access key id.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AwsCredentials {
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) session_token: Option<String>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<secret>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<secret>"),
            )
            .finish()
    }
}

/// Where environment variables come from (the process, or a table in tests).
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, ignoring empty values as the AWS SDKs do.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Everything needed to sign requests to one endpoint. Thread-shareable.
#[derive(Debug)]
pub(crate) struct SigV4Signer {
    endpoint: String,
    region: String,
    service: String,
    credentials: RwLock<AwsCredentials>,
    /// Where the credentials came from when that was the shared credentials file.
    file: Option<ProfileFile>,
    /// `host[:port]` as sent in Host / `:authority`.
    host: String,
    canonical_uri: String,
    canonical_query: String,
}

/// A profile of the shared credentials file, and which version of the file was read.
#[derive(Debug)]
struct ProfileFile {
    path: PathBuf,
    profile: String,
    /// When the file was last looked at, and what it was then.
    seen: Mutex<(Instant, Option<Fingerprint>)>,
}

/// Headers a signed request adds.
#[derive(Clone, Debug)]
pub(crate) struct SignedHeaders {
    pub(crate) authorization: HeaderValue,
    pub(crate) extra: Vec<(HeaderName, HeaderValue)>,
}

impl SigV4Signer {
    /// Resolves region and credentials (see the module doc) for the endpoint at
    /// `host`/`path_and_query`.
    pub(crate) fn new(
        endpoint: &str,
        cfg: &SigV4Config,
        host: &str,
        path_and_query: &str,
        env: EnvLookup<'_>,
    ) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::SigV4 {
            endpoint: endpoint.to_string(),
            reason,
        };
        let region = cfg
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .ok_or_else(|| {
                bad("no region: set sigv4.region, AWS_REGION or AWS_DEFAULT_REGION".into())
            })?;
        let (credentials, file) = resolve_credentials(cfg, env).map_err(bad)?;
        header_safe(&credentials).map_err(bad)?;
        // The file's version is unknown (it may have changed since it was read): the first
        // check reads it again and remembers the version from then on.
        let file = file.map(|(path, profile)| ProfileFile {
            seen: Mutex::new((Instant::now(), None)),
            path,
            profile,
        });
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Ok(Self {
            endpoint: endpoint.to_string(),
            region,
            service: cfg
                .service_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SERVICE.to_string()),
            credentials: RwLock::new(credentials),
            file,
            host: host.to_string(),
            canonical_uri: canonical_uri(path),
            canonical_query: canonical_query(query),
        })
    }

    /// The access key id (for tests and logs; not secret).
    pub(crate) fn access_key(&self) -> String {
        self.current().access_key.clone()
    }

    fn current(&self) -> std::sync::RwLockReadGuard<'_, AwsCredentials> {
        self.credentials
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Re-reads the shared credentials file if the credentials came from it, at least
    /// `recheck` has passed since it was last looked at, and it changed since it was read.
    /// Another thread already checking makes this a no-op.
    pub(crate) fn refresh(&self, now: Instant, recheck: Duration) {
        let Some(file) = &self.file else {
            return;
        };
        let Ok(mut seen) = file.seen.try_lock() else {
            return;
        };
        if now.saturating_duration_since(seen.0) < recheck {
            return;
        }
        seen.0 = now;
        let current = fingerprint(&file.path);
        if current.is_none() || current == seen.1 {
            if current.is_none() {
                tracing::warn!(endpoint = %self.endpoint, path = %file.path.display(),
                    "Cannot stat the AWS credentials file; keeping the previous credentials.");
            }
            return;
        }
        match from_profile(&file.path, &file.profile).and_then(|c| header_safe(&c).map(|()| c)) {
            Ok(new) => {
                seen.1 = current;
                let mut creds = self
                    .credentials
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if *creds != new {
                    *creds = new;
                    tracing::info!(endpoint = %self.endpoint, path = %file.path.display(),
                        profile = %file.profile, "AWS credentials file changed; signing with the new credentials.");
                }
            }
            Err(error) => {
                tracing::warn!(endpoint = %self.endpoint, %error,
                    "Cannot re-read the AWS credentials file; keeping the previous credentials.");
            }
        }
    }

    /// Signs a remote-write POST of `body` in `format` at `now`.
    pub(crate) fn sign(&self, format: WireFormat, body: &[u8], now: SystemTime) -> SignedHeaders {
        let credentials = self.current();
        let amz_date = amz_date(now);
        let payload_hash = hex(digest::digest(&digest::SHA256, body).as_ref());
        let mut headers: Vec<(&str, &str)> = vec![
            ("content-encoding", "snappy"),
            ("content-type", format.content_type()),
            ("host", &self.host),
            ("x-amz-content-sha256", &payload_hash),
            ("x-amz-date", &amz_date),
            ("x-prometheus-remote-write-version", format.version()),
        ];
        if let Some(token) = &credentials.session_token {
            headers.push(("x-amz-security-token", token));
        }
        let (authorization, _) = authorization(
            &credentials,
            &Scope {
                date: &amz_date[..8],
                region: &self.region,
                service: &self.service,
            },
            &amz_date,
            &mut CanonicalParts {
                method: "POST",
                uri: &self.canonical_uri,
                query: &self.canonical_query,
                headers: &mut headers,
                payload_hash: &payload_hash,
            },
        );
        let mut extra = Vec::with_capacity(3);
        // INVARIANT: hex digits, an ISO date and values checked in `new` are header-safe.
        let value = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
        extra.push((HeaderName::from_static("x-amz-date"), value(&amz_date)));
        extra.push((
            HeaderName::from_static("x-amz-content-sha256"),
            value(&payload_hash),
        ));
        if let Some(token) = &credentials.session_token {
            let mut v = value(token);
            v.set_sensitive(true);
            extra.push((HeaderName::from_static("x-amz-security-token"), v));
        }
        let mut authorization = value(&authorization);
        authorization.set_sensitive(true);
        SignedHeaders {
            authorization,
            extra,
        }
    }
}

/// The credentials can be sent: the access key and session token go into headers.
fn header_safe(credentials: &AwsCredentials) -> Result<(), String> {
    for (what, value) in [
        ("access key", Some(&credentials.access_key)),
        ("session token", credentials.session_token.as_ref()),
    ] {
        if value.is_some_and(|v| HeaderValue::from_str(v).is_err()) {
            return Err(format!(
                "the {what} has characters not allowed in an HTTP header"
            ));
        }
    }
    Ok(())
}

/// The file's current version, if it can be looked at.
fn fingerprint(path: &Path) -> Option<Fingerprint> {
    std::fs::metadata(path).ok().map(|m| Fingerprint::of(&m))
}

/// A shared credentials file and the profile read from it.
type FromFile = Option<(PathBuf, String)>;

/// Credentials from the config, a profile, or the environment (module doc has the order),
/// and the file and profile when they came from the shared credentials file.
fn resolve_credentials(
    cfg: &SigV4Config,
    env: EnvLookup<'_>,
) -> Result<(AwsCredentials, FromFile), String> {
    let key = cfg.access_key.as_deref().filter(|k| !k.is_empty());
    let secret = cfg
        .secret_key
        .as_ref()
        .map(Secret::expose)
        .filter(|s| !s.is_empty());
    match (key, secret) {
        (Some(k), Some(s)) => {
            let creds = AwsCredentials {
                access_key: k.to_string(),
                secret_key: s.to_string(),
                session_token: None,
            };
            return Ok((creds, None));
        }
        (None, None) => {}
        _ => return Err("access_key and secret_key must be set together".into()),
    }
    let file = credentials_file(env);
    if let Some(profile) = cfg.profile.as_deref().filter(|p| !p.is_empty()) {
        let creds = from_profile(&file, profile)?;
        return Ok((creds, Some((file, profile.to_string()))));
    }
    if let (Some(k), Some(s)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        let creds = AwsCredentials {
            access_key: k,
            secret_key: s,
            session_token: env("AWS_SESSION_TOKEN"),
        };
        return Ok((creds, None));
    }
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    match from_profile(&file, &profile) {
        Ok(creds) => Ok((creds, Some((file, profile)))),
        Err(e) => Err(format!(
            "no credentials: set sigv4.access_key and sigv4.secret_key, or AWS_ACCESS_KEY_ID \
             and AWS_SECRET_ACCESS_KEY, or a profile ({e})"
        )),
    }
}

fn credentials_file(env: EnvLookup<'_>) -> PathBuf {
    env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env("HOME").unwrap_or_default())
                .join(".aws")
                .join("credentials")
        })
}

/// Reads `[profile]` from an AWS shared credentials file (INI).
fn from_profile(file: &Path, profile: &str) -> Result<AwsCredentials, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut in_section = false;
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == profile;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_string()).filter(|v| !v.is_empty());
            match k.trim() {
                "aws_access_key_id" => key = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    match (key, secret) {
        (Some(access_key), Some(secret_key)) => Ok(AwsCredentials {
            access_key,
            secret_key,
            session_token: token,
        }),
        _ => Err(format!(
            "profile {profile:?} in {} has no aws_access_key_id and aws_secret_access_key",
            file.display()
        )),
    }
}

/// The credential scope: `<date>/<region>/<service>/aws4_request`.
pub(crate) struct Scope<'a> {
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
}

impl Scope<'_> {
    fn render(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The request as SigV4 sees it. `headers` are (lower-case name, value) and get sorted.
pub(crate) struct CanonicalParts<'a, 'h> {
    pub(crate) method: &'a str,
    /// Already URI-encoded ([`canonical_uri`]).
    pub(crate) uri: &'a str,
    /// Already canonical ([`canonical_query`]).
    pub(crate) query: &'a str,
    pub(crate) headers: &'a mut Vec<(&'h str, &'h str)>,
    pub(crate) payload_hash: &'a str,
}

/// Task 1: the canonical request, and the signed-headers list.
pub(crate) fn canonical_request(parts: &mut CanonicalParts<'_, '_>) -> (String, String) {
    parts.headers.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(512);
    out.push_str(parts.method);
    out.push('\n');
    out.push_str(parts.uri);
    out.push('\n');
    out.push_str(parts.query);
    out.push('\n');
    for (name, value) in parts.headers.iter() {
        out.push_str(name);
        out.push(':');
        // Trim and collapse inner runs of spaces.
        let mut first = true;
        for word in value.split(' ').filter(|w| !w.is_empty()) {
            if !first {
                out.push(' ');
            }
            out.push_str(word);
            first = false;
        }
        out.push('\n');
    }
    out.push('\n');
    let signed: Vec<&str> = parts.headers.iter().map(|(n, _)| *n).collect();
    let signed = signed.join(";");
    out.push_str(&signed);
    out.push('\n');
    out.push_str(parts.payload_hash);
    (out, signed)
}

/// Task 2: the string to sign.
pub(crate) fn string_to_sign(amz_date: &str, scope: &Scope<'_>, canonical: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        scope.render(),
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    )
}

/// Task 3: the signing key, `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")`.
pub(crate) fn signing_key(secret: &str, scope: &Scope<'_>) -> hmac::Key {
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, format!("AWS4{secret}").as_bytes());
    for part in [scope.date, scope.region, scope.service, "aws4_request"] {
        let tag = hmac::sign(&key, part.as_bytes());
        key = hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref());
    }
    key
}

/// All three tasks: the `Authorization` value and the signature alone.
pub(crate) fn authorization(
    credentials: &AwsCredentials,
    scope: &Scope<'_>,
    amz_date: &str,
    parts: &mut CanonicalParts<'_, '_>,
) -> (String, String) {
    let (canonical, signed) = canonical_request(parts);
    let to_sign = string_to_sign(amz_date, scope, &canonical);
    let key = signing_key(&credentials.secret_key, scope);
    let signature = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
    (
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={signed}, Signature={signature}",
            credentials.access_key,
            scope.render()
        ),
        signature,
    )
}

/// URI-encodes a path, keeping `/`. A path that is already percent-encoded is encoded again,
/// as SigV4 requires for every service except S3.
pub(crate) fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    uri_encode(path, true)
}

/// Sorts the query's parameters by name (then value), each URI-encoded.
pub(crate) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding: everything but `A-Z a-z 0-9 - . _ ~` (and `/` when `keep_slash`).
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_at = |j: usize| (bytes.get(j).copied()).and_then(|c| (c as char).to_digit(16));
        match (bytes[i], hex_at(i + 1), hex_at(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
pub(crate) fn amz_date(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::logging::civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, time::Duration};

    use super::*;

    const AKID: &str = "AKIDEXAMPLE";
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn suite_creds() -> AwsCredentials {
        AwsCredentials {
            access_key: AKID.into(),
            secret_key: SUITE_SECRET.into(),
            session_token: None,
        }
    }

    const SUITE_SCOPE: Scope<'static> = Scope {
        date: "20150830",
        region: "us-east-1",
        service: "service",
    };

    /// The AWS SigV4 test suite (docs.aws.amazon.com, "signature-v4-test-suite"): requests
    /// to example.amazonaws.com at 20150830T123600Z, with AWS's published signatures.
    #[test]
    fn aws_test_suite_table() {
        // (case, method, raw path, raw query, signature)
        let cases = [
            (
                "get-vanilla",
                "GET",
                "/",
                "",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                "/",
                "Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                "get-utf8",
                "GET",
                "/\u{1234}",
                "",
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
            (
                "post-vanilla",
                "POST",
                "/",
                "",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
        ];
        for (case, method, path, query, want) in cases {
            let mut headers = vec![
                ("x-amz-date", "20150830T123600Z"),
                ("host", "example.amazonaws.com"),
            ];
            let (auth, sig) = authorization(
                &suite_creds(),
                &SUITE_SCOPE,
                "20150830T123600Z",
                &mut CanonicalParts {
                    method,
                    uri: &canonical_uri(path),
                    query: &canonical_query(query),
                    headers: &mut headers,
                    payload_hash: EMPTY_SHA256,
                },
            );
            assert_eq!(sig, want, "{case}");
            assert_eq!(
                auth,
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/\
                     aws4_request, SignedHeaders=host;x-amz-date, Signature={want}"
                ),
                "{case}"
            );
        }
    }

    /// get-vanilla step by step: canonical request, its hash in the string to sign, and the
    /// derived signing key, each as AWS publishes them.
    #[test]
    fn get_vanilla_intermediate_steps() {
        let mut headers = vec![
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
        ];
        let (creq, signed) = canonical_request(&mut CanonicalParts {
            method: "GET",
            uri: "/",
            query: "",
            headers: &mut headers,
            payload_hash: EMPTY_SHA256,
        });
        assert_eq!(
            creq,
            format!(
                "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                 host;x-amz-date\n{EMPTY_SHA256}"
            )
        );
        assert_eq!(signed, "host;x-amz-date");
        assert_eq!(
            string_to_sign("20150830T123600Z", &SUITE_SCOPE, &creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        let key = signing_key(SUITE_SECRET, &SUITE_SCOPE);
        // The derived key is not exposed by ring; check it through a known HMAC instead:
        // HMAC(kSigning, string-to-sign) is the published signature.
        let sts = string_to_sign("20150830T123600Z", &SUITE_SCOPE, &creq);
        assert_eq!(
            hex(hmac::sign(&key, sts.as_bytes()).as_ref()),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// The S3 "GET Object" example of the AWS docs (signed payload header, Range header).
    #[test]
    fn s3_documentation_example() {
        let creds = AwsCredentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let scope = Scope {
            date: "20130524",
            region: "us-east-1",
            service: "s3",
        };
        let mut headers = vec![
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let mut parts = CanonicalParts {
            method: "GET",
            uri: "/test.txt",
            query: "",
            headers: &mut headers,
            payload_hash: EMPTY_SHA256,
        };
        let (creq, _) = canonical_request(&mut parts);
        let sts = string_to_sign("20130524T000000Z", &scope, &creq);
        assert!(
            sts.ends_with("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"),
            "{sts}"
        );
        let (_, sig) = authorization(&creds, &scope, "20130524T000000Z", &mut parts);
        assert_eq!(
            sig,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn encoding_table() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("/api/v1/remote_write", "/api/v1/remote_write"),
            ("/a b", "/a%20b"),
            ("/%E1%88%B4", "/%25E1%2588%25B4"),
            ("/w/ws-1:x", "/w/ws-1%3Ax"),
        ];
        for (path, want) in cases {
            assert_eq!(canonical_uri(path), want, "{path}");
        }
        let queries = [
            ("", ""),
            ("b=2&a=1", "a=1&b=2"),
            ("a=x y&a=b", "a=b&a=x%20y"),
            ("k", "k="),
            ("q=%2F", "q=%2F"),
        ];
        for (q, want) in queries {
            assert_eq!(canonical_query(q), want, "{q}");
        }
    }

    #[test]
    fn amz_date_table() {
        let cases = [
            (0, "19700101T000000Z"),
            (1_440_938_160, "20150830T123600Z"),
            (951_782_400, "20000229T000000Z"),
            (4_102_444_799, "20991231T235959Z"),
            (4_107_542_400, "21000301T000000Z"),
        ];
        for (secs, want) in cases {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(amz_date(t), want, "{secs}");
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn credentials_resolution_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n\n\
             # comment\n[prod]\naws_access_key_id=PROD\naws_secret_access_key=prodsecret\n\
             aws_session_token = tok\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let with_keys = SigV4Config {
            region: Some("eu-west-1".into()),
            access_key: Some("CFG".into()),
            secret_key: Some(Secret::new("cfgsecret")),
            ..Default::default()
        };
        let profile = SigV4Config {
            profile: Some("prod".into()),
            ..Default::default()
        };
        let bare = SigV4Config::default();
        let full_env = [
            ("AWS_ACCESS_KEY_ID", "ENV"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_SESSION_TOKEN", "envtok"),
            ("AWS_SHARED_CREDENTIALS_FILE", f),
        ];
        // (case, config, env, want access key, want token)
        type Case<'a> = (
            &'a str,
            &'a SigV4Config,
            &'a [(&'a str, &'a str)],
            Option<&'a str>,
            Option<&'a str>,
        );
        let cases: [Case; 6] = [
            ("config wins", &with_keys, &full_env, Some("CFG"), None),
            (
                "profile before env",
                &profile,
                &full_env,
                Some("PROD"),
                Some("tok"),
            ),
            ("env", &bare, &full_env, Some("ENV"), Some("envtok")),
            (
                "default profile",
                &bare,
                &[("AWS_SHARED_CREDENTIALS_FILE", f)],
                Some("DEF"),
                None,
            ),
            (
                "AWS_PROFILE",
                &bare,
                &[("AWS_SHARED_CREDENTIALS_FILE", f), ("AWS_PROFILE", "prod")],
                Some("PROD"),
                Some("tok"),
            ),
            ("nothing", &bare, &[("HOME", "/nonexistent")], None, None),
        ];
        for (case, cfg, env, key, token) in cases {
            let env = env_of(env);
            match (resolve_credentials(cfg, &env).map(|(c, _)| c), key) {
                (Ok(c), Some(key)) => {
                    assert_eq!(c.access_key, key, "{case}");
                    assert_eq!(c.session_token.as_deref(), token, "{case}");
                }
                (Err(e), None) => assert!(e.contains("no credentials"), "{case}: {e}"),
                (got, _) => panic!("{case}: {got:?}"),
            }
        }
        let half = SigV4Config {
            access_key: Some("K".into()),
            ..Default::default()
        };
        assert!(resolve_credentials(&half, &env_of(&[])).is_err());
        let from = |cfg, env: &[(&str, &str)]| resolve_credentials(cfg, &env_of(env)).unwrap().1;
        assert_eq!(from(&with_keys, &full_env), None);
        assert_eq!(from(&bare, &full_env), None, "environment");
        assert_eq!(
            from(&profile, &full_env),
            Some((file.clone(), "prod".into()))
        );
        assert_eq!(
            from(&bare, &[("AWS_SHARED_CREDENTIALS_FILE", f)]),
            Some((file.clone(), "default".into()))
        );
    }

    #[test]
    fn region_falls_back_to_env_and_is_required() {
        let cfg = SigV4Config {
            access_key: Some("K".into()),
            secret_key: Some(Secret::new("S")),
            ..Default::default()
        };
        let s = SigV4Signer::new(
            "e",
            &cfg,
            "h",
            "/w",
            &env_of(&[("AWS_REGION", "ap-south-1")]),
        )
        .unwrap();
        assert_eq!(s.region, "ap-south-1");
        assert_eq!(s.service, "aps");
        let err = SigV4Signer::new("ep", &cfg, "h", "/w", &env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("region"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let cfg = SigV4Config {
            region: Some("us-east-1".into()),
            access_key: Some("AKID".into()),
            secret_key: Some(Secret::new("topsecret")),
            ..Default::default()
        };
        let env = env_of(&[("AWS_SESSION_TOKEN", "sessiontok")]);
        let s = SigV4Signer::new("e", &cfg, "h", "/w", &env).unwrap();
        let dbg = format!("{s:?} {cfg:?}");
        assert!(!dbg.contains("topsecret"), "{dbg}");
        let signed = s.sign(WireFormat::Rw1, b"body", SystemTime::now());
        assert!(!format!("{signed:?}").contains("topsecret"));
        assert!(signed.authorization.is_sensitive());
    }

    /// The access key and session token a signature was made with.
    fn signed_with(s: &SigV4Signer) -> (String, Option<String>) {
        let signed = s.sign(WireFormat::Rw1, b"body", SystemTime::now());
        let auth = signed.authorization.to_str().unwrap().to_string();
        let key = auth
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').next())
            .unwrap()
            .to_string();
        let token = signed
            .extra
            .iter()
            .find(|(n, _)| n == "x-amz-security-token")
            .map(|(_, v)| v.to_str().unwrap().to_string());
        (key, token)
    }

    #[test]
    fn a_changed_credentials_file_is_read_again_after_recheck() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        let write = |key: &str, token: &str| {
            // Replaced by rename, as rotating tools do: a new inode whatever the mtime.
            let tmp = dir.path().join("credentials.tmp");
            std::fs::write(
                &tmp,
                format!("[app]\naws_access_key_id = {key}\naws_secret_access_key = s-{key}\naws_session_token = {token}\n"),
            )
            .unwrap();
            std::fs::rename(&tmp, &file).unwrap();
        };
        write("KEY1", "tok1");
        let cfg = SigV4Config {
            region: Some("eu-west-1".into()),
            profile: Some("app".into()),
            ..Default::default()
        };
        let f = file.to_str().unwrap().to_string();
        let env = env_of(&[("AWS_SHARED_CREDENTIALS_FILE", &f)]);
        let s = SigV4Signer::new("e", &cfg, "h", "/w", &env).unwrap();
        let recheck = Duration::from_secs(5);
        let t0 = Instant::now();
        assert_eq!(signed_with(&s), ("KEY1".into(), Some("tok1".into())));

        write("KEY2", "tok2");
        s.refresh(t0, recheck);
        assert_eq!(s.access_key(), "KEY1", "not before recheck has passed");
        s.refresh(t0 + recheck, recheck);
        assert_eq!(signed_with(&s), ("KEY2".into(), Some("tok2".into())));

        // A file without the profile, then no file: the last good credentials stay.
        std::fs::write(
            &file,
            "[other]\naws_access_key_id = X\naws_secret_access_key = Y\n",
        )
        .unwrap();
        s.refresh(t0 + 2 * recheck, recheck);
        assert_eq!(s.access_key(), "KEY2");
        std::fs::remove_file(&file).unwrap();
        s.refresh(t0 + 3 * recheck, recheck);
        assert_eq!(signed_with(&s), ("KEY2".into(), Some("tok2".into())));
        write("KEY3", "tok3");
        s.refresh(t0 + 4 * recheck, recheck);
        assert_eq!(signed_with(&s), ("KEY3".into(), Some("tok3".into())));
    }

    #[test]
    fn credentials_from_config_or_environment_are_never_reread() {
        let cfg = SigV4Config {
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let env = env_of(&[("AWS_ACCESS_KEY_ID", "ENV"), ("AWS_SECRET_ACCESS_KEY", "S")]);
        let s = SigV4Signer::new("e", &cfg, "h", "/w", &env).unwrap();
        assert!(s.file.is_none());
        s.refresh(Instant::now() + Duration::from_secs(3600), Duration::ZERO);
        assert_eq!(s.access_key(), "ENV");
    }
}
