//! The agent's session against a coordinator served in memory, with paused
//! time: heartbeats and their loss take no real seconds.

use std::time::Duration;

use loadlab_agent::session::{self, Connection, Identity, SessionError};
use loadlab_proto::HEARTBEAT_TIMEOUT;
use loadlab_proto::v1::coordinator_server::{Coordinator, CoordinatorServer};
use loadlab_proto::v1::{self, AgentMessage, CoordinatorMessage, coordinator_message};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

/// A coordinator that welcomes the agent, then never says anything again.
struct Silent;

#[tonic::async_trait]
impl Coordinator for Silent {
    type JoinStream = ReceiverStream<Result<CoordinatorMessage, Status>>;

    async fn join(
        &self,
        _: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::JoinStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let welcome = v1::Welcome {
            protocol_version: loadlab_proto::PROTOCOL_VERSION,
            ..Default::default()
        };
        let _ = tx
            .send(Ok(CoordinatorMessage {
                kind: Some(coordinator_message::Kind::Welcome(welcome)),
            }))
            .await;
        // The stream stays open, and silent.
        tokio::spawn(async move {
            let _open = tx;
            std::future::pending::<()>().await
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A coordinator that falls silent is left after the heartbeat timeout,
/// not before and not much after.
#[tokio::test(start_paused = true)]
async fn a_silent_coordinator_is_left_after_the_heartbeat_timeout() {
    let channel = loadlab_testkit::grpc::in_memory(|incoming| {
        tonic::transport::Server::builder()
            .add_service(CoordinatorServer::new(Silent))
            .serve_with_incoming(incoming)
    })
    .await;
    let started = tokio::time::Instant::now();
    let ended = session::over(
        channel,
        &Connection::new("http://in-memory.invalid"),
        &Identity::new("agent"),
        CancellationToken::new(),
    )
    .await;
    let waited = started.elapsed();
    match ended {
        Err(SessionError::Broken(why)) => assert!(why.contains("silent for 4 s"), "{why}"),
        other => panic!("expected a broken session, got {other:?}"),
    }
    assert!(
        waited >= HEARTBEAT_TIMEOUT && waited < HEARTBEAT_TIMEOUT + Duration::from_secs(1),
        "left after {waited:?}"
    );
}
