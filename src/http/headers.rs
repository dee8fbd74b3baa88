//! Request headers (FORMATS.md §3.3, §4.4), rendered once per endpoint.
//!
//! The static part of every request (method line, Host, Content-Encoding, Content-Type,
//! version, User-Agent, user headers) is rendered at startup, per wire format: as bytes for
//! HTTP/1.1 and as a `HeaderMap` for HTTP/2. Per request only Authorization (a file may have
//! changed, a token expired, a SigV4 signature covers the body), SigV4's X-Amz-* headers,
//! Retry-Attempt and Content-Length are added.

use std::collections::BTreeMap;

use http::{header, HeaderMap, HeaderName, HeaderValue};

/// Header names ringwrite sets itself or that must not be overridden by `headers:`
/// (Prometheus `config.reservedHeaders`, FORMATS.md §3.3). Lower case.
pub const RESERVED_HEADERS: &[&str] = &[
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

/// Header name constants (lower case; HTTP/1.1 renders its own canonical spellings).
pub(crate) mod names {
    pub(crate) const REMOTE_WRITE_VERSION: &str = "x-prometheus-remote-write-version";
    pub(crate) const RETRY_ATTEMPT: &str = "retry-attempt";
    pub(crate) const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";
    pub(crate) const HISTOGRAMS_WRITTEN: &str = "x-prometheus-remote-write-histograms-written";
    pub(crate) const EXEMPLARS_WRITTEN: &str = "x-prometheus-remote-write-exemplars-written";
}

/// `User-Agent` value: `ringwrite/<version>`.
pub fn user_agent() -> &'static str {
    concat!("ringwrite/", env!("CARGO_PKG_VERSION"))
}

/// Which protobuf message the body holds; chooses Content-Type and version headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// `prometheus.WriteRequest` (remote write 1.0).
    Rw1,
    /// `io.prometheus.write.v2.Request` (remote write 2.0).
    Rw2,
}

impl WireFormat {
    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Rw1 => "application/x-protobuf",
            Self::Rw2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The `X-Prometheus-Remote-Write-Version` header value.
    pub fn version(self) -> &'static str {
        match self {
            Self::Rw1 => "0.1.0",
            Self::Rw2 => "2.0.0",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Rw1 => 0,
            Self::Rw2 => 1,
        }
    }
}

/// Pre-rendered request headers for one endpoint, for both wire formats.
#[derive(Debug)]
pub(crate) struct RequestTemplate {
    /// HTTP/1.1: `POST <path> HTTP/1.1\r\nHost: ...\r\n...` without the final blank line.
    h1_prefix: [Vec<u8>; 2],
    /// HTTP/2: static headers (pseudo-headers come from the URI).
    h2_headers: [HeaderMap; 2],
}

impl RequestTemplate {
    /// Renders the templates. `user_headers` must already be validated.
    pub(crate) fn new(
        path_and_query: &str,
        authority: &str,
        user_headers: &BTreeMap<String, String>,
    ) -> Self {
        let render_h1 = |format: WireFormat| {
            let mut head = Vec::with_capacity(256);
            head.extend_from_slice(b"POST ");
            head.extend_from_slice(path_and_query.as_bytes());
            head.extend_from_slice(b" HTTP/1.1\r\nHost: ");
            head.extend_from_slice(authority.as_bytes());
            for (name, value) in [
                ("User-Agent", user_agent()),
                ("Content-Encoding", "snappy"),
                ("Content-Type", format.content_type()),
                ("X-Prometheus-Remote-Write-Version", format.version()),
            ] {
                push_h1_header(&mut head, name.as_bytes(), value.as_bytes());
            }
            for (name, value) in user_headers {
                push_h1_header(&mut head, name.as_bytes(), value.as_bytes());
            }
            head
        };
        let render_h2 = |format: WireFormat| {
            let mut map = HeaderMap::with_capacity(8 + user_headers.len());
            map.insert(header::USER_AGENT, HeaderValue::from_static(user_agent()));
            map.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
            map.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            map.insert(
                HeaderName::from_static(names::REMOTE_WRITE_VERSION),
                HeaderValue::from_static(format.version()),
            );
            for (name, value) in user_headers {
                // INVARIANT: EndpointConfig::validate checked both parse.
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    map.append(name, value);
                }
            }
            map
        };
        Self {
            h1_prefix: [render_h1(WireFormat::Rw1), render_h1(WireFormat::Rw2)],
            h2_headers: [render_h2(WireFormat::Rw1), render_h2(WireFormat::Rw2)],
        }
    }

    /// Writes a complete HTTP/1.1 request head into `out` (cleared first).
    pub(crate) fn render_h1(
        &self,
        out: &mut Vec<u8>,
        format: WireFormat,
        authorization: Option<&HeaderValue>,
        extra: &[(HeaderName, HeaderValue)],
        attempt: u32,
        content_length: usize,
    ) {
        out.clear();
        out.extend_from_slice(&self.h1_prefix[format.index()]);
        if let Some(auth) = authorization {
            push_h1_header(out, b"Authorization", auth.as_bytes());
        }
        for (name, value) in extra {
            push_h1_header(out, name.as_str().as_bytes(), value.as_bytes());
        }
        if attempt > 0 {
            push_h1_header(out, b"Retry-Attempt", attempt.to_string().as_bytes());
        }
        push_h1_header(
            out,
            b"Content-Length",
            content_length.to_string().as_bytes(),
        );
        out.extend_from_slice(b"\r\n\r\n");
    }

    /// Builds the HTTP/2 header map for one request.
    pub(crate) fn h2_headers(
        &self,
        format: WireFormat,
        authorization: Option<&HeaderValue>,
        extra: &[(HeaderName, HeaderValue)],
        attempt: u32,
        content_length: usize,
    ) -> HeaderMap {
        let mut map = self.h2_headers[format.index()].clone();
        if let Some(auth) = authorization {
            map.insert(header::AUTHORIZATION, auth.clone());
        }
        for (name, value) in extra {
            map.insert(name.clone(), value.clone());
        }
        if attempt > 0 {
            map.insert(
                HeaderName::from_static(names::RETRY_ATTEMPT),
                HeaderValue::from(attempt),
            );
        }
        map.insert(header::CONTENT_LENGTH, HeaderValue::from(content_length));
        map
    }
}

/// Appends `\r\nName: value` (the line break *precedes* the header so the prefix never ends
/// with one and the final `\r\n\r\n` closes the head).
fn push_h1_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> RequestTemplate {
        let mut user = BTreeMap::new();
        user.insert("X-Scope-OrgID".to_string(), "tenant-1".to_string());
        RequestTemplate::new("/api/v1/write?x=1", "recv:9090", &user)
    }

    #[test]
    fn h1_head_table() {
        let t = template();
        let auth = HeaderValue::from_static("Bearer tok");
        let ua = user_agent();
        let cases: Vec<(WireFormat, Option<&HeaderValue>, u32, usize, String)> = vec![
            (
                WireFormat::Rw1,
                None,
                0,
                10,
                format!(
                    "POST /api/v1/write?x=1 HTTP/1.1\r\nHost: recv:9090\r\nUser-Agent: {ua}\r\n\
                     Content-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\n\
                     X-Prometheus-Remote-Write-Version: 0.1.0\r\nX-Scope-OrgID: tenant-1\r\n\
                     Content-Length: 10\r\n\r\n"
                ),
            ),
            (
                WireFormat::Rw2,
                Some(&auth),
                3,
                123456,
                format!(
                    "POST /api/v1/write?x=1 HTTP/1.1\r\nHost: recv:9090\r\nUser-Agent: {ua}\r\n\
                     Content-Encoding: snappy\r\n\
                     Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request\r\n\
                     X-Prometheus-Remote-Write-Version: 2.0.0\r\nX-Scope-OrgID: tenant-1\r\n\
                     Authorization: Bearer tok\r\nRetry-Attempt: 3\r\n\
                     Content-Length: 123456\r\n\r\n"
                ),
            ),
        ];
        let mut out = Vec::new();
        for (format, auth, attempt, len, want) in cases {
            t.render_h1(&mut out, format, auth, &[], attempt, len);
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
    }

    #[test]
    fn h2_headers_table() {
        let t = template();
        let m = t.h2_headers(WireFormat::Rw2, None, &[], 0, 5);
        assert_eq!(
            m.get("content-type").unwrap(),
            WireFormat::Rw2.content_type()
        );
        assert_eq!(m.get("x-prometheus-remote-write-version").unwrap(), "2.0.0");
        assert_eq!(m.get("content-encoding").unwrap(), "snappy");
        assert_eq!(m.get("x-scope-orgid").unwrap(), "tenant-1");
        assert_eq!(m.get("content-length").unwrap(), "5");
        assert!(m.get("retry-attempt").is_none());
        assert!(m.get("authorization").is_none());
        let m = t.h2_headers(
            WireFormat::Rw1,
            Some(&HeaderValue::from_static("B x")),
            &[],
            2,
            5,
        );
        assert_eq!(m.get("retry-attempt").unwrap(), "2");
        assert_eq!(m.get("authorization").unwrap(), "B x");
        assert_eq!(m.get("x-prometheus-remote-write-version").unwrap(), "0.1.0");
        assert_eq!(m.len(), 8);
    }

    #[test]
    fn user_agent_has_version() {
        assert_eq!(
            user_agent(),
            format!("ringwrite/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
