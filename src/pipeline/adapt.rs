//! From the loaded configuration (`config`) to what the HTTP layer takes (`http`).

use crate::config::{self, RemoteWriteConfig};
use crate::http;

fn secret(s: &config::Secret) -> Option<http::Secret> {
    (!s.expose().is_empty()).then(|| http::Secret::new(s.expose()))
}

fn tls_version(v: config::TlsVersion) -> http::TlsVersion {
    match v {
        config::TlsVersion::Tls13 => http::TlsVersion::TLS13,
        // rustls has nothing older than 1.2; the config layer already warned.
        _ => http::TlsVersion::TLS12,
    }
}

fn tls_config(t: &config::TlsConfig) -> http::TlsConfig {
    http::TlsConfig {
        ca: t.ca.clone(),
        ca_file: t.ca_file.clone(),
        cert: t.cert.clone(),
        cert_file: t.cert_file.clone(),
        key: secret(&t.key),
        key_file: t.key_file.clone(),
        server_name: (!t.server_name.is_empty()).then(|| t.server_name.clone()),
        insecure_skip_verify: t.insecure_skip_verify,
        min_version: t.min_version.map(tls_version),
        max_version: t.max_version.map(tls_version),
    }
}

/// The HTTP layer's view of one `remote_write` entry.
pub fn endpoint_config(name: &str, rw: &RemoteWriteConfig) -> http::EndpointConfig {
    let mut c = http::EndpointConfig::new(rw.url.clone());
    c.name = Some(name.to_string());
    c.remote_timeout = rw.remote_timeout;
    c.headers = rw.headers.clone();
    c.basic_auth = rw.basic_auth.as_ref().map(|b| http::BasicAuthConfig {
        username: (!b.username.is_empty()).then(|| b.username.clone()),
        username_file: b.username_file.clone(),
        password: secret(&b.password),
        password_file: b.password_file.clone(),
    });
    c.authorization = rw
        .authorization
        .as_ref()
        .map(|a| http::AuthorizationConfig {
            kind: (!a.auth_type.is_empty()).then(|| a.auth_type.clone()),
            credentials: secret(&a.credentials),
            credentials_file: a.credentials_file.clone(),
        });
    c.oauth2 = rw.oauth2.as_ref().map(|o| http::OAuth2Config {
        client_id: o.client_id.clone(),
        client_secret: secret(&o.client_secret),
        client_secret_file: o.client_secret_file.clone(),
        scopes: o.scopes.clone(),
        token_url: o.token_url.clone(),
        endpoint_params: o.endpoint_params.clone(),
        tls_config: tls_config(&o.tls_config),
    });
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    c.sigv4 = rw.sigv4.as_ref().map(|s| http::SigV4Config {
        region: text(&s.region),
        access_key: text(&s.access_key),
        secret_key: secret(&s.secret_key),
        profile: text(&s.profile),
        service_name: text(&s.service_name),
    });
    c.tls_config = tls_config(&rw.tls_config);
    c.protocol = match rw.protocol {
        config::Protocol::Auto => {
            // `enable_http2: true` without an explicit protocol: HTTP/2 where possible.
            if rw.enable_http2 == Some(true) && rw.url.starts_with("https") {
                http::Protocol::H2
            } else {
                http::Protocol::Auto
            }
        }
        config::Protocol::H2 => http::Protocol::H2,
        config::Protocol::H2c => http::Protocol::H2c,
        config::Protocol::Http1 => http::Protocol::Http1,
    };
    c
}
