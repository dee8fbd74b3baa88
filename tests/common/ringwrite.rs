//! Starting `ringwrite run` (the binary under test) for end-to-end fault tests.
#![allow(dead_code)]

use super::prom::ChildGuard;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `ringwrite run --from-start --cores 0,1` with `cfg`, `wal` and `state`, its log appended
/// to `log`; returns the process and its web port.
pub fn start_run(cfg: &Path, wal: &Path, state: &Path, log_path: &Path) -> (ChildGuard, u16) {
    spawn_run(
        Command::new(env!("CARGO_BIN_EXE_ringwrite"))
            .arg("run")
            .arg("--config.file")
            .arg(cfg)
            .arg("--wal.dir")
            .arg(wal)
            .arg("--storage.path")
            .arg(state)
            .args(["--from-start", "--cores", "0,1"]),
        log_path,
    )
}

/// Spawns `cmd`, a `ringwrite run` command line without `--web.listen-address`, with its
/// web server on port 0 and its stderr appended to `log_path`; returns the process and
/// the port it announced.
///
/// Picking a free port first and passing it races with other tests binding it in between
/// (a start that then failed with "Address already in use" broke a proptest case once),
/// so the port is read back from the log line that announces it (logfmt or JSON).
pub fn spawn_run(cmd: &mut Command, log_path: &Path) -> (ChildGuard, u16) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap();
    let before = std::fs::metadata(log_path).map_or(0, |m| m.len()) as usize;
    let mut child = ChildGuard::spawn(
        "ringwrite",
        cmd.arg("--web.listen-address=127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(log),
    );
    let start = Instant::now();
    loop {
        let text = std::fs::read(log_path).unwrap_or_default();
        let new = String::from_utf8_lossy(text.get(before..).unwrap_or_default());
        if let Some(port) = new.lines().find_map(announced_port) {
            return (child, port);
        }
        assert!(
            child.is_running(),
            "ringwrite exited during start; log:\n{new}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "ringwrite did not announce its web port; log:\n{new}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The port of a "Web server listening." log line, logfmt (`addr=127.0.0.1:P`) or JSON
/// (`"addr":"127.0.0.1:P"`).
fn announced_port(line: &str) -> Option<u16> {
    if !line.contains("Web server listening.") {
        return None;
    }
    let rest = line.split("127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Polls `ok` every 50 ms until it holds; panics with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
