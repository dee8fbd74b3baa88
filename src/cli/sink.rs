//! `ringwrite sink` (hidden): a null remote-write receiver as its own process, for
//! `bench/peers`, where Prometheus, vmagent and ringwrite must all push into the same
//! receiver and the receiver's CPU must not be counted against any of them.
//!
//! It reads every request body and answers `204`. By default it decodes nothing; with
//! `--count-samples` it snappy-decodes each Remote-Write 1.0 body and skims the protobuf
//! for sample and histogram fields (no labels are decoded, nothing is allocated per
//! series), so every sender is counted by the same independent code; it also keeps the
//! newest sample timestamp seen, so the lag of any sender can be read the same way (wall
//! clock minus newest timestamp received). Once per `--stats-interval` it prints one JSON
//! line of counters to standard output.

use super::signal;
use crate::sink::{Handler, ReceivedRequest, Reply, Sink, SinkStats, SinkTransport};
use clap::{Args, ValueEnum};
use prost::bytes::Buf;
use prost::encoding::{decode_key, decode_varint, skip_field, DecodeContext, WireType};
use prost::DecodeError;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `ringwrite sink`.
#[derive(Args, Debug, Clone)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long = "listen", value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// What to speak: cleartext HTTP/1.1 (what Prometheus and vmagent use for `http://`
    /// URLs) or h2c with prior knowledge.
    #[arg(long = "transport", value_enum, default_value_t = NullTransport::Http1)]
    pub transport: NullTransport,
    /// Pin the receiver thread to this core.
    #[arg(long = "core", value_name = "N")]
    pub core: Option<usize>,
    /// How often to print the counters.
    #[arg(long = "stats-interval", value_name = "DURATION", default_value = "1s",
          value_parser = super::parse_duration_arg)]
    pub stats_interval: Duration,
    /// Decompress Remote-Write 1.0 bodies and count their samples and histograms.
    #[arg(long = "count-samples")]
    pub count_samples: bool,
}

/// The cleartext transports the null sink offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NullTransport {
    /// HTTP/1.1 with keep-alive.
    Http1,
    /// HTTP/2 with prior knowledge.
    H2c,
}

impl From<NullTransport> for SinkTransport {
    fn from(t: NullTransport) -> Self {
        match t {
            NullTransport::Http1 => SinkTransport::Http1,
            NullTransport::H2c => SinkTransport::H2c,
        }
    }
}

/// Runs the sink until SIGINT or SIGTERM.
pub fn run(args: &SinkArgs) -> anyhow::Result<i32> {
    signal::install();
    let counter = Arc::new(SampleCounter::default());
    let mut builder = Sink::builder(args.transport.into())
        .listen_on(args.listen)
        .record(false)
        .decompress(args.count_samples);
    if args.count_samples {
        builder = builder.handler(counter.clone());
    }
    if let Some(core) = args.core {
        builder = builder.pin_to_core(core);
    }
    let sink = builder
        .start()
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{{\"listening\":\"{}\",\"url\":\"{}\"}}",
        sink.addr(),
        sink.url()
    )?;
    out.flush()?;
    let tick = Duration::from_millis(50);
    let mut next = started + args.stats_interval;
    while !signal::interrupted() {
        std::thread::sleep(tick);
        if Instant::now() >= next {
            writeln!(
                out,
                "{}",
                stats_line(started.elapsed(), unix_ms(), sink.stats(), &counter)
            )?;
            out.flush()?;
            next += args.stats_interval;
        }
    }
    writeln!(
        out,
        "{}",
        stats_line(started.elapsed(), unix_ms(), sink.stats(), &counter)
    )?;
    sink.shutdown();
    Ok(0)
}

/// Wall-clock milliseconds since the epoch (0 if the clock is before it).
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Counts what Remote-Write 1.0 requests carry; never changes the reply.
#[derive(Default)]
struct SampleCounter {
    samples: AtomicU64,
    histograms: AtomicU64,
    undecodable: AtomicU64,
    /// Newest sample timestamp received (ms since the epoch), 0 before the first.
    newest_ms: AtomicI64,
}

impl Handler for SampleCounter {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        match req.decompressed.as_ref().map(|d| match d {
            Ok(body) => count_rw1(body).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        }) {
            Some(Ok(c)) => {
                self.samples.fetch_add(c.samples, Ordering::Relaxed);
                self.histograms.fetch_add(c.histograms, Ordering::Relaxed);
                self.newest_ms.fetch_max(c.newest_ms, Ordering::Relaxed);
            }
            _ => {
                self.undecodable.fetch_add(1, Ordering::Relaxed);
            }
        }
        None
    }
}

/// Why a body could not be skimmed.
#[derive(Debug, thiserror::Error)]
enum SkimError {
    #[error("not a protobuf message: {0}")]
    Proto(#[from] DecodeError),
    #[error("a field of {len} bytes runs past the {left} bytes left in its message")]
    Truncated { len: u64, left: usize },
}

/// Field numbers: `WriteRequest.timeseries`, `TimeSeries.samples`, `TimeSeries.histograms`,
/// `Sample.timestamp`.
const TIMESERIES: u32 = 1;
const SAMPLES: u32 = 2;
const HISTOGRAMS: u32 = 4;
const SAMPLE_TIMESTAMP: u32 = 2;

/// What one request carried.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    samples: u64,
    histograms: u64,
    /// Newest sample timestamp (ms), 0 if there were no samples.
    newest_ms: i64,
}

/// Counts a Remote-Write 1.0 `WriteRequest`, skimming field keys and lengths; only sample
/// timestamps are decoded.
fn count_rw1(mut buf: &[u8]) -> Result<Counts, SkimError> {
    let mut c = Counts::default();
    while buf.has_remaining() {
        let (tag, wire) = decode_key(&mut buf)?;
        if tag == TIMESERIES && wire == WireType::LengthDelimited {
            let mut series = take_len_delimited(&mut buf)?;
            while series.has_remaining() {
                let (tag, wire) = decode_key(&mut series)?;
                match (tag, wire) {
                    (SAMPLES, WireType::LengthDelimited) => {
                        let ts = sample_timestamp(take_len_delimited(&mut series)?)?;
                        c.newest_ms = c.newest_ms.max(ts);
                        c.samples += 1;
                    }
                    (HISTOGRAMS, WireType::LengthDelimited) => {
                        take_len_delimited(&mut series)?;
                        c.histograms += 1;
                    }
                    _ => skip_field(wire, tag, &mut series, DecodeContext::default())?,
                }
            }
        } else {
            skip_field(wire, tag, &mut buf, DecodeContext::default())?;
        }
    }
    Ok(c)
}

/// `Sample.timestamp` (0 when absent, as in proto3).
fn sample_timestamp(mut sample: &[u8]) -> Result<i64, SkimError> {
    let mut ts = 0;
    while sample.has_remaining() {
        let (tag, wire) = decode_key(&mut sample)?;
        if tag == SAMPLE_TIMESTAMP && wire == WireType::Varint {
            // int64 is sent as its two's-complement bits.
            ts = decode_varint(&mut sample)? as i64;
        } else {
            skip_field(wire, tag, &mut sample, DecodeContext::default())?;
        }
    }
    Ok(ts)
}

/// Splits a length-prefixed field off the front of `buf`.
fn take_len_delimited<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], SkimError> {
    let len = decode_varint(buf)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= buf.len())
        .ok_or(SkimError::Truncated {
            len,
            left: buf.len(),
        })?;
    let (field, rest) = buf.split_at(len);
    *buf = rest;
    Ok(field)
}

/// One JSON line of counters; `elapsed` in seconds with millisecond precision.
fn stats_line(elapsed: Duration, now_unix_ms: i64, s: SinkStats, c: &SampleCounter) -> String {
    format!(
        "{{\"elapsed_s\":{:.3},\"requests\":{},\"body_bytes\":{},\"connections\":{},\
         \"samples\":{},\"histograms\":{},\"undecodable\":{},\"newest_ms\":{},\
         \"unix_ms\":{}}}",
        elapsed.as_secs_f64(),
        s.requests,
        s.body_bytes,
        s.connections,
        c.samples.load(Ordering::Relaxed),
        c.histograms.load(Ordering::Relaxed),
        c.undecodable.load(Ordering::Relaxed),
        c.newest_ms.load(Ordering::Relaxed),
        now_unix_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::proto::v1;
    use prost::Message;

    #[test]
    fn stats_line_is_json_with_every_counter() {
        let c = SampleCounter::default();
        assert_eq!(
            stats_line(Duration::ZERO, 0, SinkStats::default(), &c),
            r#"{"elapsed_s":0.000,"requests":0,"body_bytes":0,"connections":0,"samples":0,"histograms":0,"undecodable":0,"newest_ms":0,"unix_ms":0}"#
        );
        c.samples.store(5, Ordering::Relaxed);
        c.histograms.store(2, Ordering::Relaxed);
        c.undecodable.store(1, Ordering::Relaxed);
        c.newest_ms.store(1_700_000_000_123, Ordering::Relaxed);
        let s = SinkStats {
            requests: 7,
            body_bytes: 1 << 40,
            connections: 3,
        };
        assert_eq!(
            stats_line(Duration::from_millis(61_234), 1_700_000_001_000, s, &c),
            r#"{"elapsed_s":61.234,"requests":7,"body_bytes":1099511627776,"connections":3,"samples":5,"histograms":2,"undecodable":1,"newest_ms":1700000000123,"unix_ms":1700000001000}"#
        );
    }

    /// Sample timestamps are `BASE_MS + index`, so the newest is `BASE_MS + samples - 1`.
    const BASE_MS: i64 = 1_700_000_000_000;

    fn series(labels: usize, samples: usize, histograms: usize) -> v1::TimeSeries {
        v1::TimeSeries {
            labels: (0..labels)
                .map(|i| v1::Label {
                    name: format!("l{i}"),
                    value: "x".repeat(200),
                })
                .collect(),
            samples: (0..samples)
                .map(|i| v1::Sample {
                    value: i as f64 * 0.1,
                    timestamp: BASE_MS + i as i64,
                })
                .collect(),
            exemplars: vec![v1::Exemplar::default()],
            histograms: vec![v1::Histogram::default(); histograms],
        }
    }

    #[test]
    fn count_rw1_counts_samples_and_histograms() {
        // (series shapes (labels, samples, histograms), samples, histograms, newest ms)
        type Shape = (usize, usize, usize);
        let cases: &[(&[Shape], u64, u64, i64)] = &[
            (&[], 0, 0, 0),
            (&[(3, 1, 0)], 1, 0, BASE_MS),
            (&[(0, 0, 0)], 0, 0, 0),
            (&[(6, 10, 0), (1, 0, 3), (2, 200, 1)], 210, 4, BASE_MS + 199),
        ];
        for &(shapes, samples, histograms, newest_ms) in cases {
            let req = v1::WriteRequest {
                timeseries: shapes.iter().map(|&(l, s, h)| series(l, s, h)).collect(),
                metadata: vec![v1::MetricMetadata::default()],
            };
            let got = count_rw1(&req.encode_to_vec()).expect("valid body");
            let want = Counts {
                samples,
                histograms,
                newest_ms,
            };
            assert_eq!(got, want, "{shapes:?}");
        }
    }

    #[test]
    fn count_rw1_refuses_truncated_bodies() {
        let req = v1::WriteRequest {
            timeseries: vec![series(2, 3, 0)],
            metadata: vec![],
        };
        let body = req.encode_to_vec();
        for cut in [1, body.len() / 2, body.len() - 1] {
            assert!(count_rw1(&body[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn sink_acks_without_decoding() {
        // A body that is neither snappy nor protobuf still gets 204: nothing is decoded.
        let sink = Sink::builder(NullTransport::Http1.into())
            .record(false)
            .decompress(false)
            .start()
            .expect("sink starts");
        let mut conn = std::net::TcpStream::connect(sink.addr()).expect("connect");
        let body = b"not snappy";
        let req = format!(
            "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(req.as_bytes()).expect("write head");
        conn.write_all(body).expect("write body");
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut conn, &mut buf).expect("read reply");
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 204"), "{head:?}");
        assert_eq!(sink.stats().requests, 1);
        assert_eq!(sink.stats().body_bytes, body.len() as u64);
    }
}
