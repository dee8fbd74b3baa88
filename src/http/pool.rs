//! Per-core connection pool for one endpoint.
//!
//! Lives on one monoio runtime thread (`Rc`, `Cell`: not `Send`). Picking a connection:
//! - HTTP/2: the least-loaded open connection with a free stream slot (our
//!   `h2_max_concurrent_streams` cap and the server's SETTINGS). While it already carries a
//!   stream and fewer than `h2_max_connections` exist, a new connection is opened instead, so
//!   load spreads over several sockets (USERS.md item 14: no single multiplexed socket).
//! - HTTP/1.1: an idle keep-alive connection (checked for a peer close first), else a new one
//!   up to `h1_max_connections`; each carries one request at a time.
//! - Otherwise the request waits for a slot, within `remote_timeout`.
//!
//! A request refused by HTTP/2 GOAWAY / REFUSED_STREAM, or one that hit a stale HTTP/1.1
//! keep-alive connection before any response byte, is sent again on another connection at
//! once (up to [`MAX_TRANSPARENT_RETRIES`] times): this is not a failure of the batch.
//! Every other failure is returned as a [`SendError`].
//!
//! With `protocol: auto` over TLS, the first connection's ALPN result decides for the pool.

use std::{
    cell::{Cell, RefCell},
    net::{SocketAddr, ToSocketAddrs},
    rc::{Rc, Weak},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use monoio::net::TcpStream;

use super::{
    auth::{Authorizer, RequestAuth},
    config::Protocol,
    endpoint::Endpoint,
    error::{SendError, Stage},
    h1::{H1Conn, H1Error},
    h2conn::{DriverExit, H2Conn, H2Failure, H2Settings},
    headers::WireFormat,
    io::Stream,
    log::LogLimiter,
    notify::Notify,
    response::{Response, SentCounts},
    tls::ALPN_H2,
};

/// How often a send waiting for an OAuth2 token checks for one.
const TOKEN_POLL: Duration = Duration::from_millis(10);

/// How often a request may be moved to another connection without counting as a failure.
pub const MAX_TRANSPARENT_RETRIES: u32 = 3;

/// Runtime knobs of a pool (not part of Prometheus's config).
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Most HTTP/1.1 connections per (core, endpoint); one request each at a time.
    pub h1_max_connections: usize,
    /// Most HTTP/2 connections per (core, endpoint).
    pub h2_max_connections: usize,
    /// Most concurrent streams per HTTP/2 connection (the server's limit also applies).
    pub h2_max_concurrent_streams: usize,
    /// Interval between HTTP/2 PINGs.
    pub h2_ping_interval: Duration,
    /// A connection whose PONG takes longer is closed.
    pub h2_ping_timeout: Duration,
    /// HTTP/2 initial stream window (receive side).
    pub h2_stream_window: u32,
    /// HTTP/2 initial connection window (receive side).
    pub h2_connection_window: u32,
    /// How often credential files are checked for changes.
    pub credentials_recheck: Duration,
    /// Response bodies longer than this are not drained (the connection is closed instead).
    pub max_response_drain: u64,
    /// At most one per-batch error log line per this interval and kind.
    pub error_log_interval: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            h1_max_connections: 16,
            h2_max_connections: 4,
            h2_max_concurrent_streams: 8,
            h2_ping_interval: Duration::from_secs(15),
            h2_ping_timeout: Duration::from_secs(10),
            h2_stream_window: 1 << 20,
            h2_connection_window: 16 << 20,
            credentials_recheck: Duration::from_secs(5),
            max_response_drain: 256 << 10,
            error_log_interval: Duration::from_secs(10),
        }
    }
}

/// One request: an already snappy-compressed body and what it holds.
#[derive(Clone, Debug)]
pub struct WriteRequest {
    /// Compressed protobuf bytes.
    pub body: Bytes,
    /// Chooses Content-Type and version headers.
    pub format: WireFormat,
    /// 0 for the first try; sent as `Retry-Attempt` when above 0.
    pub attempt: u32,
    /// What the body holds (for [`super::classify`]).
    pub counts: SentCounts,
    /// The tenant header of this request (`tenant_label`), if any.
    pub tenant: Option<(http::HeaderName, http::HeaderValue)>,
}

/// Counters and gauges of a pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Requests that got a response.
    pub responses: u64,
    /// Requests that ended in a [`SendError`].
    pub errors: u64,
    /// Requests that timed out (included in `errors`).
    pub timeouts: u64,
    /// Connections opened (TCP + TLS + HTTP/2 handshake succeeded).
    pub connections_opened: u64,
    /// Connection attempts that failed.
    pub connect_errors: u64,
    /// Requests moved to another connection after GOAWAY / REFUSED_STREAM.
    pub refused_streams: u64,
    /// Requests moved to another connection after a stale keep-alive connection failed.
    pub stale_reconnects: u64,
    /// HTTP/2 connections closed because a PING was not answered.
    pub ping_timeouts: u64,
    /// HTTP/2 connections that ended (GOAWAY drained, error, ping timeout).
    pub h2_connections_closed: u64,
    /// Open connections now.
    pub open_connections: usize,
    /// Requests in flight now.
    pub in_flight: usize,
}

/// Which HTTP version this pool speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    H1,
    H2,
    /// `auto` over TLS before the first ALPN result.
    Unknown,
}

/// Per-core connection pool for one endpoint. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct Pool {
    inner: Rc<Inner>,
}

struct Inner {
    endpoint: Arc<Endpoint>,
    opts: PoolOptions,
    auth: Authorizer,
    mode: Cell<Mode>,
    idle_h1: RefCell<Vec<H1Conn<Stream>>>,
    h1_total: Cell<usize>,
    h2: RefCell<Vec<Rc<H2Conn>>>,
    connecting: Cell<usize>,
    changed: Notify,
    next_conn_id: Cell<u64>,
    next_addr: Cell<usize>,
    closed: Cell<bool>,
    stats: Cell<PoolStats>,
    in_flight: Cell<usize>,
}

impl Pool {
    /// A pool for `endpoint` on the current thread's monoio runtime.
    pub fn new(endpoint: Arc<Endpoint>, opts: PoolOptions) -> Self {
        let mode = match (endpoint.protocol, endpoint.tls.is_some()) {
            (Protocol::Http1, _) | (Protocol::Auto, false) => Mode::H1,
            (Protocol::H2 | Protocol::H2c, _) => Mode::H2,
            (Protocol::Auto, true) => Mode::Unknown,
        };
        let auth = Authorizer::new(
            endpoint.name.clone(),
            endpoint.auth.clone(),
            opts.credentials_recheck,
        );
        Self {
            inner: Rc::new(Inner {
                auth,
                mode: Cell::new(mode),
                idle_h1: RefCell::new(Vec::new()),
                h1_total: Cell::new(0),
                h2: RefCell::new(Vec::new()),
                connecting: Cell::new(0),
                changed: Notify::default(),
                next_conn_id: Cell::new(1),
                next_addr: Cell::new(0),
                closed: Cell::new(false),
                stats: Cell::new(PoolStats::default()),
                in_flight: Cell::new(0),
                endpoint,
                opts,
            }),
        }
    }

    /// The endpoint this pool sends to.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.inner.endpoint
    }

    /// Counters and gauges.
    pub fn stats(&self) -> PoolStats {
        let inner = &self.inner;
        let mut s = inner.stats.get();
        s.open_connections = inner.h1_total.get() + inner.h2.borrow().len();
        s.in_flight = inner.in_flight.get();
        s
    }

    pub(crate) fn limiter_retry(&self) -> &LogLimiter {
        &self.inner.log_limits().retry
    }

    pub(crate) fn limiter_drop(&self) -> &LogLimiter {
        &self.inner.log_limits().drop
    }

    /// Closes every connection; waiting and later requests fail with [`SendError::Shutdown`].
    pub fn close(&self) {
        let inner = &self.inner;
        inner.closed.set(true);
        for c in inner.h2.borrow_mut().drain(..) {
            c.kill();
        }
        let idle = inner.idle_h1.borrow_mut().drain(..).count();
        inner.h1_total.set(inner.h1_total.get() - idle);
        inner.changed.notify_all();
    }

    /// Sends one request and returns the response, whatever its status. Bounded by
    /// `remote_timeout` from start to the last response byte. An OAuth2 endpoint answering
    /// `401` gets one more try with a newly fetched token (its own `remote_timeout`).
    pub async fn send(&self, req: &WriteRequest) -> Result<Response, SendError> {
        let used = Cell::new(None);
        let result = self.send_once(req, 0, &used).await;
        if let (Ok(response), Some(generation)) = (&result, used.get()) {
            if response.status == http::StatusCode::UNAUTHORIZED {
                if let Some(source) = self.inner.auth.token_source() {
                    tracing::debug!(endpoint = %self.inner.endpoint.name, generation,
                        "Receiver refused the OAuth2 token; fetching a new one and sending again.");
                    source.reject(generation);
                    return self.send_once(req, generation + 1, &used).await;
                }
            }
        }
        result
    }

    /// One try. `min_token` is the oldest OAuth2 token generation that may be used; the
    /// generation actually used is stored in `used`.
    async fn send_once(
        &self,
        req: &WriteRequest,
        min_token: u64,
        used: &Cell<Option<u64>>,
    ) -> Result<Response, SendError> {
        let inner = &self.inner;
        let timeout = inner.endpoint.remote_timeout;
        let stage = Cell::new(Stage::AcquiringConnection);
        let in_flight = InFlight::new(inner);
        let result =
            monoio::time::timeout(timeout, self.send_inner(req, &stage, min_token, used)).await;
        drop(in_flight);
        let result = result.unwrap_or_else(|_elapsed| {
            inner.bump(|s| s.timeouts += 1);
            Err(SendError::Timeout {
                endpoint: inner.endpoint.name.clone(),
                after: timeout,
                stage: stage.get(),
            })
        });
        match &result {
            Ok(_) => inner.bump(|s| s.responses += 1),
            Err(_) => inner.bump(|s| s.errors += 1),
        }
        result
    }

    /// The auth headers for `req`; waits (polling, within the caller's timeout) while an
    /// OAuth2 endpoint has no valid token of generation `min_token` or newer.
    async fn request_auth(
        &self,
        req: &WriteRequest,
        stage: &Cell<Stage>,
        min_token: u64,
    ) -> RequestAuth {
        loop {
            let auth = self
                .inner
                .auth
                .for_request(Instant::now(), req.format, &req.body);
            match auth {
                Some(a) if a.token_generation.is_none_or(|g| g >= min_token) => return a,
                _ => {
                    stage.set(Stage::AwaitingToken);
                    monoio::time::sleep(TOKEN_POLL).await;
                }
            }
        }
    }

    async fn send_inner(
        &self,
        req: &WriteRequest,
        stage: &Cell<Stage>,
        min_token: u64,
        used: &Cell<Option<u64>>,
    ) -> Result<Response, SendError> {
        let inner = &self.inner;
        let endpoint = &inner.endpoint;
        let mut auth = self.request_auth(req, stage, min_token).await;
        auth.extra.extend(req.tenant.iter().cloned());
        stage.set(Stage::AcquiringConnection);
        used.set(auth.token_generation);
        let authorization = auth.authorization.as_ref();
        let max_drain = inner.opts.max_response_drain;
        let mut moved = 0;
        loop {
            match self.acquire(stage).await? {
                Lease::H1(mut lease) => {
                    let Some(conn) = lease.conn.as_mut() else {
                        // INVARIANT: a lease holds its connection until dropped.
                        unreachable!("H1 lease without a connection")
                    };
                    endpoint.template.render_h1(
                        &mut conn.head,
                        req.format,
                        authorization,
                        &auth.extra,
                        req.attempt,
                        req.body.len(),
                    );
                    let reused = conn.completed > 0;
                    match conn.round_trip(&req.body, stage, max_drain).await {
                        Ok(outcome) => {
                            lease.reusable = outcome.reusable;
                            return Ok(outcome.response);
                        }
                        Err(H1Error::Io {
                            stage: at,
                            source,
                            response_started,
                        }) => {
                            if reused && !response_started && moved < MAX_TRANSPARENT_RETRIES {
                                moved += 1;
                                inner.bump(|s| s.stale_reconnects += 1);
                                tracing::debug!(endpoint = %endpoint.name, conn = conn.id, error = %source, "Keep-alive connection was closed by the receiver; sending on a new one.");
                                continue;
                            }
                            return Err(SendError::ConnectionLost {
                                endpoint: endpoint.name.clone(),
                                stage: at,
                                source,
                            });
                        }
                        Err(H1Error::Protocol(detail)) => {
                            return Err(SendError::Protocol {
                                endpoint: endpoint.name.clone(),
                                detail,
                            })
                        }
                    }
                }
                Lease::H2(lease) => {
                    let mut request = http::Request::new(());
                    *request.method_mut() = http::Method::POST;
                    *request.uri_mut() = endpoint.uri.clone();
                    *request.headers_mut() = endpoint.template.h2_headers(
                        req.format,
                        authorization,
                        &auth.extra,
                        req.attempt,
                        req.body.len(),
                    );
                    match lease
                        .conn
                        .round_trip(request, &req.body, stage, max_drain)
                        .await
                    {
                        Ok(response) => return Ok(response),
                        Err(H2Failure::Refused(error)) => {
                            inner.bump(|s| s.refused_streams += 1);
                            if moved < MAX_TRANSPARENT_RETRIES {
                                moved += 1;
                                tracing::debug!(endpoint = %endpoint.name, conn = lease.conn.id, %error, "HTTP/2 stream refused (GOAWAY); sending on another connection.");
                                continue;
                            }
                            return Err(SendError::GoAway {
                                endpoint: endpoint.name.clone(),
                                tries: moved + 1,
                                source: error,
                            });
                        }
                        Err(H2Failure::Failed { stage: at, .. }) if lease.conn.ping_timed_out() => {
                            return Err(SendError::ConnectionLost {
                                endpoint: endpoint.name.clone(),
                                stage: at,
                                source: std::io::Error::new(
                                    std::io::ErrorKind::TimedOut,
                                    format!(
                                        "no HTTP/2 PING reply within {:?}; closed the connection",
                                        inner.opts.h2_ping_timeout
                                    ),
                                ),
                            });
                        }
                        Err(H2Failure::Failed { stage: at, error }) => {
                            return Err(if error.is_io() {
                                SendError::ConnectionLost {
                                    endpoint: endpoint.name.clone(),
                                    stage: at,
                                    // INVARIANT: is_io() was checked just above.
                                    source: error.into_io().unwrap_or_else(|| {
                                        std::io::Error::other("HTTP/2 I/O error")
                                    }),
                                }
                            } else {
                                SendError::H2 {
                                    endpoint: endpoint.name.clone(),
                                    stage: at,
                                    source: error,
                                }
                            });
                        }
                    }
                }
            }
        }
    }

    /// Finds or opens a connection with a free slot, or waits for one.
    async fn acquire(&self, stage: &Cell<Stage>) -> Result<Lease, SendError> {
        let inner = &self.inner;
        loop {
            if inner.closed.get() {
                return Err(SendError::Shutdown {
                    endpoint: inner.endpoint.name.clone(),
                });
            }
            let mode = inner.mode.get();
            let can_connect = inner.can_connect(mode);
            if mode != Mode::H1 {
                if let Some(conn) = inner.least_loaded_h2() {
                    if conn.in_flight.get() == 0 || !can_connect {
                        return Ok(Lease::H2(H2Lease::new(self.inner.clone(), conn)));
                    }
                }
            }
            if mode != Mode::H2 {
                loop {
                    let Some(mut conn) = inner.idle_h1.borrow_mut().pop() else {
                        break;
                    };
                    if conn.is_dead_while_idle() {
                        inner.h1_total.set(inner.h1_total.get() - 1);
                        tracing::debug!(endpoint = %inner.endpoint.name, conn = conn.id, "Idle keep-alive connection was closed by the receiver.");
                        continue;
                    }
                    return Ok(Lease::H1(H1Lease {
                        pool: self.inner.clone(),
                        conn: Some(conn),
                        reusable: false,
                    }));
                }
            }
            if can_connect {
                let result = self.connect(stage).await;
                if result.is_err() && mode == Mode::H2 {
                    // We were only opening a connection to spread load; one that works
                    // and has room is better than an error.
                    if let Some(conn) = inner.least_loaded_h2() {
                        return Ok(Lease::H2(H2Lease::new(self.inner.clone(), conn)));
                    }
                }
                return result;
            }
            stage.set(Stage::AcquiringConnection);
            inner.changed.listen().await;
        }
    }

    /// Opens a new connection and leases it.
    async fn connect(&self, stage: &Cell<Stage>) -> Result<Lease, SendError> {
        let inner = &self.inner;
        let endpoint = &inner.endpoint;
        let _guard = ConnectingGuard::new(&inner.clone());
        let id = inner.next_conn_id.get();
        inner.next_conn_id.set(id + 1);
        let result = self.open(stage, id).await;
        let stream = match result {
            Ok(s) => s,
            Err(e) => {
                inner.bump(|s| s.connect_errors += 1);
                if let Some(suppressed) = inner.log_limits().conn.allow(Instant::now()) {
                    tracing::warn!(endpoint = %endpoint.name, error = %e, suppressed, "Cannot open a connection.");
                }
                return Err(e);
            }
        };
        let use_h2 = match (endpoint.protocol, stream.alpn()) {
            (Protocol::H2c, _) => true,
            (_, Some(alpn)) if alpn == ALPN_H2 => true,
            (Protocol::H2, alpn) => {
                inner.bump(|s| s.connect_errors += 1);
                return Err(SendError::AlpnNoH2 {
                    endpoint: endpoint.name.clone(),
                    negotiated: alpn.map_or_else(
                        || "none".to_string(),
                        |a| String::from_utf8_lossy(a).into_owned(),
                    ),
                });
            }
            _ => false,
        };
        if inner.mode.get() == Mode::Unknown {
            let mode = if use_h2 { Mode::H2 } else { Mode::H1 };
            tracing::info!(endpoint = %endpoint.name, http2 = use_h2, "Negotiated protocol via TLS ALPN.");
            inner.mode.set(mode);
        }
        if !use_h2 {
            inner.h1_total.set(inner.h1_total.get() + 1);
            inner.bump(|s| s.connections_opened += 1);
            tracing::debug!(endpoint = %endpoint.name, conn = id, "Opened HTTP/1.1 connection.");
            return Ok(Lease::H1(H1Lease {
                pool: inner.clone(),
                conn: Some(H1Conn::new(stream, id)),
                reusable: false,
            }));
        }
        stage.set(Stage::H2Handshake);
        let settings = H2Settings {
            stream_window: inner.opts.h2_stream_window,
            connection_window: inner.opts.h2_connection_window,
            ping_interval: inner.opts.h2_ping_interval,
            ping_timeout: inner.opts.h2_ping_timeout,
        };
        let weak = Rc::downgrade(inner);
        let conn = H2Conn::handshake(stream, id, settings, move |id, exit| {
            on_h2_exit(&weak, id, exit);
        })
        .await
        .map_err(|source| {
            inner.bump(|s| s.connect_errors += 1);
            SendError::H2Handshake {
                endpoint: endpoint.name.clone(),
                source,
            }
        })?;
        inner.h2.borrow_mut().push(conn.clone());
        inner.bump(|s| s.connections_opened += 1);
        tracing::debug!(endpoint = %endpoint.name, conn = id, "Opened HTTP/2 connection.");
        Ok(Lease::H2(H2Lease::new(inner.clone(), conn)))
    }

    /// TCP connect (trying each resolved address, rotating the start), then TLS.
    async fn open(&self, stage: &Cell<Stage>, id: u64) -> Result<Stream, SendError> {
        let inner = &self.inner;
        let endpoint = &inner.endpoint;
        stage.set(Stage::Connecting);
        let addrs: Vec<SocketAddr> = match endpoint.ip {
            Some(ip) => vec![SocketAddr::new(ip, endpoint.port)],
            // Blocking getaddrinfo on the core thread: acceptable while connections are
            // long-lived; a resolver task is a later step (USERS.md item 15).
            None => (endpoint.host.as_str(), endpoint.port)
                .to_socket_addrs()
                .map_err(|source| SendError::Resolve {
                    endpoint: endpoint.name.clone(),
                    host: endpoint.host.clone(),
                    source,
                })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(SendError::Resolve {
                endpoint: endpoint.name.clone(),
                host: endpoint.host.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
            });
        }
        let start = inner.next_addr.get();
        inner.next_addr.set(start.wrapping_add(1));
        let mut last_error = None;
        let mut tcp = None;
        for i in 0..addrs.len() {
            let addr = addrs[(start + i) % addrs.len()];
            match TcpStream::connect_addr(addr).await {
                Ok(s) => {
                    tcp = Some((s, addr));
                    break;
                }
                Err(source) => last_error = Some((addr, source)),
            }
        }
        let (tcp, addr) = match (tcp, last_error) {
            (Some(found), _) => found,
            (None, Some((addr, source))) => {
                return Err(SendError::Connect {
                    endpoint: endpoint.name.clone(),
                    addr,
                    source,
                })
            }
            (None, None) => unreachable!("INVARIANT: addrs is not empty"),
        };
        let connect_err = |source| SendError::Connect {
            endpoint: endpoint.name.clone(),
            addr,
            source,
        };
        tcp.set_nodelay(true).map_err(connect_err)?;
        let poll = tcp.try_into_poll_io().map_err(|(e, _)| connect_err(e))?;
        let Some(tls) = &endpoint.tls else {
            return Ok(Stream::Plain(poll));
        };
        stage.set(Stage::TlsHandshake);
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        let stream = connector
            .connect(tls.server_name.clone(), poll)
            .await
            .map_err(|source| {
                // A server that knows ALPN but none of our protocols aborts the handshake.
                let no_common_alpn = matches!(
                    source
                        .get_ref()
                        .and_then(|e| e.downcast_ref::<rustls::Error>()),
                    Some(rustls::Error::AlertReceived(
                        rustls::AlertDescription::NoApplicationProtocol
                    ))
                );
                if no_common_alpn && endpoint.protocol == Protocol::H2 {
                    return SendError::AlpnNoH2 {
                        endpoint: endpoint.name.clone(),
                        negotiated: "none (the server refused h2 with no_application_protocol)"
                            .to_string(),
                    };
                }
                SendError::TlsHandshake {
                    endpoint: endpoint.name.clone(),
                    server_name: tls.server_name.to_str().into_owned(),
                    source,
                }
            })?;
        tracing::trace!(endpoint = %endpoint.name, conn = id, %addr, "TLS handshake done.");
        Ok(Stream::Tls(Box::new(stream)))
    }
}

impl Inner {
    /// The endpoint-wide (all cores) limits of repeating log lines.
    fn log_limits(&self) -> &crate::http::endpoint::LogLimits {
        self.endpoint.log_limits(self.opts.error_log_interval)
    }

    fn bump(&self, f: impl FnOnce(&mut PoolStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    fn can_connect(&self, mode: Mode) -> bool {
        let connecting = self.connecting.get();
        match mode {
            Mode::H1 => self.h1_total.get() + connecting < self.opts.h1_max_connections,
            Mode::H2 => self.h2.borrow().len() + connecting < self.opts.h2_max_connections,
            // Learn the protocol from one handshake before opening more.
            Mode::Unknown => connecting == 0,
        }
    }

    /// Drops closed/draining connections from the list, returns the least-loaded one with a
    /// free stream slot.
    fn least_loaded_h2(&self) -> Option<Rc<H2Conn>> {
        let mut list = self.h2.borrow_mut();
        list.retain(|c| c.is_open());
        let cap = self.opts.h2_max_concurrent_streams.max(1);
        list.iter()
            .filter(|c| c.in_flight.get() < c.capacity(cap))
            .min_by_key(|c| c.in_flight.get())
            .cloned()
    }
}

fn on_h2_exit(pool: &Weak<Inner>, id: u64, exit: DriverExit) {
    let Some(inner) = pool.upgrade() else {
        return;
    };
    inner.bump(|s| s.h2_connections_closed += 1);
    let name = &inner.endpoint.name;
    match &exit {
        DriverExit::Closed | DriverExit::Killed => {
            tracing::debug!(endpoint = %name, conn = id, "HTTP/2 connection closed.");
        }
        DriverExit::PingTimeout => {
            inner.bump(|s| s.ping_timeouts += 1);
            tracing::warn!(endpoint = %name, conn = id, "HTTP/2 PING not answered in time; closed the connection.");
        }
        DriverExit::Error(error) => {
            if let Some(suppressed) = inner.log_limits().conn.allow(Instant::now()) {
                tracing::info!(endpoint = %name, conn = id, %error, suppressed, "HTTP/2 connection ended with an error.");
            }
        }
    }
    inner.h2.borrow_mut().retain(|c| c.id != id);
    inner.changed.notify_all();
}

/// A connection handed to one request.
enum Lease {
    H1(H1Lease),
    H2(H2Lease),
}

/// Exclusive use of an HTTP/1.1 connection; returned to the idle list on drop when
/// `reusable`, closed otherwise (also when the request future is dropped mid-way, e.g. by
/// the timeout, since its state is then unknown).
struct H1Lease {
    pool: Rc<Inner>,
    conn: Option<H1Conn<Stream>>,
    reusable: bool,
}

impl Drop for H1Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.reusable && !self.pool.closed.get() {
                self.pool.idle_h1.borrow_mut().push(conn);
            } else {
                self.pool.h1_total.set(self.pool.h1_total.get() - 1);
            }
        }
        self.pool.changed.notify_all();
    }
}

/// One stream slot on an HTTP/2 connection.
struct H2Lease {
    pool: Rc<Inner>,
    conn: Rc<H2Conn>,
}

impl H2Lease {
    fn new(pool: Rc<Inner>, conn: Rc<H2Conn>) -> Self {
        conn.in_flight.set(conn.in_flight.get() + 1);
        Self { pool, conn }
    }
}

impl Drop for H2Lease {
    fn drop(&mut self) {
        self.conn.in_flight.set(self.conn.in_flight.get() - 1);
        self.pool.changed.notify_all();
    }
}

/// Counts a request in [`Pool::send`], also when the caller drops the future.
struct InFlight<'a> {
    pool: &'a Inner,
}

impl<'a> InFlight<'a> {
    fn new(pool: &'a Inner) -> Self {
        pool.in_flight.set(pool.in_flight.get() + 1);
        Self { pool }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.pool.in_flight.set(self.pool.in_flight.get() - 1);
    }
}

/// Counts a connection attempt in progress.
struct ConnectingGuard {
    pool: Rc<Inner>,
}

impl ConnectingGuard {
    fn new(pool: &Rc<Inner>) -> Self {
        pool.connecting.set(pool.connecting.get() + 1);
        Self { pool: pool.clone() }
    }
}

impl Drop for ConnectingGuard {
    fn drop(&mut self) {
        self.pool.connecting.set(self.pool.connecting.get() - 1);
        self.pool.changed.notify_all();
    }
}
