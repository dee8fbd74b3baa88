//! Against a real nginx 1.22 (Debian `nginx` + `libnginx-mod-http-echo`), started by the
//! test with a temporary config on free 127.0.0.1 ports. Ignored by default:
//! `cargo test --test http_nginx -- --ignored`. Binary and module paths default to the
//! Debian ones; override with `NGINX_BIN` and `NGINX_ECHO_MODULE` (e.g. from an unpacked
//! `.deb`). See RUNTIME-NOTES.md §5 for why the write location reads the body with
//! `echo_read_request_body` instead of `return 204`.

mod http_support;

use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use http_support::*;
use ringwrite::{
    http::{
        send_with_retry, BatchOutcome, DropReason, EndpointConfig, Protocol, RetryPolicy,
        WireFormat,
    },
    sink::TestPki,
};
use tempfile::TempDir;

struct Nginx {
    child: Child,
    dir: TempDir,
    http1: u16,
    h2c: u16,
    tls: u16,
    /// h2c with `keepalive_requests 5`: GOAWAY after every fifth request.
    h2c_goaway: u16,
    ca_pem: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_nginx() -> Nginx {
    let bin =
        PathBuf::from(std::env::var("NGINX_BIN").unwrap_or_else(|_| "/usr/sbin/nginx".into()));
    let echo = PathBuf::from(
        std::env::var("NGINX_ECHO_MODULE")
            .unwrap_or_else(|_| "/usr/lib/nginx/modules/ngx_http_echo_module.so".into()),
    );
    assert!(
        bin.exists() && echo.exists(),
        "needs nginx ({}) and the echo module ({}): apt-get install nginx libnginx-mod-http-echo, \
         or set NGINX_BIN / NGINX_ECHO_MODULE",
        bin.display(),
        echo.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let pki = TestPki::generate(&["127.0.0.1"]).expect("pki");
    std::fs::write(dir.path().join("server.pem"), &pki.server.cert_pem).unwrap();
    std::fs::write(dir.path().join("server.key"), &pki.server.key_pem).unwrap();
    let (http1, h2c, tls, h2c_goaway) = (free_port(), free_port(), free_port(), free_port());
    let locations = r#"
        location /api/v1/write { echo_read_request_body; echo_status 204; }
        location /reject { return 400 "bad request from nginx"; }
    "#;
    let conf = format!(
        r#"
load_module {echo};
daemon off;
master_process off;
worker_processes 1;
error_log {d}/error.log info;
pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 16m;
    client_body_buffer_size 8m;
    keepalive_requests 1000000;
    server {{ listen 127.0.0.1:{http1}; {locations} }}
    server {{ listen 127.0.0.1:{h2c} http2; {locations} }}
    server {{
        listen 127.0.0.1:{tls} ssl http2;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        {locations}
    }}
    server {{ listen 127.0.0.1:{h2c_goaway} http2; keepalive_requests 5; {locations} }}
}}
"#,
        echo = echo.display()
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(&bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn nginx");
    let nginx = Nginx {
        child,
        dir,
        http1,
        h2c,
        tls,
        h2c_goaway,
        ca_pem: pki.ca_pem,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    for port in [http1, h2c, tls, h2c_goaway] {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start; see {d}/error.log"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    nginx
}

fn config(
    nginx: &Nginx,
    scheme: &str,
    port: u16,
    path: &str,
    protocol: Protocol,
) -> EndpointConfig {
    let mut cfg = EndpointConfig::new(format!("{scheme}://127.0.0.1:{port}{path}"));
    cfg.name = Some(format!("nginx-{port}"));
    cfg.protocol = protocol;
    if scheme == "https" {
        let ca = nginx.dir.path().join("ca.pem");
        std::fs::write(&ca, &nginx.ca_pem).unwrap();
        cfg.tls_config.ca_file = Some(ca);
    }
    cfg
}

#[monoio::test(timer_enabled = true)]
#[ignore = "needs nginx + libnginx-mod-http-echo"]
async fn nginx_accepts_full_bodies_on_every_transport() {
    let nginx = start_nginx();
    let body = compress(&noise(150_000));
    assert!(body.len() > 140_000);
    let cases = [
        ("http", nginx.http1, Protocol::Http1),
        ("http", nginx.h2c, Protocol::H2c),
        ("https", nginx.tls, Protocol::H2),
        ("https", nginx.tls, Protocol::Auto),
        ("https", nginx.tls, Protocol::Http1),
    ];
    for (scheme, port, protocol) in cases {
        let cfg = config(&nginx, scheme, port, "/api/v1/write", protocol);
        let pool = pool(&cfg, test_options());
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                let body = body.clone();
                monoio::spawn(async move {
                    for _ in 0..25 {
                        let r = pool.send(&request(body.clone(), WireFormat::Rw1, 0)).await;
                        assert_eq!(r.unwrap().status, 204);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        let stats = pool.stats();
        assert_eq!(
            (stats.responses, stats.errors),
            (100, 0),
            "{scheme} {protocol}"
        );
    }
}

#[monoio::test(timer_enabled = true)]
#[ignore = "needs nginx + libnginx-mod-http-echo"]
async fn nginx_keepalive_requests_goaway_is_transparent() {
    let nginx = start_nginx();
    let cfg = config(
        &nginx,
        "http",
        nginx.h2c_goaway,
        "/api/v1/write",
        Protocol::H2c,
    );
    let pool = pool(&cfg, test_options());
    let body = compress(&noise(150_000));
    for i in 0..23 {
        let r = pool.send(&request(body.clone(), WireFormat::Rw1, 0)).await;
        assert_eq!(r.unwrap_or_else(|e| panic!("#{i}: {e}")).status, 204);
    }
    let stats = pool.stats();
    assert_eq!(stats.errors, 0);
    assert!(
        stats.connections_opened >= 5,
        "GOAWAY every 5 requests: {stats:?}"
    );
}

#[monoio::test(timer_enabled = true)]
#[ignore = "needs nginx + libnginx-mod-http-echo"]
async fn nginx_4xx_is_dropped_with_its_body() {
    let nginx = start_nginx();
    for (port, protocol) in [(nginx.http1, Protocol::Http1), (nginx.h2c, Protocol::H2c)] {
        let cfg = config(&nginx, "http", port, "/reject", protocol);
        let pool = pool(&cfg, test_options());
        for _ in 0..2 {
            let outcome = send_with_retry(
                &pool,
                compress(&raw_payload(100_000)),
                WireFormat::Rw1,
                COUNTS,
                &RetryPolicy::default(),
            )
            .await;
            let BatchOutcome::Dropped {
                reason: DropReason::HttpStatus { status, body, .. },
                attempts: 1,
            } = outcome
            else {
                panic!("{protocol}: {outcome:?}");
            };
            assert_eq!(status, 400);
            assert_eq!(body, "bad request from nginx");
        }
        assert_eq!(pool.stats().errors, 0, "{protocol}");
    }
}
