//! Headers, retries and response handling over HTTP/1.1, h2c and TLS h2, against the
//! in-process sinks (FORMATS.md §3.3, §3.4, §4.4).

mod http_support;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use http_support::*;
use ringwrite::{
    http::{
        send_with_retry, AuthorizationConfig, BasicAuthConfig, BatchOutcome, FallbackCause,
        Protocol, RetryPolicy, Secret, WireFormat,
    },
    sink::{Reply, SinkTransport},
};

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        retry_on_http_429: false,
        max_attempts: Some(10),
    }
}

fn header_names(h: &http::HeaderMap) -> BTreeSet<String> {
    h.keys().map(|k| k.as_str().to_string()).collect()
}

#[monoio::test(timer_enabled = true)]
async fn headers_are_exactly_right_on_every_transport() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (mut cfg, _dir) = config_for(&sink, protocol, "hdr");
        cfg.headers
            .insert("X-Scope-OrgID".into(), "tenant-7".into());
        cfg.authorization = Some(AuthorizationConfig {
            credentials: Some(Secret::new("s3cret")),
            ..Default::default()
        });
        let pool = pool(&cfg, test_options());
        let raw = noise(150_000);
        let body = compress(&raw);
        for (format, attempt) in [(WireFormat::Rw1, 0), (WireFormat::Rw2, 3)] {
            let resp = pool
                .send(&request(body.clone(), format, attempt))
                .await
                .unwrap_or_else(|e| panic!("{transport:?}: {e}"));
            assert_eq!(resp.status, 204, "{transport:?}");
        }
        let got = sink.wait_for_requests(2, WAIT);
        assert_eq!(got.len(), 2, "{transport:?}");
        let is_h1 = transport == SinkTransport::Http1;
        for (r, (format, attempt)) in got.iter().zip([(WireFormat::Rw1, 0), (WireFormat::Rw2, 3)]) {
            let h = &r.headers;
            let mut want: BTreeSet<String> = [
                "user-agent",
                "content-encoding",
                "content-type",
                "x-prometheus-remote-write-version",
                "x-scope-orgid",
                "authorization",
                "content-length",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if is_h1 {
                want.insert("host".into());
                assert_eq!(h["host"], sink.addr().to_string());
            }
            if attempt > 0 {
                want.insert("retry-attempt".into());
                assert_eq!(h["retry-attempt"], attempt.to_string());
            }
            assert_eq!(
                header_names(h),
                want,
                "{transport:?} {format:?}: exact header set"
            );
            assert_eq!(h["content-encoding"], "snappy");
            assert_eq!(h["content-type"], format.content_type());
            assert_eq!(h["x-prometheus-remote-write-version"], format.version());
            assert_eq!(
                h["user-agent"],
                format!("ringwrite/{}", env!("CARGO_PKG_VERSION"))
            );
            assert_eq!(h["authorization"], "Bearer s3cret");
            assert_eq!(h["x-scope-orgid"], "tenant-7");
            assert_eq!(h["content-length"], body.len().to_string());
            assert_eq!(r.method, http::Method::POST);
            assert_eq!(r.path, "/api/v1/write");
            assert_eq!(r.tls, transport == SinkTransport::TlsH2);
            let expected_version = if is_h1 {
                http::Version::HTTP_11
            } else {
                http::Version::HTTP_2
            };
            assert_eq!(r.version, expected_version, "{transport:?}");
            assert_eq!(r.body, body);
            assert_eq!(r.decompressed.as_ref().unwrap().as_ref().unwrap(), &raw);
        }
    }
}

#[monoio::test(timer_enabled = true)]
async fn basic_auth_header() {
    let sink = sink(SinkTransport::Http1);
    let (mut cfg, _dir) = config_for(&sink, Protocol::Auto, "basic");
    cfg.basic_auth = Some(BasicAuthConfig {
        username: Some("alice".into()),
        password: Some(Secret::new("wonder:land")),
        ..Default::default()
    });
    let pool = pool(&cfg, test_options());
    pool.send(&request(compress(b"x"), WireFormat::Rw1, 0))
        .await
        .unwrap();
    let got = sink.wait_for_requests(1, WAIT);
    // base64("alice:wonder:land")
    assert_eq!(
        got[0].headers["authorization"],
        "Basic YWxpY2U6d29uZGVyOmxhbmQ="
    );
}

#[monoio::test(timer_enabled = true)]
async fn retryable_statuses_are_retried_on_every_transport() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "retry");
        let pool = pool(&cfg, test_options());
        let cases = [
            (Reply::status(500), false),
            (Reply::status(503).body("overloaded"), false),
            (Reply::status(408), false),
            (Reply::retry_after(429, "0"), true),
        ];
        for (reply, retry_429) in cases {
            let label = format!("{transport:?} {reply:?}");
            sink.push_replies([reply.clone(), reply]);
            let policy = RetryPolicy {
                retry_on_http_429: retry_429,
                ..fast_retries()
            };
            let outcome =
                send_with_retry(&pool, compress(b"abc"), WireFormat::Rw1, COUNTS, &policy).await;
            assert_eq!(
                outcome,
                BatchOutcome::Sent {
                    written: None,
                    attempts: 3
                },
                "{label}"
            );
            let got = sink.wait_for_requests(3, WAIT);
            let attempts: Vec<Option<String>> = got
                .iter()
                .map(|r| {
                    r.headers
                        .get("retry-attempt")
                        .map(|v| v.to_str().unwrap().to_string())
                })
                .collect();
            assert_eq!(
                attempts,
                vec![None, Some("1".into()), Some("2".into())],
                "{label}"
            );
        }
    }
}

#[monoio::test(timer_enabled = true)]
async fn non_retryable_statuses_drop_the_batch() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "drop");
        let pool = pool(&cfg, test_options());
        for status in [400u16, 401, 404, 413, 429] {
            let label = format!("{transport:?} {status}");
            sink.push_reply(Reply::status(status).body(format!("error {status} from receiver")));
            let outcome = send_with_retry(
                &pool,
                compress(b"abc"),
                WireFormat::Rw1,
                COUNTS,
                &fast_retries(),
            )
            .await;
            let BatchOutcome::Dropped { reason, attempts } = outcome else {
                panic!("{label}: {outcome:?}");
            };
            assert_eq!(attempts, 1, "{label}");
            assert_eq!(reason.label(), "http_4xx", "{label}");
            let ringwrite::http::DropReason::HttpStatus {
                status: got, body, ..
            } = reason;
            assert_eq!(got.as_u16(), status, "{label}");
            assert_eq!(body, format!("error {status} from receiver"), "{label}");
            assert_eq!(
                sink.wait_for_requests(1, WAIT).len(),
                1,
                "{label}: sent once"
            );
        }
    }
}

#[monoio::test(timer_enabled = true)]
async fn retry_after_is_respected() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "retry-after");
        let pool = pool(&cfg, test_options());
        sink.push_reply(Reply::retry_after(503, "1"));
        let start = Instant::now();
        let outcome = send_with_retry(
            &pool,
            compress(b"abc"),
            WireFormat::Rw1,
            COUNTS,
            &fast_retries(),
        )
        .await;
        let elapsed = start.elapsed();
        assert!(
            matches!(outcome, BatchOutcome::Sent { attempts: 2, .. }),
            "{outcome:?}"
        );
        // The backoff alone would be 5 ms; Retry-After says 1 s.
        assert!(
            elapsed >= Duration::from_millis(950),
            "{transport:?}: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(4),
            "{transport:?}: {elapsed:?}"
        );
    }
}

#[monoio::test(timer_enabled = true)]
async fn rw2_falls_back_to_rw1_on_415_or_missing_written_headers() {
    for (transport, protocol) in TRANSPORTS {
        for (reply, cause) in [
            (Reply::status(415), FallbackCause::UnsupportedMediaType),
            (Reply::no_content(), FallbackCause::NoWrittenHeaders),
        ] {
            let sink = sink(transport);
            let (cfg, _dir) = config_for(&sink, protocol, "rw2");
            let pool = pool(&cfg, test_options());
            sink.push_reply(reply);
            let outcome = send_with_retry(
                &pool,
                compress(b"v2"),
                WireFormat::Rw2,
                COUNTS,
                &fast_retries(),
            )
            .await;
            assert_eq!(
                outcome,
                BatchOutcome::FallBackToRw1 { cause, attempts: 1 },
                "{transport:?}"
            );
            assert_eq!(
                pool.endpoint().wire_format(WireFormat::Rw2),
                WireFormat::Rw1
            );
        }
        // A 2.0 receiver that reports what it wrote.
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "rw2-ok");
        let pool = pool(&cfg, test_options());
        sink.push_reply(Reply::written(7, 0, 0));
        let outcome = send_with_retry(
            &pool,
            compress(b"v2"),
            WireFormat::Rw2,
            COUNTS,
            &fast_retries(),
        )
        .await;
        let BatchOutcome::Sent {
            written: Some(w),
            attempts: 1,
        } = outcome
        else {
            panic!("{transport:?}: {outcome:?}");
        };
        assert_eq!(w.samples, 7);
        assert_eq!(w.missing(&COUNTS).samples, 3);
        assert_eq!(
            pool.endpoint().wire_format(WireFormat::Rw2),
            WireFormat::Rw2
        );
    }
}

#[monoio::test(timer_enabled = true)]
async fn http1_keep_alive_reuses_one_connection() {
    let sink = sink(SinkTransport::Http1);
    let (cfg, _dir) = config_for(&sink, Protocol::Http1, "keepalive");
    let pool = pool(&cfg, test_options());
    for _ in 0..20 {
        let r = pool
            .send(&request(compress(&raw_payload(1000)), WireFormat::Rw1, 0))
            .await
            .unwrap();
        assert_eq!(r.status, 204);
    }
    assert_eq!(sink.stats().connections, 1);
    assert_eq!(sink.stats().requests, 20);
    assert_eq!(pool.stats().connections_opened, 1);
}

#[monoio::test(timer_enabled = true)]
async fn concurrent_requests_spread_over_several_connections() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        sink.set_default_reply(Reply::no_content().delayed(Duration::from_millis(50)));
        let (cfg, _dir) = config_for(&sink, protocol, "spread");
        let mut opts = test_options();
        opts.h1_max_connections = 3;
        opts.h2_max_connections = 3;
        opts.h2_max_concurrent_streams = 2;
        let pool = pool(&cfg, opts);
        let body = compress(&raw_payload(10_000));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let pool = pool.clone();
                let body = body.clone();
                monoio::spawn(async move { pool.send(&request(body, WireFormat::Rw1, 0)).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().status, 204);
        }
        let conns = sink.stats().connections;
        assert_eq!(conns, 3, "{transport:?}: capped at 3 connections, all used");
        let stats = pool.stats();
        assert_eq!(stats.in_flight, 0);
        assert_eq!(stats.responses, 12);
    }
}

/// A body larger than the sink's 1 MiB frame size arrives in several DATA frames; a small
/// one in one. Both must reach the receiver byte for byte (the HTTP/2 sink keeps a
/// one-frame body as it came and joins several frames).
#[monoio::test(timer_enabled = true)]
async fn bodies_of_one_and_of_several_frames_arrive_intact() {
    for (transport, protocol) in TRANSPORTS {
        let sink = sink(transport);
        let (cfg, _dir) = config_for(&sink, protocol, "frames");
        let pool = pool(&cfg, test_options());
        let sizes = [1000, 200_000, 2_600_000];
        let raws: Vec<Vec<u8>> = sizes.iter().map(|&n| noise(n)).collect();
        for raw in &raws {
            let resp = pool
                .send(&request(compress(raw), WireFormat::Rw1, 0))
                .await
                .unwrap_or_else(|e| panic!("{transport:?}: {e}"));
            assert_eq!(resp.status, 204, "{transport:?}");
        }
        let got = sink.wait_for_requests(raws.len(), WAIT);
        assert_eq!(got.len(), raws.len(), "{transport:?}");
        for (r, raw) in got.iter().zip(&raws) {
            assert_eq!(r.body, compress(raw), "{transport:?}: {} B", raw.len());
            assert_eq!(
                r.decompressed.as_ref().unwrap().as_ref().unwrap(),
                raw,
                "{transport:?}"
            );
        }
    }
}
