//! The web server over real TCP on 127.0.0.1: every route, bad and oversized requests, a
//! failing and a panicking reload, the connection cap, and shutdown.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use ringwrite::{
    metrics::Registry,
    web::{serve, Control, WebOptions, WebServer, MAX_CONNECTIONS, METRICS_CONTENT_TYPE},
};

#[derive(Default)]
struct FakeControl {
    ready: AtomicBool,
    reloads: AtomicUsize,
    /// `Some(text)`: reload fails with it; `"panic"` makes it panic.
    fail_with: Mutex<Option<String>>,
}

impl Control for FakeControl {
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
    fn reload(&self) -> Result<(), String> {
        self.reloads.fetch_add(1, Ordering::SeqCst);
        match self.fail_with.lock().expect("lock").clone() {
            Some(t) if t == "panic" => panic!("reload blew up"),
            Some(t) => Err(t),
            None => Ok(()),
        }
    }
}

fn start() -> (WebServer, Registry, Arc<FakeControl>) {
    let reg = Registry::new();
    reg.counter("ringwrite_test_total", "Test.", &[("k", "v")])
        .add(7);
    let control = Arc::new(FakeControl::default());
    let opts = WebOptions::from_listen_address("127.0.0.1:0")
        .expect("addr")
        .lifecycle(true);
    let server = serve(opts, reg.clone(), control.clone()).expect("serve");
    (server, reg, control)
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `raw` and reads until the server closes.
fn send(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // The server may answer (and close) before it has read everything we send.
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_reply(&buf)
}

fn parse_reply(buf: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response head in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().expect("status code");
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    send(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    send(
        addr,
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    )
}

#[test]
fn metrics_route_serves_the_registry() {
    let (server, reg, _c) = start();
    let r = get(server.local_addr(), "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(METRICS_CONTENT_TYPE));
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    assert_eq!(r.body, reg.render());
    assert!(
        r.body.contains("ringwrite_test_total{k=\"v\"} 7\n"),
        "{}",
        r.body
    );
    // Values are read at scrape time.
    reg.counter("ringwrite_test_total", "Test.", &[("k", "v")])
        .inc();
    let r = get(server.local_addr(), "/metrics?debug=1");
    assert!(r.body.contains("ringwrite_test_total{k=\"v\"} 8\n"));
    server.shutdown();
}

#[test]
fn healthy_ready_and_head() {
    let (server, _reg, control) = start();
    let addr = server.local_addr();
    let r = get(addr, "/-/healthy");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "ringwrite is Healthy.\n")
    );
    let r = get(addr, "/-/ready");
    assert_eq!((r.status, r.body.as_str()), (503, "Service Unavailable"));
    control.ready.store(true, Ordering::SeqCst);
    let r = get(addr, "/-/ready");
    assert_eq!((r.status, r.body.as_str()), (200, "ringwrite is Ready.\n"));
    let r = send(addr, b"HEAD /-/ready HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "", "HEAD has no body");
    assert_eq!(r.header("Content-Length"), Some("20"));
    let r = request(addr, "POST", "/-/healthy");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    let r = get(addr, "/nope");
    assert_eq!(r.status, 404);
    // HTTP/1.0 clients get an answer too.
    let r = send(addr, b"GET /-/healthy HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    server.shutdown();
}

#[test]
fn lifecycle_routes_are_forbidden_without_the_flag() {
    let control = Arc::new(FakeControl::default());
    let opts = WebOptions::from_listen_address("127.0.0.1:0").expect("addr");
    let server = serve(opts, Registry::new(), control.clone()).expect("serve");
    let addr = server.local_addr();
    for path in ["/-/reload", "/-/quit"] {
        let r = request(addr, "POST", path);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Lifecycle API is not enabled.\n"),
            "{path}"
        );
    }
    assert_eq!(control.reloads.load(Ordering::SeqCst), 0);
    server.shutdown();
}

#[test]
fn reload_methods_success_error_and_panic() {
    let (server, _reg, control) = start();
    let addr = server.local_addr();
    let r = get(addr, "/-/reload");
    assert_eq!(
        (r.status, r.body.as_str()),
        (405, "Only POST or PUT requests allowed")
    );
    assert_eq!(
        control.reloads.load(Ordering::SeqCst),
        0,
        "GET must not reload"
    );
    assert_eq!(request(addr, "POST", "/-/reload").status, 200);
    assert_eq!(request(addr, "PUT", "/-/reload").status, 200);
    // curl -X POST without a body sends no Content-Length at all.
    assert_eq!(
        send(addr, b"POST /-/reload HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    assert_eq!(control.reloads.load(Ordering::SeqCst), 3);

    *control.fail_with.lock().expect("lock") = Some("remote_write[0]: url is required".into());
    let r = request(addr, "POST", "/-/reload");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.body,
        "failed to reload config: remote_write[0]: url is required\n"
    );

    *control.fail_with.lock().expect("lock") = Some("panic".into());
    let r = request(addr, "POST", "/-/reload");
    assert_eq!(
        r.status, 500,
        "a panicking handler is answered, not dropped"
    );
    // And the server keeps serving.
    assert_eq!(get(addr, "/-/healthy").status, 200);
    server.shutdown();
}

#[test]
fn malformed_and_oversized_requests() {
    let (server, _reg, control) = start();
    let addr = server.local_addr();
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"this is not http\r\n\r\n".to_vec(), 400),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            400,
        ), // a TLS hello
        (b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(), 400),
        (
            format!(
                "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
                "a".repeat(64 * 1024)
            )
            .into_bytes(),
            431,
        ),
        (
            format!("GET /{} HTTP/1.1\r\n\r\n", "p".repeat(20_000)).into_bytes(),
            431,
        ),
        (
            b"POST /-/reload HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n".to_vec(),
            413,
        ),
        (
            b"POST /-/reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            411,
        ),
    ];
    for (raw, want) in cases {
        let r = send(addr, &raw);
        assert_eq!(
            r.status,
            want,
            "{:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(60)])
        );
    }
    assert_eq!(
        control.reloads.load(Ordering::SeqCst),
        0,
        "refused requests never reload"
    );
    // A body within the limit is drained and the request served.
    let body = "x".repeat(1000);
    let r = send(
        addr,
        format!(
            "POST /-/reload HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200);
    // A client that connects and leaves, and one that stalls mid-request, do not block others.
    drop(TcpStream::connect(addr).expect("connect"));
    let mut stalled = TcpStream::connect(addr).expect("connect");
    stalled.write_all(b"GET /metr").expect("partial write");
    let t = Instant::now();
    assert_eq!(get(addr, "/-/healthy").status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "served while another connection stalls"
    );
    drop(stalled);
    server.shutdown();
}

#[test]
fn connection_cap_answers_503_then_recovers() {
    let (server, _reg, _c) = start();
    let addr = server.local_addr();
    // Idle connections hold their slots (each waits for a request head).
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let r = get(addr, "/-/healthy");
    assert_eq!(r.status, 503, "{}", r.body);
    drop(idle);
    // Slots free up as the server sees the idle connections close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(addr, "/-/healthy");
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slots never released");
        thread::sleep(Duration::from_millis(20));
    }
    server.shutdown();
}

#[test]
fn concurrent_scrapes() {
    let (server, _reg, _c) = start();
    let addr = server.local_addr();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                (0..10)
                    .map(|_| get(addr, "/metrics").status)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().expect("worker").iter().all(|s| *s == 200));
    }
    server.shutdown();
}

#[test]
fn shutdown_stops_listening_and_is_prompt() {
    let (server, _reg, _c) = start();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/-/healthy").status, 200);
    let t = Instant::now();
    server.shutdown();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn binding_a_taken_port_is_an_error() {
    let (server, reg, control) = start();
    let opts = WebOptions::from_listen_address(&server.local_addr().to_string()).expect("addr");
    let err = serve(opts, reg, control).expect_err("port is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
