//! The accept loop and per-connection threads.
//!
//! One thread accepts; each connection gets its own short-lived thread, capped at
//! [`MAX_CONNECTIONS`] (more are answered 503 at once). Every connection serves exactly one
//! request and closes (`Connection: close`): scrapes come every few seconds at most, so
//! keep-alive would save nothing worth its idle-timeout bookkeeping. A panic in a handler
//! (for example inside `Control::reload`) is caught and answered 500.

use std::{
    io::Read,
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use super::{
    request::{read_request, Limits},
    routes::{route, Response},
    Control,
};
use crate::metrics::Registry;

/// Connections served at once; more are refused with 503.
pub const MAX_CONNECTIONS: usize = 32;
/// Per-read and per-write socket timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a refused request's leftover input is drained, per read.
const LINGER_READ_TIMEOUT: Duration = Duration::from_millis(500);
/// At most this much leftover input is drained before closing anyway.
const LINGER_MAX_BYTES: usize = 1024 * 1024;

/// What every connection thread shares.
pub(crate) struct Shared {
    pub registry: Registry,
    pub control: Arc<dyn Control>,
    pub stop: AtomicBool,
    pub active: AtomicUsize,
    pub limits: Limits,
    /// `--web.enable-lifecycle`.
    pub lifecycle: bool,
}

/// Runs until `shared.stop` is set and a connection (the waker's) arrives.
pub(crate) fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on the error.
                tracing::warn!(error = %e, "Web server accept failed.");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let Some(slot) = Slot::take(&shared) else {
            refuse_busy(stream);
            continue;
        };
        let conn_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("ringwrite-web-conn".into())
            .spawn(move || {
                let _slot = slot;
                serve_connection(stream, &conn_shared);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "Web server could not start a connection thread.");
        }
    }
}

/// Reads one request, answers it, closes.
fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let req = match read_request(&mut stream, &shared.limits) {
        Ok(r) => r,
        Err(e) => {
            if let Some(status) = e.status() {
                reply_and_close(stream, &Response::text(status, format!("{e}\n")));
            }
            return;
        }
    };
    let response = catch_unwind(AssertUnwindSafe(|| {
        route(
            &req,
            &shared.registry,
            shared.control.as_ref(),
            shared.lifecycle,
        )
    }))
    .unwrap_or_else(|_| {
        tracing::error!(method = %req.method, path = %req.path, "Web handler panicked.");
        Response::text(500, "internal error\n")
    });
    let _ = response.write_to(&mut stream, req.method == "HEAD");
    let _ = stream.shutdown(Shutdown::Write);
}

/// Answers a request that was refused before it was fully read, then reads and discards
/// what the client is still sending for a moment (a "lingering close", as Go's net/http
/// does): closing with unread input makes Linux send RST, which can destroy our answer
/// before the client reads it.
fn reply_and_close(mut stream: TcpStream, response: &Response) {
    let _ = response.write_to(&mut stream, false);
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER_READ_TIMEOUT));
    let mut sink = [0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_MAX_BYTES {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Answers 503 from the accept thread without blocking it: discards whatever of the request
/// has already arrived (so closing does not reset the connection), writes, closes.
fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let mut sink = [0u8; 8192];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = Response::text(503, "too many connections\n").write_to(&mut stream, false);
    let _ = stream.shutdown(Shutdown::Write);
}

/// One of the [`MAX_CONNECTIONS`] slots, released on drop (also when the thread panics).
struct Slot(Arc<Shared>);

impl Slot {
    fn take(shared: &Arc<Shared>) -> Option<Slot> {
        let prev = shared.active.fetch_add(1, Ordering::AcqRel);
        if prev >= MAX_CONNECTIONS {
            shared.active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(Arc::clone(shared)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running server; [`WebServer::shutdown`] (or dropping it) stops accepting.
pub struct WebServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    pub(crate) fn new(addr: SocketAddr, shared: Arc<Shared>, thread: JoinHandle<()>) -> WebServer {
        WebServer {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// The bound address (with the real port when the options asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the accept thread. Connections in progress finish on
    /// their own threads (bounded by the socket timeouts).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        match TcpStream::connect_timeout(&wake, Duration::from_secs(2)) {
            Ok(_) => {
                let _ = thread.join();
            }
            // Without the wake-up the thread would block until the next client; leave it
            // detached rather than hang shutdown.
            Err(e) => {
                tracing::warn!(error = %e, addr = %wake, "Could not wake the web server to stop it.")
            }
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServer")
            .field("addr", &self.addr)
            .finish()
    }
}
