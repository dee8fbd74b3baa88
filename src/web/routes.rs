//! What each path answers: Prometheus's lifecycle routes and texts (`web/web.go`) with
//! "ringwrite" as the app name, and `/metrics`. Pure: a request in, a response out.

use std::io::{self, Write};

use super::{request::Request, Control};
use crate::metrics::Registry;

/// `Content-Type` of `/metrics`: the text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

/// A complete response; always sent with `Connection: close`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub allow: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: TEXT,
            allow: None,
            body: body.into().into_bytes(),
        }
    }

    fn method_not_allowed(allow: &'static str, body: &str) -> Response {
        Response {
            allow: Some(allow),
            ..Response::text(405, body)
        }
    }

    /// Writes status line, headers and (unless `head_only`) the body.
    pub fn write_to(&self, w: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        if let Some(allow) = self.allow {
            head.push_str("Allow: ");
            head.push_str(allow);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        if !head_only {
            w.write_all(&self.body)?;
        }
        w.flush()
    }
}

/// Answers one request.
///
/// `lifecycle` (`--web.enable-lifecycle`) turns on `/-/reload` and `/-/quit`.
pub(crate) fn route(
    req: &Request,
    registry: &Registry,
    control: &dyn Control,
    lifecycle: bool,
) -> Response {
    let read_only = matches!(req.method.as_str(), "GET" | "HEAD");
    match req.path.as_str() {
        "/metrics" if read_only => Response {
            content_type: METRICS_CONTENT_TYPE,
            ..Response::text(200, registry.render())
        },
        "/-/healthy" if read_only => Response::text(200, "ringwrite is Healthy.\n"),
        "/-/ready" if read_only => {
            if control.ready() {
                Response::text(200, "ringwrite is Ready.\n")
            } else {
                Response::text(503, "Service Unavailable")
            }
        }
        "/status" | "/api/v1/status" if read_only => match control.status() {
            Some(report) if req.path == "/status" => Response {
                content_type: HTML,
                ..Response::text(200, super::status::render_html(&report))
            },
            Some(report) => Response {
                content_type: JSON,
                ..Response::text(200, super::status::render_json(&report))
            },
            None => Response::text(404, "404 page not found\n"),
        },
        "/metrics" | "/-/healthy" | "/-/ready" | "/status" | "/api/v1/status" => {
            Response::method_not_allowed("GET, HEAD", "Only GET or HEAD requests allowed")
        }
        "/-/reload" | "/-/quit" if !lifecycle => match req.method.as_str() {
            "POST" | "PUT" => Response::text(403, "Lifecycle API is not enabled.\n"),
            _ => Response::method_not_allowed("POST, PUT", "Only POST or PUT requests allowed"),
        },
        "/-/quit" => match req.method.as_str() {
            "POST" | "PUT" => {
                control.quit();
                Response::text(200, "Requesting termination... Goodbye!")
            }
            _ => Response::method_not_allowed("POST, PUT", "Only POST or PUT requests allowed"),
        },
        "/-/reload" => match req.method.as_str() {
            "POST" | "PUT" => match control.reload() {
                Ok(()) => Response::text(200, ""),
                Err(e) => Response::text(500, format!("failed to reload config: {e}\n")),
            },
            _ => Response::method_not_allowed("POST, PUT", "Only POST or PUT requests allowed"),
        },
        _ => Response::text(404, "404 page not found\n"),
    }
}

pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    struct Fake {
        ready: AtomicBool,
        reloads: AtomicUsize,
        quits: AtomicUsize,
        fail: bool,
    }

    impl Control for Fake {
        fn ready(&self) -> bool {
            self.ready.load(Ordering::Relaxed)
        }
        fn quit(&self) {
            self.quits.fetch_add(1, Ordering::Relaxed);
        }
        fn reload(&self) -> Result<(), String> {
            self.reloads.fetch_add(1, Ordering::Relaxed);
            if self.fail {
                Err("bad yaml at line 3".into())
            } else {
                Ok(())
            }
        }
    }

    fn req(method: &str, path: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
        }
    }

    #[test]
    fn routes_answer_like_prometheus() {
        let reg = Registry::new();
        reg.counter("x_total", "X.", &[]).inc();
        let ok = Fake {
            ready: AtomicBool::new(true),
            reloads: AtomicUsize::new(0),
            quits: AtomicUsize::new(0),
            fail: false,
        };
        let table: &[(&str, &str, u16, &str)] = &[
            (
                "GET",
                "/metrics",
                200,
                "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n",
            ),
            ("GET", "/-/healthy", 200, "ringwrite is Healthy.\n"),
            ("HEAD", "/-/healthy", 200, "ringwrite is Healthy.\n"),
            ("GET", "/-/ready", 200, "ringwrite is Ready.\n"),
            ("POST", "/-/reload", 200, ""),
            ("PUT", "/-/reload", 200, ""),
            ("GET", "/-/reload", 405, "Only POST or PUT requests allowed"),
            (
                "DELETE",
                "/-/reload",
                405,
                "Only POST or PUT requests allowed",
            ),
            ("POST", "/metrics", 405, "Only GET or HEAD requests allowed"),
            ("GET", "/", 404, "404 page not found\n"),
            // No status from this control: not found; writes are refused either way.
            ("GET", "/status", 404, "404 page not found\n"),
            ("GET", "/api/v1/status", 404, "404 page not found\n"),
            ("POST", "/status", 405, "Only GET or HEAD requests allowed"),
            ("GET", "/metrics/", 404, "404 page not found\n"),
            ("GET", "/-/quit", 405, "Only POST or PUT requests allowed"),
            ("POST", "/-/quit", 200, "Requesting termination... Goodbye!"),
        ];
        for &(method, path, status, body) in table {
            let r = route(&req(method, path), &reg, &ok, true);
            assert_eq!(
                (r.status, String::from_utf8_lossy(&r.body).as_ref()),
                (status, body),
                "{method} {path}"
            );
        }
        assert_eq!(ok.reloads.load(Ordering::Relaxed), 2, "GET never reloads");
        assert_eq!(ok.quits.load(Ordering::Relaxed), 1, "GET never quits");
        let r = route(&req("GET", "/metrics"), &reg, &ok, true);
        assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    }

    #[test]
    fn not_ready_and_failed_reload() {
        let reg = Registry::new();
        let bad = Fake {
            ready: AtomicBool::new(false),
            reloads: AtomicUsize::new(0),
            quits: AtomicUsize::new(0),
            fail: true,
        };
        let r = route(&req("GET", "/-/ready"), &reg, &bad, true);
        assert_eq!(
            (r.status, r.body.as_slice()),
            (503, &b"Service Unavailable"[..])
        );
        let r = route(&req("POST", "/-/reload"), &reg, &bad, true);
        assert_eq!(r.status, 500);
        assert_eq!(r.body, b"failed to reload config: bad yaml at line 3\n");
    }

    #[test]
    fn lifecycle_routes_need_the_flag() {
        let reg = Registry::new();
        let c = Fake {
            ready: AtomicBool::new(true),
            reloads: AtomicUsize::new(0),
            quits: AtomicUsize::new(0),
            fail: false,
        };
        for (method, path, status, body) in [
            ("POST", "/-/reload", 403, "Lifecycle API is not enabled.\n"),
            ("PUT", "/-/quit", 403, "Lifecycle API is not enabled.\n"),
            ("GET", "/-/reload", 405, "Only POST or PUT requests allowed"),
        ] {
            let r = route(&req(method, path), &reg, &c, false);
            assert_eq!(
                (r.status, String::from_utf8_lossy(&r.body).as_ref()),
                (status, body),
                "{method} {path}"
            );
        }
        assert_eq!(c.reloads.load(Ordering::Relaxed), 0);
        assert_eq!(c.quits.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn head_only_writes_headers_with_full_length() {
        let mut out = Vec::new();
        let r = Response::text(200, "abc");
        r.write_to(&mut out, true)
            .map_err(|e| e.to_string())
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.ends_with("\r\n\r\n"), "no body: {text}");
    }
}
