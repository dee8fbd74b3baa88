//! `ringwrite bench` end to end, small: the generator, the real pipeline and the verifying
//! receiver in one process; checks the exit code, the last line and the JSON report, over
//! each protocol and transport, with receiver faults the sender must ride out, and with a
//! receiver that loses a sample (verification must fail, exit code 1).

use std::path::Path;
use std::process::{Command, Output};

/// A small run written as fast as possible.
fn bench(dir: &Path, name: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec!["--rate", "0", "--samples-per-series", "12"];
    args.extend_from_slice(extra);
    bench_paced(dir, name, &args)
}

/// A small run; `args` choose the pace.
fn bench_paced(dir: &Path, name: &str, args: &[&str]) -> (Output, serde_json::Value) {
    let json = dir.join(format!("{name}.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_ringwrite"))
        .args([
            "bench",
            "--series",
            "1500",
            "--series-per-target",
            "250",
            "--batch-send-deadline",
            "50ms",
            "--stall-timeout",
            "10s",
            "--log.level",
            "warn",
            "--json",
        ])
        .arg(&json)
        .args(args)
        .output()
        .expect("run ringwrite bench");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "{name}: no JSON report ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON report parses");
    (out, v)
}

fn num(v: &serde_json::Value, k: &str) -> f64 {
    v.get(k)
        .and_then(|x| x.as_f64())
        .unwrap_or_else(|| panic!("JSON field {k} missing or not a number: {v}"))
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

#[test]
fn bench_verifies_every_sample_over_each_protocol_and_transport() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &str, &[&str]); 4] = [
        ("rw1", "h2c", &["--histograms", "--exemplars", "--metadata"]),
        (
            "rw2",
            "http1",
            &["--histograms", "--exemplars", "--metadata"],
        ),
        ("rw1", "h2", &[]),
        // 503 on every 4th request: retried, still everything exactly once.
        ("rw2", "h2c", &["--sink-error-every", "4"]),
    ];
    for (proto, transport, extra) in cases {
        let name = format!("{proto}-{transport}");
        let mut args = vec!["--protocol", proto, "--transport", transport];
        args.extend_from_slice(extra);
        let (out, v) = bench(tmp.path(), &name, &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let written = num(&v, "samples_written");
        assert!(written >= 1500.0 * 12.0 * 0.9, "{name}: {written}");
        assert_eq!(num(&v, "samples_sent"), written, "{name}");
        assert_eq!(num(&v, "samples_verified"), written, "{name}");
        assert_eq!(v["ok"], serde_json::json!(true));
        assert!(num(&v, "samples_per_sec") > 0.0);
        assert!(num(&v, "cpu_seconds_per_million_samples") > 0.0);
        assert!(num(&v, "peak_rss_bytes") > 1e6);
        let (p50, p99, p999) = (
            num(&v, "lag_p50_ms"),
            num(&v, "lag_p99_ms"),
            num(&v, "lag_p999_ms"),
        );
        assert!(
            p50 > 0.0 && p50 <= p99 && p99 <= p999,
            "{name}: {p50} {p99} {p999}"
        );
        assert!(num(&v, "shards_final") >= 1.0);
        let driver = v["driver"].as_str().unwrap_or("");
        assert!(["io_uring", "epoll"].contains(&driver), "{driver}");
        if extra.contains(&"--exemplars") {
            assert!(num(&v, "exemplars_verified") > 0.0);
            assert_eq!(num(&v, "exemplars_verified"), num(&v, "exemplars_written"));
            assert!(num(&v, "histograms_verified") > 0.0);
        }
        if extra.contains(&"--sink-error-every") {
            assert!(num(&v, "requests_refused") > 0.0, "{name}: no 503 was sent");
            assert!(num(&v, "retries") > 0.0);
        }
        let last = last_line(&out);
        assert!(
            last.starts_with(&format!("OK: {written} of {written} samples verified at ")),
            "{name}: {last}"
        );
    }
}

#[test]
fn bench_exits_non_zero_when_the_receiver_loses_a_sample() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (out, v) = bench(tmp.path(), "drop", &["--sink-drop-samples", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", last_line(&out));
    assert_eq!(v["ok"], serde_json::json!(false));
    assert_eq!(
        num(&v, "samples_verified"),
        num(&v, "samples_written") - 1.0
    );
    assert!(num(&v, "verify_errors") >= 1.0);
    assert!(
        last_line(&out).starts_with("FAILED: "),
        "{}",
        last_line(&out)
    );
}

#[test]
fn bench_writes_a_plot_and_keeps_a_given_wal_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let svg = tmp.path().join("run.svg");
    let wal = tmp.path().join("wal");
    let (out, v) = bench(
        tmp.path(),
        "plot",
        &[
            "--plot",
            svg.to_str().expect("utf-8 path"),
            "--wal.dir",
            wal.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", last_line(&out));
    let text = std::fs::read_to_string(&svg).expect("plot written");
    assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(80)]);
    assert!(text.contains("throughput") && text.contains("p99"));
    assert!(text.matches("<polyline").count() >= 2, "lines drawn");
    assert!(wal.join("00000000").is_file(), "WAL kept");
    assert!(num(&v, "wal_segments") >= 1.0);
    // A non-empty --wal.dir is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_ringwrite"))
        .args(["bench", "--wal.dir"])
        .arg(&wal)
        .output()
        .expect("run");
    assert_ne!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[test]
fn bench_with_the_null_sink_counts_acknowledgements_and_reports_no_lag() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (out, v) = bench(tmp.path(), "null", &["--null-sink", "--protocol", "rw2"]);
    assert_eq!(out.status.code(), Some(0), "{}", last_line(&out));
    assert_eq!(v["verified"], serde_json::json!(false));
    assert_eq!(num(&v, "samples_sent"), num(&v, "samples_written"));
    assert!(v["lag_p99_ms"].is_null());
    assert!(
        last_line(&out).contains("acknowledged (null sink, not verified)"),
        "{}",
        last_line(&out)
    );
}

#[test]
fn bench_verifies_across_segment_rotation_and_checkpoints_while_tailing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // ~6 segments of 64 KiB; every 3 segments Prometheus-style truncation deletes the
    // oldest. At this rate the reader is long past them when they go.
    let (out, v) = bench_paced(
        tmp.path(),
        "checkpoints",
        &[
            "--samples-per-series",
            "12",
            "--rate",
            "4000",
            "--wal-segment-size",
            "64KB",
            "--checkpoint-every",
            "3",
            "--histograms",
            "--metadata",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(num(&v, "wal_segments") >= 4.0, "{v}");
    assert!(num(&v, "wal_checkpoints") >= 1.0, "{v}");
    assert_eq!(num(&v, "samples_verified"), num(&v, "samples_written"));
    // A segment size Prometheus could not have is refused before anything runs.
    let bad = Command::new(env!("CARGO_BIN_EXE_ringwrite"))
        .args(["bench", "--wal-segment-size", "100KB"])
        .output()
        .expect("run");
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("32768"));
}
