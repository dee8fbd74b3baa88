//! A validated endpoint: everything a per-core [`super::Pool`] needs, built once.

use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use rustls::{pki_types::ServerName, ClientConfig};

use super::{
    auth::AuthSpec,
    config::{redact_url, EndpointConfig, Protocol},
    error::ConfigError,
    headers::{RequestTemplate, WireFormat},
    oauth2::TokenSource,
    response::FallbackCause,
    sigv4::{process_env, SigV4Signer},
    tls::{self, ALPN_H2, ALPN_HTTP1},
};

/// TLS settings of an `https://` endpoint.
#[derive(Debug)]
pub(crate) struct TlsSetup {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

/// One remote-write endpoint, shared by every core (`Send + Sync`).
#[derive(Debug)]
pub struct Endpoint {
    pub(crate) name: Arc<str>,
    url: String,
    pub(crate) uri: http::Uri,
    pub(crate) host: String,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) port: u16,
    pub(crate) tls: Option<TlsSetup>,
    pub(crate) protocol: Protocol,
    pub(crate) remote_timeout: Duration,
    pub(crate) template: RequestTemplate,
    pub(crate) auth: AuthSpec,
    rw1_fallback: AtomicBool,
    /// Per-batch log limits shared by this endpoint's pools on every core, so a failing
    /// receiver logs one line per interval per endpoint, not one per core.
    log_limits: std::sync::OnceLock<LogLimits>,
}

/// The rate limits of an endpoint's repeating log lines.
#[derive(Debug)]
pub(crate) struct LogLimits {
    pub retry: crate::logging::RateLimit,
    pub drop: crate::logging::RateLimit,
    pub conn: crate::logging::RateLimit,
}

impl Endpoint {
    /// Validates `cfg`, reads TLS material and credential files, renders header templates.
    pub fn new(cfg: &EndpointConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let name = cfg.display_name();
        let invalid = |reason: String| ConfigError::InvalidUrl {
            endpoint: name.clone(),
            url: redact_url(&cfg.url),
            reason,
        };
        let parsed: http::Uri = cfg.url.parse().map_err(|e| invalid(format!("{e}")))?;
        let https = parsed.scheme_str() == Some("https");
        let authority = parsed
            .authority()
            .ok_or_else(|| invalid("the URL has no host".into()))?;
        let host = authority.host().to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        // Host / :authority without user info.
        let host_port = match authority.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let path = parsed
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let uri: http::Uri = format!(
            "{}://{host_port}{path}",
            if https { "https" } else { "http" }
        )
        .parse()
        .map_err(|e| invalid(format!("{e}")))?;
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok();

        let tls = if https {
            let alpn: &[&[u8]] = match cfg.protocol {
                Protocol::Auto => &[ALPN_H2, ALPN_HTTP1],
                Protocol::H2 | Protocol::H2c => &[ALPN_H2],
                Protocol::Http1 => &[ALPN_HTTP1],
            };
            Some(TlsSetup {
                config: tls::client_config(&name, &cfg.tls_config, alpn)?,
                server_name: tls::server_name(&name, &cfg.tls_config, &host)?,
            })
        } else {
            None
        };
        let auth = if let Some(o) = &cfg.oauth2 {
            AuthSpec::OAuth2(Arc::new(TokenSource::start(&name, o, cfg.remote_timeout)?))
        } else if let Some(s) = &cfg.sigv4 {
            let signer = SigV4Signer::new(&name, s, &host_port, &path, &process_env)?;
            AuthSpec::SigV4(Arc::new(signer))
        } else {
            AuthSpec::new(&name, cfg.basic_auth.as_ref(), cfg.authorization.as_ref())?
        };
        Ok(Self {
            template: RequestTemplate::new(&path, &host_port, &cfg.headers),
            name: Arc::from(name.as_str()),
            url: redact_url(&cfg.url),
            uri,
            host,
            ip,
            port,
            tls,
            protocol: cfg.protocol,
            remote_timeout: cfg.remote_timeout,
            auth,
            rw1_fallback: AtomicBool::new(false),
            log_limits: std::sync::OnceLock::new(),
        })
    }

    /// Name used in logs, metrics and errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL without user info.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Configured protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Per-request timeout.
    pub fn remote_timeout(&self) -> Duration {
        self.remote_timeout
    }

    /// OAuth2 endpoints: how many token requests were made so far (successful or not).
    pub fn oauth2_token_fetches(&self) -> Option<u64> {
        match &self.auth {
            AuthSpec::OAuth2(src) => Some(src.fetches()),
            _ => None,
        }
    }

    /// SigV4 endpoints: the access key id requests are signed with (not a secret).
    pub fn sigv4_access_key(&self) -> Option<String> {
        match &self.auth {
            AuthSpec::SigV4(s) => Some(s.access_key()),
            _ => None,
        }
    }

    /// The format to encode the next batch in: `configured`, unless the receiver showed it
    /// only takes RW 1.0.
    pub fn wire_format(&self, configured: WireFormat) -> WireFormat {
        if configured == WireFormat::Rw2 && self.rw1_fallback.load(Ordering::Relaxed) {
            WireFormat::Rw1
        } else {
            configured
        }
    }

    /// Remembers that the receiver only takes RW 1.0 (for every core), and logs it once.
    /// Returns true the first time.
    pub fn fall_back_to_rw1(&self, cause: FallbackCause) -> bool {
        let first = !self.rw1_fallback.swap(true, Ordering::Relaxed);
        if first {
            tracing::warn!(
                endpoint = %self.name,
                url = %self.url,
                %cause,
                "Receiver does not accept remote write 2.0; falling back to 1.0 for this endpoint until restart."
            );
        }
        first
    }
}

impl Endpoint {
    /// The endpoint's log limits; the first pool to ask sets the interval.
    pub(crate) fn log_limits(&self, interval: Duration) -> &LogLimits {
        self.log_limits.get_or_init(|| LogLimits {
            retry: crate::logging::RateLimit::new(interval),
            drop: crate::logging::RateLimit::new(interval),
            conn: crate::logging::RateLimit::new(interval),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limits_are_one_per_endpoint() {
        let e = Endpoint::new(&EndpointConfig::new(String::from("http://127.0.0.1:9/w"))).unwrap();
        let now = std::time::Instant::now();
        // The first caller's interval holds; a second pool (another core) shares the limit.
        let a = e.log_limits(Duration::from_secs(60));
        let b = e.log_limits(Duration::from_secs(1));
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.retry.allow(now), Some(0));
        assert_eq!(b.retry.allow(now + Duration::from_secs(2)), None);
        assert_eq!(b.drop.allow(now), Some(0), "kinds are limited separately");
    }

    #[test]
    fn url_parts_table() {
        // (url, host, port, uri, tls)
        let cases = [
            (
                "http://127.0.0.1:9090/api/v1/write",
                "127.0.0.1",
                9090,
                "http://127.0.0.1:9090/api/v1/write",
                false,
            ),
            (
                "https://recv.example/push?tenant=a",
                "recv.example",
                443,
                "https://recv.example/push?tenant=a",
                true,
            ),
            ("http://u:p@h:81", "h", 81, "http://h:81/", false),
            (
                "http://[::1]:8080/w",
                "[::1]",
                8080,
                "http://[::1]:8080/w",
                false,
            ),
        ];
        for (url, host, port, uri, tls) in cases {
            let mut cfg = EndpointConfig::new(url);
            cfg.tls_config.insecure_skip_verify = true;
            let e = Endpoint::new(&cfg).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(e.host, host, "{url}");
            assert_eq!(e.port, port, "{url}");
            assert_eq!(e.uri.to_string(), uri, "{url}");
            assert_eq!(e.tls.is_some(), tls, "{url}");
            assert!(!e.url().contains("p@"), "{url}");
        }
    }

    #[test]
    fn fallback_is_remembered_once() {
        let e = Endpoint::new(&EndpointConfig::new("http://h/w")).unwrap();
        assert_eq!(e.wire_format(WireFormat::Rw2), WireFormat::Rw2);
        assert!(e.fall_back_to_rw1(FallbackCause::UnsupportedMediaType));
        assert!(!e.fall_back_to_rw1(FallbackCause::NoWrittenHeaders));
        assert_eq!(e.wire_format(WireFormat::Rw2), WireFormat::Rw1);
        assert_eq!(e.wire_format(WireFormat::Rw1), WireFormat::Rw1);
    }
}
