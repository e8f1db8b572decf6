//! TLS for the sandbox API. kubectl only sends credentials (the bearer
//! token) to an HTTPS server, so the sandbox makes a CA and a server
//! certificate for 127.0.0.1 and localhost; the kubeconfig carries the CA.
//! The sandbox keeps them ([`Material`]) in its data directory and serves
//! the same certificate after a restart, so clients that trusted it (a
//! learner's `kubectl proxy`, an attached kubetutor) keep working.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

/// The server side of TLS plus the CA clients must trust.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// PEM of the CA certificate (for `certificate-authority-data`).
    pub ca_pem: String,
}

/// What TLS is made from: the CA clients trust, and the server's
/// certificate and private key (DER). Kept between starts.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    pub ca_pem: String,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl std::fmt::Debug for Material {
    // The private key is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material").finish_non_exhaustive()
    }
}

/// Makes a CA and a server certificate signed by it.
#[cfg(test)]
pub fn generate() -> anyhow::Result<Tls> {
    acceptor(&generate_material()?)
}

/// The server side of TLS from kept (or fresh) material.
pub fn acceptor(m: &Material) -> anyhow::Result<Tls> {
    let chain: Vec<CertificateDer<'static>> = vec![CertificateDer::from(m.cert_der.clone())];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(m.key_der.clone()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .context("cannot set up TLS for the sandbox")?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: m.ca_pem.clone(),
    })
}

/// A new CA and a server certificate for 127.0.0.1 and localhost.
pub fn generate_material() -> anyhow::Result<Material> {
    let ca_key = KeyPair::generate().context("cannot generate the sandbox CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kubetutor-sandbox-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().context("cannot generate the sandbox server key")?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .distinguished_name
        .push(DnType::CommonName, "kubetutor-sandbox");
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Material {
        ca_pem: ca_cert.pem(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn generates_a_ca_and_server_certificate() {
        let tls = super::generate().unwrap();
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn kept_material_serves_again() {
        let m = super::generate_material().unwrap();
        let tls = super::acceptor(&m).unwrap();
        assert_eq!(tls.ca_pem, m.ca_pem);
        assert!(!format!("{m:?}").contains("key_der"));
        let mut bad = m.clone();
        bad.key_der = vec![1, 2, 3];
        assert!(super::acceptor(&bad).is_err());
    }
}
