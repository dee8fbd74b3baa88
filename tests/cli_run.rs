//! `ringwrite demo`, `check` and `run` from the command line.

use std::process::Command;

fn ringwrite(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwrite"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run ringwrite");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_ships_the_bundled_wal_through_the_pipeline() {
    for extra in [&[][..], &["--rw2"][..]] {
        let mut args = vec!["demo", "--cores", "0"];
        args.extend_from_slice(extra);
        let (code, out, err) = ringwrite(&args);
        assert_eq!(code, 0, "{out}\n{err}");
        // 14 395 float samples and 253 exemplars are in the fixture (tests/fixtures/README.md).
        assert!(
            out.contains("receiver decoded:    14395 samples, 0 histograms, 253 exemplars"),
            "{out}"
        );
        assert!(out.contains("OK: everything read arrived."), "{out}");
    }
}

#[test]
fn check_accepts_good_and_rejects_bad_configs_with_locations() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.yml");
    std::fs::write(
        &good,
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: x\n    static_configs: [{targets: ['a:1']}]\nremote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n",
    )
    .unwrap();
    let (code, out, _) = ringwrite(&["check", "--config.file", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    let bad = d.path().join("bad.yml");
    std::fs::write(
        &bad,
        "remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n    queue_config:\n      max_shard: 5\n",
    )
    .unwrap();
    let (code, out, _) = ringwrite(&["check", "--config.file", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("line 4") && out.contains("max_shard"), "{out}");
    // `run` refuses the same file before touching anything.
    let (code, _, err) = ringwrite(&[
        "run",
        "--config.file",
        bad.to_str().unwrap(),
        "--wal.dir",
        "tests/fixtures/prom242-basic",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("max_shard"), "{err}");
    // A directory that is not a WAL: a clear error before anything starts.
    let (code, _, err) = ringwrite(&[
        "run",
        "--config.file",
        good.to_str().unwrap(),
        "--wal.dir",
        d.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--wal.dir") && err.contains("expected `<data>/wal`"),
        "{err}"
    );
}

#[test]
fn version_is_prometheus_style_and_healthcheck_fails_without_a_server() {
    let (code, out, _) = ringwrite(&["--version"]);
    assert_eq!(code, 0);
    let first = out.lines().next().unwrap_or("");
    assert!(
        first.starts_with(&format!(
            "ringwrite {} (branch: ",
            env!("CARGO_PKG_VERSION")
        )) && first.contains(", revision: "),
        "{out}"
    );
    for key in ["build user:", "build date:", "rust version:", "platform:"] {
        assert!(out.contains(key), "{key} missing: {out}");
    }
    let (code, out, _) = ringwrite(&["-V"]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("ringwrite {}", env!("CARGO_PKG_VERSION")).as_str()
        )
    );
    // Nothing listens on the port: exit 1 with the reason.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/-/healthy");
    let (code, _, err) = ringwrite(&["healthcheck", "--url", &url, "--timeout", "2s"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("unhealthy: ") && err.contains(&url),
        "{err}"
    );
    // A bad log level is refused with the accepted values.
    let (code, _, err) = ringwrite(&["--log.level", "loud[", "check", "--config.file", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--log.level") && err.contains("warn"), "{err}");
}

#[test]
fn check_validates_write_relabel_configs_with_their_location() {
    let d = tempfile::tempdir().unwrap();
    let write = |name: &str, rules: &str| {
        let path = d.path().join(name);
        std::fs::write(
            &path,
            format!("remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n    name: main\n    write_relabel_configs:\n{rules}"),
        )
        .unwrap();
        path
    };
    let good = write(
        "good.yml",
        "      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n      - {regex: 'tmp_(.*)', action: labelmap}\n",
    );
    let (code, out, _) = ringwrite(&["check", "--config.file", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    // A regex that does not compile: line, rule index and the regex error.
    let bad_regex = write(
        "bad_regex.yml",
        "      - {source_labels: [a], regex: x, action: drop}\n      - {source_labels: [a], regex: '(x', action: keep}\n",
    );
    let (code, out, _) = ringwrite(&["check", "--config.file", bad_regex.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    for part in ["line 6", "write_relabel_configs[1]", "unclosed group"] {
        assert!(out.contains(part), "{part}: {out}");
    }
    // A rule Prometheus refuses: endpoint, rule index and Prometheus's reason.
    let bad_rule = write(
        "bad_rule.yml",
        "      - {source_labels: [a], target_label: b, action: hashmod}\n",
    );
    let (code, out, _) = ringwrite(&["check", "--config.file", bad_rule.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    for part in [
        "\"main\"",
        "write_relabel_configs[0]",
        "hashmod requires non-zero modulus",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
}
