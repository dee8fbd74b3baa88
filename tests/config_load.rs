//! Loading whole config files: a real prometheus.yml, defaults, every validation error, and
//! the line/column of unknown keys.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ringwrite::config::{
    Config, ConfigError, ConfigWarning, Cores, CredentialSource, NameValidation, PemSource,
    ProtobufMessage, Protocol, RelabelAction, TlsVersion, RESERVED_HEADERS,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn load_str(yaml: &str) -> Result<Config, ConfigError> {
    Config::from_yaml(yaml, "test.yml", Some(Path::new("/etc/ringwrite")))
}

fn must_load(yaml: &str) -> Config {
    match load_str(yaml) {
        Ok(c) => c,
        Err(e) => panic!("{yaml}\n=> {e}"),
    }
}

fn load_err(yaml: &str) -> String {
    match load_str(yaml) {
        Ok(c) => panic!("{yaml}\n=> accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn full_prometheus_yml_yields_its_remote_write_entries() {
    let path = fixture("prometheus-full.yml");
    let c = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.origin, path.display().to_string());
    assert_eq!(
        c.external_labels.iter().collect::<Vec<_>>(),
        vec![
            (&"cluster".to_owned(), &"eu-west-1".to_owned()),
            (&"replica".to_owned(), &"prometheus-0".to_owned())
        ]
    );
    assert_eq!(c.name_validation, NameValidation::Utf8);
    assert_eq!(c.remote_write.len(), 2);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    let mimir = &c.remote_write[0];
    assert_eq!((mimir.index, mimir.name.as_str()), (0, "mimir"));
    assert_eq!(mimir.url.host(), Some("mimir.example.com"));
    let m = &mimir.config;
    assert_eq!(m.remote_timeout, Duration::from_secs(60));
    assert_eq!(
        m.headers.get("X-Scope-OrgID").map(String::as_str),
        Some("team-a")
    );
    let auth = m
        .basic_auth
        .as_ref()
        .map(|b| (b.username.as_str(), b.password_source()));
    let pw_path = fixture("secrets/mimir-password");
    assert_eq!(
        auth,
        Some(("prometheus", Some(CredentialSource::File(&pw_path))))
    );
    assert_eq!(
        m.tls_config.ca_source(),
        Some(PemSource::File(Path::new("/etc/ssl/mimir-ca.pem")))
    );
    assert_eq!(m.tls_config.server_name, "mimir.internal");
    assert_eq!(m.tls_config.min_version, Some(TlsVersion::Tls12));
    let q = &m.queue_config;
    assert_eq!(
        (
            q.capacity,
            q.max_shards,
            q.min_shards,
            q.max_samples_per_send
        ),
        (20_000, 100, 4, 5_000)
    );
    assert_eq!(
        (q.batch_send_deadline, q.min_backoff, q.max_backoff),
        (
            Duration::from_secs(2),
            Duration::from_millis(50),
            Duration::from_secs(10)
        )
    );
    assert!(q.retry_on_http_429);
    assert_eq!(q.sample_age_limit, Duration::from_secs(3600));
    assert_eq!(
        (
            m.metadata_config.send,
            m.metadata_config.send_interval,
            m.metadata_config.max_samples_per_send
        ),
        (true, Duration::from_secs(120), 500)
    );
    let actions: Vec<_> = m.write_relabel_configs.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        vec![
            RelabelAction::Drop,
            RelabelAction::LabelDrop,
            RelabelAction::HashMod
        ]
    );
    assert!(m.write_relabel_configs[0]
        .regex
        .regex()
        .is_match("expensive_query_total"));
    assert_eq!(m.write_relabel_configs[2].modulus, 8);
    assert!(m.send_exemplars && m.send_native_histograms);
    assert!(m.http2_enabled() && !m.follow_redirects);
    assert_eq!(m.protobuf_message, ProtobufMessage::WriteRequestV1);

    let vic = &c.remote_write[1];
    assert_eq!(vic.index, 1);
    assert_eq!(vic.name.len(), 6, "generated name {:?}", vic.name);
    assert_eq!(vic.config.protobuf_message, ProtobufMessage::RequestV2);
    assert_eq!(vic.config.protocol, Protocol::H2c);
    assert!(vic.config.http2_enabled());
    let bearer = vic
        .config
        .authorization
        .as_ref()
        .map(|a| (a.auth_type.as_str(), a.credentials.expose()));
    assert_eq!(bearer, Some(("Bearer", "s3cr3t")));
    assert_ne!(mimir.config_hash(), vic.config_hash());

    assert_eq!(
        c.ringwrite.wal_dir.as_deref(),
        Some(Path::new("/prometheus/wal"))
    );
    assert_eq!(
        c.ringwrite.storage_path.as_deref(),
        Some(Path::new("/var/lib/ringwrite"))
    );
    assert_eq!(c.ringwrite.cores, Some(Cores::List(vec![2, 3])));
    assert_eq!(c.ringwrite.web_listen_address.as_deref(), Some(":9095"));

    // Loading the same file twice gives the same names and hashes (reload keeps queues).
    let again = Config::load(&path).map_err(|e| e.to_string());
    assert_eq!(again.as_ref().map(|a| &a.remote_write), Ok(&c.remote_write));
}

#[test]
fn typo_inside_queue_config_reports_line_column_and_key() {
    let yaml = "\
global:
  scrape_interval: 15s
remote_write:
  - url: http://localhost:9009/api/v1/push
    queue_config:
      max_shard: 5
";
    let err = load_str(yaml);
    match &err {
        Err(ConfigError::Syntax {
            line,
            column,
            message,
            ..
        }) => {
            assert_eq!((*line, *column), (6, 7));
            assert!(message.contains("max_shard"), "{message}");
            assert!(
                message.contains("remote_write[0].queue_config"),
                "{message}"
            );
        }
        other => panic!("want a syntax error, got {other:?}"),
    }
    let text = err.map(|_| ()).map_err(|e| e.to_string()).unwrap_err();
    assert!(text.starts_with("test.yml: line 6 column 7: "), "{text}");
    assert!(text.contains("unknown field `max_shard`"), "{text}");
    assert!(text.contains("expected one of"), "{text}");
}

#[test]
fn unknown_keys_in_every_sub_object_are_located() {
    // (yaml, line, column, key)
    let cases = [
        ("remote_write:\n  - url: http://h/\n    urll: x\n", 3, 5, "urll"),
        ("remote_write:\n  - url: http://h/\n    metadata_config:\n      sendd: true\n", 4, 7, "sendd"),
        ("remote_write:\n  - url: http://h/\n    tls_config:\n      ca_fil: x\n", 4, 7, "ca_fil"),
        ("remote_write:\n  - url: http://h/\n    basic_auth:\n      user: x\n", 4, 7, "user"),
        ("remote_write:\n  - url: http://h/\n    authorization:\n      token: x\n", 4, 7, "token"),
        (
            "remote_write:\n  - url: http://h/\n    write_relabel_configs:\n      - action: drop\n        regexp: x\n",
            5,
            9,
            "regexp",
        ),
        ("ringwrite:\n  walldir: /x\nremote_write:\n  - url: http://h/\n", 2, 3, "walldir"),
    ];
    for (yaml, line, column, key) in cases {
        let text = load_err(yaml);
        assert!(
            text.contains(&format!("line {line} column {column}")),
            "{yaml}\n=> {text}"
        );
        assert!(
            text.contains(&format!("unknown field `{key}`")),
            "{yaml}\n=> {text}"
        );
    }
}

#[test]
fn other_prometheus_sections_and_global_keys_are_ignored() {
    let c = must_load(
        "global:\n  scrape_interval: 1m\n  some_future_key: 1\nscrape_configs: [{job_name: x}]\nrule_files: []\ntracing: {endpoint: x}\notlp: {}\nremote_write: [{url: 'http://h/'}]\n",
    );
    assert_eq!(c.remote_write.len(), 1);
}

#[test]
fn defaults_table() {
    let c = match Config::load(&fixture("ringwrite-minimal.yml")) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let e = &c.remote_write[0].config;
    let q = &e.queue_config;
    let md = &e.metadata_config;
    // (key, value, Prometheus v2.44+ default)
    let numbers: [(&str, usize, usize); 5] = [
        ("capacity", q.capacity, 10_000),
        ("max_shards", q.max_shards, 50),
        ("min_shards", q.min_shards, 1),
        ("max_samples_per_send", q.max_samples_per_send, 2_000),
        (
            "metadata_config.max_samples_per_send",
            md.max_samples_per_send,
            2_000,
        ),
    ];
    for (key, got, want) in numbers {
        assert_eq!(got, want, "{key}");
    }
    let durations: [(&str, Duration, Duration); 6] = [
        (
            "batch_send_deadline",
            q.batch_send_deadline,
            Duration::from_secs(5),
        ),
        ("min_backoff", q.min_backoff, Duration::from_millis(30)),
        ("max_backoff", q.max_backoff, Duration::from_secs(5)),
        ("sample_age_limit", q.sample_age_limit, Duration::ZERO),
        ("remote_timeout", e.remote_timeout, Duration::from_secs(30)),
        (
            "metadata_config.send_interval",
            md.send_interval,
            Duration::from_secs(60),
        ),
    ];
    for (key, got, want) in durations {
        assert_eq!(got, want, "{key}");
    }
    let flags: [(&str, bool, bool); 7] = [
        ("retry_on_http_429", q.retry_on_http_429, false),
        ("metadata_config.send", md.send, true),
        ("send_exemplars", e.send_exemplars, false),
        ("send_native_histograms", e.send_native_histograms, false),
        ("follow_redirects", e.follow_redirects, true),
        (
            "enable_http2 (v3 remote-write default)",
            e.http2_enabled(),
            false,
        ),
        ("round_robin_dns", e.round_robin_dns, false),
    ];
    for (key, got, want) in flags {
        assert_eq!(got, want, "{key}");
    }
    assert_eq!(e.protobuf_message, ProtobufMessage::WriteRequestV1);
    assert_eq!(e.protocol, Protocol::Auto);
    assert!(e.basic_auth.is_none() && e.authorization.is_none());
    assert!(e.headers.is_empty() && e.write_relabel_configs.is_empty());
    assert_eq!(c.ringwrite, Default::default());
}

#[test]
fn duration_values_in_yaml() {
    // (value as written, parsed)
    let cases = [
        ("30s", Duration::from_secs(30)),
        ("1m30s", Duration::from_secs(90)),
        ("5ms", Duration::from_millis(5)),
        ("2h", Duration::from_secs(7200)),
        ("1d", Duration::from_secs(86_400)),
        ("1w", Duration::from_secs(7 * 86_400)),
        ("1y", Duration::from_secs(365 * 86_400)),
        ("0", Duration::ZERO),
        ("'0'", Duration::ZERO),
    ];
    for (value, want) in cases {
        let c = must_load(&format!(
            "remote_write:\n  - url: http://h/\n    remote_timeout: {value}\n"
        ));
        assert_eq!(c.remote_write[0].config.remote_timeout, want, "{value}");
    }
    for (value, want) in [
        ("30", "not a valid duration string: \"30\""),
        ("1.5s", "unknown unit \".\""),
        ("5m1h", "not a valid duration string"),
        ("''", "empty duration string"),
    ] {
        let text = load_err(&format!(
            "remote_write:\n  - url: http://h/\n    remote_timeout: {value}\n"
        ));
        assert!(text.contains(want), "{value}: {text}");
        assert!(text.contains("line 3"), "{value}: {text}");
    }
}

/// Builds a one-endpoint file named `ep` with extra lines under the entry.
fn endpoint(url: &str, extra: &str) -> String {
    let mut s = format!("remote_write:\n  - name: ep\n    url: '{url}'\n");
    for line in extra.lines() {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

#[test]
fn validation_errors_table() {
    // (url, extra keys under the entry, text the error must contain)
    let cases: &[(&str, &str, &str)] = &[
        // url
        ("", "", "url \"\": url for remote_write is empty"),
        ("ftp://h/x", "", "scheme must be http or https"),
        ("/api/v1/write", "", "must be absolute"),
        ("http://h o/", "", "not a valid URL"),
        // queue_config (Prometheus QueueConfig.Validate)
        ("http://h/", "queue_config: {max_shards: 0}", "queue_config.max_shards must be positive"),
        ("http://h/", "queue_config: {min_shards: 0}", "queue_config.min_shards must be positive"),
        (
            "http://h/",
            "queue_config: {min_shards: 10, max_shards: 5}",
            "queue_config.min_shards (10) must not be greater than max_shards (5)",
        ),
        (
            "http://h/",
            "queue_config: {max_samples_per_send: 0}",
            "queue_config.max_samples_per_send must be positive",
        ),
        ("http://h/", "queue_config: {capacity: 0}", "queue_config.capacity must be positive"),
        (
            "http://h/",
            "queue_config: {min_backoff: 1s, max_backoff: 500ms}",
            "queue_config.max_backoff (500ms) must not be less than min_backoff (1s)",
        ),
        // headers
        ("http://h/", "headers: {Authorization: x}", "must be set via basic_auth or authorization"),
        ("http://h/", "headers: {'bad name': x}", "is not a valid HTTP header name"),
        ("http://h/", "headers: {X-A: a, x-a: b}", "are the same header"),
        // auth
        (
            "http://h/",
            "basic_auth: {username: u, password: p}\nauthorization: {credentials: c}",
            "at most one of basic_auth, authorization, oauth2, sigv4, azuread or google_iam",
        ),
        (
            "http://h/",
            "basic_auth: {username: u, password: p, password_file: f}",
            "basic_auth: at most one of password and password_file",
        ),
        (
            "http://h/",
            "basic_auth: {username: u, username_file: f}",
            "basic_auth: at most one of username and username_file",
        ),
        (
            "http://h/",
            "authorization: {credentials: c, credentials_file: f}",
            "authorization: at most one of credentials and credentials_file",
        ),
        (
            "http://h/",
            "authorization: {type: Basic, credentials: c}",
            "authorization type cannot be set to \"basic\"",
        ),
        (
            "http://h/",
            "bearer_token: t\nbearer_token_file: f",
            "at most one of bearer_token and bearer_token_file",
        ),
        (
            "http://h/",
            "bearer_token: t\nauthorization: {credentials: c}",
            "at most one of authorization and bearer_token",
        ),
        (
            "http://h/",
            "bearer_token: t\nbasic_auth: {username: u}",
            "at most one of basic_auth, authorization",
        ),
        // tls_config
        ("https://h/", "tls_config: {cert_file: c}", "exactly one of key or key_file"),
        ("https://h/", "tls_config: {key_file: k}", "exactly one of cert or cert_file"),
        ("https://h/", "tls_config: {ca: x, ca_file: y}", "tls_config: at most one of ca and ca_file"),
        ("https://h/", "tls_config: {max_version: TLS11}", "max_version TLS11 is not supported"),
        (
            "https://h/",
            "tls_config: {min_version: TLS13, max_version: TLS12}",
            "min_version TLS13 is above max_version TLS12",
        ),
        // protocol
        ("http://h/", "protocol: h2", "protocol: h2 cannot be used with a http:// url"),
        ("https://h/", "protocol: h2c", "protocol: h2c cannot be used with a https:// url"),
        ("http://h/", "protocol: h2c\nenable_http2: false", "contradicts enable_http2"),
        ("http://h/", "protocol: http1\nenable_http2: true", "contradicts enable_http2"),
        // relabel
        (
            "http://h/",
            "write_relabel_configs: [{action: hashmod, target_label: x}]",
            "write_relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "http://h/",
            "write_relabel_configs: [{action: drop, regex: a}, {action: replace}]",
            "write_relabel_configs[1]: relabel configuration for replace action requires 'target_label' value",
        ),
        // Prometheus keys ringwrite does not implement
        ("http://h/", "proxy_url: http://proxy:3128", "proxy_url is not supported by ringwrite"),
        ("http://h/", "no_proxy: localhost", "no_proxy is not supported"),
        ("http://h/", "proxy_from_environment: true", "proxy_from_environment is not supported"),
        ("http://h/", "proxy_connect_header: {X: [y]}", "proxy_connect_header is not supported"),
        ("http://h/", "oauth2: {client_id: x, token_url: 'http://t/', proxy_url: 'http://p/'}", "oauth2.proxy_url is not supported"),
        ("http://h/", "oauth2: {token_url: 'http://t/'}", "oauth2.client_id must be set"),
        ("http://h/", "sigv4: {region: eu-west-1, role_arn: 'arn:aws:iam::1:role/r'}", "sigv4.role_arn is not supported"),
        ("http://h/", "sigv4: {access_key: A}", "access key and a secret key"),
        ("http://h/", "sigv4: {region: x}\noauth2: {client_id: x, token_url: 'http://t/'}", "Currently configured: [\"oauth2\", \"sigv4\"]"),
        // tenants (ringwrite keys)
        ("http://h/", "tenant_header: X-Org", "tenant_header and tenant_default need tenant_label"),
        ("http://h/", "tenant_label: team\nheaders: {x-scope-orgid: a}", "is also set in headers"),
        ("http://h/", "tenant_label: team\ntenant_header: Content-Type", "is a reserved header"),
        ("http://h/", "tenant_label: team\ntenant_header: 'bad name'", "not a valid HTTP header name"),
        ("http://h/", "azuread: {cloud: AzurePublic}", "azuread is not supported"),
        ("http://h/", "google_iam: {credentials_file: x}", "google_iam is not supported"),
        ("http://h/", "http_headers: {X: {values: [y]}}", "http_headers is not supported"),
        ("http://h/", "basic_auth: {password_ref: x}", "username_ref/password_ref is not supported"),
        ("https://h/", "tls_config: {ca_ref: x}", "ca_ref/cert_ref/key_ref is not supported"),
    ];
    for (url, extra, want) in cases {
        let text = load_err(&endpoint(url, extra));
        assert!(
            text.starts_with("test.yml: remote_write[0] \"ep\": "),
            "{extra}\n=> {text}"
        );
        assert!(
            text.contains(want),
            "{url} {extra}\n=> {text}\nwant: {want}"
        );
    }
}

#[test]
fn every_reserved_header_is_refused() {
    for header in RESERVED_HEADERS {
        for spelling in [header.to_owned(), header.to_ascii_uppercase()] {
            let text = load_err(&endpoint(
                "http://h/",
                &format!("headers: {{'{spelling}': x}}"),
            ));
            assert!(
                text.contains(&format!("{spelling} is a reserved header")),
                "{text}"
            );
        }
    }
    // Not reserved: tenant and custom headers.
    for ok in ["X-Scope-OrgID", "THANOS-TENANT", "X-Custom"] {
        must_load(&endpoint("http://h/", &format!("headers: {{'{ok}': x}}")));
    }
}

#[test]
fn schema_errors_table() {
    // Errors the YAML schema catches, each with a location.
    let cases = [
        ("remote_write:\n  - name: x\n", "missing field `url`"),
        (
            "remote_write:\n  - url: http://h/\n    protobuf_message: prometheus.WriteRequestV3\n",
            "unknown variant `prometheus.WriteRequestV3`",
        ),
        (
            "remote_write:\n  - url: http://h/\n    protocol: quic\n",
            "unknown variant `quic`",
        ),
        (
            "remote_write:\n  - url: http://h/\n    write_relabel_configs: [{action: explode}]\n",
            "unknown relabel action \"explode\"",
        ),
        (
            "remote_write:\n  - url: http://h/\n    write_relabel_configs: [{regex: '(x'}]\n",
            "invalid regex \"(x\"",
        ),
        (
            "remote_write:\n  - url: http://h/\n    queue_config: {capacity: -1}\n",
            "capacity",
        ),
        (
            "remote_write:\n  - url: http://h/\n    tls_config: {min_version: SSL3}\n",
            "unknown variant `SSL3`",
        ),
        ("remote_write: {url: 'http://h/'}\n", "remote_write"),
    ];
    for (yaml, want) in cases {
        let err = load_str(yaml);
        assert!(
            matches!(err, Err(ConfigError::Syntax { .. })),
            "{yaml}\n=> {err:?}"
        );
        let text = load_err(yaml);
        assert!(text.contains(want), "{yaml}\n=> {text}");
    }
}

#[test]
fn duplicate_names_and_duplicate_endpoints_are_refused() {
    let text = load_err(
        "remote_write:\n  - {url: 'http://a/', name: x}\n  - {url: 'http://b/', name: x}\n",
    );
    assert!(
        text.contains("remote_write[1] \"x\" has the same name \"x\" as remote_write[0] \"x\""),
        "{text}"
    );
    // Two identical unnamed entries are the same endpoint twice (Prometheus: "duplicate
    // remote write configs are not allowed").
    let text = load_err(
        "remote_write:\n  - url: 'http://a/'\n  - url: 'http://a/'\n    remote_timeout: 30s\n",
    );
    assert!(
        text.contains("remote_write[1] (http://a/) is identical to remote_write[0] (http://a/)"),
        "{text}"
    );
    // Same URL, different settings, no names: allowed, with distinct generated names.
    let c = must_load(
        "remote_write:\n  - url: 'http://a/'\n  - url: 'http://a/'\n    send_exemplars: true\n",
    );
    assert_ne!(c.remote_write[0].name, c.remote_write[1].name);
}

#[test]
fn unnamed_endpoints_are_named_by_index_and_redacted_url_in_errors() {
    let text = load_err(
        "remote_write:\n  - url: 'https://u:pw@h/push'\n    queue_config: {capacity: 0}\n",
    );
    assert!(
        text.starts_with(
            "test.yml: remote_write[0] (https://u:xxxxx@h/push): queue_config.capacity"
        ),
        "{text}"
    );
    assert!(!text.contains("pw@"), "{text}");
    let text = load_err("remote_write:\n  - url: 'http://a/'\n  - name: ''\n    url: 'http://b/'\n    queue_config: {max_shards: 0}\n");
    assert!(text.contains("remote_write[1] (http://b/)"), "{text}");
}

#[test]
fn warnings_do_not_fail_the_load() {
    let c = must_load(&endpoint(
        "https://h/",
        "queue_config: {capacity: 100, max_samples_per_send: 500}\ntls_config: {min_version: TLS10}\nround_robin_dns: true",
    ));
    assert_eq!(c.remote_write.len(), 1);
    let ep = "[0] \"ep\"".to_owned();
    assert_eq!(
        c.warnings,
        vec![
            ConfigWarning::TlsMinVersionRaised {
                endpoint: ep.clone(),
                requested: TlsVersion::Tls10
            },
            ConfigWarning::CapacityBelowBatchSize {
                endpoint: ep.clone(),
                capacity: 100,
                max_samples_per_send: 500
            },
            ConfigWarning::RoundRobinDnsIgnored { endpoint: ep },
        ]
    );
    assert!(c.warnings[1]
        .to_string()
        .contains("capacity (100) is less than max_samples_per_send (500)"));
}

#[test]
fn relative_paths_are_resolved_against_the_config_directory() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let path = dir.path().join("rw.yml");
    let yaml = "ringwrite: {wal_dir: data/wal}\nremote_write:\n  - url: https://h/\n    authorization: {credentials_file: token}\n    tls_config: {cert_file: /abs/c.pem, key_file: k.pem}\n";
    if let Err(e) = std::fs::write(&path, yaml) {
        panic!("{e}");
    }
    let c = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let e = &c.remote_write[0].config;
    let token = dir.path().join("token");
    assert_eq!(
        e.authorization
            .as_ref()
            .and_then(|a| a.credentials_source()),
        Some(CredentialSource::File(&token))
    );
    assert_eq!(
        e.tls_config.cert_source(),
        Some(PemSource::File(Path::new("/abs/c.pem")))
    );
    let key = dir.path().join("k.pem");
    assert_eq!(e.tls_config.key_source(), Some(PemSource::File(&key)));
    assert_eq!(c.ringwrite.wal_dir, Some(dir.path().join("data/wal")));
}

#[test]
fn bearer_token_becomes_authorization() {
    let c = must_load(&endpoint("http://h/", "bearer_token_file: /run/token"));
    let a = c.remote_write[0].config.authorization.as_ref();
    assert_eq!(a.map(|a| a.auth_type.as_str()), Some("Bearer"));
    assert_eq!(
        a.and_then(|a| a.credentials_source()),
        Some(CredentialSource::File(Path::new("/run/token")))
    );
}

#[test]
fn missing_file_is_a_read_error_naming_the_path() {
    let err = Config::load(Path::new("/nonexistent/ringwrite.yml"));
    let text = err.map(|_| ()).map_err(|e| e.to_string()).unwrap_err();
    assert!(
        text.starts_with("read config file /nonexistent/ringwrite.yml: "),
        "{text}"
    );
}

#[test]
fn tuning_example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/ringwrite.example.yml");
    let c = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.remote_write.len(), 1);
    assert_eq!(c.remote_write[0].name, "mimir");
    // The example spells out the defaults; it must not drift from them.
    assert_eq!(
        c.remote_write[0].config.queue_config,
        ringwrite::config::QueueConfig::default()
    );
    assert_eq!(
        c.remote_write[0].config.metadata_config,
        ringwrite::config::MetadataConfig::default()
    );
    assert_eq!(c.ringwrite.cores, Some(Cores::Count(4)));
    assert!(c.warnings.is_empty());
}
