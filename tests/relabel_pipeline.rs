//! `write_relabel_configs` and `global.external_labels` through the whole pipeline (WAL ->
//! series cache -> shards -> HTTP -> in-process receiver): exactly the series the rules keep
//! arrive, with exactly the labels the rules produce; samples of dropped series are counted
//! as `samples_dropped_total{reason="dropped_series"}`, apart from unknown refs.

mod common;

use common::recorder::Recorder;
use common::walgen::log_samples;
use ringwrite::config::Config;
use ringwrite::metrics::{Kind, Registry};
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::queue::Loss;
use ringwrite::record::{encode, RefSample};
use ringwrite::runtime::Cores;
use ringwrite::sink::{Sink, SinkTransport};
use ringwrite::wal::fragment::PAGE_SIZE;
use ringwrite::wal::writer::{Compression, WalWriter};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOSTS: u64 = 8;
const SCRAPES: i64 = 5;
const T0: i64 = 1_700_000_000_000;

/// The series written, by ref.
fn series() -> Vec<(u64, Vec<(String, String)>)> {
    let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let mut out = Vec::new();
    for i in 0..HOSTS {
        let host = format!("host-{i}");
        let zone = format!("z{i}");
        out.push((
            10 + i,
            l(&[
                ("__name__", "http_requests_total"),
                ("instance", &host),
                ("job", "api"),
                ("tmp_zone", &zone),
            ]),
        ));
        out.push((
            20 + i,
            l(&[
                ("__name__", "go_goroutines"),
                ("instance", &host),
                ("job", "api"),
            ]),
        ));
    }
    // No `job`: the external one is added. Own `cluster`: it wins over the external one.
    out.push((30, l(&[("__name__", "up"), ("instance", "host-0")])));
    out.push((
        31,
        l(&[
            ("__name__", "up"),
            ("cluster", "us"),
            ("instance", "host-4"),
        ]),
    ));
    out
}

/// Writes the series, then `SCRAPES` samples for each, plus one sample of a ref no Series
/// record announced. Sample value = ref * 100 + scrape.
fn write_wal(dir: &Path) {
    let mut w = WalWriter::create(dir, 0, 8 * PAGE_SIZE, Compression::Snappy).unwrap();
    let all = series();
    let mut b = Vec::new();
    encode::series(&mut b, all.iter().map(|(r, l)| (*r, l)));
    w.log(&[&b]).unwrap();
    for s in 0..SCRAPES {
        let mut batch: Vec<RefSample> = all
            .iter()
            .map(|(r, _)| RefSample {
                sref: *r,
                t: T0 + s * 1000,
                st: 0,
                v: (*r as i64 * 100 + s) as f64,
            })
            .collect();
        if s == 0 {
            batch.push(RefSample {
                sref: 999,
                t: T0,
                st: 0,
                v: 1.0,
            });
        }
        log_samples(&mut w, &batch);
    }
    w.close().unwrap();
}

/// The rules under test: drop by regex, labelmap (+ labeldrop of the mapped prefix), keep
/// one hashmod shard, and a replace that reads an external label.
const RULES: &str = r#"
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
      - regex: 'tmp_(.*)'
        replacement: '$1'
        action: labelmap
      - regex: 'tmp_.*'
        action: labeldrop
      - source_labels: [instance]
        target_label: __tmp_shard
        modulus: 4
        action: hashmod
      - source_labels: [__tmp_shard]
        regex: '1'
        action: keep
      - regex: __tmp_shard
        action: labeldrop
      - source_labels: [cluster]
        target_label: region
        replacement: 'region-$1'
"#;

fn run_case(protobuf_message: &str) {
    let d = tempfile::tempdir().unwrap();
    write_wal(d.path());
    let rec = Arc::new(Recorder::new(0));
    let sink = Sink::builder(SinkTransport::Http1)
        .handler(rec.clone())
        .start()
        .unwrap();
    let yaml = format!(
        "global:\n  external_labels:\n    cluster: eu\n    job: ext\nremote_write:\n  - url: {}\n    name: relabel\n    protobuf_message: {protobuf_message}\n    queue_config: {{batch_send_deadline: 20ms}}\n{RULES}",
        sink.url()
    );
    let cfg = Config::from_yaml(&yaml, "test.yml", None).unwrap();
    let registry = Registry::new();
    let cores = Arc::new(Cores::start(&[0]).unwrap());
    let spec = PipelineSpec {
        external_labels: cfg
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        flush_deadline: Duration::from_secs(10),
        fixed_shards: Some(2),
        registry: Some(registry.clone()),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), d.path().to_path_buf())
    };
    // Which hosts land in hashmod shard 1 of 4 was computed independently (md5 of
    // "host-N", last 8 bytes big-endian, mod 4): host-0, host-4 and host-6.
    let kept_hosts = [0u64, 4, 6];
    let mut want: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    let samples_of = |r: u64| -> Vec<(i64, u64)> {
        (0..SCRAPES)
            .map(|s| (T0 + s * 1000, ((r as i64 * 100 + s) as f64).to_bits()))
            .collect()
    };
    for i in kept_hosts {
        want.insert(
            format!("__name__=http_requests_total,cluster=eu,instance=host-{i},job=api,region=region-eu,zone=z{i}"),
            samples_of(10 + i),
        );
    }
    want.insert(
        "__name__=up,cluster=eu,instance=host-0,job=ext,region=region-eu".into(),
        samples_of(30),
    );
    want.insert(
        "__name__=up,cluster=us,instance=host-4,job=ext,region=region-us".into(),
        samples_of(31),
    );
    let sent: usize = want.values().map(Vec::len).sum();
    // All 8 go_goroutines series, and the 5 http_requests_total series in other shards.
    let dropped = (HOSTS + HOSTS - kept_hosts.len() as u64) * SCRAPES as u64;
    let metric = format!(
        "prometheus_remote_storage_samples_dropped_total{{reason=\"dropped_series\",remote_name=\"relabel\",url=\"{}\"}} {dropped}\n",
        sink.url()
    );

    let p = Pipeline::start(spec, Arc::clone(&cores)).unwrap();
    let relabel_drops = |p: &Pipeline| p.stats.queue.drops.get(Kind::Samples, Loss::DroppedSeries);
    let arrived = || rec.samples.load(Ordering::SeqCst) as usize;
    let start = Instant::now();
    while arrived() < sent || relabel_drops(&p) < dropped || !registry.render().contains(&metric) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} of {sent} samples arrived, {} dropped by relabeling; metrics:\n{}",
            arrived(),
            relabel_drops(&p),
            registry.render()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing more is coming: the WAL is fully read and everything acknowledged.
    std::thread::sleep(Duration::from_millis(200));
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let got = rec.snapshot();
    assert_eq!(got, want, "exactly these series, labels and samples");
    let drops = &stats.queue.drops;
    assert_eq!(drops.get(Kind::Samples, Loss::DroppedSeries), dropped);
    assert_eq!(
        drops.get(Kind::Samples, Loss::UnknownSeries),
        1,
        "the unannounced ref is not a relabel drop"
    );
    assert_eq!(stats.dropped_unknown_series.load(Ordering::Relaxed), 1);
    assert_eq!(stats.queue.samples_failed.load(Ordering::Relaxed), 0);
    assert_eq!(
        stats.queue.samples_acked.load(Ordering::Relaxed),
        sent as u64
    );
    let text = registry.render();
    assert!(text.contains(&metric), "{text}");
    assert!(
        text.contains(&format!(
            "prometheus_remote_storage_samples_dropped_total{{reason=\"unintentionally_dropped_series\",remote_name=\"relabel\",url=\"{}\"}} 1\n",
            sink.url()
        )),
        "{text}"
    );
    drop(sink);
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}

#[test]
fn rw1_ships_exactly_what_the_rules_keep() {
    run_case("prometheus.WriteRequest");
}

#[test]
fn rw2_ships_exactly_what_the_rules_keep() {
    run_case("io.prometheus.write.v2.Request");
}
