//! Debian's VictoriaMetrics as a remote-write receiver for tests.
#![allow(dead_code)]

use super::prom::{free_port, http_get, require_tool, ChildGuard};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts `victoria-metrics` with its data under `dir` on a free port (retention 10 years,
/// no query latency offset) and waits for `/health`. Returns the process guard and port.
pub fn start_vm(dir: &Path) -> (ChildGuard, u16) {
    let bin = require_tool("VICTORIA_METRICS", "victoria-metrics");
    let port = free_port();
    let log = std::fs::File::create(dir.join("vm.log")).expect("create vm.log");
    let vm = ChildGuard::spawn(
        "victoria-metrics",
        Command::new(bin)
            .arg(format!("-storageDataPath={}", dir.join("vm").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-retentionPeriod=10y")
            .arg("-search.latencyOffset=0s")
            .stdout(log.try_clone().expect("clone log fd"))
            .stderr(log),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http_get(port, "/health"), Ok((200, _))) {
        assert!(Instant::now() < deadline, "victoria-metrics did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (vm, port)
}
