//! The small web server: `/metrics`, `/-/healthy`, `/-/ready`, `/-/reload` (DESIGN.md
//! "metrics"), answering like Prometheus's own lifecycle endpoints so probes, scrape configs
//! and reload scripts written for Prometheus work against ringwrite.
//!
//! | route                | methods    | answer                                                     |
//! |----------------------|------------|------------------------------------------------------------|
//! | `/metrics`           | GET, HEAD  | 200, text format 0.0.4 ([`METRICS_CONTENT_TYPE`])          |
//! | `/-/healthy`         | GET, HEAD  | 200 `ringwrite is Healthy.\n`                              |
//! | `/-/ready`           | GET, HEAD  | 200 `ringwrite is Ready.\n`, or 503 `Service Unavailable`  |
//! | `/-/reload`          | POST, PUT  | 200, or 500 `failed to reload config: <error>\n`; GET 405 |
//! | `/-/quit`            | POST, PUT  | 200 `Requesting termination... Goodbye!`, then a SIGTERM-like stop |
//! | `/status`            | GET, HEAD  | 200 HTML per-endpoint status ([`status`])                  |
//! | `/api/v1/status`     | GET, HEAD  | 200 the same as JSON, `{"status":"success","data":{..}}`   |
//! | anything else        |            | 404                                                        |
//!
//! `/-/reload` and `/-/quit` answer 403 `Lifecycle API is not enabled.` unless the server was
//! started with `--web.enable-lifecycle`, as Prometheus does (SIGHUP reloads either way).
//!
//! Plain blocking std I/O on its own threads, away from the monoio cores: this serves a
//! scrape every few seconds, not traffic. Robustness comes from limits: an 8 KiB request
//! head (431 beyond), 64 KiB body (413), 5 s per read or write, 10 s per request (408),
//! [`MAX_CONNECTIONS`] at once (503 beyond), one request per connection, and no panics on
//! any input (a panicking handler is answered 500).
//!
//! The default address is [`DEFAULT_LISTEN_ADDRESS`], `0.0.0.0:9096`. Ports nearby are taken:
//! 9090 Prometheus, 9091 Pushgateway, 9093/9094 Alertmanager, 9095 the gRPC port of Mimir,
//! Loki, Tempo and Cortex (receivers ringwrite may run beside), 8429 vmagent.

mod request;
mod routes;
mod server;
pub mod status;

use std::{
    net::{SocketAddr, TcpListener, ToSocketAddrs},
    sync::{
        atomic::{AtomicBool, AtomicUsize},
        Arc,
    },
};

pub use routes::METRICS_CONTENT_TYPE;
pub use server::{WebServer, MAX_CONNECTIONS};

use crate::metrics::Registry;

/// Default `web_listen_address`.
pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:9096";

/// Where and how to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOptions {
    /// The address to listen on, like Prometheus's `--web.listen-address`.
    pub listen: SocketAddr,
    /// `--web.enable-lifecycle`: serve `/-/reload` and `/-/quit` (403 otherwise).
    pub enable_lifecycle: bool,
}

impl Default for WebOptions {
    fn default() -> WebOptions {
        WebOptions {
            listen: SocketAddr::from(([0, 0, 0, 0], 9096)),
            enable_lifecycle: false,
        }
    }
}

impl WebOptions {
    /// Options from a `web_listen_address` string: `host:port`, `:port` (all IPv4
    /// interfaces) or `[v6]:port`; a host name is resolved and its first address used.
    pub fn from_listen_address(addr: &str) -> Result<WebOptions, WebError> {
        Ok(WebOptions {
            listen: parse_listen_address(addr)?,
            enable_lifecycle: false,
        })
    }

    /// With `--web.enable-lifecycle` (`/-/reload`, `/-/quit`) on or off.
    pub fn lifecycle(mut self, enable: bool) -> WebOptions {
        self.enable_lifecycle = enable;
        self
    }
}

/// What the server asks of the rest of ringwrite.
pub trait Control: Send + Sync + 'static {
    /// Whether `/-/ready` answers 200 (startup finished, not shutting down).
    fn ready(&self) -> bool;
    /// Applies the config file again; the error text is shown to the caller of `/-/reload`.
    fn reload(&self) -> Result<(), String>;
    /// Starts a clean stop, as SIGTERM does (`/-/quit`). The default does nothing.
    fn quit(&self) {}
    /// What `/status` and `/api/v1/status` show; `None` (the default) answers 404.
    fn status(&self) -> Option<status::StatusReport> {
        None
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    #[error("web listen address {addr:?}: {reason}")]
    BadAddress { addr: String, reason: String },
}

/// Parses a listen address as [`WebOptions::from_listen_address`] describes.
pub fn parse_listen_address(addr: &str) -> Result<SocketAddr, WebError> {
    let bad = |reason: String| WebError::BadAddress {
        addr: addr.to_owned(),
        reason,
    };
    if let Some(port) = addr.strip_prefix(':') {
        let port = port
            .parse::<u16>()
            .map_err(|_| bad(format!("port {port:?} is not a number 0..65535")))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    addr.to_socket_addrs()
        .map_err(|e| bad(format!("cannot resolve: {e}")))?
        .next()
        .ok_or_else(|| bad("resolves to no address".into()))
}

/// Binds `opts.listen` and serves on a background thread until [`WebServer::shutdown`].
/// Binding errors (address in use, permission denied) are returned, not deferred.
pub fn serve(
    opts: WebOptions,
    registry: Registry,
    control: Arc<dyn Control>,
) -> std::io::Result<WebServer> {
    let listener = TcpListener::bind(opts.listen)?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(server::Shared {
        registry,
        control,
        stop: AtomicBool::new(false),
        active: AtomicUsize::new(0),
        limits: request::Limits::default(),
        lifecycle: opts.enable_lifecycle,
    });
    let thread_shared = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("ringwrite-web".into())
        .spawn(move || server::accept_loop(listener, thread_shared))?;
    tracing::info!(%addr, "Web server listening.");
    Ok(WebServer::new(addr, shared, thread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let table: &[(&str, Option<&str>)] = &[
            (":9096", Some("0.0.0.0:9096")),
            ("127.0.0.1:80", Some("127.0.0.1:80")),
            ("[::1]:9096", Some("[::1]:9096")),
            ("localhost:0", Some("127.0.0.1:0")),
            (":x", None),
            (":70000", None),
            ("nohost", None),
        ];
        for &(input, want) in table {
            let got = parse_listen_address(input).map(|a| a.to_string());
            match want {
                Some(w) if input.starts_with("localhost") => {
                    // localhost may resolve to ::1 first on some hosts.
                    let got = got.map_err(|e| e.to_string()).unwrap_or_default();
                    assert!(got == w || got == "[::1]:0", "{input}: {got}");
                }
                Some(w) => assert_eq!(got.map_err(|e| e.to_string()), Ok(w.to_owned()), "{input}"),
                None => assert!(got.is_err(), "{input} should be rejected: {got:?}"),
            }
        }
    }

    #[test]
    fn default_is_documented_port() {
        assert_eq!(
            WebOptions::default().listen.to_string(),
            DEFAULT_LISTEN_ADDRESS
        );
    }
}
