//! A small HTTP/1.1 client connection: one request at a time, keep-alive reuse.
//!
//! Writes the pre-rendered head and the body with one `writev`, then parses the response
//! (status line and headers with `httparse`; body by `Content-Length`, `chunked`, or until
//! EOF). Only the first [`MAX_ERROR_BODY`] body bytes are kept; the rest is read and dropped
//! so the connection stays usable, up to `max_drain` bytes (beyond that the connection is
//! closed instead of drained).
//!
//! A connection is reused only when the exchange ended cleanly: HTTP/1.1, no
//! `Connection: close`, a length-delimited body read to the end, no stray bytes after it.

use std::{
    cell::Cell,
    io::{self, IoSlice},
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    error::Stage,
    io::{idle_connection_is_dead, read_some, write_all},
    response::{Response, MAX_ERROR_BODY},
};

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most headers accepted in a response head.
const MAX_HEADERS: usize = 100;
/// How long to look for an early response (e.g. 413) after writing the request failed.
const EARLY_RESPONSE_GRACE: Duration = Duration::from_millis(200);
/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;

/// Why a round trip failed.
#[derive(Debug)]
pub(crate) enum H1Error {
    /// I/O failed or the peer closed. `response_started`: some response bytes had arrived.
    Io {
        stage: Stage,
        source: io::Error,
        response_started: bool,
    },
    /// The peer did not speak HTTP/1.x.
    Protocol(String),
}

/// A finished exchange.
#[derive(Debug)]
pub(crate) struct H1Outcome {
    pub(crate) response: Response,
    /// Whether the connection may carry another request.
    pub(crate) reusable: bool,
}

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilEof,
}

/// One HTTP/1.1 connection.
#[derive(Debug)]
pub(crate) struct H1Conn<S> {
    stream: S,
    read_buf: BytesMut,
    /// The request head to send next; rendered by the pool before [`H1Conn::round_trip`].
    pub(crate) head: Vec<u8>,
    /// Pool-wide connection number, for logs.
    pub(crate) id: u64,
    /// Requests completed on this connection.
    pub(crate) completed: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> H1Conn<S> {
    pub(crate) fn new(stream: S, id: u64) -> Self {
        Self {
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            head: Vec::with_capacity(512),
            id,
            completed: 0,
        }
    }

    /// True when an idle connection was closed by the peer (or got unexpected bytes).
    pub(crate) fn is_dead_while_idle(&mut self) -> bool {
        !self.read_buf.is_empty() || idle_connection_is_dead(&mut self.stream)
    }

    /// Sends `self.head` + `body` and reads the response.
    pub(crate) async fn round_trip(
        &mut self,
        body: &Bytes,
        stage: &Cell<Stage>,
        max_drain: u64,
    ) -> Result<H1Outcome, H1Error> {
        stage.set(Stage::SendingRequest);
        let mut slices = [IoSlice::new(&self.head), IoSlice::new(body)];
        if let Err(source) = write_all(&mut self.stream, &mut slices).await {
            // The receiver may have answered early (413, 401...) and closed; prefer its answer.
            let early =
                monoio::time::timeout(EARLY_RESPONSE_GRACE, self.read_response(stage, max_drain))
                    .await;
            if let Ok(Ok(mut outcome)) = early {
                outcome.reusable = false;
                return Ok(outcome);
            }
            return Err(H1Error::Io {
                stage: Stage::SendingRequest,
                source,
                response_started: false,
            });
        }
        let outcome = self.read_response(stage, max_drain).await?;
        self.completed += 1;
        Ok(outcome)
    }

    async fn read_response(
        &mut self,
        stage: &Cell<Stage>,
        max_drain: u64,
    ) -> Result<H1Outcome, H1Error> {
        stage.set(Stage::AwaitingResponse);
        let mut started = !self.read_buf.is_empty();
        let head = loop {
            match parse_head(&self.read_buf)? {
                Some(head) => {
                    self.read_buf.advance(head.len);
                    // Interim responses (100 Continue, 103 Early Hints) precede the real one.
                    if head.status.is_informational() {
                        if head.status == StatusCode::SWITCHING_PROTOCOLS {
                            return Err(H1Error::Protocol(
                                "unexpected 101 Switching Protocols".into(),
                            ));
                        }
                        continue;
                    }
                    break head;
                }
                None if self.read_buf.len() > MAX_HEAD => {
                    return Err(H1Error::Protocol(format!(
                        "response head larger than {MAX_HEAD} bytes"
                    )))
                }
                None => {
                    self.fill(Stage::AwaitingResponse, started).await?;
                    started = true;
                }
            }
        };

        stage.set(Stage::ReadingBody);
        let framing = framing(head.status, &head.headers)?;
        let mut prefix = Vec::new();
        let complete = match framing {
            Framing::Empty => true,
            Framing::Length(n) if n <= max_drain => {
                self.consume(n, &mut prefix).await?;
                true
            }
            Framing::Length(n) => {
                self.consume(n.min(MAX_ERROR_BODY as u64), &mut prefix)
                    .await?;
                false
            }
            Framing::Chunked => self.read_chunked(&mut prefix, max_drain).await?,
            Framing::UntilEof => {
                self.read_to_eof(&mut prefix, max_drain).await?;
                false
            }
        };
        let reusable = complete
            && head.version_1_1
            && !has_token(&head.headers, http::header::CONNECTION, "close")
            && self.read_buf.is_empty();
        Ok(H1Outcome {
            response: Response {
                status: head.status,
                headers: head.headers,
                body_prefix: Bytes::from(prefix),
            },
            reusable,
        })
    }

    /// Reads more bytes; end of stream is an error here.
    async fn fill(&mut self, stage: Stage, started: bool) -> Result<(), H1Error> {
        let io_err = |source| H1Error::Io {
            stage,
            source,
            response_started: started,
        };
        let n = read_some(&mut self.stream, &mut self.read_buf, READ_CHUNK)
            .await
            .map_err(io_err)?;
        if n == 0 {
            return Err(io_err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                if started {
                    "connection closed in the middle of the response"
                } else {
                    "connection closed before any response"
                },
            )));
        }
        Ok(())
    }

    /// Consumes exactly `n` body bytes, keeping the first ones in `prefix`.
    async fn consume(&mut self, mut n: u64, prefix: &mut Vec<u8>) -> Result<(), H1Error> {
        while n > 0 {
            if self.read_buf.is_empty() {
                self.fill(Stage::ReadingBody, true).await?;
            }
            let take = (self.read_buf.len() as u64).min(n) as usize;
            keep_prefix(prefix, &self.read_buf[..take]);
            self.read_buf.advance(take);
            n -= take as u64;
        }
        Ok(())
    }

    /// Reads a chunked body; false when it was larger than `max_drain` and left unread.
    async fn read_chunked(
        &mut self,
        prefix: &mut Vec<u8>,
        max_drain: u64,
    ) -> Result<bool, H1Error> {
        let mut total: u64 = 0;
        loop {
            let (consumed, size) = loop {
                match httparse::parse_chunk_size(&self.read_buf) {
                    Ok(httparse::Status::Complete(found)) => break found,
                    Ok(httparse::Status::Partial) if self.read_buf.len() < 1024 => {
                        self.fill(Stage::ReadingBody, true).await?
                    }
                    _ => return Err(H1Error::Protocol("invalid chunk size line".into())),
                }
            };
            self.read_buf.advance(consumed);
            if size == 0 {
                return self.skip_trailers().await.map(|()| true);
            }
            total = total.saturating_add(size);
            if total > max_drain {
                return Ok(false);
            }
            self.consume(size, prefix).await?;
            while self.read_buf.len() < 2 {
                self.fill(Stage::ReadingBody, true).await?;
            }
            if &self.read_buf[..2] != b"\r\n" {
                return Err(H1Error::Protocol("chunk not followed by CRLF".into()));
            }
            self.read_buf.advance(2);
        }
    }

    /// Skips trailer fields up to the blank line ending a chunked body.
    async fn skip_trailers(&mut self) -> Result<(), H1Error> {
        loop {
            match self.read_buf.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.read_buf.advance(2);
                    return Ok(());
                }
                Some(end) => self.read_buf.advance(end + 2),
                None if self.read_buf.len() > MAX_HEAD => {
                    return Err(H1Error::Protocol("trailers too large".into()))
                }
                None => self.fill(Stage::ReadingBody, true).await?,
            }
        }
    }

    /// Reads until the peer closes, keeping the prefix, at most `max_drain` bytes.
    async fn read_to_eof(&mut self, prefix: &mut Vec<u8>, max_drain: u64) -> Result<(), H1Error> {
        let mut total: u64 = 0;
        loop {
            keep_prefix(prefix, &self.read_buf);
            total += self.read_buf.len() as u64;
            self.read_buf.clear();
            if total > max_drain {
                return Ok(());
            }
            let n = read_some(&mut self.stream, &mut self.read_buf, READ_CHUNK)
                .await
                .map_err(|source| H1Error::Io {
                    stage: Stage::ReadingBody,
                    source,
                    response_started: true,
                })?;
            if n == 0 {
                return Ok(());
            }
        }
    }
}

fn keep_prefix(prefix: &mut Vec<u8>, bytes: &[u8]) {
    let room = MAX_ERROR_BODY.saturating_sub(prefix.len());
    prefix.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// A parsed response head.
#[derive(Debug)]
struct Head {
    len: usize,
    status: StatusCode,
    version_1_1: bool,
    headers: HeaderMap,
}

/// Parses a response head from the start of `buf`; `None` when more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, H1Error> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut storage);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            let start = String::from_utf8_lossy(&buf[..buf.len().min(32)]).into_owned();
            return Err(H1Error::Protocol(format!(
                "not an HTTP/1.x response ({e}); it starts with {start:?}"
            )));
        }
    };
    let code = parsed.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .map_err(|_| H1Error::Protocol(format!("invalid status code {code}")))?;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        // Headers HTTP cannot represent are skipped, not fatal: they only feed logging and
        // the optional Written / Retry-After parsing.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(name, value);
        }
    }
    Ok(Some(Head {
        len,
        status,
        version_1_1: parsed.version == Some(1),
        headers,
    }))
}

fn framing(status: StatusCode, headers: &HeaderMap) -> Result<Framing, H1Error> {
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok(Framing::Empty);
    }
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        // RFC 9112 §6.3: chunked must be the final coding, else read until close.
        let last = headers
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|c| !c.is_empty());
        return Ok(match last {
            Some(c) if c.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::UntilEof,
        });
    }
    let mut length: Option<u64> = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in value.to_str().unwrap_or("x").split(',') {
            let n: u64 = part
                .trim()
                .parse()
                .map_err(|_| H1Error::Protocol(format!("invalid Content-Length {value:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(H1Error::Protocol(
                    "conflicting Content-Length values".into(),
                ));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::UntilEof,
    })
}

fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        pin::Pin,
        task::{Context, Poll},
    };

    use tokio::io::ReadBuf;

    use super::*;

    /// A scripted stream: reads return the given chunks in order, then EOF; writes are kept.
    #[derive(Default)]
    struct Mock {
        reads: VecDeque<Vec<u8>>,
        written: Vec<u8>,
        fail_writes: bool,
    }

    impl AsyncRead for Mock {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut chunk) = self.reads.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.reads.push_front(chunk.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Mock {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.fail_writes {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            self.written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn run(reads: &[&[u8]], fail_writes: bool) -> (Result<H1Outcome, H1Error>, Vec<u8>) {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async {
            let mock = Mock {
                reads: reads.iter().map(|r| r.to_vec()).collect(),
                written: Vec::new(),
                fail_writes,
            };
            let mut conn = H1Conn::new(mock, 1);
            conn.head = b"POST / HTTP/1.1\r\n\r\n".to_vec();
            let stage = Cell::new(Stage::AcquiringConnection);
            let r = conn
                .round_trip(&Bytes::from_static(b"BODY"), &stage, 4096)
                .await;
            (r, conn.stream.written)
        })
    }

    #[test]
    fn response_table() {
        // (label, reads, status, body prefix, reusable)
        let big = format!(
            "HTTP/1.1 500 E\r\nContent-Length: 5000\r\n\r\n{}",
            "x".repeat(5000)
        );
        let chunked_big = format!(
            "HTTP/1.1 400 E\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n{}\r\n0\r\n\r\n",
            "y".repeat(5000)
        );
        #[rustfmt::skip]
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Vec<&[u8]>, u16, &[u8], bool)> = vec![
            ("204", vec![b"HTTP/1.1 204 No Content\r\n\r\n"], 204, b"", true),
            ("split head", vec![b"HTTP/1.1 20", b"0 OK\r\nContent-Le", b"ngth: 2\r\n\r\nok"], 200, b"ok", true),
            ("connection close", vec![b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"], 200, b"", false),
            ("http/1.0", vec![b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"], 200, b"", false),
            ("100 continue first", vec![b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"], 204, b"", true),
            ("chunked", vec![b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n"], 400, b"hello world", true),
            ("chunked split", vec![b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n5\r", b"\nhel", b"lo\r", b"\n0\r\n", b"\r\n"], 400, b"hello", true),
            ("until eof", vec![b"HTTP/1.1 503 Unavailable\r\n\r\nbusy", b" now"], 503, b"busy now", false),
            ("stray bytes after", vec![b"HTTP/1.1 204 No Content\r\n\r\nJUNK"], 204, b"", false),
        ];
        for (label, reads, status, body, reusable) in cases {
            let (r, written) = run(&reads, false);
            let out = r.unwrap_or_else(|e| panic!("{label}: {e:?}"));
            assert_eq!(out.response.status.as_u16(), status, "{label}");
            assert_eq!(&out.response.body_prefix[..], body, "{label}");
            assert_eq!(out.reusable, reusable, "{label}");
            assert_eq!(written, b"POST / HTTP/1.1\r\n\r\nBODY", "{label}");
        }
        let (r, _) = run(&[big.as_bytes()], false);
        let out = r.unwrap();
        assert_eq!(out.response.body_prefix.len(), MAX_ERROR_BODY);
        assert!(
            !out.reusable,
            "body above max_drain: not drained, not reusable"
        );
        let (r, _) = run(&[chunked_big.as_bytes()], false);
        assert!(!r.unwrap().reusable);
    }

    #[test]
    fn error_table() {
        #[rustfmt::skip]
        let cases: Vec<(&str, Vec<&[u8]>, bool, &str)> = vec![
            ("eof before response", vec![], false, "before any response"),
            ("eof mid head", vec![b"HTTP/1.1 200 OK\r\n"], false, "middle of the response"),
            ("eof mid body", vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], false, "middle of the response"),
            ("garbage", vec![b"\x00\x01garbage\r\n\r\n"], false, "not an HTTP/1.x response"),
            ("ssh banner", vec![b"SSH-2.0-OpenSSH_9.2\r\n"], false, "not an HTTP/1.x response"),
            ("bad length", vec![b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"], false, "invalid Content-Length"),
            ("conflicting length", vec![b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"], false, "conflicting"),
            ("bad chunk", vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], false, "chunk size"),
            ("101", vec![b"HTTP/1.1 101 Switching Protocols\r\n\r\n"], false, "101"),
            ("write fails, no early response", vec![], true, "broken pipe"),
        ];
        for (label, reads, fail_writes, want) in cases {
            let (r, _) = run(&reads, fail_writes);
            let msg = match r {
                Ok(o) => panic!("{label}: unexpected success {:?}", o.response.status),
                Err(H1Error::Io { source, .. }) => source.to_string(),
                Err(H1Error::Protocol(p)) => p,
            };
            assert!(
                msg.to_lowercase().contains(&want.to_lowercase()),
                "{label}: {msg:?} lacks {want:?}"
            );
        }
    }

    proptest::proptest! {
        /// However the bytes are split into reads and however the body is chunked, the
        /// parsed response is the same.
        #[test]
        fn framing_round_trip(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
            chunk_sizes in proptest::collection::vec(1usize..700, 1..8),
            read_sizes in proptest::collection::vec(1usize..500, 1..8),
            chunked in proptest::bool::ANY,
        ) {
            let mut wire = b"HTTP/1.1 400 Bad Request\r\n".to_vec();
            if chunked {
                wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = &body[..];
                let mut sizes = chunk_sizes.iter().cycle();
                while !rest.is_empty() {
                    let n = (*sizes.next().unwrap()).min(rest.len());
                    wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    wire.extend_from_slice(&rest[..n]);
                    wire.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                wire.extend_from_slice(b"0\r\n\r\n");
            } else {
                wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                wire.extend_from_slice(&body);
            }
            let mut reads: Vec<&[u8]> = Vec::new();
            let mut rest = &wire[..];
            let mut sizes = read_sizes.iter().cycle();
            while !rest.is_empty() {
                let n = (*sizes.next().unwrap()).min(rest.len());
                reads.push(&rest[..n]);
                rest = &rest[n..];
            }
            let (r, _) = run(&reads, false);
            let out = r.unwrap();
            proptest::prop_assert_eq!(out.response.status.as_u16(), 400);
            proptest::prop_assert_eq!(&out.response.body_prefix[..], &body[..body.len().min(MAX_ERROR_BODY)]);
            proptest::prop_assert!(out.reusable);
        }
    }

    #[test]
    fn early_response_after_failed_write_is_returned() {
        let (r, _) = run(
            &[b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\n\r\nbig"],
            true,
        );
        let out = r.unwrap();
        assert_eq!(out.response.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!out.reusable);
    }

    #[test]
    fn framing_table() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            m
        };
        let cases = [
            (204, h(&[("content-length", "5")]), Framing::Empty),
            (200, h(&[("content-length", "0")]), Framing::Empty),
            (200, h(&[("content-length", "7, 7")]), Framing::Length(7)),
            (
                200,
                h(&[("transfer-encoding", "gzip, chunked")]),
                Framing::Chunked,
            ),
            (
                200,
                h(&[("transfer-encoding", "chunked, gzip")]),
                Framing::UntilEof,
            ),
            (
                200,
                h(&[("transfer-encoding", "chunked"), ("content-length", "3")]),
                Framing::Chunked,
            ),
            (200, h(&[]), Framing::UntilEof),
        ];
        for (status, headers, want) in cases {
            let got = framing(StatusCode::from_u16(status).unwrap(), &headers).unwrap();
            assert_eq!(got, want, "{headers:?}");
        }
    }
}
