//! The async client: hyper's HTTP/1 connections on tokio, over rustls for
//! https, one kept alive per worker and host.

use std::error::Error as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::{HttpError, HttpTarget, INJECTED, Rendered};
use crate::outcome::{BodyPrefix, Outcome};

/// The async client of one worker: an HTTP/1 connection per host, kept
/// alive across its requests (over TLS for https), opened again after an
/// error.
#[derive(Debug)]
pub struct AsyncClient {
    connections: Vec<(String, SendRequest<Full<Bytes>>)>,
    timeout: Option<Duration>,
}

impl AsyncClient {
    pub fn new(timeout: Option<Duration>) -> AsyncClient {
        AsyncClient {
            connections: Vec::new(),
            timeout,
        }
    }

    /// Sends the target's request with `headers` added (the trace context,
    /// when tracing; a scenario's cookies and rendered headers), and what
    /// a scenario's templates `rendered`.
    pub async fn send(
        &mut self,
        target: &HttpTarget,
        headers: http::HeaderMap,
        rendered: Option<&Rendered>,
    ) -> Outcome {
        let timeout = self.timeout;
        let exchange = self.exchange(target, headers, rendered);
        let result = match timeout {
            Some(limit) => match tokio::time::timeout(limit, exchange).await {
                Ok(result) => result,
                Err(_) => Err(HttpError::timed_out(timeout)),
            },
            None => exchange.await,
        };
        match result {
            Ok(outcome) => outcome,
            Err(error) => {
                // The connection's state is unknown: the next request opens another.
                self.connections.retain(|(at, _)| *at != target.authority);
                Outcome::failed(error)
            }
        }
    }

    async fn exchange(
        &mut self,
        target: &HttpTarget,
        headers: http::HeaderMap,
        rendered: Option<&Rendered>,
    ) -> Result<Outcome, HttpError> {
        let timeout = self.timeout;
        let sender = self.connection(target).await?;
        sender
            .ready()
            .await
            .map_err(|e| describe_hyper(&target.authority, &e, timeout))?;
        let request = target.request(
            target.uri(rendered, true),
            Full::new(target.body(rendered).clone()),
            headers,
        );
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| describe_hyper(&target.authority, &e, timeout))?;
        let (parts, mut incoming) = response.into_parts();
        let status = parts.status;
        let injected = parts.headers.contains_key(INJECTED);
        let mut reply = target.keep.reply(parts.headers);
        let mut body = BodyPrefix::default();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| describe_hyper(&target.authority, &e, timeout))?;
            if let Some(chunk) = frame.data_ref() {
                body.push_bytes(chunk);
                if let (Some(reply), true) = (&mut reply, target.keep.body) {
                    reply.push(chunk);
                }
            }
        }
        Ok(super::response(target, status, injected, body, reply))
    }

    /// The open connection to the target's host, or a new one.
    async fn connection(
        &mut self,
        target: &HttpTarget,
    ) -> Result<&mut SendRequest<Full<Bytes>>, HttpError> {
        self.connections.retain(|(_, sender)| !sender.is_closed());
        let at = match self
            .connections
            .iter()
            .position(|(at, _)| *at == target.authority)
        {
            Some(at) => at,
            None => {
                // Boxed: a connection is made once and used for many
                // requests, and unboxed its TLS handshake's state (kilobytes)
                // would be part of every request's future, copied into
                // place each time.
                let sender = Box::pin(self.connect(target)).await?;
                self.connections.push((target.authority.clone(), sender));
                self.connections.len() - 1
            }
        };
        Ok(&mut self.connections[at].1)
    }

    async fn connect(&self, target: &HttpTarget) -> Result<SendRequest<Full<Bytes>>, HttpError> {
        let timeout = self.timeout;
        let stream = tokio::net::TcpStream::connect(&target.authority)
            .await
            .map_err(|e| HttpError::io(&target.authority, &e, timeout))?;
        let _ = stream.set_nodelay(true);
        let Some(tls) = &target.tls else {
            return handshake(target, stream, timeout).await;
        };
        let tls_error = |message: String| HttpError::Tls {
            at: target.authority.clone(),
            message,
        };
        let name = rustls::pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| tls_error(e.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(tls.rustls.clone())
            .connect(name, stream)
            .await
            .map_err(|e| HttpError::io(&target.authority, &e, timeout))?;
        handshake(target, stream, timeout).await
    }
}

/// HTTP/1 over `io` (a TCP or TLS stream), its connection driven by a task
/// of its own.
async fn handshake<IO>(
    target: &HttpTarget,
    io: IO,
    timeout: Option<Duration>,
) -> Result<SendRequest<Full<Bytes>>, HttpError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| describe_hyper(&target.authority, &e, timeout))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A hyper error in words: the I/O error under it when there is one.
fn describe_hyper(at: &str, error: &hyper::Error, timeout: Option<Duration>) -> HttpError {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return HttpError::io(at, io, timeout);
        }
        source = cause.source();
    }
    if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
        return HttpError::Reset(at.to_owned());
    }
    HttpError::Other {
        at: at.to_owned(),
        message: error.to_string(),
    }
}
