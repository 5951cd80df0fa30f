//! The two HTTP clients: an async one (reqwest on tokio) and a blocking one
//! (ureq, which holds the calling thread until the reply arrives). Both turn
//! what happened into the same `Reply`, with errors a person can act on.

use std::error::Error as _;
use std::time::Duration;

use crate::outcome::truncate_body;

/// What came back from one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub bytes: u64,
    pub body: String,
    pub error: Option<String>,
    /// Rows a SQL query returned; 0 for HTTP.
    pub rows: u64,
}

impl Reply {
    pub fn failed(error: String) -> Reply {
        Reply {
            status: 0,
            bytes: 0,
            body: String::new(),
            error: Some(error),
            rows: 0,
        }
    }

    fn from_response(status: u16, reason: &str, body: &str) -> Reply {
        let error = (!(200..300).contains(&status))
            .then(|| format!("HTTP {status} {reason}: {}", truncate_body(body.trim())));
        Reply {
            status,
            bytes: body.len() as u64,
            body: truncate_body(body),
            error,
            rows: 0,
        }
    }
}

/// `host:port` of a URL, for error messages.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

fn describe_io(url: &str, error: &std::io::Error, timeout: Option<Duration>) -> String {
    use std::io::ErrorKind::*;
    let at = authority(url);
    match error.kind() {
        ConnectionRefused => format!("connection refused to {at}"),
        ConnectionReset => format!("connection reset by {at}"),
        TimedOut | WouldBlock => timed_out(timeout),
        _ => format!("{at}: {error}"),
    }
}

fn timed_out(timeout: Option<Duration>) -> String {
    match timeout {
        Some(t) => format!("timed out after {}", humantime::format_duration(t)),
        None => "timed out".to_owned(),
    }
}

/// The async client: many requests in flight on few threads.
#[derive(Debug, Clone)]
pub struct AsyncClient {
    client: reqwest::Client,
    timeout: Option<Duration>,
}

impl AsyncClient {
    pub fn new(timeout: Option<Duration>) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder().tcp_nodelay(true);
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(AsyncClient { client, timeout })
    }

    /// GETs `url` with `headers` (the trace context, when tracing).
    pub async fn get(&self, url: &str, headers: http::HeaderMap) -> Reply {
        let response = match self.client.get(url).headers(headers).send().await {
            Ok(response) => response,
            Err(error) => return Reply::failed(self.describe(url, &error)),
        };
        let status = response.status();
        match response.text().await {
            Ok(body) => Reply::from_response(
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                &body,
            ),
            Err(error) => Reply::failed(self.describe(url, &error)),
        }
    }

    fn describe(&self, url: &str, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            return timed_out(self.timeout);
        }
        let mut source = error.source();
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                return describe_io(url, io, self.timeout);
            }
            source = cause.source();
        }
        format!("{}: {error}", authority(url))
    }
}

/// The blocking client: the calling thread waits until the reply arrives.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    agent: ureq::Agent,
    timeout: Option<Duration>,
}

impl BlockingClient {
    pub fn new(timeout: Option<Duration>) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(timeout)
            .http_status_as_error(false)
            .build();
        BlockingClient {
            agent: config.into(),
            timeout,
        }
    }

    /// GETs `url` with `headers` (the trace context, when tracing).
    pub fn get(&self, url: &str, headers: &http::HeaderMap) -> Reply {
        let mut request = self.agent.get(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.call() {
            Ok(mut response) => {
                let status = response.status();
                match response.body_mut().read_to_string() {
                    Ok(body) => Reply::from_response(
                        status.as_u16(),
                        status.canonical_reason().unwrap_or(""),
                        &body,
                    ),
                    Err(error) => Reply::failed(self.describe(url, error)),
                }
            }
            Err(error) => Reply::failed(self.describe(url, error)),
        }
    }

    fn describe(&self, url: &str, error: ureq::Error) -> String {
        match error {
            ureq::Error::Timeout(_) => timed_out(self.timeout),
            ureq::Error::Io(io) => describe_io(url, &io, self.timeout),
            other => format!("{}: {other}", authority(url)),
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
        let reply = Reply::from_response(
            400,
            "Bad Request",
            "parameter `seconds`: \"x\" is not a number\n",
        );
        assert_eq!(
            reply.error.as_deref(),
            Some("HTTP 400 Bad Request: parameter `seconds`: \"x\" is not a number")
        );
        assert!(Reply::from_response(200, "OK", "fine").error.is_none());
    }
}
