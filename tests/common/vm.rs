//! Debian's VictoriaMetrics as a remote-write receiver for tests.
#![allow(dead_code)]

use super::prom::{free_port, http_get, require_tool, ChildGuard};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts `victoria-metrics` with its data under `dir` on a free port (retention 10 years,
/// no query latency offset) and waits for `/health`. Returns the process guard and port.
/// When another test took the port between picking and binding, VictoriaMetrics exits and
/// is started again on another port.
pub fn start_vm(dir: &Path) -> (ChildGuard, u16) {
    for attempt in 1.. {
        match try_start_vm(dir) {
            Ok(started) => return started,
            Err(log) if attempt < 5 && log.contains("address already in use") => {}
            Err(log) => panic!("victoria-metrics exited during startup:\n{log}"),
        }
    }
    unreachable!()
}

/// [`start_vm`] once; `Err` with its log when it exited while starting.
fn try_start_vm(dir: &Path) -> Result<(ChildGuard, u16), String> {
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
    let mut vm = vm;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http_get(port, "/health"), Ok((200, _))) {
        if !vm.is_running() {
            return Err(std::fs::read_to_string(dir.join("vm.log")).unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "victoria-metrics did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((vm, port))
}
