//! HTTP/1.1 side of the sink: keep-alive, Content-Length or chunked request bodies.

use std::io::{self, IoSlice};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{set_linger_zero, ConnInfo, Ctx, Reply, RequestHead};
use crate::http::io::{read_some, write_all};

const MAX_HEAD: usize = 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// What to do after a reply.
enum Next {
    KeepAlive,
    Close,
}

/// Serves requests on one connection until the client closes it or a reply ends it.
pub(super) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, conn: ConnInfo, ctx: &Ctx) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut decoder = snap::raw::Decoder::new();
    loop {
        let (head, body) = match read_request(&mut io, &mut buf).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(conn = conn.id, %error, "Sink got a bad HTTP/1.1 request.");
                let _ = write_all(
                    &mut io,
                    &mut [IoSlice::new(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )],
                )
                .await;
                return;
            }
        };
        let close_requested = head
            .headers
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let request = ctx.received(&conn, head, body, &mut decoder);
        let reply = ctx.shared.on_request(request);
        match execute(&mut io, reply, &conn).await {
            Ok(Next::KeepAlive) if !close_requested => {}
            Ok(_) => return,
            Err(error) => {
                tracing::debug!(conn = conn.id, %error, "Sink write failed.");
                return;
            }
        }
    }
}

/// Reads one request; `None` when the client closed the connection between requests.
async fn read_request<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
) -> io::Result<Option<(RequestHead, Bytes)>> {
    let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
    let (head, head_len, length, chunked) = loop {
        let mut storage = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut storage);
        match req.parse(buf).map_err(|e| bad(e.to_string()))? {
            httparse::Status::Complete(len) => {
                let mut headers = HeaderMap::with_capacity(req.headers.len());
                for h in req.headers.iter() {
                    let name = HeaderName::from_bytes(h.name.as_bytes())
                        .map_err(|e| bad(e.to_string()))?;
                    let value = HeaderValue::from_bytes(h.value).map_err(|e| bad(e.to_string()))?;
                    headers.append(name, value);
                }
                let length = match headers.get(http::header::CONTENT_LENGTH) {
                    Some(v) => v
                        .to_str()
                        .ok()
                        .and_then(|s| s.trim().parse::<usize>().ok())
                        .ok_or_else(|| bad("invalid Content-Length".into()))?,
                    None => 0,
                };
                let chunked = headers
                    .get(http::header::TRANSFER_ENCODING)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
                let head = RequestHead {
                    method: Method::from_bytes(req.method.unwrap_or("GET").as_bytes())
                        .map_err(|e| bad(e.to_string()))?,
                    path: req.path.unwrap_or("/").to_string(),
                    version: if req.version == Some(0) {
                        Version::HTTP_10
                    } else {
                        Version::HTTP_11
                    },
                    headers,
                };
                break (head, len, length, chunked);
            }
            httparse::Status::Partial if buf.len() > MAX_HEAD => {
                return Err(bad("request head too large".into()))
            }
            httparse::Status::Partial => {
                if read_some(io, buf, READ_CHUNK).await? == 0 {
                    return if buf.is_empty() {
                        Ok(None)
                    } else {
                        Err(io::ErrorKind::UnexpectedEof.into())
                    };
                }
            }
        }
    };
    buf.advance(head_len);
    let body = if chunked {
        read_chunked(io, buf).await?
    } else {
        while buf.len() < length {
            let want = (length - buf.len()).max(READ_CHUNK);
            if read_some(io, buf, want).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        buf.split_to(length).freeze()
    };
    Ok(Some((head, body)))
}

async fn read_chunked<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> io::Result<Bytes> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "invalid chunked body");
    let mut body = BytesMut::new();
    loop {
        let (consumed, size) = loop {
            match httparse::parse_chunk_size(buf).map_err(|_| bad())? {
                httparse::Status::Complete(found) => break found,
                httparse::Status::Partial => {
                    if read_some(io, buf, READ_CHUNK).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        };
        buf.advance(consumed);
        let size = usize::try_from(size).map_err(|_| bad())?;
        // Chunk data plus its CRLF (for the last chunk: the CRLF ending the empty trailers).
        while buf.len() < size + 2 {
            if read_some(io, buf, READ_CHUNK).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        body.extend_from_slice(&buf[..size]);
        if &buf[size..size + 2] != b"\r\n" {
            return Err(bad());
        }
        buf.advance(size + 2);
        if size == 0 {
            return Ok(body.freeze());
        }
    }
}

async fn execute<S: AsyncWrite + Unpin>(
    io: &mut S,
    reply: Reply,
    conn: &ConnInfo,
) -> io::Result<Next> {
    let mut reply = reply;
    let mut close = false;
    loop {
        match reply {
            Reply::Delay { delay, then } => {
                monoio::time::sleep(delay).await;
                reply = *then;
            }
            Reply::GoAwayAfter(then) => {
                close = true;
                reply = *then;
            }
            Reply::GoAway => return Ok(Next::Close),
            Reply::Hang => std::future::pending::<()>().await,
            Reply::Raw(bytes) => {
                write_all(io, &mut [IoSlice::new(&bytes)]).await?;
                return Ok(Next::Close);
            }
            Reply::Reset => {
                let partial = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial";
                write_all(io, &mut [IoSlice::new(partial)]).await?;
                set_linger_zero(conn.fd);
                return Ok(Next::Close);
            }
            Reply::Status {
                status,
                headers,
                body,
            } => {
                let reason = StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Unknown");
                let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
                for (name, value) in &headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                // RFC 9110 §8.6: no Content-Length (and no body) on 204 / 304.
                let no_body = status == 204 || status == 304;
                if !no_body {
                    head.push_str(&format!("Content-Length: {}\r\n", body.len()));
                }
                if close {
                    head.push_str("Connection: close\r\n");
                }
                head.push_str("\r\n");
                let body: &[u8] = if no_body { &[] } else { &body };
                write_all(io, &mut [IoSlice::new(head.as_bytes()), IoSlice::new(body)]).await?;
                return Ok(if close { Next::Close } else { Next::KeepAlive });
            }
        }
    }
}
