//! Process helpers for integration tests that run Prometheus 2.42, promtool, the Python fixture
//! targets (`scripts/fixture_targets.py`) and the ringwrite binary.
//!
//! Everything binds to 127.0.0.1 on kernel-chosen ports, and every child process is wrapped in
//! a [`ChildGuard`] that kills it when dropped, so a failing assertion never leaves a Prometheus
//! running behind the test.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How to get the tools when they are missing; CI installs the Debian package.
pub const INSTALL_HINT: &str = "install Prometheus 2.42 with `apt-get install prometheus` \
     (Debian bookworm; CI does this), or point PROMETHEUS / PROMTOOL at the binaries";

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Finds `name` via the environment variable `env_var` or on PATH, or panics with an install
/// hint. Tests call this first, so a box without Prometheus fails with a clear message.
pub fn require_tool(env_var: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{env_var}={} is not a file; {INSTALL_HINT}",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{name}` not found on PATH: {INSTALL_HINT}");
}

/// First line of `<tool> --version`, for test logs.
pub fn tool_version(tool: &Path) -> String {
    let out = Command::new(tool)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("running {} --version: {e}", tool.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines().next().unwrap_or("").to_owned()
}

/// A free TCP port on 127.0.0.1 (bound, then released; the usual small race is acceptable).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Minimal HTTP/1.0 GET against 127.0.0.1; returns (status, body).
pub fn http_get(port: u16, path: &str) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad HTTP status line"))?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A child process that is killed (SIGKILL) and reaped when dropped.
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
}

impl ChildGuard {
    pub fn spawn(name: &str, cmd: &mut Command) -> ChildGuard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        ChildGuard {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.as_mut().and_then(|c| c.stderr.take())
    }

    /// Whether the process is still running (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Exit status if the process has exited, without blocking.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// User + system CPU seconds the (still running) process has used, from /proc.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let pid = self.child.as_ref()?.id();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(") ")?.1;
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no memory-safety preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (hz > 0).then(|| ticks as f64 / hz as f64)
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process.
    pub fn signal(&self, signal: i32) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let pid = i32::try_from(child.id()).expect("pid fits in i32");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child, which has
        // not been reaped yet (we hold the Child), so it cannot have been reused.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// SIGTERM, then wait up to `timeout` for a clean exit; SIGKILL after that. Returns the exit
    /// status and whether the exit was clean (before the timeout).
    pub fn terminate(&mut self, timeout: Duration) -> (ExitStatus, bool) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("process already reaped");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return (status, true);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let status = child.wait().expect("wait after kill");
                self.child = None;
                return (status, false);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit on its own.
    pub fn wait(&mut self) -> ExitStatus {
        let status = self
            .child
            .as_mut()
            .expect("process already reaped")
            .wait()
            .expect("wait");
        self.child = None;
        status
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            eprintln!("[prom.rs] killed {} (pid {}) on drop", self.name, c.id());
        }
    }
}

/// Runs `cmd` to completion, handing its stdout to `consume` as a buffered stream (for dumps of
/// hundreds of MB), and panics with stderr if the command fails.
pub fn run_streaming<T>(
    name: &str,
    cmd: &mut Command,
    consume: impl FnOnce(&mut dyn BufRead) -> T,
) -> T {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut guard = ChildGuard::spawn(name, cmd);
    let stdout = guard.take_stdout().expect("stdout piped");
    let mut stderr = guard
        .child
        .as_mut()
        .and_then(|c| c.stderr.take())
        .expect("stderr piped");
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let out = consume(&mut reader);
    // Drain whatever the consumer left so the child never blocks on a full pipe.
    let _ = io::copy(&mut reader, &mut io::sink());
    let status = guard.wait();
    let err = err_reader.join().unwrap_or_default();
    assert!(
        status.success(),
        "{name} failed ({status}): {cmd:?}\nstderr:\n{err}"
    );
    out
}

/// Copies a directory tree (regular files and directories only).
pub fn copy_dir(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// `scripts/fixture_targets.py`, running.
pub struct Targets {
    _guard: ChildGuard,
    pub main_port: u16,
    pub vanish_port: u16,
}

impl Targets {
    pub fn start() -> Targets {
        let python = require_tool("PYTHON3", "python3");
        let script = repo_root().join("scripts/fixture_targets.py");
        let mut guard = ChildGuard::spawn(
            "fixture_targets.py",
            Command::new(python)
                .arg(&script)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let mut line = String::new();
        BufReader::new(guard.take_stdout().expect("stdout piped"))
            .read_line(&mut line)
            .expect("reading the port line of fixture_targets.py");
        let port = |key: &str| -> u16 {
            let pat = format!("\"{key}\": ");
            let start = line
                .find(&pat)
                .unwrap_or_else(|| panic!("no {key} port in {line:?}"))
                + pat.len();
            line[start..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
                .unwrap_or_else(|| panic!("bad {key} port in {line:?}"))
        };
        let targets = Targets {
            main_port: port("main"),
            vanish_port: port("vanish"),
            _guard: guard,
        };
        let (status, _) =
            http_get(targets.main_port, "/-/healthy").expect("targets answer /-/healthy");
        assert_eq!(status, 200);
        targets
    }
}

/// A Prometheus server on 127.0.0.1 with its own data directory.
pub struct Prometheus {
    guard: ChildGuard,
    pub port: u16,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
}

impl Prometheus {
    /// Starts `prometheus` with `config` and `data_dir`, plus `extra_args`, logging to
    /// `<data_dir>.log`, and waits (up to 60 s) until `/-/ready` answers 200. The port is
    /// picked free, then passed: when another test took it in between, Prometheus exits
    /// with "address already in use" and is started again on another port.
    pub fn start(config: &Path, data_dir: &Path, extra_args: &[&str]) -> Prometheus {
        Self::start_with(config, |_| None, data_dir, extra_args)
    }

    /// [`Prometheus::start`] for a configuration that names Prometheus's own port (a
    /// self-scrape): `config_for(port)`, when it returns text, is written to `config`
    /// before every attempt.
    pub fn start_with(
        config: &Path,
        config_for: impl Fn(u16) -> Option<String>,
        data_dir: &Path,
        extra_args: &[&str],
    ) -> Prometheus {
        for attempt in 1.. {
            match Self::try_start(config, &config_for, data_dir, extra_args) {
                Ok(prom) => return prom,
                Err(log) if attempt < 5 && log.contains("address already in use") => {}
                Err(log) => panic!("prometheus exited during startup:\n{log}"),
            }
        }
        unreachable!()
    }

    /// [`Prometheus::start`] once; `Err` with the log's tail when it exited while starting.
    fn try_start(
        config: &Path,
        config_for: &dyn Fn(u16) -> Option<String>,
        data_dir: &Path,
        extra_args: &[&str],
    ) -> Result<Prometheus, String> {
        let bin = require_tool("PROMETHEUS", "prometheus");
        let port = free_port();
        if let Some(text) = config_for(port) {
            fs::write(config, text).expect("write prometheus config");
        }
        let log_path = data_dir.with_extension("log");
        let log = fs::File::create(&log_path).expect("create prometheus log");
        let guard = ChildGuard::spawn(
            "prometheus",
            Command::new(bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data_dir.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .args(extra_args)
                .stdout(log.try_clone().expect("clone log fd"))
                .stderr(log),
        );
        let mut prom = Prometheus {
            guard,
            port,
            data_dir: data_dir.to_owned(),
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http_get(port, "/-/ready") {
                return Ok(prom);
            }
            if !prom.guard.is_running() {
                return Err(prom.log_tail(30));
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after 60 s:\n{}",
                prom.log_tail(30)
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.guard.is_running()
    }

    /// SIGTERM and wait (up to 60 s) for a clean shutdown; panics if it had to be killed.
    pub fn stop(&mut self) {
        let (status, clean) = self.guard.terminate(Duration::from_secs(60));
        assert!(
            clean && status.success(),
            "prometheus did not stop cleanly ({status}):\n{}",
            self.log_tail(30)
        );
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}
