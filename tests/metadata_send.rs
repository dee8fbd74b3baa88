//! RW 1.0 metadata (`metadata_config`): the metadata records of a WAL reach the receiver as
//! `WriteRequest.metadata` every `send_interval`, newest per metric name, split at
//! `max_samples_per_send`; with `send: false` nothing is sent.

mod common;

use prost::Message;
use ringwrite::config::Config;
use ringwrite::encode::proto::v1;
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::record::{encode, MetricType, RefMetadata, RefSample};
use ringwrite::runtime::Cores;
use ringwrite::sink::{Handler, ReceivedRequest, Reply, Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Collects metadata entries (name -> (type, help, unit)) and the size of each request.
#[derive(Default)]
struct MetaSink {
    seen: Mutex<BTreeMap<String, (i32, String, String)>>,
    sizes: Mutex<Vec<usize>>,
}

impl Handler for MetaSink {
    fn handle(&self, req: &ReceivedRequest) -> Option<Reply> {
        let body = req.decompressed.as_ref()?.as_ref().ok()?;
        let w = v1::WriteRequest::decode(&body[..]).ok()?;
        if !w.metadata.is_empty() {
            self.sizes.lock().unwrap().push(w.metadata.len());
        }
        let mut seen = self.seen.lock().unwrap();
        for m in w.metadata {
            seen.insert(m.metric_family_name, (m.r#type, m.help, m.unit));
        }
        Some(Reply::no_content())
    }
}

fn write_wal(dir: &Path) {
    let mut w = WalWriter::create(dir, 0, 8 * PAGE_SIZE, Compression::Snappy).unwrap();
    let names = ["http_requests_total", "latency_seconds", "temperature"];
    let labels: Vec<Vec<(String, String)>> = names
        .iter()
        .map(|n| vec![("__name__".to_string(), n.to_string())])
        .collect();
    let mut b = Vec::new();
    encode::series(
        &mut b,
        labels.iter().enumerate().map(|(i, l)| (i as u64 + 1, l)),
    );
    w.log(&[&b]).unwrap();
    b.clear();
    encode::metadata(
        &mut b,
        &[
            RefMetadata {
                sref: 1,
                mtype: MetricType::Counter,
                unit: b"",
                help: b"old help",
            },
            RefMetadata {
                sref: 1,
                mtype: MetricType::Counter,
                unit: b"",
                help: b"Requests.",
            },
            RefMetadata {
                sref: 2,
                mtype: MetricType::Histogram,
                unit: b"seconds",
                help: b"Latency.",
            },
            RefMetadata {
                sref: 3,
                mtype: MetricType::Gauge,
                unit: b"celsius",
                help: b"",
            },
        ],
    );
    w.log(&[&b]).unwrap();
    b.clear();
    let samples: Vec<RefSample> = (1..=3)
        .map(|sref| RefSample {
            sref,
            t: 1000,
            st: 0,
            v: 1.0,
        })
        .collect();
    encode::samples_v1(&mut b, &samples);
    w.log(&[&b]).unwrap();
    w.close().unwrap();
}

fn run(metadata_config: &str) -> Arc<MetaSink> {
    let d = tempfile::tempdir().unwrap();
    write_wal(d.path());
    let meta = Arc::new(MetaSink::default());
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(meta.clone())
        .start()
        .unwrap();
    let yaml = format!(
        "remote_write:\n  - url: {}\n    name: meta\n    metadata_config: {metadata_config}\n    queue_config: {{batch_send_deadline: 20ms}}\n",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "m.yml", None).unwrap();
    let cores = Arc::new(Cores::start(&[0, 1]).unwrap());
    let spec = PipelineSpec {
        flush_deadline: Duration::from_secs(5),
        fixed_shards: Some(1),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), d.path().to_path_buf())
    };
    let p = Pipeline::start(spec, cores).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    p.stop().unwrap();
    sink.shutdown();
    meta
}

#[test]
fn metadata_records_are_sent_per_metric_name() {
    let meta = run("{send_interval: 200ms, max_samples_per_send: 2}");
    let seen = meta.seen.lock().unwrap().clone();
    let want: BTreeMap<String, (i32, String, String)> = [
        (
            "http_requests_total",
            (MetricType::Counter, "Requests.", ""),
        ),
        (
            "latency_seconds",
            (MetricType::Histogram, "Latency.", "seconds"),
        ),
        ("temperature", (MetricType::Gauge, "", "celsius")),
    ]
    .into_iter()
    .map(|(n, (t, h, u))| (n.to_string(), (t as i32, h.to_string(), u.to_string())))
    .collect();
    assert_eq!(seen, want);
    let sizes = meta.sizes.lock().unwrap().clone();
    assert!(sizes.len() >= 2, "sent every interval: {sizes:?}");
    assert!(
        sizes.iter().all(|&n| n <= 2),
        "max_samples_per_send: {sizes:?}"
    );
}

#[test]
fn send_false_sends_no_metadata() {
    let meta = run("{send: false, send_interval: 100ms}");
    assert!(meta.seen.lock().unwrap().is_empty());
}
