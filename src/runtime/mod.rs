//! One monoio event loop per pinned core (core_affinity). io_uring through FusionDriver,
//! which falls back to epoll where io_uring is blocked (containers' seccomp profiles);
//! each core logs which driver it got and why.
//!
//! Work reaches a core as a `Send` closure that builds a future on that core's thread
//! (monoio tasks are `!Send`): [`Cores::spawn`].

use std::future::Future;
use std::pin::Pin;
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

enum Cmd {
    Spawn(Job),
    Shutdown,
}

/// Which I/O driver a core's loop runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Epoll,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        }
    }
}

/// A running core loop.
pub struct Core {
    pub id: usize,
    pub driver: Driver,
    tx: flume::Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

/// The set of core loops.
pub struct Cores {
    cores: Vec<Core>,
    next: std::sync::atomic::AtomicUsize,
}

/// CPU time (user + system) of the calling thread.
pub fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    std::time::Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Parses `--cores`: `auto` (every core this process may run on) or a list `0,1,4-7`.
pub fn parse_cores(spec: &str) -> Result<Vec<usize>, String> {
    let spec = spec.trim();
    if spec.is_empty() || spec == "auto" {
        let ids: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect();
        if ids.is_empty() {
            return Ok(vec![0]);
        }
        return Ok(ids);
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.trim().parse().map_err(|_| {
            format!("--cores: bad core id {a:?} in {spec:?} (want auto or a list like 0,1,4-7)")
        })?;
        let b: usize = b.trim().parse().map_err(|_| {
            format!("--cores: bad core id {b:?} in {spec:?} (want auto or a list like 0,1,4-7)")
        })?;
        if b < a {
            return Err(format!("--cores: range {part:?} goes backwards"));
        }
        out.extend(a..=b);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

impl Cores {
    /// Starts one pinned loop per id. A core that cannot be pinned (not in this process's
    /// affinity mask) still runs, unpinned, with a warning.
    pub fn start(ids: &[usize]) -> std::io::Result<Cores> {
        let available = core_affinity::get_core_ids().unwrap_or_default();
        let mut cores = Vec::new();
        for &id in ids {
            let (tx, rx) = flume::unbounded::<Cmd>();
            let (ready_tx, ready_rx) = flume::bounded::<Result<Driver, String>>(1);
            let pin = available.iter().find(|c| c.id == id).copied();
            let thread = std::thread::Builder::new()
                .name(format!("ringwrite-core-{id}"))
                .spawn(move || core_main(id, pin, rx, ready_tx))?;
            let driver = ready_rx
                .recv()
                .map_err(|_| std::io::Error::other(format!("core {id} thread died at start")))?
                .map_err(std::io::Error::other)?;
            cores.push(Core {
                id,
                driver,
                tx,
                thread: Some(thread),
            });
        }
        Ok(Cores {
            cores,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub fn len(&self) -> usize {
        self.cores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cores.is_empty()
    }

    pub fn cores(&self) -> &[Core] {
        &self.cores
    }

    /// Runs the future built by `make` on core number `index` (mod the core count).
    pub fn spawn_on<F, Fut>(&self, index: usize, make: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let core = &self.cores[index % self.cores.len()];
        let job: Job = Box::new(move || Box::pin(make()));
        let _ = core.tx.send(Cmd::Spawn(job));
    }

    /// Runs the future on the next core, round robin.
    pub fn spawn<F, Fut>(&self, make: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.spawn_on(i, make);
    }

    /// Stops every loop (running tasks are dropped) and joins the threads.
    pub fn shutdown(mut self) {
        for c in &self.cores {
            let _ = c.tx.send(Cmd::Shutdown);
        }
        for c in &mut self.cores {
            if let Some(t) = c.thread.take() {
                let _ = t.join();
            }
        }
    }
}

fn core_main(
    id: usize,
    pin: Option<core_affinity::CoreId>,
    rx: flume::Receiver<Cmd>,
    ready: flume::Sender<Result<Driver, String>>,
) {
    match pin {
        Some(c) if core_affinity::set_for_current(c) => {}
        _ => tracing::warn!(
            core = id,
            "Cannot pin to this core (not in the affinity mask?); running unpinned."
        ),
    }
    let forced_legacy = std::env::var_os("MONOIO_FORCE_LEGACY_DRIVER").is_some();
    let uring_ok = monoio::utils::detect_uring();
    let built = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .with_entries(1024)
        .build();
    let mut rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("core {id}: cannot build the event loop: {e}")));
            return;
        }
    };
    let driver = match &rt {
        monoio::FusionRuntime::Uring(_) => Driver::IoUring,
        monoio::FusionRuntime::Legacy(_) => Driver::Epoll,
    };
    let why = match (driver, forced_legacy, uring_ok) {
        (Driver::IoUring, _, _) => "io_uring is available",
        (Driver::Epoll, true, _) => "MONOIO_FORCE_LEGACY_DRIVER is set",
        (Driver::Epoll, false, false) => {
            "io_uring is unavailable (kernel too old, io_uring_disabled, or blocked by seccomp)"
        }
        (Driver::Epoll, false, true) => "io_uring probe failed",
    };
    tracing::info!(
        core = id,
        driver = driver.name(),
        why,
        "Core event loop started."
    );
    let _ = ready.send(Ok(driver));
    rt.block_on(async move {
        while let Ok(cmd) = rx.recv_async().await {
            match cmd {
                Cmd::Spawn(job) => {
                    monoio::spawn(job());
                }
                Cmd::Shutdown => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_core_lists() {
        assert_eq!(parse_cores("0,1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cores("4-6, 1,1").unwrap(), vec![1, 4, 5, 6]);
        assert!(!parse_cores("auto").unwrap().is_empty());
        assert!(parse_cores("x").unwrap_err().contains("bad core id"));
        assert!(parse_cores("3-1").unwrap_err().contains("backwards"));
    }

    #[test]
    fn runs_work_on_each_core() {
        let cores = Cores::start(&[0, 1]).unwrap();
        let (tx, rx) = flume::unbounded();
        for i in 0..4 {
            let tx = tx.clone();
            cores.spawn(move || async move {
                monoio::time::sleep(Duration::from_millis(1)).await;
                let _ = tx.send((i, std::thread::current().name().map(String::from)));
            });
        }
        let mut got: Vec<(i32, Option<String>)> = (0..4).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got[0].1.as_deref(), Some("ringwrite-core-0"));
        assert_eq!(got[1].1.as_deref(), Some("ringwrite-core-1"));
        cores.shutdown();
    }

    use std::time::Duration;
}
