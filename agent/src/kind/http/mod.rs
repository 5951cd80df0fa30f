//! The `http` kind: a request (any method, headers, a body) to an http:// or
//! https:// URL, with an async client (hyper's HTTP/1 connections on tokio,
//! over rustls for https, one kept alive per worker and host: the fewest
//! layers between a request and the socket) and a blocking one (ureq,
//! which holds the calling thread until the reply arrives). Both stream the
//! body, count its bytes and keep only the start that the report shows, so
//! memory stays bounded by the number of requests in flight, not by the
//! size of a response, and both give the same outcome for the same
//! response: success is a status the request expects (any 2xx unless it
//! names some).

mod blocking;
mod client;
mod rendered;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use loadlab_proto::v1;
use opentelemetry::KeyValue;

use crate::outcome::{BodyPrefix, Outcome};
use tls::{Tls, Trust};

pub use blocking::BlockingClient;
pub use client::AsyncClient;
pub use rendered::Rendered;

/// The header the delay server marks its injected failures with, so that
/// reports tell them from real ones.
pub const INJECTED: &str = "loadlab-fault";

/// A validated HTTP request of a workload, parsed once.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// The URL, for ureq (which sends the origin form itself).
    uri: http::Uri,
    /// Path and query: the request line's target (origin form), for hyper.
    origin: http::Uri,
    /// `host:port`, where to connect; also how errors name the server.
    authority: String,
    /// The host alone, for the TLS server name.
    host: String,
    method: http::Method,
    /// Every header both clients send, the same: the request's own, then
    /// `Host`, `User-Agent` and `Accept` unless it gave them.
    headers: http::HeaderMap,
    body: Bytes,
    /// Statuses that count as success; empty: any 2xx.
    expect: Vec<u16>,
    /// For https:// URLs: what their certificates must be signed by (one
    /// per distinct trust, shared by every target that has it).
    tls: Option<Arc<Tls>>,
    /// What of the response to keep in the outcome (a scenario step that
    /// reads it).
    pub keep: Keep,
    /// The URL as a cookie jar reads it, parsed the first time a jar needs
    /// it (most requests never do).
    cookie_url: std::sync::OnceLock<Option<url::Url>>,
}

/// What of a response a scenario step reads: its headers (a header to
/// extract), its cookies, its body (a JSONPath or a regex, `contains`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    pub headers: bool,
    /// Its headers when it sets a cookie (for the cookie jar).
    pub cookies: bool,
    pub body: bool,
}

impl Keep {
    /// The reply to fill as the response streams in, when anything is
    /// kept: it takes the response's headers as they are (moved, not
    /// copied: most responses set no cookie, and then nothing is kept).
    fn reply(self, headers: http::HeaderMap) -> Option<Box<crate::outcome::Reply>> {
        let cookies = self.cookies && headers.contains_key(http::header::SET_COOKIE);
        if !(self.headers || self.body || cookies) {
            return None;
        }
        Some(Box::new(crate::outcome::Reply {
            headers,
            body: Vec::new(),
        }))
    }
}

impl HttpTarget {
    pub fn from_wire(wire: &v1::HttpRequest) -> Result<HttpTarget, String> {
        let not_http = || format!("{:?} is not an http:// or https:// URL", wire.url);
        let https = wire.url.starts_with("https://");
        if !https && !wire.url.starts_with("http://") {
            return Err(not_http());
        }
        let uri: http::Uri = wire.url.parse().map_err(|_| not_http())?;
        let given = uri.authority().ok_or_else(not_http)?;
        if given.as_str().contains('@') {
            return Err(format!(
                "{:?}: credentials in a URL are not sent; give them as a header (Authorization)",
                wire.url
            ));
        }
        let host = given.host().trim_matches(['[', ']']).to_owned();
        let default_port = if https { 443 } else { 80 };
        let port = given.port_u16().unwrap_or(default_port);
        let authority = format!("{}:{port}", given.host());
        // As browsers and ureq say it: no port when it is the scheme's own.
        let host_header = if port == default_port {
            given.host().to_owned()
        } else {
            authority.clone()
        };
        let origin: http::Uri = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|_| not_http())?;
        let method = match wire.method.as_str() {
            "" => http::Method::GET,
            name => http::Method::from_bytes(name.as_bytes())
                .map_err(|_| format!("{name:?} is not an HTTP method"))?,
        };
        let mut headers = http::HeaderMap::new();
        for header in &wire.headers {
            let name = http::HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|_| format!("{:?} is not an HTTP header name", header.name))?;
            let value = http::HeaderValue::from_str(&header.value).map_err(|_| {
                format!(
                    "header {}: {:?} is not a header value",
                    header.name, header.value
                )
            })?;
            headers.append(name, value);
        }
        let defaults = [
            (http::header::HOST, host_header),
            (
                http::header::USER_AGENT,
                concat!("loadlab/", env!("CARGO_PKG_VERSION")).to_owned(),
            ),
            (http::header::ACCEPT, "*/*".to_owned()),
        ];
        for (name, value) in defaults {
            if !headers.contains_key(&name)
                && let Ok(value) = http::HeaderValue::from_str(&value)
            {
                headers.insert(name, value);
            }
        }
        let expect = wire
            .expect_status
            .iter()
            .map(|&status| match u16::try_from(status) {
                Ok(status @ 100..=599) => Ok(status),
                _ => Err(format!("expected status {status} is not 100-599")),
            })
            .collect::<Result<_, _>>()?;
        let tls = if https {
            Some(Tls::shared(Trust {
                ca_pem: wire.tls_ca_pem.clone(),
                insecure: wire.insecure,
            })?)
        } else {
            None
        };
        Ok(HttpTarget {
            url: wire.url.clone(),
            uri,
            origin,
            authority,
            host,
            method,
            headers,
            body: Bytes::from(wire.body.clone()),
            expect,
            tls,
            keep: Keep::default(),
            cookie_url: std::sync::OnceLock::new(),
        })
    }

    /// The client span of one finished request, with the HTTP semantic
    /// conventions; its name is the method.
    pub fn span_fields(&self, outcome: &Outcome, fields: &mut Vec<KeyValue>) -> &'static str {
        let method = method_name(&self.method);
        fields.push(KeyValue::new("http.request.method", method));
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
        method
    }

    /// The request to send to `uri` (origin-form for hyper, absolute for
    /// ureq): the method, every header of the request with `extra` (the
    /// trace context; a scenario's cookies and rendered headers) added,
    /// replacing any of the same name, and `body`.
    fn request<B>(&self, uri: http::Uri, body: B, extra: http::HeaderMap) -> http::Request<B> {
        let mut request = http::Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        headers.extend(extra);
        request
    }

    /// A header it sends, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether `status` is a success for this request.
    fn expects(&self, status: http::StatusCode) -> bool {
        if self.expect.is_empty() {
            status.is_success()
        } else {
            self.expect.contains(&status.as_u16())
        }
    }
}

/// A method's name as a static string (spans take those without a copy).
fn method_name(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "HTTP",
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
    /// A status the request did not list in `expect`.
    #[error("HTTP {status} {reason}, expected {expected}")]
    Unexpected {
        status: u16,
        reason: String,
        expected: String,
    },
    /// A failure the delay server was asked to inject (`fail=P`).
    #[error("HTTP {0} (injected)")]
    Injected(u16),
    #[error("TLS with {at}: {message}")]
    Tls { at: String, message: String },
    #[error("{at}: {message}")]
    Other { at: String, message: String },
}

impl HttpError {
    /// A failed TLS handshake, saying how to trust a certificate that is not.
    fn tls(at: String, error: &rustls::Error) -> HttpError {
        use rustls::CertificateError::*;
        let message = match error {
            rustls::Error::InvalidCertificate(UnknownIssuer | BadSignature) => {
                "the server's certificate is not signed by a CA this agent trusts: trust its CA \
                 with --tls-ca, or set `insecure: true` for a test server"
                    .to_owned()
            }
            rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. }) => {
                "the server's certificate is not valid for this host name".to_owned()
            }
            rustls::Error::InvalidCertificate(Expired | ExpiredContext { .. }) => {
                "the server's certificate has expired".to_owned()
            }
            rustls::Error::InvalidCertificate(why) => {
                format!("the server's certificate was refused ({why:?})")
            }
            other => other.to_string(),
        };
        HttpError::Tls { at, message }
    }

    fn timed_out(timeout: Option<Duration>) -> HttpError {
        timeout.map_or(HttpError::TimedOutNoLimit, HttpError::TimedOut)
    }

    /// An I/O error talking to `at` (`host:port`).
    fn io(at: &str, error: &std::io::Error, timeout: Option<Duration>) -> HttpError {
        use std::io::ErrorKind::*;
        let at = at.to_owned();
        if let Some(tls) = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return HttpError::tls(at, tls);
        }
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

/// The outcome of a complete response: an error unless its status is one
/// the target expects; an injected failure says so.
fn response(
    target: &HttpTarget,
    status: http::StatusCode,
    injected: bool,
    body: BodyPrefix,
    reply: Option<Box<crate::outcome::Reply>>,
) -> Outcome {
    let reason = || status.canonical_reason().unwrap_or("").to_owned();
    let error = if target.expects(status) {
        None
    } else if injected {
        Some(HttpError::Injected(status.as_u16()))
    } else if target.expect.is_empty() {
        Some(HttpError::Status {
            status: status.as_u16(),
            reason: reason(),
            body: body.text().trim().to_owned(),
        })
    } else {
        let expected: Vec<String> = target.expect.iter().map(u16::to_string).collect();
        Some(HttpError::Unexpected {
            status: status.as_u16(),
            reason: reason(),
            expected: expected.join(" or "),
        })
    };
    Outcome {
        status: status.as_u16(),
        body,
        error: error.map(|e| e.to_string()),
        reply,
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests;
