//! One agent's connection to a coordinator: say hello, take assignments, run
//! them, stream back what happened.

use std::collections::HashMap;
use std::time::Duration;

use loadlab_proto::auth::{self, AuthError, Token};
use loadlab_proto::v1::{
    self, AgentMessage, CoordinatorMessage, agent_message, coordinator_client::CoordinatorClient,
    coordinator_message,
};
use loadlab_proto::{HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT};
use loadlab_wait::backoff::Backoff;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tracing::{info, warn};

/// Who this agent is, as told to the coordinator.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Unique per agent process, stable across reconnects.
    pub agent_id: String,
    /// Shown in reports: the host name, or `--name`.
    pub name: String,
}

impl Identity {
    pub fn new(name: impl Into<String>) -> Identity {
        Identity {
            agent_id: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
        }
    }
}

/// Where the coordinator is and how to trust it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `http://host:port`, or `https://` for TLS.
    pub url: String,
    /// The shared token; `None` joins coordinators that ask for none.
    pub token: Option<Token>,
    /// PEM of the CA that signed the coordinator's certificate; without it
    /// an `https://` coordinator is checked against the system's roots.
    pub tls_ca: Option<Vec<u8>>,
}

impl Connection {
    pub fn new(url: impl Into<String>) -> Connection {
        Connection {
            url: url.into(),
            token: None,
            tls_ca: None,
        }
    }

    fn endpoint(&self) -> Result<Endpoint, SessionError> {
        let bad = |why: String| SessionError::BadConfig(why);
        let mut endpoint = Endpoint::from_shared(self.url.clone())
            .map_err(|e| bad(format!("{:?} is not a valid URL: {e}", self.url)))?
            .connect_timeout(Duration::from_secs(5))
            // Progress is small messages that must not wait on Nagle.
            .tcp_nodelay(true);
        if self.url.starts_with("https://") {
            let tls = match &self.tls_ca {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_native_roots(),
            };
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| bad(format!("TLS set-up failed: {e}")))?;
        } else if self.tls_ca.is_some() {
            return Err(bad(format!(
                "--tls-ca was given but {} is not an https:// URL",
                self.url
            )));
        } else if !self.url.starts_with("http://") {
            return Err(bad(format!(
                "{:?} must start with http:// or https://",
                self.url
            )));
        }
        Ok(endpoint)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    BadConfig(String),
    #[error("cannot connect to the coordinator at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("the coordinator refused this agent: {0}")]
    Refused(String),
    #[error("the coordinator at {endpoint} is not available: {reason}")]
    Unavailable { endpoint: String, reason: String },
    #[error("refusing the coordinator at {endpoint}: {reason}")]
    Impostor { endpoint: String, reason: AuthError },
    #[error("the connection to the coordinator broke: {0}")]
    Broken(String),
    #[error("gave up after {} without a coordinator; last: {last}", humantime::format_duration(*.after))]
    GaveUp {
        after: Duration,
        last: Box<SessionError>,
    },
}

impl SessionError {
    /// Errors that trying again cannot fix: a bad flag, a refused token or
    /// protocol version, a coordinator that cannot prove who it is.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            SessionError::BadConfig(_)
                | SessionError::Refused(_)
                | SessionError::Impostor { .. }
                | SessionError::GaveUp { .. }
        )
    }
}

/// How a session that went well ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `shutdown` was cancelled.
    Shutdown,
    /// The coordinator closed the stream (its run is over).
    CoordinatorLeft,
}

/// How long the coordinator has to welcome us.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves coordinators for as long as the agent lives: joins, runs what it
/// is sent, and when the coordinator is not there yet or goes away, tries
/// again with [`Backoff`]. Returns on `shutdown`, on a fatal error, or when
/// `give_up` passes without a coordinator.
pub async fn serve(
    connection: &Connection,
    identity: &Identity,
    give_up: Option<Duration>,
    shutdown: CancellationToken,
) -> Result<(), SessionError> {
    let mut backoff = Backoff::default();
    let mut last_contact = tokio::time::Instant::now();
    loop {
        let attempt = join(connection, identity, shutdown.clone()).await;
        let last = match attempt {
            Ok(Ended::Shutdown) => return Ok(()),
            Ok(Ended::CoordinatorLeft) => {
                info!("the coordinator ended the session; waiting for the next one");
                backoff.reset();
                last_contact = tokio::time::Instant::now();
                continue;
            }
            Err(error) if error.is_fatal() => return Err(error),
            Err(error) => {
                if matches!(error, SessionError::Broken(_)) {
                    // We were connected: the clock and the delays start over.
                    backoff.reset();
                    last_contact = tokio::time::Instant::now();
                }
                error
            }
        };
        if let Some(after) = give_up
            && last_contact.elapsed() >= after
        {
            return Err(SessionError::GaveUp {
                after,
                last: Box::new(last),
            });
        }
        let delay = backoff.next_delay();
        warn!(
            "{last}; retrying in {}",
            humantime::format_duration(round_ms(delay))
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// One session: connects to the coordinator, joins, and serves it until it
/// ends the session, the connection breaks or falls silent (`Err`), or
/// `shutdown` is cancelled.
pub async fn join(
    connection: &Connection,
    identity: &Identity,
    shutdown: CancellationToken,
) -> Result<Ended, SessionError> {
    let endpoint = connection.endpoint()?;
    let address = connection.url.clone();
    let channel = tokio::select! {
        channel = endpoint.connect() => channel.map_err(|e| SessionError::Connect {
            endpoint: address.clone(),
            // With its causes: tonic's own text is often just "transport error".
            reason: format!("{:#}", anyhow::Error::new(e)),
        })?,
        () = shutdown.cancelled() => return Ok(Ended::Shutdown),
    };
    over(channel, connection, identity, shutdown).await
}

/// One session over an established channel to the coordinator (what
/// [`join`] does once connected; tests give it an in-memory channel).
pub async fn over(
    channel: tonic::transport::Channel,
    connection: &Connection,
    identity: &Identity,
    shutdown: CancellationToken,
) -> Result<Ended, SessionError> {
    let address = connection.url.clone();
    let mut client =
        CoordinatorClient::new(channel).max_decoding_message_size(loadlab_proto::MAX_MESSAGE_BYTES);
    let (outbound, outbound_stream) = mpsc::channel::<AgentMessage>(1024);
    let hello = v1::Hello {
        agent_id: identity.agent_id.clone(),
        name: identity.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol_version: loadlab_proto::PROTOCOL_VERSION,
    };
    // The channel is fresh and has room; this cannot fail.
    let _ = outbound
        .send(message(agent_message::Kind::Hello(hello)))
        .await;
    let mut request = tonic::Request::new(ReceiverStream::new(outbound_stream));
    let nonce = match &connection.token {
        Some(token) => {
            let (credential, nonce) = token.credential();
            let value = credential
                .parse()
                .map_err(|_| SessionError::BadConfig("unusable credential".to_owned()))?;
            request.metadata_mut().insert(auth::METADATA_KEY, value);
            Some((token, nonce))
        }
        None => None,
    };
    let joined = tokio::select! {
        joined = client.join(request) => joined,
        () = shutdown.cancelled() => return Ok(Ended::Shutdown),
    };
    let mut inbound = joined
        .map_err(|status| refusal(&address, status))?
        .into_inner();

    // The first word must be a welcome, and prove the coordinator holds our
    // token before we run anything it sends.
    let first = tokio::time::timeout(WELCOME_TIMEOUT, inbound.message()).await;
    let welcome = match first {
        Ok(Ok(Some(CoordinatorMessage {
            kind: Some(coordinator_message::Kind::Welcome(welcome)),
        }))) => welcome,
        Ok(Ok(_)) => {
            return Err(SessionError::Broken(
                "no welcome from the coordinator".into(),
            ));
        }
        Ok(Err(status)) => return Err(refusal(&address, status)),
        Err(_) => return Err(SessionError::Broken("no welcome within 10 s".into())),
    };
    if let Some((token, nonce)) = &nonce {
        token
            .check_proof(nonce, &welcome.proof)
            .map_err(|reason| SessionError::Impostor {
                endpoint: address.clone(),
                reason,
            })?;
    }
    info!(coordinator = %address, name = %identity.name, version = %welcome.coordinator_version, "joined the coordinator");

    // However the session ends, the assignments it started stop with it.
    let session = shutdown.child_token();
    let _stop_assignments = session.clone().drop_guard();
    let mut running: HashMap<String, (CancellationToken, JoinHandle<()>)> = HashMap::new();
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let mut last_heard = tokio::time::Instant::now();
    loop {
        let received = tokio::select! {
            received = inbound.message() => received,
            _ = heartbeat.tick() => {
                let beat = loadlab_proto::heartbeat();
                // A full queue means results are flowing: the coordinator hears us.
                let _ = outbound.try_send(message(agent_message::Kind::Heartbeat(beat)));
                continue;
            }
            () = tokio::time::sleep_until(last_heard + HEARTBEAT_TIMEOUT) => {
                return Err(SessionError::Broken(format!(
                    "the coordinator was silent for {} s",
                    HEARTBEAT_TIMEOUT.as_secs()
                )));
            }
            () = shutdown.cancelled() => return Ok(Ended::Shutdown),
        };
        last_heard = tokio::time::Instant::now();
        let kind = match received {
            Ok(Some(CoordinatorMessage { kind: Some(kind) })) => kind,
            Ok(Some(CoordinatorMessage { kind: None })) => continue,
            Ok(None) => return Ok(Ended::CoordinatorLeft),
            Err(status) => return Err(SessionError::Broken(status.message().to_owned())),
        };
        match kind {
            coordinator_message::Kind::Assignment(assignment) => {
                running.retain(|_, (_, task)| !task.is_finished());
                let cancel = session.child_token();
                let run_id = assignment.run_id.clone();
                let task = tokio::spawn(crate::assignment::run(
                    *assignment,
                    outbound.clone(),
                    cancel.clone(),
                ));
                running.insert(run_id, (cancel, task));
            }
            coordinator_message::Kind::Cancel(v1::Cancel { run_id }) => {
                if let Some((token, _)) = running.remove(&run_id) {
                    info!(%run_id, "cancelled by the coordinator");
                    token.cancel();
                }
            }
            coordinator_message::Kind::Welcome(_) | coordinator_message::Kind::Heartbeat(_) => {}
        }
    }
}

/// A refused `Join`: fatal when the coordinator said no (token, version),
/// worth retrying when it was only not ready or not there.
fn refusal(endpoint: &str, status: tonic::Status) -> SessionError {
    use tonic::Code;
    match status.code() {
        Code::Unauthenticated
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::InvalidArgument => SessionError::Refused(status.message().to_owned()),
        _ => SessionError::Unavailable {
            endpoint: endpoint.to_owned(),
            reason: if status.message().is_empty() {
                format!("{:?}", status.code())
            } else {
                status.message().to_owned()
            },
        },
    }
}

fn message(kind: agent_message::Kind) -> AgentMessage {
    AgentMessage { kind: Some(kind) }
}
