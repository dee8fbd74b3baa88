//! `ringwrite healthcheck --url URL`: a tiny HTTP/1.0 GET, so a container image without
//! curl or wget can probe `/-/healthy` (or `/-/ready`) in its HEALTHCHECK.

use super::HealthcheckArgs;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why a probe failed; printed on standard error.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("--url {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    #[error("{url}: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("{url}: timed out after {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: not an HTTP response: {line:?}")]
    BadResponse { url: String, line: String },
}

/// `(host:port, path)` of an `http://` URL; the port defaults to 80.
fn split_url(url: &str) -> Result<(String, String), ProbeError> {
    let bad = |reason| ProbeError::BadUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// is supported (the admin server is plain HTTP)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("needs a host and no user info"));
    }
    let hostport = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_owned()
    };
    Ok((hostport, path.to_owned()))
}

/// GETs `url`; returns the status code and the first line of the body.
fn probe(url: &str, timeout: Duration) -> Result<(u16, String), ProbeError> {
    let (hostport, path) = split_url(url)?;
    let io = |source| ProbeError::Io {
        url: url.to_owned(),
        source,
    };
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let addr = hostport
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| ProbeError::BadUrl {
            url: url.to_owned(),
            reason: "host resolves to no address",
        })?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    let timed_out = |_| ProbeError::Timeout {
        url: url.to_owned(),
        timeout,
    };
    s.set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .map_err(io)?;
    // One write: a server that answers after the first bytes must not see a broken request.
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: ringwrite-healthcheck\r\n\r\n"
    );
    s.write_all(request.as_bytes()).map_err(io)?;
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let l = left();
        if l.is_zero() {
            return Err(timed_out(()));
        }
        s.set_read_timeout(Some(l)).map_err(io)?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if resp.len() < 64 * 1024 => resp.extend_from_slice(&buf[..n]),
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out(()))
            }
            Err(e) => return Err(io(e)),
        }
    }
    let text = String::from_utf8_lossy(&resp);
    let status_line = text.lines().next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| ProbeError::BadResponse {
            url: url.to_owned(),
            line: status_line.chars().take(80).collect(),
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.lines().next().unwrap_or("").to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Exit 0 when the answer is 2xx, 1 otherwise (Docker's HEALTHCHECK convention).
pub fn run(args: &HealthcheckArgs) -> anyhow::Result<i32> {
    match probe(&args.url, args.timeout) {
        Ok((status, body)) if (200..300).contains(&status) => {
            println!("{status} {body}");
            Ok(0)
        }
        Ok((status, body)) => {
            eprintln!("unhealthy: {} answered {status} {body}", args.url);
            Ok(1)
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn url_table() {
        let table: &[(&str, Option<(&str, &str)>)] = &[
            (
                "http://127.0.0.1:9096/-/healthy",
                Some(("127.0.0.1:9096", "/-/healthy")),
            ),
            (
                "http://localhost/-/ready",
                Some(("localhost:80", "/-/ready")),
            ),
            ("http://[::1]:9096", Some(("[::1]:9096", "/"))),
            ("http://[::1]/x", Some(("[::1]:80", "/x"))),
            ("https://h/-/healthy", None),
            ("http:///x", None),
            ("http://u:p@h/x", None),
        ];
        for &(url, want) in table {
            let got = split_url(url).ok();
            let want = want.map(|(a, b)| (a.to_owned(), b.to_owned()));
            assert_eq!(got, want, "{url}");
        }
    }

    fn serve_once(answer: &'static str) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(answer.as_bytes());
        });
        port
    }

    #[test]
    fn probe_reads_status_and_body() {
        let port =
            serve_once("HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\nringwrite is Healthy.\n");
        let got = probe(
            &format!("http://127.0.0.1:{port}/-/healthy"),
            Duration::from_secs(5),
        );
        assert_eq!(
            got.map_err(|e| e.to_string()),
            Ok((200, "ringwrite is Healthy.".to_owned()))
        );
        let port = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\nService Unavailable");
        let got = probe(
            &format!("http://127.0.0.1:{port}/-/ready"),
            Duration::from_secs(5),
        );
        assert_eq!(got.ok().map(|g| g.0), Some(503));
        let port = serve_once("SSH-2.0-OpenSSH\r\n");
        let got = probe(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5));
        assert!(
            matches!(got, Err(ProbeError::BadResponse { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn probe_times_out_on_a_silent_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let start = Instant::now();
        let got = probe(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(300),
        );
        assert!(matches!(got, Err(ProbeError::Timeout { .. })), "{got:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
        drop(l);
    }
}
