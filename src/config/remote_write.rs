//! One `remote_write` entry: Prometheus's `RemoteWriteConfig` (with the HTTP client keys
//! inlined, as in prometheus.yml), `queue_config`, `metadata_config`, plus ringwrite's own
//! `protocol` key.
//!
//! Defaults are Prometheus v2.44+ (FORMATS.md §5.1). Unknown keys are errors (serde
//! `deny_unknown_fields`, which reports line and column). Keys that Prometheus knows but
//! ringwrite does not implement (`proxy_url`, `azuread`, `google_iam`, ...) are recognised and
//! refused with an explicit message instead of "unknown field".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::{OAuth2, SigV4};
use super::duration::serde_prometheus;
use super::error::{ConfigWarning, EndpointError};
use super::http_client::{self, Authorization, BasicAuth, Secret, TlsConfig, TlsVersion};
use super::relabel::{NameValidation, RelabelConfig};

/// `queue_config`: shards, batching and retry backoff. Defaults are Prometheus v2.44+.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Samples buffered per shard before the WAL reader waits.
    pub capacity: usize,
    pub max_shards: usize,
    pub min_shards: usize,
    pub max_samples_per_send: usize,
    /// How long a partial batch may wait before it is sent.
    #[serde(with = "serde_prometheus")]
    pub batch_send_deadline: Duration,
    #[serde(with = "serde_prometheus")]
    pub min_backoff: Duration,
    #[serde(with = "serde_prometheus")]
    pub max_backoff: Duration,
    /// Retry 429 like 5xx (honouring Retry-After) instead of dropping the batch.
    pub retry_on_http_429: bool,
    /// Drop samples older than this instead of sending them; zero = never.
    #[serde(with = "serde_prometheus")]
    pub sample_age_limit: Duration,
    /// ringwrite: most samples (+ histograms + exemplars) per second to this endpoint,
    /// spread over its shards; 0 = unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_samples_per_second: u64,
    /// ringwrite: most compressed request-body bytes per second; 0 = unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_bytes_per_second: u64,
    /// ringwrite: after an outage the rate limit ramps from 10% to 100% over this long;
    /// zero = no ramp. Only matters with a rate limit.
    #[serde(with = "serde_prometheus", skip_serializing_if = "is_default_ramp")]
    pub rate_limit_ramp_up: Duration,
}

/// Default `rate_limit_ramp_up`.
pub const DEFAULT_RATE_LIMIT_RAMP_UP: Duration = Duration::from_secs(60);

// The ringwrite-only keys are left out of the config hash (and so of generated endpoint
// names) while at their defaults.
fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_default_ramp(d: &Duration) -> bool {
    *d == DEFAULT_RATE_LIMIT_RAMP_UP
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2_000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::ZERO,
            max_samples_per_second: 0,
            max_bytes_per_second: 0,
            rate_limit_ramp_up: DEFAULT_RATE_LIMIT_RAMP_UP,
        }
    }
}

impl QueueConfig {
    /// Prometheus's `QueueConfig.Validate`, in its order.
    fn validate(&self) -> Result<(), EndpointError> {
        let q = |field: &'static str, reason: String| EndpointError::Queue { field, reason };
        if self.max_shards == 0 {
            return Err(q("max_shards", "must be positive".into()));
        }
        if self.min_shards == 0 {
            return Err(q("min_shards", "must be positive".into()));
        }
        if self.min_shards > self.max_shards {
            return Err(q(
                "min_shards",
                format!(
                    "({}) must not be greater than max_shards ({})",
                    self.min_shards, self.max_shards
                ),
            ));
        }
        if self.max_samples_per_send == 0 {
            return Err(q("max_samples_per_send", "must be positive".into()));
        }
        if self.capacity == 0 {
            return Err(q("capacity", "must be positive".into()));
        }
        if self.max_backoff < self.min_backoff {
            return Err(q(
                "max_backoff",
                format!(
                    "({}) must not be less than min_backoff ({})",
                    super::duration::Display(self.max_backoff),
                    super::duration::Display(self.min_backoff)
                ),
            ));
        }
        Ok(())
    }
}

/// `metadata_config`: periodic sending of metric metadata (RW 1.0).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataConfig {
    pub send: bool,
    #[serde(with = "serde_prometheus")]
    pub send_interval: Duration,
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2_000,
        }
    }
}

/// `protobuf_message`: which remote-write protocol version to speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum ProtobufMessage {
    /// Remote-Write 1.0.
    #[default]
    #[serde(rename = "prometheus.WriteRequest")]
    WriteRequestV1,
    /// Remote-Write 2.0.
    #[serde(rename = "io.prometheus.write.v2.Request")]
    RequestV2,
}

/// ringwrite's own per-endpoint key `protocol`: the HTTP version to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// As Prometheus: HTTP/1.1, or HTTP/2 when `enable_http2: true` and TLS ALPN picks h2.
    #[default]
    Auto,
    /// HTTP/2 over TLS (ALPN h2); needs an `https://` URL.
    H2,
    /// HTTP/2 over cleartext with prior knowledge; needs an `http://` URL.
    H2c,
    /// HTTP/1.1 only.
    Http1,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::H2 => "h2",
            Self::H2c => "h2c",
            Self::Http1 => "http1",
        })
    }
}

/// One `remote_write` entry as written (after defaults), validated by [`Self::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    pub url: String,
    #[serde(default = "default_remote_timeout", with = "serde_prometheus")]
    pub remote_timeout: Duration,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// As written; `None` (or `""`) gets a name from the config hash, see `Endpoint::name`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub send_exemplars: bool,
    #[serde(default)]
    pub send_native_histograms: bool,
    #[serde(default)]
    pub protobuf_message: ProtobufMessage,
    /// Accepted for compatibility; ringwrite ignores it (warning when true).
    #[serde(default)]
    pub round_robin_dns: bool,
    /// Prometheus: debug-log the request on a failed send. Kept for the HTTP layer.
    #[serde(default)]
    pub failed_request_logging: bool,

    // The HTTP client keys (prometheus/common HTTPClientConfig), inlined.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// After validation this also holds a deprecated `bearer_token[_file]`.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub oauth2: Option<OAuth2>,
    #[serde(default)]
    pub sigv4: Option<SigV4>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// `None` when not written; Prometheus v3's remote-write default is `false`. See
    /// [`Self::http2_enabled`].
    #[serde(default)]
    pub enable_http2: Option<bool>,
    #[serde(default)]
    pub protocol: Protocol,
    /// ringwrite: the series label whose value names the tenant (empty: no tenants).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant_label: String,
    /// ringwrite: the header that carries the tenant.
    #[serde(
        default = "default_tenant_header",
        skip_serializing_if = "is_default_tenant_header"
    )]
    pub tenant_header: String,
    /// ringwrite: the tenant of series without `tenant_label` (empty: no header).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tenant_default: String,
    #[serde(default)]
    pub queue_config: QueueConfig,
    #[serde(default)]
    pub metadata_config: MetadataConfig,

    // Deprecated aliases, folded into `authorization` by `validate`.
    #[serde(default, skip_serializing)]
    bearer_token: Option<Secret>,
    #[serde(
        default,
        skip_serializing,
        deserialize_with = "http_client::de_opt_path"
    )]
    bearer_token_file: Option<PathBuf>,

    // Known to Prometheus, refused by `validate` with a reason.
    #[serde(default, skip_serializing)]
    proxy_url: Option<String>,
    #[serde(default, skip_serializing)]
    no_proxy: Option<String>,
    #[serde(default, skip_serializing)]
    proxy_from_environment: bool,
    #[serde(default, skip_serializing)]
    proxy_connect_header: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing)]
    http_headers: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing)]
    azuread: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing)]
    google_iam: Option<serde_yaml_ng::Value>,
}

fn default_remote_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_true() -> bool {
    true
}

/// Default `tenant_header` (Cortex, Mimir, Loki, Thanos Receive).
pub const DEFAULT_TENANT_HEADER: &str = "X-Scope-OrgID";

fn default_tenant_header() -> String {
    DEFAULT_TENANT_HEADER.to_owned()
}

fn is_default_tenant_header(h: &str) -> bool {
    h == DEFAULT_TENANT_HEADER
}

impl RemoteWriteConfig {
    /// A config for `url` with every default, as if only `url:` had been written.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            remote_timeout: default_remote_timeout(),
            headers: BTreeMap::new(),
            write_relabel_configs: Vec::new(),
            name: None,
            send_exemplars: false,
            send_native_histograms: false,
            protobuf_message: ProtobufMessage::default(),
            round_robin_dns: false,
            failed_request_logging: false,
            basic_auth: None,
            authorization: None,
            oauth2: None,
            sigv4: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: None,
            protocol: Protocol::default(),
            tenant_label: String::new(),
            tenant_header: default_tenant_header(),
            tenant_default: String::new(),
            queue_config: QueueConfig::default(),
            metadata_config: MetadataConfig::default(),
            bearer_token: None,
            bearer_token_file: None,
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            proxy_connect_header: None,
            http_headers: None,
            azuread: None,
            google_iam: None,
        }
    }

    /// Whether HTTP/2 may be used: `enable_http2` if written, else true exactly when
    /// `protocol` asks for h2/h2c.
    pub fn http2_enabled(&self) -> bool {
        self.enable_http2
            .unwrap_or(matches!(self.protocol, Protocol::H2 | Protocol::H2c))
    }

    /// Checks everything Prometheus checks for one entry (and what ringwrite cannot do),
    /// folds `bearer_token[_file]` into `authorization`, makes file paths absolute against
    /// `base_dir`, and returns the parsed URL. Warnings are appended to `warnings` with
    /// `label` naming the endpoint.
    pub(crate) fn validate(
        &mut self,
        base_dir: Option<&Path>,
        scheme: NameValidation,
        label: &str,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<http::Uri, EndpointError> {
        if self.name.as_deref() == Some("") {
            self.name = None;
        }
        self.refuse_unsupported()?;
        let uri = parse_url(&self.url)?;
        for (index, rule) in self.write_relabel_configs.iter_mut().enumerate() {
            rule.validate(scheme)
                .map_err(|reason| EndpointError::Relabel { index, reason })?;
            rule.name_validation = scheme;
        }
        http_client::validate_headers(&self.headers)?;
        self.validate_tenant()?;
        self.fold_bearer_token()?;
        let mut configured = Vec::new();
        if self.basic_auth.is_some() {
            configured.push("basic_auth");
        }
        if self.authorization.is_some() {
            configured.push("authorization");
        }
        if self.oauth2.is_some() {
            configured.push("oauth2");
        }
        if self.sigv4.is_some() {
            configured.push("sigv4");
        }
        if configured.len() > 1 {
            return Err(EndpointError::MultipleAuth { configured });
        }
        http_client::validate_auth(
            &mut self.basic_auth,
            &mut self.authorization,
            &mut self.tls_config,
            base_dir,
        )?;
        if let Some(o) = self.oauth2.as_mut() {
            o.validate(base_dir)?;
        }
        if let Some(s) = &self.sigv4 {
            s.validate()?;
        }
        if let Some(v @ (TlsVersion::Tls10 | TlsVersion::Tls11)) = self.tls_config.min_version {
            warnings.push(ConfigWarning::TlsMinVersionRaised {
                endpoint: label.to_owned(),
                requested: v,
            });
        }
        self.check_protocol(&uri)?;
        self.queue_config.validate()?;
        let q = &self.queue_config;
        if q.capacity < q.max_samples_per_send {
            warnings.push(ConfigWarning::CapacityBelowBatchSize {
                endpoint: label.to_owned(),
                capacity: q.capacity,
                max_samples_per_send: q.max_samples_per_send,
            });
        }
        if self.round_robin_dns {
            warnings.push(ConfigWarning::RoundRobinDnsIgnored {
                endpoint: label.to_owned(),
            });
        }
        Ok(uri)
    }

    fn refuse_unsupported(&self) -> Result<(), EndpointError> {
        let refused: [(bool, &'static str, &'static str); 7] = [
            (
                self.proxy_url.as_deref().is_some_and(|u| !u.is_empty()),
                "proxy_url",
                "ringwrite connects to the receiver directly; remove proxy_url",
            ),
            (
                self.no_proxy.as_deref().is_some_and(|u| !u.is_empty()),
                "no_proxy",
                "ringwrite does not use proxies; remove no_proxy",
            ),
            (
                self.proxy_from_environment,
                "proxy_from_environment",
                "ringwrite does not use proxies; remove proxy_from_environment",
            ),
            (
                self.proxy_connect_header.is_some(),
                "proxy_connect_header",
                "ringwrite does not use proxies; remove proxy_connect_header",
            ),
            (
                self.http_headers.is_some(),
                "http_headers",
                "use the remote_write `headers` map for static headers",
            ),
            (
                self.azuread.is_some(),
                "azuread",
                "Azure AD auth is not implemented",
            ),
            (
                self.google_iam.is_some(),
                "google_iam",
                "Google IAM auth is not implemented",
            ),
        ];
        match refused.into_iter().find(|(set, _, _)| *set) {
            Some((_, key, hint)) => Err(EndpointError::Unsupported { key, hint }),
            None => Ok(()),
        }
    }

    /// `tenant_*` keys: the header must be sendable, not reserved, not also in `headers`.
    fn validate_tenant(&self) -> Result<(), EndpointError> {
        let bad = |reason: String| Err(EndpointError::Tenant { reason });
        if self.tenant_label.is_empty() {
            if !self.tenant_default.is_empty() || !is_default_tenant_header(&self.tenant_header) {
                return bad("tenant_header and tenant_default need tenant_label".into());
            }
            return Ok(());
        }
        let lower = self.tenant_header.to_ascii_lowercase();
        if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return bad(format!(
                "tenant_header {:?} is not a valid HTTP header name",
                self.tenant_header
            ));
        }
        if lower == "authorization" || http_client::RESERVED_HEADERS.contains(&lower.as_str()) {
            return bad(format!(
                "tenant_header {:?} is a reserved header",
                self.tenant_header
            ));
        }
        if let Some(h) = self.headers.keys().find(|h| h.eq_ignore_ascii_case(&lower)) {
            return bad(format!(
                "tenant_header {:?} is also set in headers ({h:?}); keep one",
                self.tenant_header
            ));
        }
        if http::HeaderValue::from_str(&self.tenant_default).is_err() {
            return bad("tenant_default is not a valid HTTP header value".into());
        }
        Ok(())
    }

    /// prometheus/common: `bearer_token[_file]` become `authorization: {type: Bearer}`.
    fn fold_bearer_token(&mut self) -> Result<(), EndpointError> {
        let token = self.bearer_token.take().filter(|t| !t.is_empty());
        let file = self.bearer_token_file.take();
        if token.is_none() && file.is_none() {
            return Ok(());
        }
        if token.is_some() && file.is_some() {
            return Err(EndpointError::Exclusive {
                section: "remote_write",
                fields: "bearer_token and bearer_token_file",
            });
        }
        if self.authorization.is_some() {
            return Err(EndpointError::Exclusive {
                section: "remote_write",
                fields: "authorization and bearer_token/bearer_token_file",
            });
        }
        if self.basic_auth.is_some() {
            return Err(EndpointError::MultipleAuth {
                configured: vec!["basic_auth", "bearer_token"],
            });
        }
        self.authorization = Some(Authorization::bearer(token.unwrap_or_default(), file));
        Ok(())
    }

    fn check_protocol(&self, uri: &http::Uri) -> Result<(), EndpointError> {
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let mismatch = match self.protocol {
            Protocol::H2 => !tls,
            Protocol::H2c => tls,
            Protocol::Auto | Protocol::Http1 => false,
        };
        if mismatch {
            return Err(EndpointError::ProtocolScheme {
                protocol: self.protocol,
                scheme: uri.scheme_str().unwrap_or("").to_owned(),
            });
        }
        let wants_h2 = matches!(self.protocol, Protocol::H2 | Protocol::H2c);
        if (wants_h2 && self.enable_http2 == Some(false))
            || (self.protocol == Protocol::Http1 && self.enable_http2 == Some(true))
        {
            return Err(EndpointError::ProtocolHttp2Conflict {
                protocol: self.protocol,
            });
        }
        Ok(())
    }

    /// Every secret value in the config, in a fixed order, for the config hash (which must
    /// change when a password does, while serialization shows `<secret>`).
    pub(crate) fn secret_values(&self) -> [&str; 5] {
        [
            self.oauth2
                .as_ref()
                .map_or("", |o| o.client_secret.expose()),
            self.sigv4.as_ref().map_or("", |s| s.secret_key.expose()),
            self.basic_auth.as_ref().map_or("", |b| b.password.expose()),
            self.authorization
                .as_ref()
                .map_or("", |a| a.credentials.expose()),
            self.tls_config.key.expose(),
        ]
    }
}

/// The URL must be absolute `http` or `https` with a host.
fn parse_url(url: &str) -> Result<http::Uri, EndpointError> {
    let bad = |reason: &'static str| EndpointError::Url {
        url: redact_url(url),
        reason,
    };
    if url.is_empty() {
        return Err(bad("url for remote_write is empty"));
    }
    let uri: http::Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(bad("scheme must be http or https")),
        None => return Err(bad("must be absolute, e.g. https://host/api/v1/write")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(uri)
}

/// Replaces a password in the URL's userinfo with `xxxxx` (Go's `url.Redacted`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:xxxxx@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_keys_parse_and_stay_out_of_the_hash_at_defaults() {
        let q: QueueConfig = serde_yaml_ng::from_str(
            "{max_samples_per_second: 5000, max_bytes_per_second: 1000000, \
             rate_limit_ramp_up: 30s}",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.max_samples_per_second, 5000);
        assert_eq!(q.max_bytes_per_second, 1_000_000);
        assert_eq!(q.rate_limit_ramp_up, Duration::from_secs(30));
        let text = serde_yaml_ng::to_string(&q).unwrap_or_default();
        assert!(text.contains("rate_limit_ramp_up: 30s"), "{text}");
        let defaults = serde_yaml_ng::to_string(&QueueConfig::default()).unwrap_or_default();
        assert!(
            !defaults.contains("per_second") && !defaults.contains("ramp"),
            "{defaults}"
        );
    }

    #[test]
    fn defaults_match_prometheus_v2_44() {
        let q = QueueConfig::default();
        assert_eq!(
            (
                q.capacity,
                q.max_shards,
                q.min_shards,
                q.max_samples_per_send
            ),
            (10_000, 50, 1, 2_000)
        );
        assert_eq!(q.batch_send_deadline, Duration::from_secs(5));
        assert_eq!(q.min_backoff, Duration::from_millis(30));
        assert_eq!(q.max_backoff, Duration::from_secs(5));
        assert!(!q.retry_on_http_429);
        assert_eq!(q.sample_age_limit, Duration::ZERO);
        // ringwrite's rate limit: off by default.
        assert_eq!((q.max_samples_per_second, q.max_bytes_per_second), (0, 0));
        assert_eq!(q.rate_limit_ramp_up, Duration::from_secs(60));
        let m = MetadataConfig::default();
        assert!(m.send);
        assert_eq!(m.send_interval, Duration::from_secs(60));
        assert_eq!(m.max_samples_per_send, 2_000);
        let parsed: RemoteWriteConfig = match serde_yaml_ng::from_str("url: http://x/") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(parsed, RemoteWriteConfig::with_url("http://x/"));
        assert_eq!(parsed.remote_timeout, Duration::from_secs(30));
        assert!(parsed.follow_redirects);
        assert!(!parsed.http2_enabled());
        assert!(!parsed.send_exemplars && !parsed.send_native_histograms);
        assert_eq!(parsed.protobuf_message, ProtobufMessage::WriteRequestV1);
        assert_eq!(parsed.protocol, Protocol::Auto);
    }

    #[test]
    fn url_table() {
        let ok = [
            "http://localhost:9090/api/v1/write",
            "https://mimir.example.com/api/v1/push",
            "http://[::1]:8080/write",
            "https://user:pw@host/x?tenant=a",
        ];
        for u in ok {
            assert!(parse_url(u).is_ok(), "{u}");
        }
        let bad = [
            ("", "url for remote_write is empty"),
            ("localhost:9090/api", "not a valid URL"),
            (
                "/api/v1/write",
                "must be absolute, e.g. https://host/api/v1/write",
            ),
            ("ftp://host/x", "scheme must be http or https"),
            ("unix:///run/sock", "not a valid URL"),
            ("http://", "not a valid URL"),
            ("http://ho st/", "not a valid URL"),
        ];
        for (u, want) in bad {
            match parse_url(u) {
                Err(EndpointError::Url { reason, .. }) => assert_eq!(reason, want, "{u}"),
                other => panic!("{u}: {other:?}"),
            }
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("https://u:pw@h/x"), "https://u:xxxxx@h/x");
        assert_eq!(redact_url("https://u@h/x"), "https://u@h/x");
        assert_eq!(redact_url("https://h/x@y"), "https://h/x@y");
        assert_eq!(redact_url("nonsense"), "nonsense");
    }
}
