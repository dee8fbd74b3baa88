//! `ringwrite demo`: the whole pipeline on a bundled Prometheus WAL, shipped to an
//! in-process receiver that decodes every request; no external server needed.

use super::DemoArgs;
use crate::config::Config;
use crate::encode::proto::{v1, v2};
use crate::pipeline::{Pipeline, PipelineSpec};
use crate::runtime::{parse_cores, Cores};
use crate::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use prost::Message;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Decodes every request and counts what arrived.
#[derive(Default)]
struct Receiver {
    requests: AtomicU64,
    samples: AtomicU64,
    histograms: AtomicU64,
    exemplars: AtomicU64,
    series: Mutex<HashSet<Vec<u8>>>,
    bad: AtomicU64,
}

impl Handler for Receiver {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let Some(Ok(body)) = &req.decompressed else {
            self.bad.fetch_add(1, Ordering::Relaxed);
            return Some(Reply::status(400));
        };
        let v2 = req
            .headers
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.contains("io.prometheus.write.v2"));
        let (mut s, mut h, mut e) = (0u64, 0u64, 0u64);
        let mut keys = Vec::new();
        if v2 {
            let Ok(r) = v2::Request::decode(&body[..]) else {
                self.bad.fetch_add(1, Ordering::Relaxed);
                return Some(Reply::status(400));
            };
            for ts in &r.timeseries {
                let mut k = Vec::new();
                for &i in &ts.labels_refs {
                    k.extend_from_slice(r.symbols[i as usize].as_bytes());
                    k.push(0);
                }
                keys.push(k);
                s += ts.samples.len() as u64;
                h += ts.histograms.len() as u64;
                e += ts.exemplars.len() as u64;
            }
        } else {
            let Ok(r) = v1::WriteRequest::decode(&body[..]) else {
                self.bad.fetch_add(1, Ordering::Relaxed);
                return Some(Reply::status(400));
            };
            for ts in &r.timeseries {
                let mut k = Vec::new();
                for l in &ts.labels {
                    k.extend_from_slice(l.name.as_bytes());
                    k.push(0);
                    k.extend_from_slice(l.value.as_bytes());
                    k.push(0);
                }
                keys.push(k);
                s += ts.samples.len() as u64;
                h += ts.histograms.len() as u64;
                e += ts.exemplars.len() as u64;
            }
        }
        self.samples.fetch_add(s, Ordering::Relaxed);
        self.histograms.fetch_add(h, Ordering::Relaxed);
        self.exemplars.fetch_add(e, Ordering::Relaxed);
        if let Ok(mut set) = self.series.lock() {
            set.extend(keys);
        }
        Some(if v2 {
            Reply::written(s, h, e)
        } else {
            Reply::no_content()
        })
    }
}

pub fn run(args: &DemoArgs) -> anyhow::Result<i32> {
    let rx = Arc::new(Receiver::default());
    let sink = Sink::builder(SinkTransport::H2c)
        .handler(rx.clone())
        .start()?;
    let message = if args.rw2 {
        "io.prometheus.write.v2.Request"
    } else {
        "prometheus.WriteRequest"
    };
    let yaml = format!(
        "remote_write:\n  - url: {}\n    name: demo\n    protocol: h2c\n    protobuf_message: {message}\n    send_exemplars: true\n    send_native_histograms: true\n    queue_config: {{batch_send_deadline: 100ms}}\n",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "demo", None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ids =
        parse_cores(args.cores.as_deref().unwrap_or("auto")).map_err(|e| anyhow::anyhow!(e))?;
    let cores = Arc::new(Cores::start(&ids)?);
    let spec = PipelineSpec {
        flush_deadline: Duration::from_secs(30),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), args.wal_dir.clone())
    };
    let start = Instant::now();
    let p = Pipeline::start(spec, Arc::clone(&cores)).map_err(|e| anyhow::anyhow!(e))?;
    // Shipped everything on disk: caught up, and nothing pending.
    loop {
        let s = &p.stats;
        if s.caught_up.load(Ordering::Relaxed) && s.queue.pending.load(Ordering::Relaxed) == 0 {
            break;
        }
        if p.is_finished() || start.elapsed() > Duration::from_secs(300) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let stats = Arc::clone(&p.stats);
    p.stop().map_err(|e| anyhow::anyhow!(e))?;
    let q = &stats.queue;
    let read = stats.data_in.load(Ordering::Relaxed);
    let acked = q.samples_acked.load(Ordering::Relaxed) + q.exemplars_acked.load(Ordering::Relaxed);
    let received = rx.samples.load(Ordering::Relaxed)
        + rx.histograms.load(Ordering::Relaxed)
        + rx.exemplars.load(Ordering::Relaxed);
    println!(
        "ringwrite demo: {} -> in-process h2c receiver ({message})",
        args.wal_dir.display()
    );
    println!("  read from the WAL:   {read} samples, histograms and exemplars");
    println!("  acknowledged:        {acked}");
    println!(
        "  receiver decoded:    {} samples, {} histograms, {} exemplars in {} requests, {} series",
        rx.samples.load(Ordering::Relaxed),
        rx.histograms.load(Ordering::Relaxed),
        rx.exemplars.load(Ordering::Relaxed),
        rx.requests.load(Ordering::Relaxed),
        rx.series.lock().map(|s| s.len()).unwrap_or(0)
    );
    println!(
        "  failed: {}, dropped (no series): {}, undecodable requests: {}, time: {:.2?}",
        q.samples_failed.load(Ordering::Relaxed),
        stats.dropped_unknown_series.load(Ordering::Relaxed),
        rx.bad.load(Ordering::Relaxed),
        elapsed
    );
    drop(sink);
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
    let ok = read > 0 && read == received && rx.bad.load(Ordering::Relaxed) == 0;
    println!(
        "  {}",
        if ok {
            "OK: everything read arrived."
        } else {
            "MISMATCH"
        }
    );
    Ok(if ok { 0 } else { 1 })
}
