//! Which HTTPS servers a workload trusts: the system's root certificates,
//! plus a CA of the user's (`--tls-ca`), or — for self-signed test servers,
//! when the spec says `insecure: true` — any certificate at all. One
//! [`Trust`] gives both clients their TLS settings: a rustls config for the
//! async hyper client, a ureq TLS config for the blocking one.

use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// What a request's HTTPS connections trust, as the wire gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Trust {
    /// A CA certificate (PEM) trusted besides the system's roots.
    pub ca_pem: String,
    /// Accept any certificate (no verification at all).
    pub insecure: bool,
}

/// A [`Trust`] made ready for both clients, once.
#[derive(Debug)]
pub struct Tls {
    /// For the async client.
    pub rustls: Arc<rustls::ClientConfig>,
    /// For the blocking client.
    pub ureq: ureq::tls::TlsConfig,
}

impl Tls {
    /// The `Tls` of `trust`, made the first time a target needs it and
    /// shared by every target (of every assignment) with the same trust:
    /// the roots are parsed once, and blocking clients know their
    /// targets' trust by its address.
    pub fn shared(trust: Trust) -> Result<Arc<Tls>, String> {
        static MADE: Mutex<Vec<(Trust, Arc<Tls>)>> = Mutex::new(Vec::new());
        let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, tls)) = made.iter().find(|(t, _)| *t == trust) {
            return Ok(tls.clone());
        }
        let tls = Arc::new(Tls::new(&trust)?);
        made.push((trust, tls.clone()));
        Ok(tls)
    }

    /// Parses the CA (if any) and loads the system's roots; the error says
    /// what is wrong with the CA.
    fn new(trust: &Trust) -> Result<Tls, String> {
        let mut roots = system_roots().to_vec();
        if !trust.ca_pem.is_empty() {
            let ca = ca_certificates(&trust.ca_pem)?;
            roots.extend(ca);
        }
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let config = if trust.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let mut store = rustls::RootCertStore::empty();
            // Unparseable system roots are skipped, as every client does.
            let _ = store.add_parsable_certificates(roots.iter().cloned());
            builder.with_root_certificates(store).with_no_client_auth()
        };
        let ureq_roots = roots
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned());
        let ureq = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::from(ureq_roots))
            .disable_verification(trust.insecure)
            .build();
        Ok(Tls {
            rustls: Arc::new(config),
            ureq,
        })
    }
}

/// The certificates of a PEM file; an error unless there is at least one.
pub fn ca_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the TLS CA is not a PEM certificate: {e}"))?;
    if certificates.is_empty() {
        return Err("the TLS CA holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certificates)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's root certificates, read once per process.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// `insecure: true`: every certificate is accepted; signatures are still
/// checked to be well formed, so the handshake itself is real.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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

    #[test]
    fn a_ca_must_hold_a_certificate() {
        assert!(
            ca_certificates("")
                .unwrap_err()
                .contains("no PEM certificate")
        );
        assert!(
            ca_certificates("hello")
                .unwrap_err()
                .contains("no PEM certificate")
        );
        let broken = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert!(ca_certificates(broken).is_err());
    }
}
