//! The coordinator's gRPC side: agents join here, and their messages are
//! funnelled to the one run loop that consumes them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use loadlab_proto::auth::{self, Token, Verifier};
use loadlab_proto::v1::{
    self, AgentMessage, CoordinatorMessage, agent_message, coordinator_message,
    coordinator_server::{Coordinator, CoordinatorServer},
};
use loadlab_proto::{HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::ServerTlsConfig;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

/// Identifies one agent connection for the lifetime of the coordinator.
pub type AgentKey = u64;

/// A connected agent, as the run loop sees it.
#[derive(Debug)]
pub struct AgentHandle {
    pub key: AgentKey,
    /// As the report shows it: made unique when agents collect for a run.
    pub name: String,
    /// The agent's own id (`Hello.agent_id`), unique per agent process.
    pub id: String,
    /// Messages to the agent; dropping it ends the agent's session.
    pub outbound: mpsc::Sender<Result<CoordinatorMessage, Status>>,
}

impl AgentHandle {
    /// Sends `kind` to the agent; false when the agent is gone.
    pub async fn send(&self, kind: coordinator_message::Kind) -> bool {
        self.outbound
            .send(Ok(CoordinatorMessage { kind: Some(kind) }))
            .await
            .is_ok()
    }
}

/// What the run loop hears from an agent.
#[derive(Debug)]
pub enum Inbound {
    /// Boxed: messages are large and many; the channel holds pointers.
    Message(Box<agent_message::Kind>),
    /// The agent's stream ended; the text says how.
    Gone(String),
}

/// The run loop's end of the hub: agents that joined, and what they say.
pub struct Hub {
    pub joined: mpsc::Receiver<AgentHandle>,
    pub inbound: mpsc::Receiver<(AgentKey, Inbound)>,
}

/// How long a new connection has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The gRPC service agents call.
pub struct CoordinatorService {
    joined: mpsc::Sender<AgentHandle>,
    inbound: mpsc::Sender<(AgentKey, Inbound)>,
    next_key: Arc<AtomicU64>,
    /// Checks agents' credentials; `None` accepts any agent (loopback only).
    verifier: Option<Verifier>,
}

/// A hub and the service that feeds it; with a token, only agents that
/// hold it may join.
pub fn hub(token: Option<Token>) -> (Hub, CoordinatorService) {
    let (joined_tx, joined) = mpsc::channel(1024);
    let (inbound_tx, inbound) = mpsc::channel(16 * 1024);
    (
        Hub { joined, inbound },
        CoordinatorService {
            joined: joined_tx,
            inbound: inbound_tx,
            next_key: Arc::default(),
            verifier: token.map(Verifier::new),
        },
    )
}

type Outbound = ReceiverStream<Result<CoordinatorMessage, Status>>;

#[tonic::async_trait]
impl Coordinator for CoordinatorService {
    type JoinStream = Outbound;

    async fn join(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::JoinStream>, Status> {
        let peer = request.remote_addr();
        let proof = match &self.verifier {
            None => String::new(),
            Some(verifier) => {
                let credential = request
                    .metadata()
                    .get(auth::METADATA_KEY)
                    .and_then(|v| v.to_str().ok());
                match verifier.verify(credential) {
                    Ok(nonce) => verifier.token().proof(&nonce),
                    Err(error) => {
                        warn!(?peer, %error, "refused an agent");
                        return Err(Status::unauthenticated(error.to_string()));
                    }
                }
            }
        };
        let mut stream = request.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.message()).await {
            Ok(Ok(Some(AgentMessage {
                kind: Some(agent_message::Kind::Hello(hello)),
            }))) => hello,
            Ok(Ok(Some(_))) => {
                return Err(Status::invalid_argument(
                    "the first message must be a hello",
                ));
            }
            Ok(Ok(None)) => return Err(Status::cancelled("the agent left before saying hello")),
            Ok(Err(status)) => return Err(status),
            Err(_) => return Err(Status::deadline_exceeded("no hello within 10 s")),
        };
        if hello.protocol_version != loadlab_proto::PROTOCOL_VERSION {
            warn!(agent = %hello.name, ?peer, "refused: protocol version {}", hello.protocol_version);
            return Err(Status::failed_precondition(format!(
                "protocol version mismatch: agent speaks {}, coordinator speaks {}",
                hello.protocol_version,
                loadlab_proto::PROTOCOL_VERSION
            )));
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (outbound, outbound_rx) = mpsc::channel(1024);
        let welcome = v1::Welcome {
            protocol_version: loadlab_proto::PROTOCOL_VERSION,
            coordinator_version: env!("CARGO_PKG_VERSION").to_owned(),
            proof,
        };
        let _ = outbound
            .send(Ok(CoordinatorMessage {
                kind: Some(coordinator_message::Kind::Welcome(welcome)),
            }))
            .await;
        let name = if hello.name.is_empty() {
            format!("agent-{key}")
        } else {
            hello.name.clone()
        };
        info!(agent = %name, ?peer, version = %hello.version, "agent joined");
        let handle_outbound = outbound.downgrade();
        let handle = AgentHandle {
            key,
            name,
            id: hello.agent_id,
            outbound,
        };
        if self.joined.send(handle).await.is_err() {
            return Err(Status::unavailable("the coordinator is shutting down"));
        }
        // Heartbeats hold only a weak sender, so the stream to the agent
        // still ends when the run loop drops its handle.
        // Whether the run loop still holds the agent: once it has let go,
        // the run is over for this agent and a connection torn down
        // mid-frame is the agent hanging up, not a fault.
        let held = handle_outbound.clone();
        tokio::spawn(send_heartbeats(handle_outbound));
        let inbound = self.inbound.clone();
        tokio::spawn(async move {
            let gone = loop {
                let message = tokio::time::timeout(HEARTBEAT_TIMEOUT, stream.message()).await;
                match message {
                    Ok(Ok(Some(AgentMessage { kind: Some(kind) }))) => {
                        if matches!(kind, agent_message::Kind::Heartbeat(_)) {
                            continue;
                        }
                        if inbound
                            .send((key, Inbound::Message(Box::new(kind))))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(Ok(Some(AgentMessage { kind: None }))) => {
                        warn!(agent = key, "rejected an empty message");
                    }
                    Ok(Ok(None)) => break "disconnected".to_owned(),
                    Ok(Err(status)) if held.upgrade().is_none() => {
                        debug!(agent = key, code = ?status.code(), "the agent hung up after its run: {}", status.message());
                        break "disconnected".to_owned();
                    }
                    Ok(Err(status)) => {
                        // Malformed or oversized messages end up here too:
                        // the stream cannot be trusted past them.
                        warn!(agent = key, code = ?status.code(), "rejected the agent's stream: {}", status.message());
                        break format!("connection lost: {}", status.message());
                    }
                    Err(_) => {
                        break format!(
                            "silent for {} s: no heartbeat",
                            HEARTBEAT_TIMEOUT.as_secs()
                        );
                    }
                }
            };
            let _ = inbound.send((key, Inbound::Gone(gone))).await;
        });
        Ok(Response::new(ReceiverStream::new(outbound_rx)))
    }
}

/// Sends a heartbeat every [`HEARTBEAT_INTERVAL`] while the agent's
/// handle lives.
async fn send_heartbeats(outbound: mpsc::WeakSender<Result<CoordinatorMessage, Status>>) {
    let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        tick.tick().await;
        let Some(outbound) = outbound.upgrade() else {
            return;
        };
        let heartbeat = loadlab_proto::heartbeat();
        // A full queue means the agent is being sent work: it hears from us.
        let _ = outbound.try_send(Ok(CoordinatorMessage {
            kind: Some(coordinator_message::Kind::Heartbeat(heartbeat)),
        }));
    }
}

/// Serves the coordinator's gRPC endpoint on `listener` until `shutdown`,
/// over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    service: CoordinatorService,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .add_service(
            CoordinatorServer::new(service)
                .max_decoding_message_size(loadlab_proto::MAX_MESSAGE_BYTES),
        )
        // Assignments and progress are small messages that must not wait
        // for Nagle's algorithm (40 ms of delayed ACK otherwise).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}
