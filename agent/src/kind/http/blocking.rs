//! The blocking client: ureq over rustls, holding the calling thread until
//! the reply arrives (the sync, blocking and threads modes).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use super::tls::Tls;
use super::{HttpError, HttpTarget, INJECTED, Rendered};
use crate::outcome::{BodyPrefix, Outcome};

/// The blocking client: the calling thread waits until the reply arrives.
/// One ureq agent (its own connection pool) per TLS trust its requests
/// need, made with the first such request.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    /// By the trust of their https:// targets (`None`: plain http).
    agents: Vec<(Option<Arc<Tls>>, ureq::Agent)>,
    timeout: Option<Duration>,
}

impl BlockingClient {
    pub fn new(timeout: Option<Duration>) -> BlockingClient {
        BlockingClient {
            agents: Vec::new(),
            timeout,
        }
    }

    fn agent(&mut self, tls: Option<&Arc<Tls>>) -> &ureq::Agent {
        let same = |held: &Option<Arc<Tls>>| match (held, tls) {
            (None, None) => true,
            (Some(held), Some(tls)) => Arc::ptr_eq(held, tls),
            _ => false,
        };
        let at = match self.agents.iter().position(|(held, _)| same(held)) {
            Some(at) => at,
            None => {
                // The same request as the async client's: no redirects
                // followed, no proxy from the environment, no headers of
                // ureq's own (the target carries Host, User-Agent, Accept).
                let mut config = ureq::Agent::config_builder()
                    .timeout_global(self.timeout)
                    .http_status_as_error(false)
                    .allow_non_standard_methods(true)
                    .max_redirects(0)
                    .proxy(None)
                    .user_agent(ureq::config::AutoHeaderValue::None)
                    .accept(ureq::config::AutoHeaderValue::None)
                    .accept_encoding(ureq::config::AutoHeaderValue::None);
                if let Some(tls) = tls {
                    config = config.tls_config(tls.ureq.clone());
                }
                self.agents.push((tls.cloned(), config.build().into()));
                self.agents.len() - 1
            }
        };
        &self.agents[at].1
    }

    /// Sends the target's request with `headers` added (the trace context,
    /// when tracing; a scenario's cookies and rendered headers), and what
    /// a scenario's templates `rendered`.
    pub fn send(
        &mut self,
        target: &HttpTarget,
        headers: http::HeaderMap,
        rendered: Option<&Rendered>,
    ) -> Outcome {
        let timeout = self.timeout;
        let request = target.request(
            target.uri(rendered, false),
            target.body(rendered).as_ref(),
            headers,
        );
        let (parts, mut incoming) = match self.agent(target.tls.as_ref()).run(request) {
            Ok(response) => response.into_parts(),
            Err(error) => return Outcome::failed(describe_ureq(target, error, timeout)),
        };
        let status = parts.status;
        let injected = parts.headers.contains_key(INJECTED);
        let mut reply = target.keep.reply(parts.headers);
        let mut body = BodyPrefix::default();
        let mut reader = incoming.as_reader();
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    body.push(&buffer[..n]);
                    if let (Some(reply), true) = (&mut reply, target.keep.body) {
                        reply.push(&buffer[..n]);
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    // ureq reports its own errors (a timeout) inside io::Error.
                    let error = match error.downcast::<ureq::Error>() {
                        Ok(ureq) => describe_ureq(target, ureq, timeout),
                        Err(io) => HttpError::io(&target.authority, &io, timeout),
                    };
                    return Outcome::failed(error);
                }
            }
        }
        super::response(target, status, injected, body, reply)
    }
}

fn describe_ureq(target: &HttpTarget, error: ureq::Error, timeout: Option<Duration>) -> HttpError {
    match error {
        ureq::Error::Timeout(_) => HttpError::timed_out(timeout),
        ureq::Error::Io(io) => HttpError::io(&target.authority, &io, timeout),
        ureq::Error::Rustls(tls) => HttpError::tls(target.authority.clone(), &tls),
        other => HttpError::Other {
            at: target.authority.clone(),
            message: other.to_string(),
        },
    }
}
