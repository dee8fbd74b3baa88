//! Starting `ringwrite run` (the binary under test) for end-to-end fault tests.
#![allow(dead_code)]

use super::prom::{free_port, ChildGuard};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `ringwrite run --from-start --cores 0,1` with `cfg`, `wal` and `state`, its log appended
/// to `log`; returns the process and its web port.
pub fn start_run(cfg: &Path, wal: &Path, state: &Path, log: &Path) -> (ChildGuard, u16) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let port = free_port();
    let child = ChildGuard::spawn(
        "ringwrite",
        Command::new(env!("CARGO_BIN_EXE_ringwrite"))
            .arg("run")
            .arg("--config.file")
            .arg(cfg)
            .arg("--wal.dir")
            .arg(wal)
            .arg("--storage.path")
            .arg(state)
            .args(["--from-start", "--cores", "0,1"])
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log),
    );
    (child, port)
}

/// Polls `ok` every 50 ms until it holds; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
