//! Throw-away certificates for TLS sinks: a CA, a server leaf and a client leaf.
//!
//! rustls refuses a CA certificate used directly as a server certificate
//! (`CaUsedAsEndEntity`, RUNTIME-NOTES.md §6), so the leaves are separate, signed by the CA,
//! with `CA:FALSE` and the proper extended key usage.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate chain and its private key, PEM.
#[derive(Clone, Debug)]
pub struct TlsIdentity {
    /// Leaf certificate (PEM).
    pub cert_pem: String,
    /// PKCS#8 private key (PEM).
    pub key_pem: String,
}

/// A CA and two leaves signed by it.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The CA certificate (PEM): give it to the client as `tls_config.ca_file`.
    pub ca_pem: String,
    /// Server certificate for the given names.
    pub server: TlsIdentity,
    /// Client certificate for mutual TLS (`tls_config.cert_file` / `key_file`).
    pub client: TlsIdentity,
}

impl TestPki {
    /// Generates a CA and leaves; the server leaf is valid for `server_names` (DNS names or
    /// IP addresses, e.g. `["127.0.0.1", "localhost"]`).
    pub fn generate(server_names: &[&str]) -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ringwrite test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(names)?;
            params.is_ca = IsCa::ExplicitNoCa;
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            params.use_authority_key_identifier_extension = true;
            let cert = params.signed_by(&key, &issuer)?;
            Ok::<_, rcgen::Error>(TlsIdentity {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            })
        };
        let server = leaf(
            server_names.iter().map(|s| s.to_string()).collect(),
            "ringwrite test server",
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let client = leaf(
            vec!["client.ringwrite.test".to_string()],
            "ringwrite test client",
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server,
            client,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_distinct_from_the_ca() {
        let pki = TestPki::generate(&["127.0.0.1", "localhost"]).unwrap();
        assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(pki.ca_pem, pki.server.cert_pem);
        assert_ne!(pki.server.cert_pem, pki.client.cert_pem);
        assert!(pki.server.key_pem.contains("PRIVATE KEY"));
    }
}
