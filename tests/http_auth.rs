//! `oauth2` and `sigv4` against in-process peers: a token endpoint that counts token
//! requests, a receiver that only takes tokens the endpoint issued, and a receiver that
//! recomputes every SigV4 signature.

mod http_support;

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use http_support::*;
use ringwrite::{
    http::{
        send_with_retry, BatchOutcome, EndpointConfig, OAuth2Config, Protocol, RetryPolicy, Secret,
        SigV4Config, WireFormat,
    },
    sink::{BearerCheck, SigV4Check, Sink, SinkTransport, TokenServer},
};

struct OAuthSetup {
    tokens: Arc<TokenServer>,
    check: Arc<BearerCheck>,
    _token_sink: Sink,
    receiver: Sink,
    cfg: EndpointConfig,
    _dir: tempfile::TempDir,
}

fn oauth_setup(transport: SinkTransport, protocol: Protocol, server: TokenServer) -> OAuthSetup {
    let tokens = Arc::new(server);
    let token_sink = Sink::builder(SinkTransport::Http1)
        .decompress(false)
        .handler(tokens.clone())
        .start()
        .expect("token sink");
    let check = Arc::new(BearerCheck::new(tokens.book()));
    let receiver = Sink::builder(transport)
        .handler(check.clone())
        .start()
        .expect("receiver");
    let (mut cfg, dir) = config_for(&receiver, protocol, "oauth");
    cfg.remote_timeout = Duration::from_secs(5);
    cfg.oauth2 = Some(OAuth2Config {
        client_id: "ringwrite".into(),
        client_secret: Some(Secret::new("s3cret-value")),
        scopes: vec!["write".into(), "metrics".into()],
        token_url: format!("{}/oauth/token", token_sink.url()),
        endpoint_params: [("audience".to_string(), "mimir".to_string())].into(),
        ..Default::default()
    });
    OAuthSetup {
        tokens,
        check,
        _token_sink: token_sink,
        receiver,
        cfg,
        _dir: dir,
    }
}

fn once() -> RetryPolicy {
    RetryPolicy {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        retry_on_http_429: false,
        max_attempts: Some(3),
    }
}

async fn send_one(pool: &ringwrite::http::Pool) -> BatchOutcome {
    send_with_retry(
        pool,
        compress(&raw_payload(2000)),
        WireFormat::Rw1,
        COUNTS,
        &once(),
    )
    .await
}

fn assert_sent(outcome: &BatchOutcome, what: &str) {
    assert!(
        matches!(outcome, BatchOutcome::Sent { attempts: 1, .. }),
        "{what}: {outcome:?}"
    );
}

/// Tokens live 2 s: they are fetched once at start, then refreshed in the background
/// before they expire; no send ever waits for one after the first, and the number of token
/// requests follows the token lifetime, not the number of sends.
#[monoio::test(timer_enabled = true)]
async fn oauth2_token_is_cached_and_refreshed_off_the_hot_path() {
    for (transport, protocol) in [
        (SinkTransport::Http1, Protocol::Http1),
        (SinkTransport::H2c, Protocol::H2c),
    ] {
        let s = oauth_setup(
            transport,
            protocol,
            TokenServer::new("ringwrite", "s3cret-value", Some(2)),
        );
        let pool = pool(&s.cfg, test_options());
        assert_sent(&send_one(&pool).await, "first send");
        let start = Instant::now();
        let mut sends = 1;
        let mut slowest = Duration::ZERO;
        while start.elapsed() < Duration::from_millis(3500) {
            let t = Instant::now();
            assert_sent(&send_one(&pool).await, "steady send");
            slowest = slowest.max(t.elapsed());
            sends += 1;
            monoio::time::sleep(Duration::from_millis(20)).await;
        }
        let fetches = s.tokens.requests.load(Ordering::Relaxed);
        // 3.5 s of 2 s tokens refreshed at 1.5 s: the first token plus two refreshes.
        assert!(
            (2..=4).contains(&fetches),
            "{transport:?}: {fetches} token requests for {sends} sends"
        );
        assert!(sends > 50, "{transport:?}: only {sends} sends");
        assert_eq!(s.check.refused.load(Ordering::Relaxed), 0, "{transport:?}");
        assert!(
            slowest < Duration::from_millis(500),
            "{transport:?}: a send took {slowest:?} (waited for a token?)"
        );
        // Several tokens were used: the receiver saw more than one distinct token.
        let distinct: std::collections::BTreeSet<String> = s
            .receiver
            .take_requests()
            .iter()
            .filter_map(|r| {
                r.headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string())
            })
            .collect();
        assert!(distinct.len() >= 2, "{transport:?}: {distinct:?}");
        let form = s.tokens.forms.lock().unwrap()[0].clone();
        assert_eq!(
            form, "audience=mimir&grant_type=client_credentials&scope=write+metrics",
            "{transport:?}"
        );
        drop(pool);
    }
}

/// The receiver revokes every token: the next sends get 401, exactly one new token is
/// fetched for all of them, and each is sent again and accepted, so no batch is lost.
#[monoio::test(timer_enabled = true)]
async fn oauth2_401_triggers_one_refresh() {
    let s = oauth_setup(
        SinkTransport::H2c,
        Protocol::H2c,
        TokenServer::new("ringwrite", "s3cret-value", Some(3600)),
    );
    let pool = pool(&s.cfg, test_options());
    assert_sent(&send_one(&pool).await, "first send");
    assert_eq!(s.tokens.requests.load(Ordering::Relaxed), 1);
    s.tokens.book().revoke_all();
    let outcomes: Vec<_> = (0..6)
        .map(|_| {
            let pool = pool.clone();
            monoio::spawn(async move { send_one(&pool).await })
        })
        .collect();
    for o in outcomes {
        // One 401 and one resend inside a single attempt of send_with_retry.
        assert_sent(&o.await, "send after revocation");
    }
    assert_eq!(
        s.tokens.requests.load(Ordering::Relaxed),
        2,
        "one refresh for all the 401s"
    );
    assert!(s.check.refused.load(Ordering::Relaxed) >= 1);
    assert_eq!(s.check.accepted.load(Ordering::Relaxed), 7);
}

/// A token server that refuses the Basic header gets the credentials in the form body,
/// and keeps getting them there.
#[monoio::test(timer_enabled = true)]
async fn oauth2_falls_back_to_credentials_in_the_body() {
    let s = oauth_setup(
        SinkTransport::Http1,
        Protocol::Http1,
        TokenServer::new("ringwrite", "s3cret-value", Some(1)).body_only(),
    );
    let pool = pool(&s.cfg, test_options());
    assert_sent(&send_one(&pool).await, "first send");
    monoio::time::sleep(Duration::from_millis(1200)).await;
    assert_sent(&send_one(&pool).await, "after refresh");
    let forms = s.tokens.forms.lock().unwrap().clone();
    assert!(forms.len() >= 3, "{forms:?}");
    // First the header style (refused), then the body style, which sticks.
    assert!(!forms[0].contains("client_secret"), "{}", forms[0]);
    for f in &forms[1..] {
        assert!(
            f.contains("client_id=ringwrite&client_secret=s3cret-value"),
            "{f}"
        );
    }
}

/// While the token server is down and no token was ever fetched, a send waits for one
/// and fails with a timeout that says so (and never shows the secret); when the server
/// comes back, the next attempt succeeds.
#[monoio::test(timer_enabled = true)]
async fn oauth2_waits_for_a_token_and_recovers() {
    let s = oauth_setup(
        SinkTransport::Http1,
        Protocol::Http1,
        TokenServer::new("ringwrite", "s3cret-value", Some(3600)),
    );
    s.tokens.down.store(true, Ordering::Relaxed);
    let mut cfg = s.cfg.clone();
    cfg.remote_timeout = Duration::from_millis(300);
    let pool = pool(&cfg, test_options());
    let err = pool
        .send(&request(compress(b"x"), WireFormat::Rw1, 0))
        .await
        .expect_err("no token yet");
    let msg = err.to_string();
    assert!(msg.contains("OAuth2 token"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
    s.tokens.down.store(false, Ordering::Relaxed);
    // The fetcher retries after 1 s.
    let outcome = send_with_retry(
        &pool,
        compress(b"x"),
        WireFormat::Rw1,
        COUNTS,
        &RetryPolicy {
            max_attempts: Some(20),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(200),
            ..once()
        },
    )
    .await;
    assert!(matches!(outcome, BatchOutcome::Sent { .. }), "{outcome:?}");
    assert_eq!(s.check.refused.load(Ordering::Relaxed), 0);
}

fn sigv4_cfg(
    receiver: &Sink,
    protocol: Protocol,
    secret: &str,
) -> (EndpointConfig, tempfile::TempDir) {
    let (mut cfg, dir) = config_for(receiver, protocol, "aws");
    cfg.url = format!("{}/workspaces/ws-1234/api/v1/remote_write", receiver.url());
    cfg.sigv4 = Some(SigV4Config {
        region: Some("eu-west-1".into()),
        access_key: Some("AKIDTEST".into()),
        secret_key: Some(Secret::new(secret)),
        ..Default::default()
    });
    (cfg, dir)
}

/// Every request (both wire formats, retries included) carries a signature the receiver
/// recomputes from what it received, over every transport.
#[monoio::test(timer_enabled = true)]
async fn sigv4_signatures_verify_at_the_receiver() {
    for (transport, protocol) in TRANSPORTS {
        let check = Arc::new(SigV4Check::new(
            "AKIDTEST",
            "aws-secret",
            "eu-west-1",
            "aps",
        ));
        let receiver = Sink::builder(transport)
            .handler(check.clone())
            .start()
            .expect("receiver");
        check.authority.set(receiver.addr().to_string()).unwrap();
        let (cfg, _dir) = sigv4_cfg(&receiver, protocol, "aws-secret");
        let pool = pool(&cfg, test_options());
        for (format, attempt) in [(WireFormat::Rw1, 0), (WireFormat::Rw2, 2)] {
            let resp = pool
                .send(&request(compress(&noise(100_000)), format, attempt))
                .await
                .unwrap_or_else(|e| panic!("{transport:?}: {e}"));
            assert_eq!(
                resp.status,
                204,
                "{transport:?}: {:?}",
                check.refused.lock().unwrap()
            );
        }
        assert_eq!(check.accepted.load(Ordering::Relaxed), 2, "{transport:?}");
        let got = receiver.take_requests();
        let auth = got[0].headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
                && auth.contains("/eu-west-1/aps/aws4_request, SignedHeaders=content-encoding;content-type;host;x-amz-content-sha256;x-amz-date;x-prometheus-remote-write-version, Signature="),
            "{auth}"
        );
        assert!(!auth.contains("aws-secret"));
    }
}

/// Credentials from the shared credentials file follow the file: after a rotation (new key,
/// secret and session token, written by rename as rotating tools do) the next request is
/// signed with the new ones, without a restart.
#[monoio::test(timer_enabled = true)]
async fn sigv4_follows_a_rotated_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    let write = |key: &str, token: &str| {
        let tmp = dir.path().join("credentials.new");
        std::fs::write(
            &tmp,
            format!("[rw]\naws_access_key_id = {key}\naws_secret_access_key = secret-{key}\naws_session_token = {token}\n"),
        )
        .unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    write("AKIDONE", "token-one");
    // The only test in this binary that reads AWS_* from the environment (the others set
    // keys in the config, which come first).
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &file);
    let check = Arc::new(SigV4Check::new(
        "AKIDONE",
        "secret-AKIDONE",
        "eu-west-1",
        "aps",
    ));
    check.rotate("AKIDONE", "secret-AKIDONE", Some("token-one"));
    let receiver = Sink::builder(SinkTransport::Http1)
        .handler(check.clone())
        .start()
        .expect("receiver");
    let (mut cfg, _dir) = sigv4_cfg(&receiver, Protocol::Http1, "unused");
    cfg.sigv4 = Some(SigV4Config {
        region: Some("eu-west-1".into()),
        profile: Some("rw".into()),
        ..Default::default()
    });
    let pool = pool(&cfg, test_options());
    let req = request(compress(b"payload"), WireFormat::Rw1, 0);
    assert_eq!(pool.send(&req).await.unwrap().status, 204);

    write("AKIDTWO", "token-two");
    check.rotate("AKIDTWO", "secret-AKIDTWO", Some("token-two"));
    // test_options() re-checks credentials files every 20 ms.
    monoio::time::sleep(Duration::from_millis(50)).await;
    let status = pool.send(&req).await.unwrap().status;
    assert_eq!(status, 204, "{:?}", check.refused.lock().unwrap());
    assert_eq!(check.accepted.load(Ordering::Relaxed), 2);
    let got = receiver.take_requests();
    let auth = |i: usize| {
        got[i].headers["authorization"]
            .to_str()
            .unwrap()
            .to_string()
    };
    assert!(auth(0).contains("Credential=AKIDONE/"), "{}", auth(0));
    assert!(auth(1).contains("Credential=AKIDTWO/"), "{}", auth(1));
    assert_eq!(got[1].headers["x-amz-security-token"], "token-two");
}

/// A sender with the wrong secret is refused: the check is real.
#[monoio::test(timer_enabled = true)]
async fn sigv4_wrong_secret_is_refused() {
    let check = Arc::new(SigV4Check::new(
        "AKIDTEST",
        "aws-secret",
        "eu-west-1",
        "aps",
    ));
    let receiver = Sink::builder(SinkTransport::Http1)
        .handler(check.clone())
        .start()
        .expect("receiver");
    let (cfg, _dir) = sigv4_cfg(&receiver, Protocol::Http1, "not-the-secret");
    let pool = pool(&cfg, test_options());
    let resp = pool
        .send(&request(compress(b"payload"), WireFormat::Rw1, 0))
        .await
        .unwrap();
    assert_eq!(resp.status, 403);
    assert_eq!(
        check.refused.lock().unwrap().as_slice(),
        ["signature mismatch"]
    );
}

/// The keys as written in a prometheus.yml reach the HTTP layer: a relative
/// `client_secret_file`, scopes and `endpoint_params` for oauth2; keys and region for sigv4.
#[monoio::test(timer_enabled = true)]
async fn prometheus_yaml_oauth2_and_sigv4_work_end_to_end() {
    let s = oauth_setup(
        SinkTransport::Http1,
        Protocol::Http1,
        TokenServer::new("app", "from-file", Some(3600)),
    );
    let sig = Arc::new(SigV4Check::new(
        "AKIDYAML",
        "yaml-secret",
        "us-west-2",
        "aps",
    ));
    let aws = Sink::builder(SinkTransport::Http1)
        .handler(sig.clone())
        .start()
        .expect("aws receiver");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client-secret"), "from-file\n").unwrap();
    let yaml = format!(
        r#"global: {{scrape_interval: 15s}}
remote_write:
  - url: {}/api/v1/push
    name: tokens
    oauth2:
      client_id: app
      client_secret_file: client-secret
      token_url: {}
      scopes: [write]
  - url: {}/workspaces/ws-1/api/v1/remote_write
    name: amp
    sigv4:
      region: us-west-2
      access_key: AKIDYAML
      secret_key: yaml-secret
"#,
        s.receiver.url(),
        s.cfg.oauth2.as_ref().unwrap().token_url,
        aws.url()
    );
    let config = ringwrite::config::Config::from_yaml(&yaml, "test.yml", Some(dir.path()))
        .unwrap_or_else(|e| panic!("{e}"));
    for ep in &config.remote_write {
        let http_cfg = ringwrite::pipeline::adapt::endpoint_config(&ep.name, &ep.config);
        let pool = pool(&http_cfg, test_options());
        assert_sent(&send_one(&pool).await, &ep.name);
    }
    assert_eq!(s.check.accepted.load(Ordering::Relaxed), 1);
    assert_eq!(sig.accepted.load(Ordering::Relaxed), 1);
    assert!(s.tokens.forms.lock().unwrap()[0].contains("scope=write"));
}
