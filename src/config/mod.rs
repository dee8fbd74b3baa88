//! Prometheus-compatible configuration.
//!
//! `--config.file` may be a whole `prometheus.yml`: ringwrite reads `global.external_labels`,
//! `global.metric_name_validation_scheme` and `remote_write`, plus its own top-level
//! `ringwrite:` section ([`RingwriteConfig`]), and ignores every other top-level section
//! (`scrape_configs`, `rule_files`, `alerting`, `storage`, ...) and every other `global` key.
//!
//! Inside a `remote_write` entry and its sub-objects an unknown key is an error that names the
//! key with its line and column, because a typo there (`max_shard: 5`) would otherwise be
//! silently ignored. Defaults and validation rules are Prometheus v2.44+ ([`QueueConfig`],
//! FORMATS.md §5.1); keys Prometheus has and ringwrite does not implement (`proxy_url`,
//! `azuread`, `sigv4.role_arn`, ...) are refused by name.
//!
//! Loading is all or nothing: [`Config::load`] returns a fully validated [`Config`] whose
//! endpoints carry a resolved name and a [`ConfigHash`]; [`plan_reload`] compares two of them
//! so a reload restarts only the queues whose config changed.
//!
//! Differences from Prometheus, on purpose:
//! * YAML is parsed as YAML 1.2 (`yes`/`no` are strings, not booleans).
//! * Generated endpoint names are 6 hex digits of a SHA-256 of the resolved entry, not of
//!   Prometheus's md5 of its JSON: same length and stability, different digits.
//! * A file without any `remote_write` entry is an error (nothing to do).
//! * External labels with an empty value are dropped at load (they never reach the wire).

mod auth;
mod duration;
mod error;
mod hash;
mod http_client;
mod relabel;
mod reload;
mod remote_write;
mod ringwrite;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use auth::{OAuth2, SigV4};
pub use duration::{format_duration, parse_duration, DurationError};
pub use error::{ConfigError, ConfigWarning, EndpointError};
pub use hash::ConfigHash;
pub use http_client::{
    Authorization, BasicAuth, CredentialSource, PemSource, Secret, TlsConfig, TlsVersion,
    RESERVED_HEADERS,
};
pub use relabel::{
    NameValidation, RelabelAction, RelabelConfig, RelabelError, RelabelRegex, DEFAULT_REGEX,
    DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR,
};
pub use reload::{plan_reload, ReloadPlan};
pub use remote_write::{
    redact_url, MetadataConfig, ProtobufMessage, Protocol, QueueConfig, RemoteWriteConfig,
};
pub use ringwrite::{parse_bytes, Cores, OnTruncation, RingwriteConfig, DEFAULT_MAX_SPOOL_BYTES};

/// A loaded and validated config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it came from (the path, or what the caller passed), for messages.
    pub origin: String,
    /// `global.external_labels`, sorted by name, empty values dropped.
    pub external_labels: BTreeMap<String, String>,
    /// `global.metric_name_validation_scheme` (default `utf8`, as Prometheus v3).
    pub name_validation: NameValidation,
    /// The `remote_write` entries, in file order.
    pub remote_write: Vec<Endpoint>,
    /// The `ringwrite:` section (all optional; flags override).
    pub ringwrite: RingwriteConfig,
    /// Accepted oddities to log at WARN.
    pub warnings: Vec<ConfigWarning>,
}

/// One validated `remote_write` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Position in the file's `remote_write` list.
    pub index: usize,
    /// `name` as written, or the first 6 hex digits of the entry's hash (Prometheus's rule);
    /// the `remote_name` label of the self-metrics.
    pub name: String,
    /// The parsed URL (`http` or `https`, with a host).
    pub url: http::Uri,
    /// The entry with defaults applied and file paths made absolute.
    pub config: RemoteWriteConfig,
    hash: ConfigHash,
}

impl Endpoint {
    /// See [`RemoteWriteConfig::config_hash`]; computed once at load.
    pub fn config_hash(&self) -> ConfigHash {
        self.hash
    }

    /// The URL with any password replaced (for logs and the `url` metric label).
    pub fn url_redacted(&self) -> String {
        redact_url(&self.config.url)
    }
}

/// The parts of prometheus.yml that ringwrite reads; other keys are ignored on purpose.
#[derive(Deserialize)]
struct PrometheusFile {
    #[serde(default)]
    global: GlobalSection,
    #[serde(default)]
    remote_write: Vec<RemoteWriteConfig>,
    #[serde(default)]
    ringwrite: RingwriteConfig,
}

#[derive(Deserialize, Default)]
struct GlobalSection {
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    metric_name_validation_scheme: Option<NameValidation>,
}

impl Config {
    /// Reads and validates a config file. Relative file paths inside it are taken relative
    /// to its directory, as Prometheus does.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        Self::from_yaml(&text, &path.display().to_string(), base_dir)
    }

    /// Parses and validates config text. `origin` names it in messages; `base_dir` (if any)
    /// anchors relative file paths.
    pub fn from_yaml(
        yaml: &str,
        origin: &str,
        base_dir: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let origin = origin.to_owned();
        let file = parse_file(yaml, &origin)?;
        let scheme = file
            .global
            .metric_name_validation_scheme
            .unwrap_or_default();
        let external_labels = external_labels(file.global.external_labels, scheme, &origin)?;
        let mut ringwrite = file.ringwrite;
        ringwrite
            .validate(base_dir)
            .map_err(|(key, reason)| ConfigError::Ringwrite {
                origin: origin.clone(),
                key,
                reason,
            })?;
        if file.remote_write.is_empty() {
            return Err(ConfigError::NoRemoteWrite { origin });
        }
        let mut warnings = Vec::new();
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(file.remote_write.len());
        for (index, mut config) in file.remote_write.into_iter().enumerate() {
            let label = endpoint_label(index, &config);
            let url = config
                .validate(base_dir, scheme, &label, &mut warnings)
                .map_err(|kind| ConfigError::Endpoint {
                    origin: origin.clone(),
                    endpoint: label.clone(),
                    kind,
                })?;
            let hash = config.config_hash();
            if let Some(first) = endpoints.iter().find(|e| e.hash == hash) {
                return Err(ConfigError::DuplicateEndpoint {
                    origin,
                    first: endpoint_label(first.index, &first.config),
                    second: label,
                    url: config.url.clone(),
                });
            }
            let name = match &config.name {
                Some(name) => name.clone(),
                None => config.name_hash().short(),
            };
            if let Some(first) = endpoints.iter().find(|e| e.name == name) {
                return Err(ConfigError::DuplicateName {
                    origin,
                    name,
                    first: endpoint_label(first.index, &first.config),
                    second: label,
                });
            }
            endpoints.push(Endpoint {
                index,
                name,
                url,
                config,
                hash,
            });
        }
        Ok(Self {
            origin,
            external_labels,
            name_validation: scheme,
            remote_write: endpoints,
            ringwrite,
            warnings,
        })
    }
}

fn parse_file(yaml: &str, origin: &str) -> Result<PrometheusFile, ConfigError> {
    // An empty file (or only comments) is an empty config, not a syntax error.
    let is_blank = yaml
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    if is_blank {
        return Err(ConfigError::NoRemoteWrite {
            origin: origin.to_owned(),
        });
    }
    serde_yaml_ng::from_str(yaml).map_err(|e| syntax_error(&e, origin))
}

fn syntax_error(e: &serde_yaml_ng::Error, origin: &str) -> ConfigError {
    let full = e.to_string();
    match e.location() {
        Some(loc) => {
            // The library appends " at line L column C"; the location goes first instead.
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
            ConfigError::Syntax {
                origin: origin.to_owned(),
                line: loc.line(),
                column: loc.column(),
                message,
            }
        }
        None => ConfigError::SyntaxUnlocated {
            origin: origin.to_owned(),
            message: full,
        },
    }
}

fn external_labels(
    labels: BTreeMap<String, String>,
    scheme: NameValidation,
    origin: &str,
) -> Result<BTreeMap<String, String>, ConfigError> {
    if let Some(name) = labels.keys().find(|n| !scheme.is_valid_label_name(n)) {
        return Err(ConfigError::ExternalLabel {
            origin: origin.to_owned(),
            name: name.clone(),
        });
    }
    Ok(labels.into_iter().filter(|(_, v)| !v.is_empty()).collect())
}

/// `[1] "mimir"` or `[1] (https://host/push)`: how messages name an endpoint.
fn endpoint_label(index: usize, config: &RemoteWriteConfig) -> String {
    match config.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("[{index}] {name:?}"),
        None => format!("[{index}] ({})", redact_url(&config.url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(yaml, "test.yml", Some(Path::new("/etc/rw")))
    }

    #[test]
    fn minimal_file_gets_defaults_and_a_generated_name() {
        let c = match load("remote_write:\n  - url: http://localhost:9009/api/v1/push\n") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.remote_write.len(), 1);
        let e = &c.remote_write[0];
        assert_eq!(e.name.len(), 6);
        assert!(e.name.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(e.name, e.config.name_hash().short());
        assert_eq!(e.url.host(), Some("localhost"));
        assert_eq!(e.config.queue_config, QueueConfig::default());
        assert_eq!(e.config_hash(), e.config.config_hash());
        assert!(c.warnings.is_empty());
        assert_eq!(c.name_validation, NameValidation::Utf8);
    }

    #[test]
    fn blank_and_empty_files_say_there_is_nothing_to_do() {
        for yaml in [
            "",
            "# only a comment\n",
            "global:\n  scrape_interval: 15s\n",
        ] {
            assert!(
                matches!(load(yaml), Err(ConfigError::NoRemoteWrite { .. })),
                "{yaml:?}"
            );
        }
    }

    #[test]
    fn external_labels_sorted_empty_dropped_names_checked() {
        let c = load(
            "global:\n  external_labels: {z: '1', a: x, empty: ''}\nremote_write: [{url: 'http://h/'}]",
        );
        let labels = c.map(|c| c.external_labels).map_err(|e| e.to_string());
        let want: BTreeMap<String, String> = [
            ("a".to_owned(), "x".to_owned()),
            ("z".to_owned(), "1".to_owned()),
        ]
        .into();
        assert_eq!(labels, Ok(want));
        let legacy = load(
            "global:\n  metric_name_validation_scheme: legacy\n  external_labels: {a.b: x}\nremote_write: [{url: 'http://h/'}]",
        );
        assert!(
            matches!(&legacy, Err(ConfigError::ExternalLabel { name, .. }) if name == "a.b"),
            "{legacy:?}"
        );
    }
}
