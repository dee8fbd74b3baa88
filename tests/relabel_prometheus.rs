//! Differential test against a real Prometheus 2.42: the same `prometheus.yml` (external
//! labels and a `write_relabel_configs` using most actions) is run by Prometheus, which
//! scrapes itself and remote-writes to one in-process receiver, and then by ringwrite, which
//! reads the WAL Prometheus wrote and sends to another. Every series and sample Prometheus
//! sent must have come from ringwrite with the same labels, and ringwrite may have sent more
//! only after Prometheus's last sample (2.42's watcher does not read the WAL's tail on stop).
//!
//! The rules avoid the few places where 2.42 differs from current Prometheus (which ringwrite
//! follows): a templated `target_label` that expands to an invalid name (2.42 deletes the
//! raw name), `labelmap` collisions (2.42 walks the sorted labels), `.` and newlines (2.42
//! anchors without `(?s:`) and a series relabeled to no labels at all (2.42 drops it).
mod common;

use common::prom::Prometheus;
use common::recorder::Recorder;
use ringwrite::config::Config;
use ringwrite::metrics::Kind;
use ringwrite::pipeline::{Pipeline, PipelineSpec};
use ringwrite::queue::Loss;
use ringwrite::runtime::Cores;
use ringwrite::sink::{Sink, SinkTransport};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Label text -> (timestamp, value bits), as a receiver got them (retries collapse).
type Received = BTreeMap<String, BTreeSet<(i64, u64)>>;

fn received(r: &Recorder) -> Received {
    r.snapshot()
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

const RULES: &str = r#"
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*|net_.*'
        action: drop
      - source_labels: [__name__, quantile]
        target_label: __tmp_shard
        modulus: 3
        action: hashmod
      - source_labels: [__tmp_shard]
        regex: '0|1'
        action: keep
      - regex: __tmp_shard
        action: labeldrop
      - regex: '(handler|code|le)'
        replacement: 'http_$1'
        action: labelmap
      - regex: 'handler|code'
        action: labeldrop
      - source_labels: [job]
        target_label: job
        action: keepequal
      - source_labels: [job]
        target_label: job_upper
        action: uppercase
      - source_labels: [job_upper]
        target_label: job_lower
        action: lowercase
      - source_labels: [instance]
        regex: '([^:]+):(\d+)'
        target_label: port
        replacement: 'p${2}'
      - source_labels: [replica, cluster]
        separator: '/'
        target_label: origin
      - source_labels: [__name__]
        regex: '(prometheus)_(tsdb)_(.*)'
        target_label: 'sub_${2}'
        replacement: '$1$3'
      - source_labels: [__name__]
        regex: '(prometheus)_(.*)'
        target_label: 'gone_$1'
        replacement: '$2x'
      - source_labels: [cluster]
        target_label: replica
        action: dropequal
      - source_labels: [__name__]
        regex: 'prometheus_http_requests_total'
        target_label: __name__
        replacement: 'renamed_http_requests_total'
"#;

#[test]
fn same_config_same_series_as_prometheus_2_42() {
    let d = tempfile::tempdir().unwrap();
    let prom_rec = Arc::new(Recorder::new(0));
    let prom_sink = Sink::builder(SinkTransport::Http1)
        .handler(prom_rec.clone())
        .start()
        .unwrap();
    let config = d.path().join("prometheus.yml");
    let sink_url = prom_sink.url();
    let data = d.path().join("data");
    let mut prom = Prometheus::start_with(
        &config,
        |port| {
            Some(format!(
            "global:\n  scrape_interval: 1s\n  external_labels: {{cluster: eu, replica: r1, job: ext}}\nscrape_configs:\n  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\nremote_write:\n  - url: {sink_url}\n    name: diff\n    queue_config: {{batch_send_deadline: 100ms}}\n{RULES}",
        ))
        },
        &data,
        &[],
    );
    // The configuration of the attempt that started (the port is in it).
    let yaml = std::fs::read_to_string(&config).unwrap();
    // Prometheus 2.42's WAL watcher polls the live segment every 15 s (no write
    // notifications before 2.47): run long enough for it to read and send several scrapes.
    std::thread::sleep(Duration::from_secs(20));
    prom.stop();
    let from_prometheus = received(&prom_rec);
    assert!(
        from_prometheus.len() > 20,
        "prometheus sent {} series; its log:\n{}",
        from_prometheus.len(),
        prom.log_tail(50)
    );

    // ringwrite: the same file, the WAL Prometheus left.
    let rw_rec = Arc::new(Recorder::new(0));
    let rw_sink = Sink::builder(SinkTransport::Http1)
        .handler(rw_rec.clone())
        .start()
        .unwrap();
    let cfg = Config::from_yaml(&yaml.replace(&prom_sink.url(), &rw_sink.url()), "t", None)
        .expect("ringwrite takes the Prometheus config");
    let cores = Arc::new(Cores::start(&[0]).unwrap());
    let spec = PipelineSpec {
        external_labels: cfg
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        flush_deadline: Duration::from_secs(10),
        fixed_shards: Some(1),
        ..PipelineSpec::new(cfg.remote_write[0].clone(), data.join("wal"))
    };
    let p = Pipeline::start(spec, Arc::clone(&cores)).unwrap();
    let start = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let n = rw_rec.samples.load(Ordering::SeqCst);
        if n != last.0 {
            last = (n, Instant::now());
        }
        let idle = p.stats.caught_up.load(Ordering::Relaxed)
            && p.stats.queue.pending.load(Ordering::Relaxed) == 0;
        if idle && n > 0 && last.1.elapsed() > Duration::from_millis(500) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "ringwrite did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = Arc::clone(&p.stats);
    p.stop().unwrap();
    let from_ringwrite = received(&rw_rec);
    let relabel_drops = stats.queue.drops.get(Kind::Samples, Loss::DroppedSeries);
    assert!(relabel_drops > 0);

    let series = |r: &Received| r.keys().cloned().collect::<BTreeSet<_>>();
    let (ps, rs) = (series(&from_prometheus), series(&from_ringwrite));
    eprintln!(
        "Prometheus sent {} series / {} samples; ringwrite {} / {}, dropped {} by relabeling",
        ps.len(),
        prom_rec.samples.load(Ordering::SeqCst),
        rs.len(),
        rw_rec.samples.load(Ordering::SeqCst),
        relabel_drops
    );
    assert_eq!(
        ps.difference(&rs).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "series Prometheus sent and ringwrite did not"
    );
    for (labels, samples) in &from_prometheus {
        let ours = &from_ringwrite[labels];
        assert!(
            samples.is_subset(ours),
            "{labels}: Prometheus sent samples ringwrite did not"
        );
    }
    // ringwrite reads the whole WAL; Prometheus 2.42 stops at its watcher's last read. So
    // anything only ringwrite sent (a sample, or a series created late) must come after
    // every sample Prometheus sent.
    let last_prom_t = from_prometheus
        .values()
        .flat_map(|s| s.iter().map(|(t, _)| *t))
        .max()
        .unwrap_or(i64::MIN);
    for (labels, samples) in &from_ringwrite {
        let theirs = from_prometheus.get(labels);
        for (t, v) in samples {
            if theirs.is_some_and(|p| p.contains(&(*t, *v))) {
                continue;
            }
            assert!(
                *t > last_prom_t,
                "{labels} at {t}: ringwrite sent a sample Prometheus (last sample at \
                 {last_prom_t}) did not{}",
                if theirs.is_none() {
                    ", for a series it never sent"
                } else {
                    ""
                }
            );
        }
    }
    // The rules did something visible on both sides.
    let any = |pred: &dyn Fn(&str) -> bool| ps.iter().any(|s| pred(s));
    assert!(any(
        &|s| s.contains("origin=r1/eu") && s.contains("job=self")
    ));
    assert!(any(
        &|s| s.contains("http_handler=") && !s.contains(",handler=")
    ));
    assert!(any(&|s| s.contains("sub_tsdb=prometheus")));
    assert!(any(
        &|s| s.starts_with("__name__=renamed_http_requests_total,")
    ));
    assert!(!any(&|s| s.contains("__name__=go_") || s.contains("gone_")));
    drop((prom_sink, rw_sink));
    if let Ok(c) = Arc::try_unwrap(cores) {
        c.shutdown();
    }
}
