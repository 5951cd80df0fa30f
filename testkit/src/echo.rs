//! A server that records what it received (method, the request line's
//! target as sent, headers, body) and answers with the status the path asks
//! for (`/status/201`, else 200; a 3xx with a `Location` to follow):
//! the "user's own service" of the real-target tests, over plain HTTP or
//! over TLS with a certificate made for the test.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The request line's target as sent: `/path?query` (origin form), or a
    /// whole URL (absolute form).
    pub target: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// The header's value; `None` when absent, and a panic when it came
    /// more than once (no test wants that).
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut all = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = all.next();
        assert!(
            all.next().is_none(),
            "header {name} sent twice: {:?}",
            self.headers
        );
        first
    }
}

/// A certificate authority and a server certificate it signed for
/// 127.0.0.1 and localhost, as PEM.
pub struct Certificates {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl Certificates {
    pub fn generate() -> Certificates {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let key = KeyPair::generate().expect("a server key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &Issuer::new(ca_params, ca_key))
            .expect("the server certificate");
        Certificates {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// An echo server on 127.0.0.1:0 in the current runtime, over TLS when
/// given certificates; its base URL, what it has received so far, and a
/// guard that stops it when dropped.
pub async fn start(
    tls: Option<&Certificates>,
) -> (
    String,
    Arc<Mutex<Vec<Received>>>,
    tokio_util::sync::DropGuard,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the echo server");
    let address = listener.local_addr().expect("its address");
    let acceptor = tls.map(|certificates| {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_slice_iter(certificates.cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("the server certificate");
        let key = PrivateKeyDer::from_pem_slice(certificates.key.as_bytes()).expect("the key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a TLS server config");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let received = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let log = received.clone();
    crate::servers::accept_until(listener, stop.clone(), move |stream| {
        let log = log.clone();
        let acceptor = acceptor.clone();
        async move {
            let service = service_fn(move |request| respond(request, log.clone()));
            let http = hyper::server::conn::http1::Builder::new();
            // A failed handshake (an untrusting client) just ends.
            let _ = match acceptor {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => http.serve_connection(TokioIo::new(tls), service).await,
                    Err(_) => Ok(()),
                },
                None => http.serve_connection(TokioIo::new(stream), service).await,
            };
        }
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    (format!("{scheme}://{address}"), received, stop.drop_guard())
}

async fn respond(
    request: hyper::Request<hyper::body::Incoming>,
    log: Arc<Mutex<Vec<Received>>>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = crate::servers::read_request(request).await;
    let path = parts.uri.path().to_owned();
    let status = path
        .strip_prefix("/status/")
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| hyper::StatusCode::from_u16(s).ok())
        .unwrap_or(hyper::StatusCode::OK);
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Received {
            method: parts.method.to_string(),
            target: parts.uri.to_string(),
            path,
            headers: parts
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body,
        });
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"echoed")));
    *response.status_mut() = status;
    if status.is_redirection() {
        response.headers_mut().insert(
            hyper::header::LOCATION,
            hyper::header::HeaderValue::from_static("/moved-here"),
        );
    }
    Ok(response)
}
