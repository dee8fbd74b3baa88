//! Reading one HTTP/1.x request head (and draining its body) with hard limits, so a slow,
//! huge or malformed request costs one bounded thread and never a panic.

use std::{
    io::{self, Read},
    time::{Duration, Instant},
};

/// Limits for reading one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Request line plus headers.
    pub max_head_bytes: usize,
    /// Bodies are read and discarded (no route takes one); larger ones are refused.
    pub max_body_bytes: u64,
    /// The whole request must arrive within this time (slowloris guard); each read also
    /// has the socket's read timeout.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024,
            deadline: Duration::from_secs(10),
        }
    }
}

/// The parts of a request the routes look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: String,
    /// The target without its query string.
    pub path: String,
}

/// Why no request could be read; each maps to a status (or to closing silently).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    /// The peer closed before sending anything: nothing to answer.
    #[error("connection closed before a request arrived")]
    Closed,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("request head larger than {limit} bytes")]
    HeadTooLarge { limit: usize },
    #[error("request body of {length} bytes is larger than {limit} bytes")]
    BodyTooLarge { length: u64, limit: u64 },
    #[error("request bodies must have a Content-Length (chunked is not supported)")]
    LengthRequired,
    #[error("request not complete after {0:?}")]
    Timeout(Duration),
    #[error("reading the request: {0}")]
    Io(#[from] io::Error),
}

impl RequestError {
    /// The status to answer with, or `None` to just close the connection.
    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Closed | RequestError::Io(_) => None,
            RequestError::Malformed(_) => Some(400),
            RequestError::HeadTooLarge { .. } => Some(431),
            RequestError::BodyTooLarge { .. } => Some(413),
            RequestError::LengthRequired => Some(411),
            RequestError::Timeout(_) => Some(408),
        }
    }
}

const MAX_HEADERS: usize = 64;

/// Reads one request from `r`: the head, then `Content-Length` body bytes, discarded.
pub(crate) fn read_request(r: &mut impl Read, limits: &Limits) -> Result<Request, RequestError> {
    let started = Instant::now();
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let (request, head_len, content_length) = loop {
        let n = read_some(r, &mut chunk, started, limits.deadline)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                RequestError::Closed
            } else {
                RequestError::Malformed(
                    "connection closed in the middle of the request head".into(),
                )
            });
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) if head_len <= limits.max_head_bytes => {
                let content_length = body_length(req.headers)?;
                let request = Request {
                    method: req.method.unwrap_or_default().to_owned(),
                    path: strip_query(req.path.unwrap_or_default()).to_owned(),
                };
                break (request, head_len, content_length);
            }
            Ok(_) if buf.len() > limits.max_head_bytes => {
                return Err(RequestError::HeadTooLarge {
                    limit: limits.max_head_bytes,
                })
            }
            Ok(httparse::Status::Complete(_)) | Ok(httparse::Status::Partial) => continue,
            Err(httparse::Error::TooManyHeaders) => {
                return Err(RequestError::HeadTooLarge {
                    limit: limits.max_head_bytes,
                })
            }
            Err(e) => return Err(RequestError::Malformed(e.to_string())),
        }
    };
    if content_length > limits.max_body_bytes {
        return Err(RequestError::BodyTooLarge {
            length: content_length,
            limit: limits.max_body_bytes,
        });
    }
    // Drain the body so closing the socket does not reset the connection before the client
    // has read our answer (Linux sends RST when unread data is discarded).
    let mut remaining = content_length.saturating_sub((buf.len() - head_len) as u64);
    while remaining > 0 {
        let want = remaining.min(chunk.len() as u64) as usize;
        let n = read_some(r, &mut chunk[..want], started, limits.deadline)?;
        if n == 0 {
            return Err(RequestError::Malformed(
                "connection closed in the middle of the body".into(),
            ));
        }
        remaining -= n as u64;
    }
    Ok(request)
}

/// One read, mapping socket timeouts and the overall deadline to [`RequestError::Timeout`].
fn read_some(
    r: &mut impl Read,
    chunk: &mut [u8],
    started: Instant,
    deadline: Duration,
) -> Result<usize, RequestError> {
    if started.elapsed() > deadline {
        return Err(RequestError::Timeout(deadline));
    }
    loop {
        match r.read(chunk) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(RequestError::Timeout(deadline))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The body length from the headers: 0 without a body, an error for chunked or bad values.
fn body_length(headers: &[httparse::Header<'_>]) -> Result<u64, RequestError> {
    let mut length = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(RequestError::LengthRequired);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| RequestError::Malformed("invalid Content-Length".into()))?;
            if length.is_some_and(|l| l != v) {
                return Err(RequestError::Malformed(
                    "conflicting Content-Length headers".into(),
                ));
            }
            length = Some(v);
        }
    }
    Ok(length.unwrap_or(0))
}

fn strip_query(target: &str) -> &str {
    target.split_once('?').map_or(target, |(p, _)| p)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn read(raw: &[u8]) -> Result<Request, RequestError> {
        read_request(&mut Cursor::new(raw.to_vec()), &Limits::default())
    }

    #[test]
    fn parses_method_and_path_without_query() {
        let r = read(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").map_err(|e| e.to_string());
        assert_eq!(
            r,
            Ok(Request {
                method: "GET".into(),
                path: "/metrics".into()
            })
        );
    }

    #[test]
    fn drains_a_small_body() {
        let mut c =
            Cursor::new(b"POST /-/reload HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloEXTRA".to_vec());
        let r = read_request(&mut c, &Limits::default()).map_err(|e| e.to_string());
        assert_eq!(r.map(|r| r.path), Ok("/-/reload".to_owned()));
    }

    #[test]
    fn errors_map_to_statuses() {
        let big_head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(10_000));
        let many_headers = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(100));
        let table: Vec<(Vec<u8>, Option<u16>)> = vec![
            (b"".to_vec(), None),
            (b"GET / HTTP/1.1\r\nHost".to_vec(), Some(400)),
            (b"\x00\x01garbage\r\n\r\n".to_vec(), Some(400)),
            (b"GET / HTTP/9.9\r\n\r\n".to_vec(), Some(400)),
            (big_head.into_bytes(), Some(431)),
            (many_headers.into_bytes(), Some(431)),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n".to_vec(),
                Some(413),
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n".to_vec(),
                Some(400),
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
                Some(400),
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                Some(411),
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort".to_vec(),
                Some(400),
            ),
        ];
        for (raw, want) in table {
            let got = read(&raw);
            let status = got.as_ref().err().and_then(RequestError::status);
            assert!(
                got.is_err(),
                "{:?} should fail",
                String::from_utf8_lossy(&raw)
            );
            assert_eq!(status, want, "{:?}: {got:?}", String::from_utf8_lossy(&raw));
        }
    }
}
