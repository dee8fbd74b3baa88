//! Authentication peers for tests: an OAuth 2.0 token endpoint ([`TokenServer`]), a receiver
//! that only takes the tokens it issued ([`BearerCheck`]), and a receiver that recomputes
//! AWS SigV4 signatures ([`SigV4Check`]). Each is a [`Handler`] for a [`super::Sink`].

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
};

use super::{Handler, ReceivedRequest, Reply};
use crate::http::sigv4::{
    authorization, canonical_query, hex, AwsCredentials, CanonicalParts, Scope,
};

/// Tokens issued by a [`TokenServer`] and still accepted by a [`BearerCheck`].
#[derive(Debug, Default)]
pub struct TokenBook {
    valid: Mutex<HashSet<String>>,
    issued: AtomicU64,
}

impl TokenBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.valid.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets every token issued so far (the receiver answers 401 to them).
    pub fn revoke_all(&self) {
        self.lock().clear();
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }
}

/// An OAuth 2.0 token endpoint (client-credentials grant) answering JSON.
#[derive(Debug)]
pub struct TokenServer {
    client_id: String,
    client_secret: String,
    expires_in: Option<u64>,
    /// Accept credentials only in the form body (refuse the Basic header with 401).
    body_only: bool,
    /// Answer 503 to everything while set.
    pub down: AtomicBool,
    /// Token requests seen, good or bad.
    pub requests: AtomicU64,
    /// The form bodies seen (for checking scopes and parameters).
    pub forms: Mutex<Vec<String>>,
    book: Arc<TokenBook>,
}

impl TokenServer {
    /// A server issuing tokens valid for `expires_in` seconds (`None`: no expiry given)
    /// to this client.
    pub fn new(client_id: &str, client_secret: &str, expires_in: Option<u64>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            expires_in,
            body_only: false,
            down: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            forms: Mutex::new(Vec::new()),
            book: Arc::new(TokenBook::default()),
        }
    }

    /// Refuse client credentials in a Basic header; take them only in the form body.
    pub fn body_only(mut self) -> Self {
        self.body_only = true;
        self
    }

    /// The tokens this server issued, for a [`BearerCheck`].
    pub fn book(&self) -> Arc<TokenBook> {
        Arc::clone(&self.book)
    }

    fn authenticated(&self, request: &ReceivedRequest, form: &[(String, String)]) -> bool {
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(auth) = request
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            if self.body_only {
                return false;
            }
            let want = format!(
                "Basic {}",
                crate::http::auth::base64(
                    format!("{}:{}", self.client_id, self.client_secret).as_bytes()
                )
            );
            return auth == want;
        }
        field("client_id") == Some(&self.client_id)
            && field("client_secret") == Some(&self.client_secret)
    }
}

/// Parses `application/x-www-form-urlencoded`.
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

impl Handler for TokenServer {
    fn handle(&self, request: &ReceivedRequest) -> Option<Reply> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.down.load(Ordering::Relaxed) {
            return Some(Reply::status(503));
        }
        self.forms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(String::from_utf8_lossy(&request.body).into_owned());
        let form = parse_form(&request.body);
        let grant = form
            .iter()
            .any(|(k, v)| k == "grant_type" && v == "client_credentials");
        if !grant {
            return Some(json(400, r#"{"error":"unsupported_grant_type"}"#.into()));
        }
        if !self.authenticated(request, &form) {
            return Some(json(401, r#"{"error":"invalid_client"}"#.into()));
        }
        let n = self.book.issued.fetch_add(1, Ordering::Relaxed) + 1;
        let token = format!("tok-{n}");
        self.book.lock().insert(token.clone());
        let expiry = self
            .expires_in
            .map_or(String::new(), |s| format!(r#","expires_in":{s}"#));
        Some(json(
            200,
            format!(r#"{{"access_token":"{token}","token_type":"bearer"{expiry}}}"#),
        ))
    }
}

fn json(status: u16, body: String) -> Reply {
    Reply::Status {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.into(),
    }
}

/// A receiver that answers 401 unless `Authorization: Bearer <token>` holds a token its
/// [`TokenBook`] still accepts.
#[derive(Debug)]
pub struct BearerCheck {
    book: Arc<TokenBook>,
    /// Requests accepted.
    pub accepted: AtomicU64,
    /// Requests answered 401.
    pub refused: AtomicU64,
}

impl BearerCheck {
    pub fn new(book: Arc<TokenBook>) -> Self {
        Self {
            book,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }
}

impl Handler for BearerCheck {
    fn handle(&self, request: &ReceivedRequest) -> Option<Reply> {
        let token = request
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if token.is_some_and(|t| self.book.lock().contains(t)) {
            self.accepted.fetch_add(1, Ordering::Relaxed);
            None
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Some(Reply::status(401))
        }
    }
}

/// A receiver that recomputes each request's SigV4 signature from what it received (method,
/// path, query, the signed headers, the body) and answers 403 when it differs.
#[derive(Debug)]
pub struct SigV4Check {
    credentials: Mutex<AwsCredentials>,
    region: String,
    service: String,
    /// The `host` value for HTTP/2 requests (whose `:authority` the sink does not record).
    pub authority: OnceLock<String>,
    /// Requests whose signature matched.
    pub accepted: AtomicU64,
    /// Requests refused, with the reason.
    pub refused: Mutex<Vec<String>>,
}

impl SigV4Check {
    pub fn new(access_key: &str, secret_key: &str, region: &str, service: &str) -> Self {
        Self {
            credentials: Mutex::new(AwsCredentials {
                access_key: access_key.into(),
                secret_key: secret_key.into(),
                session_token: None,
            }),
            region: region.into(),
            service: service.into(),
            authority: OnceLock::new(),
            accepted: AtomicU64::new(0),
            refused: Mutex::new(Vec::new()),
        }
    }

    /// From now on only `access_key`/`secret_key` (and `session_token`, which must then
    /// come as `X-Amz-Security-Token`) are accepted, as after a credentials rotation.
    pub fn rotate(&self, access_key: &str, secret_key: &str, session_token: Option<&str>) {
        *self.credentials.lock().unwrap_or_else(|p| p.into_inner()) = AwsCredentials {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            session_token: session_token.map(str::to_string),
        };
    }

    fn check(&self, r: &ReceivedRequest) -> Result<(), String> {
        let credentials = self
            .credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let header = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok());
        let auth = header("authorization").ok_or("no Authorization header")?;
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or("not AWS4-HMAC-SHA256")?;
        let field = |name: &str| {
            rest.split(", ")
                .find_map(|p| p.strip_prefix(name).and_then(|p| p.strip_prefix('=')))
                .ok_or(format!("no {name} in Authorization"))
        };
        let credential = field("Credential")?;
        let signed = field("SignedHeaders")?;
        let given = field("Signature")?;
        let mut scope_parts = credential.split('/');
        let access_key = scope_parts.next().unwrap_or("");
        let date = scope_parts.next().unwrap_or("");
        let (region, service) = (scope_parts.next(), scope_parts.next());
        if access_key != credentials.access_key
            || region != Some(self.region.as_str())
            || service != Some(self.service.as_str())
        {
            return Err(format!("unexpected credential scope {credential}"));
        }
        if header("x-amz-security-token") != credentials.session_token.as_deref() {
            return Err("X-Amz-Security-Token is not the session token".into());
        }
        let amz_date = header("x-amz-date").ok_or("no X-Amz-Date")?;
        if !amz_date.starts_with(date) {
            return Err("X-Amz-Date does not match the scope date".into());
        }
        let body_hash = hex(ring::digest::digest(&ring::digest::SHA256, &r.body).as_ref());
        if header("x-amz-content-sha256") != Some(body_hash.as_str()) {
            return Err("X-Amz-Content-Sha256 is not the body's hash".into());
        }
        let host = header("host")
            .map(str::to_string)
            .or_else(|| self.authority.get().cloned())
            .ok_or("no host")?;
        let mut values: Vec<(&str, &str)> = Vec::new();
        for name in signed.split(';') {
            let value = if name == "host" {
                host.as_str()
            } else {
                header(name).ok_or(format!("signed header {name} missing"))?
            };
            values.push((name, value));
        }
        let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
        let uri = crate::http::sigv4::canonical_uri(path);
        let query = canonical_query(query);
        let (_, want) = authorization(
            &credentials,
            &Scope {
                date,
                region: &self.region,
                service: &self.service,
            },
            amz_date,
            &mut CanonicalParts {
                method: r.method.as_str(),
                uri: &uri,
                query: &query,
                headers: &mut values,
                payload_hash: &body_hash,
            },
        );
        if want != given {
            return Err("signature mismatch".into());
        }
        Ok(())
    }
}

impl Handler for SigV4Check {
    fn handle(&self, request: &ReceivedRequest) -> Option<Reply> {
        match self.check(request) {
            Ok(()) => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(reason) => {
                self.refused
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(reason);
                Some(Reply::status(403))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parsing_table() {
        let cases: [(&str, &[(&str, &str)]); 3] = [
            ("a=1&b=x+y", &[("a", "1"), ("b", "x y")]),
            ("k=%2F%3D&e=", &[("k", "/="), ("e", "")]),
            ("", &[]),
        ];
        for (body, want) in cases {
            let got = parse_form(body.as_bytes());
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "{body}");
        }
    }
}
