//! Cost of external labels + `write_relabel_configs` per series (they run once per Series
//! record, never per sample), and of the whole `SeriesCache::store` (relabel, then encode
//! and intern the labels for the wire).
//!
//! Run: `cargo bench --bench relabel`. Knobs: `RELABEL_BENCH_SECS` seconds per run (default
//! 0.5), `RELABEL_BENCH_RUNS` runs per row, median reported (default 5).
//!
//! Rule sets: `none`; `external` (2 external labels, no rules); `typical` (drop by name
//! regex, labeldrop, hashmod + keep + labeldrop: a sharded remote write); `k8s-20` (the 20
//! rules of Prometheus's `BenchmarkRelabel` "kubernetes" case, on its 30-label set).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ringwrite::config::{NameValidation, RelabelConfig};
use ringwrite::record::{decode, encode, Record};
use ringwrite::relabel::Relabeler;
use ringwrite::runtime::thread_cpu;
use ringwrite::series::SeriesCache;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    let mut r: Vec<RelabelConfig> = serde_yaml_ng::from_str(yaml).expect("bench rules parse");
    for c in &mut r {
        c.validate(NameValidation::Utf8).expect("bench rules valid");
    }
    r
}

const TYPICAL: &str = r#"
- {source_labels: [__name__], regex: 'go_.*|process_.*', action: drop}
- {regex: 'pod_template_hash|controller_revision_hash', action: labeldrop}
- {source_labels: [pod], target_label: __tmp_shard, modulus: 4, action: hashmod}
- {source_labels: [__tmp_shard], regex: '0|1|2|3', action: keep}
- {regex: __tmp_shard, action: labeldrop}
"#;

/// Prometheus's BenchmarkRelabel "kubernetes" rules (model/relabel/relabel_test.go).
const K8S: &str = r#"
- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: .*-metrics, action: keep}
- {source_labels: [__meta_kubernetes_pod_label_name], action: drop, regex: ""}
- {source_labels: [__meta_kubernetes_pod_phase], regex: Succeeded|Failed, action: drop}
- {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: "false", action: drop}
- {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scheme], target_label: __scheme__, regex: (https?), replacement: $1, action: replace}
- {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path], target_label: __metrics_path__, regex: (.+), replacement: $1, action: replace}
- {source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port], target_label: __address__, regex: '(.+?)(\:\d+)?;(\d+)', replacement: '$1:$3', action: replace}
- {regex: __meta_kubernetes_pod_annotation_prometheus_io_param_(.+), replacement: __param_$1, action: labelmap}
- {regex: __meta_kubernetes_pod_label_prometheus_io_label_(.+), action: labelmap}
- {regex: __meta_kubernetes_pod_annotation_prometheus_io_label_(.+), action: labelmap}
- {source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_pod_label_name], separator: /, target_label: job, replacement: $1, action: replace}
- {source_labels: [__meta_kubernetes_namespace], target_label: namespace, action: replace}
- {source_labels: [__meta_kubernetes_pod_name], target_label: pod, action: replace}
- {source_labels: [__meta_kubernetes_pod_container_name], target_label: container, action: replace}
- {source_labels: [__meta_kubernetes_pod_name, __meta_kubernetes_pod_container_name, __meta_kubernetes_pod_container_port_name], separator: ':', target_label: instance, action: replace}
- {target_label: cluster, replacement: dev-us-central-0}
- {source_labels: [__meta_kubernetes_namespace], regex: hosted-grafana, action: drop}
- {source_labels: [__address__], target_label: __tmp_hash, modulus: 3, action: hashmod}
- {source_labels: [__tmp_hash], regex: ^0$, action: keep}
- {regex: __tmp_hash, action: labeldrop}
"#;

fn k8s_labels() -> Vec<(String, String)> {
    let pairs = [
        ("__address__", "10.132.183.40:80"),
        ("__meta_kubernetes_namespace", "loki-boltdb-shipper"),
        (
            "__meta_kubernetes_pod_annotation_promtail_loki_boltdb_shipper_hash",
            "50523b9759094a144adcec2eae0aa4ad",
        ),
        (
            "__meta_kubernetes_pod_annotationpresent_promtail_loki_boltdb_shipper_hash",
            "true",
        ),
        ("__meta_kubernetes_pod_container_init", "false"),
        ("__meta_kubernetes_pod_container_name", "promtail"),
        ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        ("__meta_kubernetes_pod_container_port_number", "80"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_controller_kind", "DaemonSet"),
        (
            "__meta_kubernetes_pod_controller_name",
            "promtail-loki-boltdb-shipper",
        ),
        ("__meta_kubernetes_pod_host_ip", "10.128.0.178"),
        ("__meta_kubernetes_pod_ip", "10.132.183.40"),
        (
            "__meta_kubernetes_pod_label_controller_revision_hash",
            "555b77cd7d",
        ),
        (
            "__meta_kubernetes_pod_label_name",
            "promtail-loki-boltdb-shipper",
        ),
        ("__meta_kubernetes_pod_label_pod_template_generation", "45"),
        (
            "__meta_kubernetes_pod_labelpresent_controller_revision_hash",
            "true",
        ),
        ("__meta_kubernetes_pod_labelpresent_name", "true"),
        (
            "__meta_kubernetes_pod_labelpresent_pod_template_generation",
            "true",
        ),
        (
            "__meta_kubernetes_pod_name",
            "promtail-loki-boltdb-shipper-jgtr7",
        ),
        (
            "__meta_kubernetes_pod_node_name",
            "gke-dev-us-central-0-main-n2s8-2-14d53341-9hkr",
        ),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_ready", "true"),
        (
            "__meta_kubernetes_pod_uid",
            "4c586419-7f6c-448d-aeec-ca4fa5b05e60",
        ),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
        ("__scrape_interval__", "15s"),
        ("__scrape_timeout__", "10s"),
        ("job", "kubernetes-pods"),
    ];
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A 10-label scraped series (~200 bytes of names and values), `i` making it unique.
fn scraped_labels(i: usize) -> Vec<(String, String)> {
    let mut l = vec![
        ("__name__", "http_server_requests_seconds_count".to_string()),
        ("cluster", "prod-eu-west-1".into()),
        ("container", "api".into()),
        ("controller_revision_hash", "7d9f8c6b5".into()),
        (
            "instance",
            format!("10.12.{}.{}:8080", i % 250, i / 250 % 250),
        ),
        ("job", "kubernetes-pods".into()),
        ("method", "GET".into()),
        ("namespace", "payments".into()),
        ("pod", format!("api-7d9f8c6b5-{i:05x}")),
        ("status", "200".into()),
    ];
    l.sort();
    l.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}

/// (name, external labels, rules, input label sets).
type Case<'a> = (
    &'a str,
    &'a [(String, String)],
    Vec<RelabelConfig>,
    &'a Vec<Vec<(String, String)>>,
);

/// Median series per second of this thread's CPU time (not wall time, so other processes
/// sharing the core do not lower it) of `f` over `runs` runs of `secs` each.
fn measure(secs: f64, runs: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut rates = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let cpu = thread_cpu();
        let mut n = 0usize;
        while start.elapsed() < Duration::from_secs_f64(secs) {
            n += f();
        }
        rates.push(n as f64 / (thread_cpu() - cpu).as_secs_f64().max(1e-9));
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    let secs: f64 = env_or("RELABEL_BENCH_SECS", 0.5);
    let runs: usize = env_or("RELABEL_BENCH_RUNS", 5);
    println!("relabel bench: {runs} runs x {secs} s, median; series per CPU-second of one thread");
    let external = vec![
        ("region".to_string(), "eu".to_string()),
        ("replica".to_string(), "a".to_string()),
    ];
    let scraped: Vec<Vec<(String, String)>> = (0..1024).map(scraped_labels).collect();
    let k8s = vec![k8s_labels()];
    let cases: [Case<'_>; 4] = [
        ("none", &[], Vec::new(), &scraped),
        ("external", &external, Vec::new(), &scraped),
        ("typical", &external, rules(TYPICAL), &scraped),
        ("k8s-20", &[], rules(K8S), &k8s),
    ];
    println!(
        "{:<9} {:>16} {:>22}",
        "rules", "Relabeler k/s", "SeriesCache::store k/s"
    );
    for (name, ext, rules, inputs) in &cases {
        let mut relabeler = Relabeler::new(ext, rules);
        let mut i = 0;
        let relabel_rate = measure(secs, runs, || {
            let input = &inputs[i % inputs.len()];
            i += 1;
            let out = relabeler.process(input.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
            black_box(out.map_or(0, |l| l.count()));
            1
        });
        // The whole store: relabel, encode for RW 1.0/2.0, intern; every ref new.
        let records: Vec<Vec<u8>> = inputs
            .iter()
            .map(|l| {
                let mut b = Vec::new();
                encode::series(&mut b, [(1u64, l)]);
                b
            })
            .collect();
        let mut cache = SeriesCache::new(ext, rules);
        let mut sref = 0u64;
        let store_rate = measure(secs, runs, || {
            let rec = &records[sref as usize % records.len()];
            sref += 1;
            if let Ok(Record::Series(mut it)) = decode(rec) {
                if let Some(Ok((_, labels))) = it.next() {
                    let _ = black_box(cache.store(sref, labels, 0));
                }
            }
            1
        });
        println!(
            "{name:<9} {:>16.0} {:>22.0}",
            relabel_rate / 1e3,
            store_rate / 1e3
        );
    }
}
