//! TLS (CA files, verification errors, insecure_skip_verify, server_name, ALPN fallback,
//! mutual TLS) and credential files.

mod http_support;

use std::time::Duration;

use http_support::*;
use ringwrite::{
    http::{AuthorizationConfig, ConfigError, Endpoint, EndpointConfig, Protocol, WireFormat},
    sink::{Sink, SinkTransport, TestPki},
};

fn body() -> bytes::Bytes {
    compress(&raw_payload(5_000))
}

#[monoio::test(timer_enabled = true)]
async fn ca_file_makes_tls_work_for_every_protocol_choice() {
    // (sink, client protocol, expected HTTP version at the sink)
    let cases = [
        (SinkTransport::TlsH2, Protocol::H2, http::Version::HTTP_2),
        (SinkTransport::TlsH2, Protocol::Auto, http::Version::HTTP_2),
        (
            SinkTransport::TlsH2,
            Protocol::Http1,
            http::Version::HTTP_11,
        ),
        // ALPN offers no h2: auto falls back to HTTP/1.1.
        (
            SinkTransport::TlsHttp1,
            Protocol::Auto,
            http::Version::HTTP_11,
        ),
    ];
    for (transport, protocol, version) in cases {
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "tls");
        let pool = pool(&cfg, test_options());
        for _ in 0..3 {
            let r = pool.send(&request(body(), WireFormat::Rw1, 0)).await;
            assert_eq!(
                r.unwrap_or_else(|e| panic!("{transport:?}/{protocol}: {e}"))
                    .status,
                204
            );
        }
        let got = sink.wait_for_requests(3, WAIT);
        assert!(
            got.iter().all(|r| r.tls && r.version == version),
            "{transport:?}/{protocol}"
        );
        assert_eq!(
            sink.stats().connections,
            1,
            "{transport:?}/{protocol}: reused"
        );
    }
}

#[monoio::test(timer_enabled = true)]
async fn protocol_h2_fails_clearly_when_alpn_offers_no_h2() {
    let sink = sink(SinkTransport::TlsHttp1);
    let (cfg, _dir) = config_for(&sink, Protocol::H2, "needs-h2");
    let pool = pool(&cfg, test_options());
    let err = pool
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "alpn", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("needs-h2") && msg.contains("did not negotiate HTTP/2"),
        "{msg}"
    );
}

#[monoio::test(timer_enabled = true)]
async fn untrusted_certificate_fails_with_a_clear_error() {
    let sink = sink(SinkTransport::TlsH2);
    let mut cfg = EndpointConfig::new(sink.url());
    cfg.name = Some("untrusted".into());
    // No ca_file: system roots do not know the sink's CA.
    let pool = pool(&cfg, test_options());
    let err = pool
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "tls_handshake", "{err}");
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("untrusted") && msg.contains("127.0.0.1"),
        "{msg}"
    );
    assert!(msg.contains("UnknownIssuer"), "says why: {msg}");
}

#[monoio::test(timer_enabled = true)]
async fn wrong_server_name_is_rejected_and_right_one_accepted() {
    let sink = sink(SinkTransport::TlsH2);
    let (mut cfg, _dir) = config_for(&sink, Protocol::H2, "sni");
    cfg.tls_config.server_name = Some("other.example".into());
    let err = pool(&cfg, test_options())
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "tls_handshake");
    assert!(err.to_string().contains("not valid for name"), "{err}");
    cfg.tls_config.server_name = Some("localhost".into());
    let r = pool(&cfg, test_options())
        .send(&request(body(), WireFormat::Rw1, 0))
        .await;
    assert_eq!(r.unwrap().status, 204);
}

#[monoio::test(timer_enabled = true)]
async fn insecure_skip_verify_accepts_an_unknown_ca() {
    let sink = sink(SinkTransport::TlsH2);
    let mut cfg = EndpointConfig::new(sink.url());
    cfg.tls_config.insecure_skip_verify = true;
    let r = pool(&cfg, test_options())
        .send(&request(body(), WireFormat::Rw1, 0))
        .await;
    assert_eq!(r.unwrap().status, 204);
}

#[monoio::test(timer_enabled = true)]
async fn mutual_tls_with_client_certificate() {
    let pki = TestPki::generate(&["127.0.0.1"]).unwrap();
    let sink = Sink::builder(SinkTransport::TlsH2)
        .tls_identity(pki.server.clone())
        .require_client_cert(pki.ca_pem.clone())
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut cfg = EndpointConfig::new(sink.url());
    cfg.name = Some("mtls".into());
    cfg.tls_config.ca_file = Some(write("ca.pem", &pki.ca_pem));
    // Without a client certificate the server refuses the handshake.
    let err = pool(&cfg, test_options())
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            "tls_handshake" | "connection_lost" | "h2_handshake" | "h2"
        ),
        "{} {err}",
        err.kind()
    );
    cfg.tls_config.cert_file = Some(write("client.pem", &pki.client.cert_pem));
    cfg.tls_config.key_file = Some(write("client.key", &pki.client.key_pem));
    let r = pool(&cfg, test_options())
        .send(&request(body(), WireFormat::Rw1, 0))
        .await;
    assert_eq!(r.unwrap().status, 204);
}

#[test]
fn bad_tls_material_is_a_config_error_naming_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate").unwrap();
    type Tweak = Box<dyn Fn(&mut EndpointConfig)>;
    let cases: Vec<(&str, Tweak, &str)> = vec![
        (
            "missing ca_file",
            Box::new(|c| c.tls_config.ca_file = Some("/nonexistent/ca.pem".into())),
            "/nonexistent/ca.pem",
        ),
        (
            "garbage ca_file",
            Box::new({
                let g = garbage.clone();
                move |c| c.tls_config.ca_file = Some(g.clone())
            }),
            "no usable CA",
        ),
        (
            "garbage key",
            Box::new({
                let g = garbage.clone();
                move |c| {
                    c.tls_config.insecure_skip_verify = true;
                    c.tls_config.cert_file = Some(g.clone());
                    c.tls_config.key_file = Some(g.clone());
                }
            }),
            "cert_file",
        ),
        (
            "missing credentials file",
            Box::new(|c| {
                c.authorization = Some(AuthorizationConfig {
                    credentials_file: Some("/nonexistent/token".into()),
                    ..Default::default()
                })
            }),
            "/nonexistent/token",
        ),
    ];
    for (label, tweak, want) in cases {
        let mut cfg = EndpointConfig::new("https://127.0.0.1:1/api/v1/write");
        cfg.name = Some("broken-ep".into());
        tweak(&mut cfg);
        let err: ConfigError = Endpoint::new(&cfg).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("broken-ep") && msg.contains(want),
            "{label}: {msg}"
        );
    }
}

#[monoio::test(timer_enabled = true)]
async fn bearer_token_file_is_reread_after_it_changes() {
    let sink = sink(SinkTransport::H2c);
    let (mut cfg, dir) = config_for(&sink, Protocol::H2c, "token");
    let token = dir.path().join("token");
    std::fs::write(&token, "first-token\n").unwrap();
    cfg.authorization = Some(AuthorizationConfig {
        credentials_file: Some(token.clone()),
        ..Default::default()
    });
    let pool = pool(&cfg, test_options()); // rechecks every 20 ms
    pool.send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap();
    // Rotate like a secret mount does: write a new file, rename over the old one.
    let next = dir.path().join("token.next");
    std::fs::write(&next, "second-token").unwrap();
    std::fs::rename(&next, &token).unwrap();
    monoio::time::sleep(Duration::from_millis(60)).await;
    pool.send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap();
    let got = sink.wait_for_requests(2, WAIT);
    assert_eq!(got[0].headers["authorization"], "Bearer first-token");
    assert_eq!(got[1].headers["authorization"], "Bearer second-token");
}
