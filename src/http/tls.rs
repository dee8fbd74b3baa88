//! rustls client configuration from `tls_config` (ring provider, verification on by default).
//!
//! CA certificates replace the system roots when given (`ca`/`ca_file`), as in Prometheus.
//! A CA certificate used directly as the server certificate is rejected by rustls
//! (`CaUsedAsEndEntity`, RUNTIME-NOTES.md §6): test setups need a CA plus a leaf.

use std::{io::BufReader, path::Path, sync::Arc};

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    CipherSuite, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::{
    config::{TlsConfig, TlsVersion},
    error::ConfigError,
};

/// ALPN protocol ids.
pub(crate) const ALPN_H2: &[u8] = b"h2";
pub(crate) const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Builds the client config. `alpn` lists the protocols to offer, in preference order.
pub(crate) fn client_config(
    endpoint: &str,
    tls: &TlsConfig,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, ConfigError> {
    let err = |what: &str, reason: String| ConfigError::TlsMaterial {
        endpoint: endpoint.to_string(),
        what: what.to_string(),
        reason,
    };
    let provider = Arc::new(provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| tls.min_version.is_none_or(|min| *v >= min))
    .filter(|(v, _)| tls.max_version.is_none_or(|max| *v <= max))
    .map(|(_, v)| v)
    .collect();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err("versions", e.to_string()))?;

    let builder = if tls.insecure_skip_verify {
        tracing::warn!(
            endpoint,
            "tls_config.insecure_skip_verify is set: server certificates are NOT verified."
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        let custom_ca = match (&tls.ca, &tls.ca_file) {
            (Some(pem), _) => Some(("ca", parse_certs(pem.as_bytes()))),
            (None, Some(path)) => Some((
                "ca_file",
                read_file(path).and_then(|bytes| parse_certs(&bytes)),
            )),
            (None, None) => None,
        };
        match custom_ca {
            Some((what, certs)) => {
                let certs = certs.map_err(|reason| err(what, reason))?;
                let (added, _ignored) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(err(what, "no usable CA certificate in it".to_string()));
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    tracing::warn!(
                        endpoint,
                        errors = ?native.errors,
                        "No system CA certificates found; set tls_config.ca_file or the TLS handshake will fail."
                    );
                }
            }
        }
        builder.with_root_certificates(roots)
    };

    let cert_pem = match (&tls.cert, &tls.cert_file) {
        (Some(pem), _) => Some(("cert", Ok(pem.as_bytes().to_vec()))),
        (None, Some(path)) => Some(("cert_file", read_file(path))),
        (None, None) => None,
    };
    let key_pem = match (&tls.key, &tls.key_file) {
        (Some(pem), _) => Some(("key", Ok(pem.expose().as_bytes().to_vec()))),
        (None, Some(path)) => Some(("key_file", read_file(path))),
        (None, None) => None,
    };
    let mut config = match (cert_pem, key_pem) {
        (Some((cert_what, cert)), Some((key_what, key))) => {
            let chain = cert
                .and_then(|bytes| parse_certs(&bytes))
                .map_err(|reason| err(cert_what, reason))?;
            if chain.is_empty() {
                return Err(err(cert_what, "no certificate in it".to_string()));
            }
            let key = key
                .and_then(|bytes| parse_key(&bytes))
                .map_err(|reason| err(key_what, reason))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| err(key_what, format!("does not fit the certificate: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// AES-128-GCM suites, preferred by [`provider`].
const PREFERRED_SUITES: [CipherSuite; 3] = [
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

/// The ring provider with every default suite, AES-128-GCM first. ring's default order
/// puts AES-256-GCM first, and servers that follow the client's order (rustls, OpenSSL
/// and nginx by default) then spend 14 AES rounds per block instead of 10: request
/// bodies are large, so this is most of what TLS adds per byte. Go servers (Prometheus,
/// VictoriaMetrics) pick AES-128-GCM themselves on AES hardware.
pub(crate) fn provider() -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    // Stable: the remaining suites keep their order.
    provider
        .cipher_suites
        .sort_by_key(|s| !PREFERRED_SUITES.contains(&s.suite()));
    provider
}

/// The SNI / verification name: `server_name`, else the URL host (brackets stripped).
pub(crate) fn server_name(
    endpoint: &str,
    tls: &TlsConfig,
    url_host: &str,
) -> Result<ServerName<'static>, ConfigError> {
    let name = tls
        .server_name
        .as_deref()
        .unwrap_or(url_host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(name.to_string()).map_err(|_| ConfigError::InvalidServerName {
        endpoint: endpoint.to_string(),
        server_name: name.to_string(),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    rustls_pemfile::certs(&mut BufReader::new(pem))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM certificate: {e}"))
}

fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    rustls_pemfile::private_key(&mut BufReader::new(pem))
        .map_err(|e| format!("invalid PEM private key: {e}"))?
        .ok_or_else(|| "no PKCS#1, PKCS#8 or SEC1 private key in it".to_string())
}

/// Accepts any certificate but still checks handshake signatures (so the peer must hold the
/// key of the certificate it shows). Only with `insecure_skip_verify: true`.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::config::Secret;

    #[test]
    fn material_errors_name_endpoint_and_field() {
        let cases: Vec<(TlsConfig, &str)> = vec![
            (
                TlsConfig {
                    ca_file: Some("/nonexistent/ca.pem".into()),
                    ..Default::default()
                },
                "ca_file",
            ),
            (
                TlsConfig {
                    ca: Some("not a pem".into()),
                    ..Default::default()
                },
                "no usable CA",
            ),
            (
                TlsConfig {
                    insecure_skip_verify: true,
                    cert: Some("garbage".into()),
                    key: Some(Secret::new("garbage")),
                    ..Default::default()
                },
                "cert",
            ),
        ];
        for (tls, want) in cases {
            let e = client_config("ep9", &tls, &[ALPN_H2])
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("ep9") && e.contains(want),
                "{e:?} lacks {want:?}"
            );
        }
    }

    #[test]
    fn alpn_and_versions_are_applied() {
        let tls = TlsConfig {
            insecure_skip_verify: true,
            min_version: Some(TlsVersion::TLS13),
            ..Default::default()
        };
        let cfg = client_config("e", &tls, &[ALPN_H2, ALPN_HTTP1]).unwrap();
        assert_eq!(
            cfg.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn aes_128_gcm_is_offered_first_and_nothing_is_lost() {
        let ours: Vec<CipherSuite> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        let default: Vec<CipherSuite> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(ours[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
        let tls13 = |v: &[CipherSuite]| -> Vec<CipherSuite> {
            v.iter()
                .copied()
                .filter(|s| format!("{s:?}").starts_with("TLS13"))
                .collect()
        };
        assert_eq!(
            tls13(&ours),
            [
                CipherSuite::TLS13_AES_128_GCM_SHA256,
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
            ]
        );
        let (mut a, mut b) = (ours.clone(), default);
        a.sort_by_key(|s| u16::from(*s));
        b.sort_by_key(|s| u16::from(*s));
        assert_eq!(a, b, "the same suites, reordered");
        let cfg = client_config(
            "e",
            &TlsConfig {
                insecure_skip_verify: true,
                ..Default::default()
            },
            &[ALPN_H2],
        )
        .unwrap();
        assert_eq!(
            cfg.crypto_provider().cipher_suites[0].suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
        );
    }

    #[test]
    fn server_name_table() {
        let tls = TlsConfig::default();
        let named = TlsConfig {
            server_name: Some("recv.internal".into()),
            ..Default::default()
        };
        assert!(matches!(
            server_name("e", &tls, "127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("e", &tls, "[::1]"),
            Ok(ServerName::IpAddress(_))
        ));
        assert_eq!(
            server_name("e", &named, "10.0.0.1").unwrap().to_str(),
            "recv.internal"
        );
        assert!(server_name("e", &tls, "bad name!").is_err());
    }
}
