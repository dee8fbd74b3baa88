//! `oauth2` and `sigv4` inside a `remote_write` entry (prometheus/common `OAuth2` and
//! `sigv4.SigV4Config`), with Prometheus's validation rules.
//!
//! Keys ringwrite cannot honour are recognised and refused by name: the proxy keys of
//! `oauth2` (the token endpoint is reached directly), `client_secret_ref` (no secret manager),
//! and `role_arn` / `external_id` / `use_fips_sts_endpoint` of `sigv4` (no STS AssumeRole).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::EndpointError;
use super::http_client::{self, Secret, TlsConfig};

/// `oauth2`: the client-credentials grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Secret,
    #[serde(default, deserialize_with = "http_client::de_opt_path")]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub token_url: String,
    #[serde(default)]
    pub endpoint_params: BTreeMap<String, String>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    #[serde(default, skip_serializing)]
    client_secret_ref: Option<String>,
    #[serde(default, skip_serializing)]
    proxy_url: Option<String>,
    #[serde(default, skip_serializing)]
    no_proxy: Option<String>,
    #[serde(default, skip_serializing)]
    proxy_from_environment: bool,
    #[serde(default, skip_serializing)]
    proxy_connect_header: Option<serde_yaml_ng::Value>,
}

impl OAuth2 {
    /// Prometheus's checks (`client_id`, `token_url`, one secret source), plus the keys
    /// ringwrite refuses; makes paths absolute.
    pub(crate) fn validate(&mut self, base_dir: Option<&Path>) -> Result<(), EndpointError> {
        let refused = [
            (
                self.client_secret_ref.is_some(),
                "oauth2.client_secret_ref",
                "secret managers are not available outside Prometheus; use client_secret_file",
            ),
            (
                self.proxy_url.as_deref().is_some_and(|u| !u.is_empty()),
                "oauth2.proxy_url",
                "ringwrite reaches the token endpoint directly; remove proxy_url",
            ),
            (
                self.no_proxy.as_deref().is_some_and(|u| !u.is_empty()),
                "oauth2.no_proxy",
                "ringwrite does not use proxies; remove no_proxy",
            ),
            (
                self.proxy_from_environment,
                "oauth2.proxy_from_environment",
                "ringwrite does not use proxies; remove proxy_from_environment",
            ),
            (
                self.proxy_connect_header.is_some(),
                "oauth2.proxy_connect_header",
                "ringwrite does not use proxies; remove proxy_connect_header",
            ),
        ];
        if let Some((_, key, hint)) = refused.into_iter().find(|(set, _, _)| *set) {
            return Err(EndpointError::Unsupported { key, hint });
        }
        if self.client_id.is_empty() {
            return Err(EndpointError::Missing {
                key: "oauth2.client_id",
            });
        }
        if self.token_url.is_empty() {
            return Err(EndpointError::Missing {
                key: "oauth2.token_url",
            });
        }
        match self.token_url.parse::<http::Uri>() {
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {}
            _ => {
                return Err(EndpointError::Url {
                    url: super::redact_url(&self.token_url),
                    reason: "oauth2.token_url must be an absolute http:// or https:// URL",
                })
            }
        }
        if !self.client_secret.is_empty() && self.client_secret_file.is_some() {
            return Err(EndpointError::Exclusive {
                section: "oauth2",
                fields: "client_secret and client_secret_file",
            });
        }
        if !self.scopes.is_empty() && self.endpoint_params.contains_key("scope") {
            return Err(EndpointError::Exclusive {
                section: "oauth2",
                fields: "scopes and endpoint_params.scope",
            });
        }
        http_client::resolve(&mut self.client_secret_file, base_dir);
        self.tls_config.validate(base_dir)
    }
}

/// `sigv4`: AWS Signature Version 4.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SigV4 {
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub access_key: String,
    #[serde(default)]
    pub secret_key: Secret,
    #[serde(default)]
    pub profile: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default, skip_serializing)]
    role_arn: Option<String>,
    #[serde(default, skip_serializing)]
    external_id: Option<String>,
    #[serde(default, skip_serializing)]
    use_fips_sts_endpoint: bool,
}

impl SigV4 {
    /// Prometheus's rule (access and secret key together) plus the STS keys ringwrite refuses.
    pub(crate) fn validate(&self) -> Result<(), EndpointError> {
        let sts = "assuming a role (STS) is not implemented; run ringwrite with the role's \
                   credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN";
        if self.role_arn.as_deref().is_some_and(|r| !r.is_empty()) {
            return Err(EndpointError::Unsupported {
                key: "sigv4.role_arn",
                hint: sts,
            });
        }
        if self.external_id.as_deref().is_some_and(|r| !r.is_empty()) {
            return Err(EndpointError::Unsupported {
                key: "sigv4.external_id",
                hint: sts,
            });
        }
        if self.use_fips_sts_endpoint {
            return Err(EndpointError::Unsupported {
                key: "sigv4.use_fips_sts_endpoint",
                hint: sts,
            });
        }
        if self.access_key.is_empty() != self.secret_key.is_empty() {
            return Err(EndpointError::SigV4Keys);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth2(yaml: &str) -> Result<OAuth2, String> {
        let mut o: OAuth2 = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        o.validate(Some(Path::new("/etc/rw")))
            .map_err(|e| e.to_string())?;
        Ok(o)
    }

    #[test]
    fn oauth2_table() {
        let ok = "{client_id: id, client_secret: s, token_url: 'https://t/token'}";
        let cases: [(&str, Option<&str>); 9] = [
            (ok, None),
            (
                "{token_url: 'https://t/'}",
                Some("oauth2.client_id must be set"),
            ),
            ("{client_id: x}", Some("oauth2.token_url must be set")),
            (
                "{client_id: x, token_url: 'ftp://t/'}",
                Some("token_url must be an absolute"),
            ),
            (
                "{client_id: x, token_url: 'http://t/', client_secret: a, client_secret_file: f}",
                Some("client_secret and client_secret_file"),
            ),
            (
                "{client_id: x, token_url: 'http://t/', proxy_url: 'http://p/'}",
                Some("oauth2.proxy_url is not supported"),
            ),
            (
                "{client_id: x, token_url: 'http://t/', client_secret_ref: r}",
                Some("oauth2.client_secret_ref is not supported"),
            ),
            (
                "{client_id: x, token_url: 'http://t/', scopes: [a], endpoint_params: {scope: b}}",
                Some("scopes and endpoint_params.scope"),
            ),
            (
                "{client_id: x, token_url: 'http://t/', bogus: 1}",
                Some("unknown field `bogus`"),
            ),
        ];
        for (yaml, want) in cases {
            match (oauth2(yaml), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{yaml}: {e}"),
                (got, _) => panic!("{yaml}: {got:?}"),
            }
        }
        let o = oauth2(
            "{client_id: x, token_url: 'http://t/', client_secret_file: sec, \
             tls_config: {ca_file: ca.pem}}",
        )
        .unwrap();
        assert_eq!(o.client_secret_file, Some(PathBuf::from("/etc/rw/sec")));
        assert_eq!(o.tls_config.ca_file, Some(PathBuf::from("/etc/rw/ca.pem")));
    }

    #[test]
    fn sigv4_table() {
        let cases: [(&str, Option<&str>); 6] = [
            ("{region: us-east-1}", None),
            (
                "{region: us-east-1, access_key: A, secret_key: S, profile: p}",
                None,
            ),
            ("{access_key: A}", Some("access key and a secret key")),
            (
                "{role_arn: 'arn:aws:iam::1:role/x'}",
                Some("sigv4.role_arn is not supported"),
            ),
            (
                "{use_fips_sts_endpoint: true}",
                Some("sigv4.use_fips_sts_endpoint"),
            ),
            ("{regoin: x}", Some("unknown field `regoin`")),
        ];
        for (yaml, want) in cases {
            let got = serde_yaml_ng::from_str::<SigV4>(yaml)
                .map_err(|e| e.to_string())
                .and_then(|s| s.validate().map_err(|e| e.to_string()));
            match (got, want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.contains(w), "{yaml}: {e}"),
                (got, _) => panic!("{yaml}: {got:?}"),
            }
        }
    }

    #[test]
    fn secrets_are_not_printed() {
        let o = oauth2("{client_id: x, client_secret: hunter2, token_url: 'http://t/'}").unwrap();
        let s: SigV4 = serde_yaml_ng::from_str("{access_key: A, secret_key: hunter3}").unwrap();
        let text = format!(
            "{o:?} {s:?} {} {}",
            serde_yaml_ng::to_string(&o).unwrap(),
            serde_yaml_ng::to_string(&s).unwrap()
        );
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3"),
            "{text}"
        );
    }
}
