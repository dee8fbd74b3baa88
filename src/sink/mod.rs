//! In-process remote-write receivers for tests and benchmarks.
//!
//! A [`Sink`] listens on `127.0.0.1` (ephemeral port) and runs its own monoio runtime on its
//! own thread (optionally pinned to a core, so a benchmark can keep client and receiver
//! apart). It speaks HTTP/1.1, h2c (prior knowledge), or TLS with ALPN (`h2` and
//! `http/1.1`, or `http/1.1` only). For every request it reads the whole body, snappy-
//! decompresses it (optional), records a [`ReceivedRequest`] (optional), and answers with:
//! the next scripted [`Reply`] if any, else the [`Handler`]'s answer if it gives one, else
//! the default reply (`204`).
//!
//! A [`Handler`] is the hook for decoding bodies (e.g. with the prost reference types) and
//! for computing replies such as correct `*-Written` counts.

mod auth;
mod h1;
mod h2;
mod pki;
mod reply;

use std::{
    cell::Cell,
    collections::VecDeque,
    io,
    net::SocketAddr,
    os::fd::{AsRawFd, RawFd},
    rc::Rc,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

pub use auth::{BearerCheck, SigV4Check, TokenBook, TokenServer};
use bytes::Bytes;
use http::{HeaderMap, Method, Version};
use monoio::net::{TcpListener, TcpStream};
pub use pki::{TestPki, TlsIdentity};
pub use reply::Reply;

use crate::http::notify::Notify;

/// What a sink speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkTransport {
    /// Cleartext HTTP/1.1 with keep-alive.
    Http1,
    /// Cleartext HTTP/2 with prior knowledge.
    H2c,
    /// TLS offering ALPN `h2` and `http/1.1` (HTTP/2 when the client offers it).
    TlsH2,
    /// TLS offering only ALPN `http/1.1`.
    TlsHttp1,
}

impl SinkTransport {
    fn is_tls(self) -> bool {
        matches!(self, Self::TlsH2 | Self::TlsHttp1)
    }
}

/// One request as the sink saw it.
#[derive(Clone, Debug)]
pub struct ReceivedRequest {
    /// Sink-wide connection number (1, 2, ...): shows reconnects.
    pub connection: u64,
    /// HTTP version used.
    pub version: Version,
    /// Whether the connection was TLS.
    pub tls: bool,
    /// Request method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Request headers (HTTP/2 pseudo-headers are not included).
    pub headers: HeaderMap,
    /// The body as received (snappy-compressed).
    pub body: Bytes,
    /// The snappy-decoded body, when decompression is on; `Err` holds the decoder error.
    pub decompressed: Option<Result<Vec<u8>, String>>,
}

/// Computes replies for requests that have no scripted reply, and sees every such request.
/// Runs on the sink thread: keep it quick.
pub trait Handler: Send + Sync + 'static {
    /// The reply, or `None` for the sink's default reply.
    fn handle(&self, request: &ReceivedRequest) -> Option<Reply>;
}

/// Counters of a sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Requests fully read.
    pub requests: u64,
    /// Compressed body bytes read.
    pub body_bytes: u64,
    /// Connections accepted.
    pub connections: u64,
}

/// Configures and starts a [`Sink`].
pub struct SinkBuilder {
    transport: SinkTransport,
    identity: Option<TlsIdentity>,
    client_ca_pem: Option<String>,
    record: bool,
    decompress: bool,
    handler: Option<Arc<dyn Handler>>,
    default_reply: Reply,
    core: Option<usize>,
    h2_max_concurrent_streams: u32,
    listen: Option<SocketAddr>,
}

impl SinkBuilder {
    /// Listens on `addr` instead of an ephemeral 127.0.0.1 port (e.g. to bring a receiver
    /// back on the port a sender keeps retrying).
    pub fn listen_on(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Server certificate for TLS transports; without one a fresh [`TestPki`] is generated
    /// (its CA is then available from [`Sink::ca_pem`]).
    pub fn tls_identity(mut self, identity: TlsIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Require client certificates signed by this CA (mutual TLS).
    pub fn require_client_cert(mut self, ca_pem: impl Into<String>) -> Self {
        self.client_ca_pem = Some(ca_pem.into());
        self
    }

    /// Keep every request for [`Sink::take_requests`] (default on; turn off for benchmarks).
    pub fn record(mut self, on: bool) -> Self {
        self.record = on;
        self
    }

    /// Snappy-decompress bodies (default on; turn off for transport benchmarks).
    pub fn decompress(mut self, on: bool) -> Self {
        self.decompress = on;
        self
    }

    /// Install a [`Handler`].
    pub fn handler(mut self, handler: Arc<dyn Handler>) -> Self {
        self.handler = Some(handler);
        self
    }

    /// The reply when neither the script nor the handler gives one (default `204`).
    pub fn default_reply(mut self, reply: Reply) -> Self {
        self.default_reply = reply;
        self
    }

    /// Pin the sink thread to this core.
    pub fn pin_to_core(mut self, core: usize) -> Self {
        self.core = Some(core);
        self
    }

    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (default 128).
    pub fn h2_max_concurrent_streams(mut self, n: u32) -> Self {
        self.h2_max_concurrent_streams = n;
        self
    }

    /// Binds `127.0.0.1:0` and starts the sink thread.
    pub fn start(self) -> io::Result<Sink> {
        let listener = match self.listen {
            Some(a) => std::net::TcpListener::bind(a)?,
            None => std::net::TcpListener::bind("127.0.0.1:0")?,
        };
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (acceptor, ca_pem) = if self.transport.is_tls() {
            let (identity, ca_pem) = match self.identity {
                Some(id) => (id, None),
                None => {
                    let pki =
                        TestPki::generate(&["127.0.0.1", "localhost"]).map_err(io::Error::other)?;
                    (pki.server, Some(pki.ca_pem))
                }
            };
            let alpn: &[&[u8]] = match self.transport {
                SinkTransport::TlsH2 => &[b"h2", b"http/1.1"],
                _ => &[b"http/1.1"],
            };
            let config = server_config(&identity, self.client_ca_pem.as_deref(), alpn)?;
            (Some(tokio_rustls::TlsAcceptor::from(config)), ca_pem)
        } else {
            (None, None)
        };
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            default_reply: Mutex::new(self.default_reply),
            handler: self.handler,
            record: self.record,
            decompress: self.decompress,
            log: Mutex::new(Vec::new()),
            log_changed: Condvar::new(),
            requests: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
        });
        let thread_shared = shared.clone();
        let transport = self.transport;
        let core = self.core;
        let h2_max_streams = self.h2_max_concurrent_streams;
        let thread = std::thread::Builder::new()
            .name(format!("ringwrite-sink-{}", addr.port()))
            .spawn(move || {
                if let Some(id) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                let runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                    .enable_timer()
                    .build();
                let mut runtime = match runtime {
                    Ok(rt) => rt,
                    Err(error) => {
                        tracing::error!(%error, "Sink runtime failed to start.");
                        return;
                    }
                };
                let ctx = Rc::new(Ctx {
                    shared: thread_shared,
                    transport,
                    acceptor,
                    h2_max_streams,
                    stop: Cell::new(false),
                    stop_notify: Notify::default(),
                    live: Cell::new(0),
                    live_changed: Notify::default(),
                    next_conn: Cell::new(1),
                });
                runtime.block_on(accept_loop(listener, ctx));
            })?;
        Ok(Sink {
            addr,
            transport,
            shared,
            thread: Some(thread),
            ca_pem,
        })
    }
}

/// A running in-process receiver; stops on drop.
pub struct Sink {
    addr: SocketAddr,
    transport: SinkTransport,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    ca_pem: Option<String>,
}

impl Sink {
    /// A builder with defaults: record and decompress on, reply `204`.
    pub fn builder(transport: SinkTransport) -> SinkBuilder {
        SinkBuilder {
            transport,
            identity: None,
            client_ca_pem: None,
            record: true,
            decompress: true,
            handler: None,
            default_reply: Reply::no_content(),
            core: None,
            h2_max_concurrent_streams: 128,
            listen: None,
        }
    }

    /// Starts a sink with defaults.
    pub fn start(transport: SinkTransport) -> io::Result<Self> {
        Self::builder(transport).start()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http(s)://127.0.0.1:<port>/api/v1/write`.
    pub fn url(&self) -> String {
        let scheme = if self.transport.is_tls() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/api/v1/write", self.addr)
    }

    /// The generated CA certificate (PEM), when the sink generated its own certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Queues a reply for the next request without one (requests take replies in arrival
    /// order, across connections).
    pub fn push_reply(&self, reply: Reply) {
        lock(&self.shared.script).push_back(reply);
    }

    /// Queues several replies.
    pub fn push_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).extend(replies);
    }

    /// Replaces the default reply.
    pub fn set_default_reply(&self, reply: Reply) {
        *lock(&self.shared.default_reply) = reply;
    }

    /// Removes and returns the recorded requests.
    pub fn take_requests(&self) -> Vec<ReceivedRequest> {
        std::mem::take(&mut *lock(&self.shared.log))
    }

    /// Waits until at least `n` requests are recorded (or `timeout`), then takes them all.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let deadline = Instant::now() + timeout;
        let mut log = lock(&self.shared.log);
        while log.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            log = match self.shared.log_changed.wait_timeout(log, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        std::mem::take(&mut *log)
    }

    /// Counters.
    pub fn stats(&self) -> SinkStats {
        SinkStats {
            requests: self.shared.requests.load(Ordering::Relaxed),
            body_bytes: self.shared.body_bytes.load(Ordering::Relaxed),
            connections: self.shared.connections.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, closes every connection and joins the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept loop; it sees the flag and winds down.
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = thread.join();
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// State shared between the sink handle and its thread.
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    default_reply: Mutex<Reply>,
    handler: Option<Arc<dyn Handler>>,
    record: bool,
    decompress: bool,
    log: Mutex<Vec<ReceivedRequest>>,
    log_changed: Condvar,
    requests: AtomicU64,
    body_bytes: AtomicU64,
    connections: AtomicU64,
    shutdown: AtomicBool,
}

impl Shared {
    /// Counts and records the request and picks its reply.
    fn on_request(&self, request: ReceivedRequest) -> Reply {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.body_bytes
            .fetch_add(request.body.len() as u64, Ordering::Relaxed);
        let scripted = lock(&self.script).pop_front();
        let reply = scripted
            .or_else(|| self.handler.as_ref().and_then(|h| h.handle(&request)))
            .unwrap_or_else(|| lock(&self.default_reply).clone());
        if self.record {
            lock(&self.log).push(request);
            self.log_changed.notify_all();
        }
        reply
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the sink's data from the others.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Per-thread state of a running sink.
struct Ctx {
    shared: Arc<Shared>,
    transport: SinkTransport,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    h2_max_streams: u32,
    stop: Cell<bool>,
    stop_notify: Notify,
    live: Cell<usize>,
    live_changed: Notify,
    next_conn: Cell<u64>,
}

impl Ctx {
    async fn stopped(&self) {
        while !self.stop.get() {
            self.stop_notify.listen().await;
        }
    }

    /// Builds the record of a request (decompressing if configured).
    fn received(
        &self,
        conn: &ConnInfo,
        head: RequestHead,
        body: Bytes,
        decoder: &mut snap::raw::Decoder,
    ) -> ReceivedRequest {
        let decompressed = self
            .shared
            .decompress
            .then(|| decoder.decompress_vec(&body).map_err(|e| e.to_string()));
        ReceivedRequest {
            connection: conn.id,
            version: head.version,
            tls: conn.tls,
            method: head.method,
            path: head.path,
            headers: head.headers,
            body,
            decompressed,
        }
    }
}

/// Method, path, version and headers of a request.
struct RequestHead {
    method: Method,
    path: String,
    version: Version,
    headers: HeaderMap,
}

/// Identity of an accepted connection.
#[derive(Clone, Copy, Debug)]
struct ConnInfo {
    id: u64,
    tls: bool,
    fd: RawFd,
}

async fn accept_loop(listener: std::net::TcpListener, ctx: Rc<Ctx>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(%error, "Sink cannot register its listener.");
            return;
        }
    };
    loop {
        let accepted = listener.accept().await;
        if ctx.shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        match accepted {
            Ok((tcp, _peer)) => {
                let id = ctx.next_conn.get();
                ctx.next_conn.set(id + 1);
                ctx.shared.connections.fetch_add(1, Ordering::Relaxed);
                monoio::spawn(serve_conn(tcp, id, ctx.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "Sink accept failed.");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    // Close every connection (their tasks watch `stop`), then let the runtime go.
    ctx.stop.set(true);
    ctx.stop_notify.notify_all();
    let deadline = monoio::time::sleep(Duration::from_secs(2));
    let all_closed = async {
        while ctx.live.get() > 0 {
            ctx.live_changed.listen().await;
        }
    };
    monoio::select! {
        _ = deadline => tracing::warn!(live = ctx.live.get(), "Sink connections did not close in time."),
        _ = all_closed => {}
    }
}

async fn serve_conn(tcp: TcpStream, id: u64, ctx: Rc<Ctx>) {
    ctx.live.set(ctx.live.get() + 1);
    let fd = tcp.as_raw_fd();
    let _ = tcp.set_nodelay(true);
    let conn = ConnInfo {
        id,
        tls: ctx.transport.is_tls(),
        fd,
    };
    let work = async {
        let poll = match tcp.try_into_poll_io() {
            Ok(p) => p,
            Err((error, _)) => {
                tracing::warn!(%error, "Sink cannot switch a connection to poll-io.");
                return;
            }
        };
        match (&ctx.acceptor, ctx.transport) {
            (None, SinkTransport::H2c) => h2::serve(poll, conn, &ctx).await,
            (None, _) => h1::serve(poll, conn, &ctx).await,
            (Some(acceptor), _) => match acceptor.accept(poll).await {
                Ok(tls) => {
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        h2::serve(tls, conn, &ctx).await
                    } else {
                        h1::serve(tls, conn, &ctx).await
                    }
                }
                Err(error) => tracing::debug!(%error, conn = id, "Sink TLS handshake failed."),
            },
        }
    };
    monoio::select! {
        _ = work => {}
        _ = ctx.stopped() => {}
    }
    ctx.live.set(ctx.live.get() - 1);
    ctx.live_changed.notify_all();
}

/// Makes the next close of `fd` send a TCP RST instead of a FIN.
fn set_linger_zero(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is an open socket owned by the caller's live stream for the duration of
    // this call, and setsockopt only reads `size_of::<linger>()` bytes from `&linger`.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "SO_LINGER failed.");
    }
}

fn server_config(
    identity: &TlsIdentity,
    client_ca_pem: Option<&str>,
    alpn: &[&[u8]],
) -> io::Result<Arc<rustls::ServerConfig>> {
    let certs =
        rustls_pemfile::certs(&mut identity.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut identity.key_pem.as_bytes())?
        .ok_or_else(|| io::Error::other("no private key in the sink identity"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?;
    let builder = match client_ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                roots.add(cert?).map_err(io::Error::other)?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(io::Error::other)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
