//! TLS for the classroom: a self-signed certificate made by `classroom
//! serve`, TLS 1.3 only, and the session's exporter that the join-code
//! proofs are bound to.
//!
//! Learners do not check the certificate against any authority (there is
//! none on a classroom LAN): they check that the server knows the join
//! code, by a proof computed over *this* TLS session's exporter
//! (RFC 5705/9266). A machine in the middle terminates two different
//! sessions, so it can neither pass the learner's proof on nor forge the
//! server's without the code. The handshake's signatures are still
//! verified against the presented certificate.

use anyhow::Context as _;
use std::sync::Arc;
use tokio_rustls::rustls::{
    self, DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime},
};

/// The exporter label of the join-code proofs.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-kubetutor-classroom";

/// The server's certificate and key (DER), kept in the classroom directory.
#[derive(Clone, PartialEq, Eq)]
pub struct Material {
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material").finish_non_exhaustive()
    }
}

/// A new self-signed certificate.
pub fn generate() -> anyhow::Result<Material> {
    let key = rcgen::KeyPair::generate().context("cannot generate the classroom's TLS key")?;
    let mut params = rcgen::CertificateParams::new(vec!["kubetutor-classroom".to_string()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kubetutor classroom");
    let cert = params.self_signed(&key)?;
    Ok(Material {
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side.
pub fn acceptor(m: &Material) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let chain = vec![CertificateDer::from(m.cert_der.clone())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(m.key_der.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("cannot set up TLS for the classroom server")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The learner side: any certificate, signatures checked, the session
/// authenticated afterwards by the join-code proofs.
pub fn connector() -> anyhow::Result<tokio_rustls::TlsConnector> {
    let provider = provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ProvenLater(provider)))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The name a learner's TLS asks for: the host when it is a valid name
/// or address, else loopback's (the certificate is not checked against it).
pub fn server_name(host: &str) -> ServerName<'static> {
    match ServerName::try_from(host.to_owned()) {
        Ok(n) => n,
        Err(_) => {
            ServerName::IpAddress(std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST).into())
        }
    }
}

/// The exporter of a connection (after the handshake).
pub fn exporter<D>(conn: &rustls::ConnectionCommon<D>) -> anyhow::Result<[u8; 32]> {
    conn.export_keying_material([0u8; 32], EXPORTER_LABEL, None)
        .map_err(|e| anyhow::anyhow!("cannot bind the join code to the TLS session: {e}"))
}

/// Trusts the certificate for now: the join-code proofs decide.
#[derive(Debug)]
struct ProvenLater(Arc<CryptoProvider>);

impl ServerCertVerifier for ProvenLater {
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
