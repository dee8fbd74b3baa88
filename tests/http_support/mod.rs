//! Shared helpers for the `http_*` integration tests: sinks, endpoints, bodies.
#![allow(dead_code)] // each test binary uses a different subset

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use ringwrite::{
    http::{
        Endpoint, EndpointConfig, Pool, PoolOptions, Protocol, SentCounts, WireFormat, WriteRequest,
    },
    sink::{Sink, SinkTransport},
};
use tempfile::TempDir;

/// The three transports every behaviour is checked over: (sink, client protocol).
pub const TRANSPORTS: [(SinkTransport, Protocol); 3] = [
    (SinkTransport::Http1, Protocol::Http1),
    (SinkTransport::H2c, Protocol::H2c),
    (SinkTransport::TlsH2, Protocol::H2),
];

/// A raw payload that is recognisable after a snappy round trip.
pub fn raw_payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ (i / 251) as u8).collect()
}

/// `n` pseudo-random bytes: they stay about `n` bytes long after snappy, so bodies of
/// realistic compressed size (and above the 64 KiB HTTP/2 initial window) are easy to make.
pub fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Snappy block-compressed `raw`.
pub fn compress(raw: &[u8]) -> Bytes {
    Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(raw)
            .expect("snappy compress"),
    )
}

pub const COUNTS: SentCounts = SentCounts {
    samples: 10,
    histograms: 0,
    exemplars: 0,
};

pub fn request(body: Bytes, format: WireFormat, attempt: u32) -> WriteRequest {
    WriteRequest {
        body,
        format,
        attempt,
        counts: COUNTS,
        tenant: None,
    }
}

/// An endpoint config pointing at `sink`, trusting its CA (written into a temp dir that
/// must live as long as the endpoint is rebuilt from it).
pub fn config_for(sink: &Sink, protocol: Protocol, name: &str) -> (EndpointConfig, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = EndpointConfig::new(sink.url());
    cfg.name = Some(name.to_string());
    cfg.protocol = protocol;
    cfg.remote_timeout = Duration::from_secs(10);
    if let Some(ca) = sink.ca_pem() {
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca).expect("write ca");
        cfg.tls_config.ca_file = Some(path);
    }
    (cfg, dir)
}

/// Small, fast pool options for tests.
pub fn test_options() -> PoolOptions {
    PoolOptions {
        credentials_recheck: Duration::from_millis(20),
        ..PoolOptions::default()
    }
}

/// A pool for `cfg` on the current monoio runtime.
pub fn pool(cfg: &EndpointConfig, opts: PoolOptions) -> Pool {
    let endpoint = Endpoint::new(cfg).unwrap_or_else(|e| panic!("endpoint: {e}"));
    Pool::new(Arc::new(endpoint), opts)
}

/// Starts a sink with defaults.
pub fn sink(transport: SinkTransport) -> Sink {
    Sink::start(transport).expect("start sink")
}

pub const WAIT: Duration = Duration::from_secs(5);

/// Waits (without blocking the monoio thread) until the sink has read `n` requests.
pub async fn until_requests(sink: &Sink, n: u64) {
    let deadline = std::time::Instant::now() + WAIT;
    while sink.stats().requests < n {
        assert!(
            std::time::Instant::now() < deadline,
            "sink saw fewer than {n} requests"
        );
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
}
