//! A minimal blocking HTTP/1.1 client for the few requests that are not remote write (the
//! OAuth 2.0 token endpoint): one request per connection, `Connection: close`, optional TLS.
//!
//! It runs on a small background thread, never on a core loop, so plain blocking sockets
//! with timeouts are the simplest correct choice.

use std::{
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    sync::Arc,
    time::{Duration, Instant},
};

use rustls::{pki_types::ServerName, ClientConfig};

/// Where to send: parsed once from a URL.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]` for the Host header.
    pub(crate) authority: String,
    pub(crate) path_and_query: String,
    pub(crate) tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

/// A response: status and the whole body (de-chunked).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Largest response accepted (token responses are small).
const MAX_RESPONSE: usize = 1 << 20;

/// POSTs `body` with `headers` (name, value) and reads the reply, all within `timeout`.
pub(crate) fn post(
    target: &Target,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Reply> {
    let deadline = Instant::now() + timeout;
    let addr = (
        target.host.trim_start_matches('[').trim_end_matches(']'),
        target.port,
    )
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host has no address"))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_nodelay(true)?;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    };
    tcp.set_read_timeout(Some(remaining()?))?;
    tcp.set_write_timeout(Some(remaining()?))?;
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        target.path_and_query,
        target.authority,
        super::headers::user_agent(),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    match &target.tls {
        None => exchange(tcp, head.as_bytes(), body, &remaining),
        Some((config, name)) => {
            let conn = rustls::ClientConnection::new(Arc::clone(config), name.clone())
                .map_err(io::Error::other)?;
            let stream = rustls::StreamOwned::new(conn, tcp);
            exchange(stream, head.as_bytes(), body, &remaining)
        }
    }
}

fn exchange<S: Read + Write>(
    mut stream: S,
    head: &[u8],
    body: &[u8],
    remaining: &dyn Fn() -> io::Result<Duration>,
) -> io::Result<Reply> {
    stream.write_all(head)?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        remaining()?;
        if let Some(reply) = parse(&buf)? {
            return Ok(reply);
        }
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: treat as EOF.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return parse_at_eof(&buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_RESPONSE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response larger than 1 MiB",
            ));
        }
    }
}

/// How the body's end is known.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Status, framing and head length, once the head is complete.
fn head(buf: &[u8]) -> io::Result<Option<(u16, Framing, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp
        .parse(buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
    {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(n) => n,
    };
    let status = resp.code.unwrap_or(0);
    let mut framing = Framing::UntilClose;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
        {
            framing = Framing::Chunked;
            break;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
            framing = Framing::Length(n);
        }
    }
    Ok(Some((status, framing, len)))
}

/// A complete reply if `buf` holds one.
fn parse(buf: &[u8]) -> io::Result<Option<Reply>> {
    let Some((status, framing, at)) = head(buf)? else {
        return Ok(None);
    };
    let rest = &buf[at..];
    Ok(match framing {
        Framing::Length(n) if rest.len() >= n => Some(Reply {
            status,
            body: rest[..n].to_vec(),
        }),
        Framing::Chunked => dechunk(rest)?.map(|body| Reply { status, body }),
        _ => None,
    })
}

fn parse_at_eof(buf: &[u8]) -> io::Result<Reply> {
    match head(buf)? {
        Some((status, Framing::UntilClose, at)) => Ok(Reply {
            status,
            body: buf[at..].to_vec(),
        }),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the response was complete",
        )),
    }
}

/// The body of a complete chunked encoding, or `None` while more bytes are needed.
fn dechunk(mut rest: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked encoding");
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| bad())?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad())?;
        rest = &rest[eol + 2..];
        if size == 0 {
            // Trailers (ignored) end with an empty line.
            return Ok(rest.windows(2).position(|w| w == b"\r\n").map(|_| body));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&rest[..size]);
        if &rest[size..size + 2] != b"\r\n" {
            return Err(bad());
        }
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_framing_table() {
        // (raw bytes, complete?, status, body)
        type Case = (&'static [u8], Option<(u16, &'static [u8])>);
        let cases: [Case; 6] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", Some((200, b"hi"))),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi", None),
            (b"HTTP/1.1 200 OK\r\nContent-Le", None),
            (
                b"HTTP/1.1 401 No\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;x=y\r\nc\r\n0\r\n\r\n",
                Some((401, b"abc")),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
                None,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\nuntil close", None),
        ];
        for (raw, want) in cases {
            let got = parse(raw).unwrap().map(|r| (r.status, r.body));
            assert_eq!(
                got,
                want.map(|(s, b)| (s, b.to_vec())),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let eof = parse_at_eof(b"HTTP/1.1 200 OK\r\n\r\nuntil close").unwrap();
        assert_eq!(eof.body, b"until close");
        assert!(parse_at_eof(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }
}
