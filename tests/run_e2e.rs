//! `ringwrite run` end to end with real parts: Debian's Prometheus 2.42 scrapes local
//! static targets (counters, gauges, special values, staleness, OpenMetrics exemplars,
//! native histograms) and writes its WAL; ringwrite tails that live WAL and ships it to
//! two endpoints at once: Debian's VictoriaMetrics 1.79 (RW 1.0) and a second Prometheus
//! 2.42 started with `--web.enable-remote-write-receiver` (configured for RW 2.0, which
//! 2.42 cannot read: the endpoint must fall back to RW 1.0 by itself).
//!
//! At the end every float sample in the writer's WAL is in VictoriaMetrics exactly once per
//! (series, timestamp) with the same value, and every float sample, native histogram and
//! exemplar is in the receiving Prometheus's own WAL, bit for bit.

mod common;

use common::prom::{http_get, Prometheus, Targets};
use common::ringwrite::start_run;
use common::walread::read_wal;
use ringwrite::record::owned::{float_histogram_eq, histogram_eq};
use ringwrite::record::{NORMAL_NAN_BITS, STALE_NAN_BITS};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

type LabelSet = Vec<(String, String)>;

/// VictoriaMetrics export: label set -> (timestamp, value bits).
fn vm_export(port: u16) -> BTreeMap<LabelSet, Vec<(i64, u64)>> {
    let (status, body) = http_get(
        port,
        "/api/v1/export?match%5B%5D=%7B__name__%3D~%22.%2B%22%7D",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let (metric, rest) = line
            .strip_prefix("{\"metric\":")
            .and_then(|r| r.split_once(",\"values\":["))
            .unwrap_or_else(|| panic!("unexpected export line {line}"));
        let (values, ts) = rest.split_once("],\"timestamps\":[").unwrap();
        let ts = ts.trim_end_matches("]}");
        let mut l = parse_flat_object(metric);
        l.sort();
        let vals: Vec<u64> = values
            .split(',')
            .map(|v| match v {
                "null" => STALE_NAN_BITS,
                "Inf" | "+Inf" => f64::INFINITY.to_bits(),
                "-Inf" => f64::NEG_INFINITY.to_bits(),
                "NaN" => NORMAL_NAN_BITS,
                s => s
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("value {s:?}"))
                    .to_bits(),
            })
            .collect();
        let ts: Vec<i64> = ts.split(',').map(|t| t.parse().unwrap()).collect();
        out.insert(l, ts.into_iter().zip(vals).collect());
    }
    out
}

/// `{"a":"x","b":"y"}` with JSON string escapes.
fn parse_flat_object(s: &str) -> LabelSet {
    let b: Vec<char> = s.chars().collect();
    let mut i = 1;
    let mut out = Vec::new();
    let read_str = |i: &mut usize| -> String {
        assert_eq!(b[*i], '"');
        *i += 1;
        let mut o = String::new();
        while b[*i] != '"' {
            if b[*i] == '\\' {
                *i += 1;
                match b[*i] {
                    'n' => o.push('\n'),
                    't' => o.push('\t'),
                    'r' => o.push('\r'),
                    'u' => {
                        let hex: String = b[*i + 1..*i + 5].iter().collect();
                        let mut cp = u32::from_str_radix(&hex, 16).unwrap();
                        *i += 4;
                        if (0xD800..0xDC00).contains(&cp) {
                            let lo: String = b[*i + 3..*i + 7].iter().collect();
                            cp = 0x10000
                                + ((cp - 0xD800) << 10)
                                + (u32::from_str_radix(&lo, 16).unwrap() - 0xDC00);
                            *i += 6;
                        }
                        o.push(char::from_u32(cp).unwrap());
                    }
                    c => o.push(c),
                }
            } else {
                o.push(b[*i]);
            }
            *i += 1;
        }
        *i += 1;
        o
    };
    while b[i] != '}' {
        let k = read_str(&mut i);
        assert_eq!(b[i], ':');
        i += 1;
        let v = read_str(&mut i);
        out.push((k, v));
        if b[i] == ',' {
            i += 1;
        }
    }
    out
}

#[test]
fn run_ships_a_live_prometheus_wal_exactly_to_victoriametrics_and_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let targets = Targets::start();
    // The writer: scrapes plain, OpenMetrics (exemplars) and native-histogram targets.
    let writer_cfg = tmp.path().join("writer.yml");
    std::fs::write(
        &writer_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
             - job_name: basic\n  metrics_path: /metrics/basic\n  static_configs: [{{targets: ['127.0.0.1:{p}']}}]\n\
             - job_name: openmetrics\n  metrics_path: /metrics/openmetrics\n  static_configs: [{{targets: ['127.0.0.1:{p}']}}]\n\
             - job_name: native\n  metrics_path: /metrics/native\n  static_configs: [{{targets: ['127.0.0.1:{p}']}}]\n",
            p = targets.main_port
        ),
    )
    .unwrap();
    let writer_data = tmp.path().join("writer");
    let mut writer = Prometheus::start(
        &writer_cfg,
        &writer_data,
        &["--enable-feature=exemplar-storage,native-histograms"],
    );
    // The receivers.
    let (_vm, vm_port) = common::vm::start_vm(tmp.path());
    let recv_cfg = tmp.path().join("receiver.yml");
    std::fs::write(&recv_cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let recv_data = tmp.path().join("receiver");
    let mut receiver = Prometheus::start(
        &recv_cfg,
        &recv_data,
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage,native-histograms",
        ],
    );
    // ringwrite: both endpoints, from the start of the WAL.
    let rw_cfg = tmp.path().join("ringwrite.yml");
    std::fs::write(
        &rw_cfg,
        format!(
            "remote_write:\n\
             - url: http://127.0.0.1:{vm_port}/api/v1/write\n  name: vm\n  queue_config: {{batch_send_deadline: 200ms}}\n\
             - url: http://127.0.0.1:{rp}/api/v1/write\n  name: prom\n  protobuf_message: io.prometheus.write.v2.Request\n  send_exemplars: true\n  send_native_histograms: true\n  queue_config: {{batch_send_deadline: 200ms}}\n",
            rp = receiver.port
        ),
    )
    .unwrap();
    let (mut rw, web_port) = start_run(
        &rw_cfg,
        &writer_data,
        &tmp.path().join("state"),
        &tmp.path().join("ringwrite.log"),
    );
    std::thread::sleep(Duration::from_secs(12));
    writer.stop();
    // Everything the writer wrote (its last segment is now closed).
    let not_internal = |l: &LabelSet| l.iter().any(|(n, _)| n == "__name__");
    let want = read_wal(&writer_data, not_internal);
    let want_floats: usize = want.floats.values().map(Vec::len).sum();
    assert!(
        want_floats > 1000,
        "writer wrote only {want_floats} samples"
    );
    assert!(!want.histograms.is_empty() || !want.float_histograms.is_empty());
    assert!(!want.exemplars.is_empty());
    // Wait until VictoriaMetrics has everything it can store (it drops ordinary NaN).
    let vm_want: BTreeMap<LabelSet, Vec<(i64, u64)>> = want
        .floats
        .iter()
        .map(|(l, v)| {
            let kept: Vec<(i64, u64)> = v
                .iter()
                .filter(|(_, b)| !(f64::from_bits(*b).is_nan() && *b != STALE_NAN_BITS))
                .copied()
                .collect();
            (l.clone(), kept)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = BTreeMap::new();
    while Instant::now() < deadline {
        let _ = http_get(vm_port, "/internal/force_flush");
        got = vm_export(vm_port);
        if got.values().map(Vec::len).sum::<usize>()
            >= vm_want.values().map(Vec::len).sum::<usize>()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Self-metrics under Prometheus's names, per endpoint.
    std::thread::sleep(Duration::from_millis(1500));
    let (status, metrics) = http_get(web_port, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{metrics}"))
    };
    let sent = value("prometheus_remote_storage_samples_total{remote_name=\"vm\"");
    assert!(
        sent >= vm_want.values().map(Vec::len).sum::<usize>() as f64,
        "{sent}"
    );
    assert!(value("prometheus_remote_storage_shards{remote_name=\"prom\"") >= 1.0);
    assert!(
        value("prometheus_remote_storage_queue_highest_sent_timestamp_seconds{remote_name=\"vm\"")
            > 1e9
    );
    assert!(value("prometheus_remote_storage_histograms_total{remote_name=\"prom\"") > 0.0);
    assert!(value("prometheus_remote_storage_exemplars_total{remote_name=\"prom\"") > 0.0);
    assert!(
        metrics.contains("ringwrite_core_busy_ratio{core=\"0\"}"),
        "{metrics}"
    );
    assert_eq!(http_get(web_port, "/-/ready").unwrap().0, 200);
    rw.signal(libc::SIGTERM);
    let (status, clean) = rw.terminate(Duration::from_secs(90));
    let rw_log = std::fs::read_to_string(tmp.path().join("ringwrite.log")).unwrap_or_default();
    assert!(
        clean && status.success(),
        "ringwrite exit {status}:\n{rw_log}"
    );
    // VictoriaMetrics: exactly once per (series, timestamp), same value as far as its
    // storage goes (12 significant decimal digits; subnormals come back as 0; see
    // tests/wire_real_receivers.rs). The Prometheus receiver below is checked bit for bit.
    assert_eq!(got.len(), vm_want.len(), "series count in VictoriaMetrics");
    for (l, w) in &vm_want {
        let g = got
            .get(l)
            .unwrap_or_else(|| panic!("series {l:?} missing in VictoriaMetrics"));
        let ts: Vec<i64> = g.iter().map(|(t, _)| *t).collect();
        let wts: Vec<i64> = w.iter().map(|(t, _)| *t).collect();
        assert_eq!(ts, wts, "{l:?}: timestamps");
        for ((t, gb), (_, wb)) in g.iter().zip(w) {
            let wv = f64::from_bits(*wb);
            if wv != 0.0 && wv.abs() < f64::MIN_POSITIVE {
                continue;
            }
            let gv = f64::from_bits(*gb);
            // VictoriaMetrics keeps 12 significant decimal digits; infinities and the
            // staleness marker exactly.
            let close = gb == wb || (wv.is_finite() && (gv - wv).abs() <= wv.abs() * 1e-11);
            assert!(close, "{l:?} @{t}: got {gv} want {wv}");
        }
    }
    // The receiving Prometheus: its own WAL holds exactly what the writer's WAL held.
    receiver.stop();
    let got = read_wal(&recv_data, not_internal);
    assert_eq!(
        got.floats, want.floats,
        "float samples at the Prometheus receiver"
    );
    // Histogram structs hold floats (a stale histogram's sum is StaleNaN): compare bits.
    assert_eq!(
        got.histograms.keys().collect::<Vec<_>>(),
        want.histograms.keys().collect::<Vec<_>>()
    );
    for (l, w) in &want.histograms {
        let g = &got.histograms[l];
        assert_eq!(g.len(), w.len(), "{l:?}");
        for ((gt, gh), (wt, wh)) in g.iter().zip(w) {
            assert!(
                gt == wt && histogram_eq(gh, wh),
                "{l:?} @{wt}: {gh:?} != {wh:?}"
            );
        }
    }
    assert_eq!(
        got.float_histograms.keys().collect::<Vec<_>>(),
        want.float_histograms.keys().collect::<Vec<_>>()
    );
    for (l, w) in &want.float_histograms {
        let g = &got.float_histograms[l];
        assert_eq!(g.len(), w.len(), "{l:?}");
        for ((gt, gh), (wt, wh)) in g.iter().zip(w) {
            assert!(
                gt == wt && float_histogram_eq(gh, wh),
                "{l:?} @{wt}: {gh:?} != {wh:?}"
            );
        }
    }
    assert_eq!(got.exemplars, want.exemplars, "exemplars");
    assert!(
        rw_log.contains("falling back") || rw_log.contains("RW 1.0") || rw_log.contains("fall"),
        "the RW 2.0 endpoint must have fallen back to RW 1.0:\n{rw_log}"
    );
}
