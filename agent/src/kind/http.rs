//! The `http` kind: a GET of a URL, with an async client (hyper's HTTP/1
//! connections on tokio, one kept alive per worker and host: the fewest
//! layers between a request and the socket) and a blocking one (ureq,
//! which holds the calling thread until the reply arrives). Both stream the
//! body, count its bytes and keep only the start that the report shows, so
//! memory stays bounded by the number of requests in flight, not by the
//! size of a response, and both give the same outcome for the same
//! response.

use std::error::Error as _;
use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use loadlab_proto::v1;
use opentelemetry::KeyValue;

use crate::outcome::{BodyPrefix, Outcome};

/// A validated HTTP request of a workload, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// Absolute `http://` URL.
    pub url: String,
    uri: http::Uri,
    /// `host:port`, where to connect and what to say in `Host`.
    authority: String,
}

impl HttpTarget {
    pub fn from_wire(wire: &v1::HttpRequest) -> Result<HttpTarget, String> {
        let not_http = || format!("{:?} is not an http:// URL", wire.url);
        if !wire.url.starts_with("http://") {
            return Err(not_http());
        }
        let uri: http::Uri = wire.url.parse().map_err(|_| not_http())?;
        let authority = uri.authority().ok_or_else(not_http)?;
        let authority = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        Ok(HttpTarget {
            url: wire.url.clone(),
            uri,
            authority,
        })
    }

    /// The client span of one finished request, with the HTTP semantic
    /// conventions.
    pub fn span_fields(&self, outcome: &Outcome, fields: &mut Vec<KeyValue>) -> &'static str {
        fields.push(KeyValue::new("http.request.method", "GET"));
        fields.push(KeyValue::new("url.full", self.url.clone()));
        if outcome.status > 0 {
            fields.push(KeyValue::new(
                "http.response.status_code",
                i64::from(outcome.status),
            ));
        }
        fields.push(KeyValue::new(
            "http.response.body.size",
            outcome.body.bytes as i64,
        ));
        if outcome.error.is_some() {
            let kind = if outcome.status > 0 {
                "http_status"
            } else {
                "request_failed"
            };
            fields.push(KeyValue::new("error.type", kind));
        }
        "GET"
    }
}

/// Why an HTTP request failed, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("connection refused to {0}")]
    Refused(String),
    #[error("connection reset by {0}")]
    Reset(String),
    #[error("timed out after {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    #[error("timed out")]
    TimedOutNoLimit,
    #[error("HTTP {status} {reason}: {body}")]
    Status {
        status: u16,
        reason: String,
        body: String,
    },
    #[error("{at}: {message}")]
    Other { at: String, message: String },
}

impl HttpError {
    fn timed_out(timeout: Option<Duration>) -> HttpError {
        timeout.map_or(HttpError::TimedOutNoLimit, HttpError::TimedOut)
    }

    fn io(url: &str, error: &std::io::Error, timeout: Option<Duration>) -> HttpError {
        use std::io::ErrorKind::*;
        let at = authority(url).to_owned();
        match error.kind() {
            ConnectionRefused => HttpError::Refused(at),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                HttpError::Reset(at)
            }
            TimedOut | WouldBlock => HttpError::timed_out(timeout),
            _ => HttpError::Other {
                at,
                message: error.to_string(),
            },
        }
    }
}

/// `host:port` of a URL, for error messages.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// The outcome of a complete response: an error unless it is 2xx.
fn response(status: http::StatusCode, body: BodyPrefix) -> Outcome {
    let error = (!status.is_success()).then(|| {
        HttpError::Status {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            body: body.text().trim().to_owned(),
        }
        .to_string()
    });
    Outcome {
        status: status.as_u16(),
        body,
        error,
        ..Outcome::default()
    }
}

/// The async client of one worker: an HTTP/1 connection per host, kept
/// alive across its requests, opened again after an error.
#[derive(Debug)]
pub struct AsyncClient {
    connections: Vec<(String, SendRequest<Empty<Bytes>>)>,
    timeout: Option<Duration>,
}

impl AsyncClient {
    pub fn new(timeout: Option<Duration>) -> AsyncClient {
        AsyncClient {
            connections: Vec::new(),
            timeout,
        }
    }

    /// GETs the target with `headers` (the trace context, when tracing).
    pub async fn get(&mut self, target: &HttpTarget, headers: http::HeaderMap) -> Outcome {
        let timeout = self.timeout;
        let exchange = self.exchange(target, headers);
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
    ) -> Result<Outcome, HttpError> {
        let timeout = self.timeout;
        let sender = self.connection(target).await?;
        sender
            .ready()
            .await
            .map_err(|e| describe_hyper(&target.authority, &e, timeout))?;
        let mut request = http::Request::get(target.uri.clone())
            .header(http::header::HOST, target.authority.as_str())
            .body(Empty::new())
            .map_err(|e| HttpError::Other {
                at: target.authority.clone(),
                message: e.to_string(),
            })?;
        request.headers_mut().extend(headers);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| describe_hyper(&target.authority, &e, timeout))?;
        let status = response.status();
        let mut incoming = response.into_body();
        let mut body = BodyPrefix::default();
        while let Some(frame) = incoming.frame().await {
            let frame = frame.map_err(|e| describe_hyper(&target.authority, &e, timeout))?;
            if let Some(chunk) = frame.data_ref() {
                body.push_bytes(chunk);
            }
        }
        Ok(self::response(status, body))
    }

    /// The open connection to the target's host, or a new one.
    async fn connection(
        &mut self,
        target: &HttpTarget,
    ) -> Result<&mut SendRequest<Empty<Bytes>>, HttpError> {
        self.connections.retain(|(_, sender)| !sender.is_closed());
        let at = match self
            .connections
            .iter()
            .position(|(at, _)| *at == target.authority)
        {
            Some(at) => at,
            None => {
                let io = |e: std::io::Error| HttpError::io(&target.url, &e, self.timeout);
                let stream = tokio::net::TcpStream::connect(&target.authority)
                    .await
                    .map_err(io)?;
                let _ = stream.set_nodelay(true);
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(|e| describe_hyper(&target.authority, &e, self.timeout))?;
                tokio::spawn(connection);
                self.connections.push((target.authority.clone(), sender));
                self.connections.len() - 1
            }
        };
        Ok(&mut self.connections[at].1)
    }
}

/// A hyper error in words: the I/O error under it when there is one.
fn describe_hyper(at: &str, error: &hyper::Error, timeout: Option<Duration>) -> HttpError {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return HttpError::io(&format!("http://{at}"), io, timeout);
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

/// The blocking client: the calling thread waits until the reply arrives.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    agent: ureq::Agent,
    timeout: Option<Duration>,
}

impl BlockingClient {
    pub fn new(timeout: Option<Duration>) -> BlockingClient {
        let config = ureq::Agent::config_builder()
            .timeout_global(timeout)
            .http_status_as_error(false)
            .build();
        BlockingClient {
            agent: config.into(),
            timeout,
        }
    }

    /// GETs the target with `headers` (the trace context, when tracing).
    pub fn get(&self, target: &HttpTarget, headers: &http::HeaderMap) -> Outcome {
        let url = target.url.as_str();
        let mut request = self.agent.get(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = match request.call() {
            Ok(response) => response,
            Err(error) => return Outcome::failed(self.describe(url, error)),
        };
        let mut body = BodyPrefix::default();
        let mut reader = response.body_mut().as_reader();
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => body.push(&buffer[..n]),
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    // ureq reports its own errors (a timeout) inside io::Error.
                    let error = match error.downcast::<ureq::Error>() {
                        Ok(ureq) => self.describe(url, ureq),
                        Err(io) => HttpError::io(url, &io, self.timeout),
                    };
                    return Outcome::failed(error);
                }
            }
        }
        self::response(response.status(), body)
    }

    fn describe(&self, url: &str, error: ureq::Error) -> HttpError {
        match error {
            ureq::Error::Timeout(_) => HttpError::timed_out(self.timeout),
            ureq::Error::Io(io) => HttpError::io(url, &io, self.timeout),
            other => HttpError::Other {
                at: authority(url).to_owned(),
                message: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_host_and_port() {
        assert_eq!(
            authority("http://127.0.0.1:9/delay-me?seconds=1"),
            "127.0.0.1:9"
        );
        assert_eq!(authority("http://example:80?x"), "example:80");
    }

    #[test]
    fn non_2xx_is_an_error_that_quotes_the_server() {
        let mut body = BodyPrefix::default();
        body.push(b"parameter `seconds`: \"x\" is not a number\n");
        let outcome = response(http::StatusCode::BAD_REQUEST, body);
        assert_eq!(
            outcome.error.as_deref(),
            Some("HTTP 400 Bad Request: parameter `seconds`: \"x\" is not a number")
        );
        let mut body = BodyPrefix::default();
        body.push(b"fine");
        assert!(response(http::StatusCode::OK, body).error.is_none());
    }

    #[test]
    fn only_http_urls_are_targets() {
        let target = |url: &str| {
            HttpTarget::from_wire(&v1::HttpRequest {
                url: url.to_owned(),
            })
        };
        assert!(target("http://127.0.0.1:1/x").is_ok());
        assert!(
            target("ftp://x")
                .unwrap_err()
                .contains("not an http:// URL")
        );
    }
}
