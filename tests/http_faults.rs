//! Receiver misbehaviour: GOAWAY, resets, silence, garbage, refused connections, dead
//! peers (PING timeout), stale keep-alive connections.

mod http_support;

use std::{
    io::Read,
    net::TcpListener,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_support::*;
use ringwrite::{
    http::{EndpointConfig, PoolOptions, Protocol, SendError, Stage, WireFormat},
    sink::{Reply, SinkTransport},
};

fn body() -> Bytes {
    compress(&raw_payload(20_000))
}

#[monoio::test(timer_enabled = true)]
async fn goaway_refused_stream_succeeds_on_a_new_connection() {
    for (transport, protocol) in [
        (SinkTransport::H2c, Protocol::H2c),
        (SinkTransport::TlsH2, Protocol::H2),
    ] {
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "goaway");
        let pool = pool(&cfg, test_options());
        sink.push_reply(Reply::GoAway);
        let resp = pool
            .send(&request(body(), WireFormat::Rw1, 0))
            .await
            .unwrap_or_else(|e| panic!("{transport:?}: {e}"));
        assert_eq!(resp.status, 204);
        let got = sink.wait_for_requests(2, WAIT);
        assert_eq!(got.len(), 2, "{transport:?}: refused once, then accepted");
        assert_ne!(
            got[0].connection, got[1].connection,
            "retried on a fresh connection"
        );
        assert!(
            got[1].headers.get("retry-attempt").is_none(),
            "not a batch retry"
        );
        let stats = pool.stats();
        assert_eq!(stats.refused_streams, 1);
        assert_eq!(stats.errors, 0);
        // Later requests keep using the new connection.
        pool.send(&request(body(), WireFormat::Rw1, 0))
            .await
            .unwrap();
        let got = sink.wait_for_requests(1, WAIT);
        assert_eq!(got[0].connection, 2, "{transport:?}");
    }
}

#[monoio::test(timer_enabled = true)]
async fn graceful_goaway_drains_and_reconnects() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "drain");
        let pool = pool(&cfg, test_options());
        // The receiver answers, then ends the connection (HTTP/1.1: Connection: close).
        sink.push_reply(Reply::GoAwayAfter(Box::new(Reply::no_content())));
        for i in 0..4 {
            let r = pool.send(&request(body(), WireFormat::Rw1, 0)).await;
            assert_eq!(
                r.unwrap_or_else(|e| panic!("{transport:?} #{i}: {e}"))
                    .status,
                204
            );
        }
        let got = sink.wait_for_requests(4, WAIT);
        let conns: Vec<u64> = got.iter().map(|r| r.connection).collect();
        assert_eq!(conns, vec![1, 2, 2, 2], "{transport:?}");
        assert_eq!(pool.stats().errors, 0);
    }
}

#[monoio::test(timer_enabled = true)]
async fn connection_reset_mid_response_is_a_retryable_error() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "reset");
        let pool = pool(&cfg, test_options());
        sink.push_reply(Reply::Reset);
        let err = pool
            .send(&request(body(), WireFormat::Rw1, 0))
            .await
            .expect_err("reset must fail");
        assert!(err.is_retryable(), "{transport:?}: {err}");
        assert!(
            matches!(err.kind(), "connection_lost" | "h2"),
            "{transport:?}: {} {err}",
            err.kind()
        );
        assert!(err.to_string().contains("endpoint reset"), "{err}");
        // The pool recovers.
        let r = pool.send(&request(body(), WireFormat::Rw1, 0)).await;
        assert_eq!(r.unwrap().status, 204, "{transport:?}");
    }
}

#[monoio::test(timer_enabled = true)]
async fn silent_receiver_times_out_without_wedging_other_requests() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (mut cfg, _dir) = config_for(&sink, protocol, "silent");
        cfg.remote_timeout = Duration::from_millis(1500);
        let pool = pool(&cfg, test_options());
        sink.push_reply(Reply::Hang);
        let start = Instant::now();
        let hung = {
            let pool = pool.clone();
            monoio::spawn(async move { pool.send(&request(body(), WireFormat::Rw1, 0)).await })
        };
        // Make sure the hanging request is in flight first.
        until_requests(&sink, 1).await;
        for _ in 0..3 {
            let t = Instant::now();
            let r = pool.send(&request(body(), WireFormat::Rw1, 0)).await;
            assert_eq!(r.unwrap().status, 204, "{transport:?}");
            // Well below remote_timeout: not queued behind the silent request.
            assert!(
                t.elapsed() < Duration::from_millis(1000),
                "{transport:?}: {:?}",
                t.elapsed()
            );
        }
        let err = hung.await.expect_err("must time out");
        let elapsed = start.elapsed();
        assert!(
            matches!(
                err,
                SendError::Timeout {
                    stage: Stage::AwaitingResponse,
                    ..
                }
            ),
            "{transport:?}: {err}"
        );
        assert!(err.is_retryable());
        assert!(err.to_string().contains("silent") && err.to_string().contains("timed out"));
        assert!(elapsed >= Duration::from_millis(1450), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(pool.stats().timeouts, 1);
        // Still usable afterwards.
        assert_eq!(
            pool.send(&request(body(), WireFormat::Rw1, 0))
                .await
                .unwrap()
                .status,
            204
        );
    }
}

#[monoio::test(timer_enabled = true)]
async fn garbage_response_is_an_error_not_a_panic() {
    let sink = sink(SinkTransport::Http1);
    let (cfg, _dir) = config_for(&sink, Protocol::Http1, "garbage");
    let pool = pool(&cfg, test_options());
    for raw in [
        &b"\x16\x03\x01\x02\x00garbage that is not http\r\n\r\n"[..],
        b"SSH-2.0-OpenSSH_9.2p1\r\n",
        b"HTTP/1.1 2000 Weird\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
    ] {
        sink.push_reply(Reply::Raw(Bytes::copy_from_slice(raw)));
        let err = pool
            .send(&request(body(), WireFormat::Rw1, 0))
            .await
            .expect_err("garbage must fail");
        assert_eq!(err.kind(), "protocol", "{err}");
        assert!(err.is_retryable());
        assert!(
            err.to_string().contains("garbage"),
            "names the endpoint: {err}"
        );
    }
    // An HTTP/2 client talking to an HTTP/1.1 server: handshake error, no panic.
    let (cfg, _dir2) = {
        let mut cfg = EndpointConfig::new(sink.url());
        cfg.name = Some("h2-to-h1".into());
        cfg.protocol = Protocol::H2c;
        (cfg, ())
    };
    let h2 = pool_for(&cfg);
    let err = h2
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), "h2_handshake" | "h2" | "connection_lost"),
        "{} {err}",
        err.kind()
    );
}

fn pool_for(cfg: &EndpointConfig) -> ringwrite::http::Pool {
    pool(cfg, test_options())
}

#[monoio::test(timer_enabled = true)]
async fn refused_connection_names_endpoint_and_address() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = EndpointConfig::new(format!("http://127.0.0.1:{port}/api/v1/write"));
    cfg.name = Some("nowhere".into());
    let pool = pool_for(&cfg);
    let err = pool
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "connect");
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("nowhere") && msg.contains(&port.to_string()),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "{msg}");
    assert_eq!(pool.stats().connect_errors, 1);
}

#[monoio::test(timer_enabled = true)]
async fn unanswered_ping_closes_a_dead_http2_connection() {
    // A peer that accepts TCP and then never sends a byte (a dead middlebox).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let _peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    let mut cfg = EndpointConfig::new(format!("http://{addr}/api/v1/write"));
    cfg.name = Some("dead".into());
    cfg.protocol = Protocol::H2c;
    cfg.remote_timeout = Duration::from_secs(20);
    let opts = PoolOptions {
        h2_ping_interval: Duration::from_millis(100),
        h2_ping_timeout: Duration::from_millis(200),
        ..test_options()
    };
    let pool = pool(&cfg, opts);
    let start = Instant::now();
    let err = pool
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(err.is_retryable());
    assert_ne!(
        err.kind(),
        "timeout",
        "closed by the PING check, not remote_timeout: {err}"
    );
    assert!(err.to_string().contains("PING"), "{err}");
    assert_eq!(pool.stats().ping_timeouts, 1);
}

#[monoio::test(timer_enabled = true)]
async fn http1_connection_closed_by_receiver_is_replaced_transparently() {
    let sink = sink(SinkTransport::Http1);
    let (cfg, _dir) = config_for(&sink, Protocol::Http1, "stale");
    let pool = pool(&cfg, test_options());
    assert_eq!(
        pool.send(&request(body(), WireFormat::Rw1, 0))
            .await
            .unwrap()
            .status,
        204
    );
    // The receiver closes the kept-alive connection without answering the next request
    // (a keep-alive race): the request goes out again on a new connection.
    sink.push_reply(Reply::GoAway);
    let r = pool.send(&request(body(), WireFormat::Rw1, 0)).await;
    assert_eq!(r.unwrap().status, 204);
    let got = sink.wait_for_requests(3, WAIT);
    let conns: Vec<u64> = got.iter().map(|r| r.connection).collect();
    assert_eq!(conns, vec![1, 1, 2]);
    assert_eq!(pool.stats().stale_reconnects, 1);
    assert_eq!(pool.stats().errors, 0);
    // On a fresh connection the same thing is an error (no endless loop).
    sink.push_reply(Reply::GoAway);
    let pool2 = pool_for(&cfg);
    let err = pool2
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "connection_lost", "{err}");
}

#[monoio::test(timer_enabled = true)]
async fn closed_pool_fails_fast_and_is_not_retryable() {
    let sink = sink(SinkTransport::H2c);
    let (cfg, _dir) = config_for(&sink, Protocol::H2c, "closing");
    let pool = pool(&cfg, test_options());
    pool.send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap();
    pool.close();
    let err = pool
        .send(&request(body(), WireFormat::Rw1, 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "shutdown");
    assert!(!err.is_retryable());
    assert_eq!(pool.stats().open_connections, 0);
}

#[monoio::test(timer_enabled = true)]
async fn dropped_request_future_releases_its_slot() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (mut cfg, _dir) = config_for(&sink, protocol, "cancel");
        cfg.remote_timeout = Duration::from_secs(2);
        let opts = PoolOptions {
            h1_max_connections: 1,
            h2_max_connections: 1,
            h2_max_concurrent_streams: 1,
            ..test_options()
        };
        let pool = pool(&cfg, opts);
        sink.push_reply(Reply::Hang);
        // The caller gives up (shutdown, reshard) long before remote_timeout.
        let cancelled = monoio::time::timeout(
            Duration::from_millis(200),
            pool.send(&request(body(), WireFormat::Rw1, 0)),
        )
        .await;
        assert!(cancelled.is_err(), "{transport:?}");
        assert_eq!(pool.stats().in_flight, 0, "{transport:?}");
        // With one slot in total, this only works if the dropped request gave it back.
        let r = pool.send(&request(body(), WireFormat::Rw1, 0)).await;
        assert_eq!(
            r.unwrap_or_else(|e| panic!("{transport:?}: {e}")).status,
            204
        );
    }
}
