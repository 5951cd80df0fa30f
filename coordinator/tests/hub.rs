//! The coordinator's hub with agents over an in-memory gRPC pipe and paused
//! time: a silent agent is noticed by the missing heartbeats, in virtual
//! seconds.

use std::time::Duration;

use loadlab_coordinator::hub::{self, Inbound};
use loadlab_proto::HEARTBEAT_TIMEOUT;
use loadlab_proto::v1::coordinator_client::CoordinatorClient;
use loadlab_proto::v1::coordinator_server::CoordinatorServer;
use loadlab_proto::v1::{self, agent_message};
use tokio_stream::wrappers::ReceiverStream;

/// An agent that says hello and then nothing is dropped after the
/// heartbeat timeout, and the run loop hears how.
#[tokio::test(start_paused = true)]
async fn a_silent_agent_is_dropped_after_the_heartbeat_timeout() {
    let (mut hub, service) = hub::hub(None);
    let channel = loadlab_testkit::grpc::in_memory(|incoming| {
        tonic::transport::Server::builder()
            .add_service(CoordinatorServer::new(service))
            .serve_with_incoming(incoming)
    })
    .await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let hello = v1::Hello {
        agent_id: "quiet-1".into(),
        name: "quiet".into(),
        version: "test".into(),
        protocol_version: loadlab_proto::PROTOCOL_VERSION,
    };
    tx.send(v1::AgentMessage {
        kind: Some(agent_message::Kind::Hello(hello)),
    })
    .await
    .unwrap();
    let _inbound = CoordinatorClient::new(channel)
        .join(ReceiverStream::new(rx))
        .await
        .unwrap();
    let agent = hub.joined.recv().await.unwrap();
    assert_eq!(
        (agent.name.as_str(), agent.id.as_str()),
        ("quiet", "quiet-1")
    );
    let started = tokio::time::Instant::now();
    let (key, inbound) = hub.inbound.recv().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(key, agent.key);
    match inbound {
        Inbound::Gone(how) => assert!(how.contains("silent for 4 s"), "{how}"),
        Inbound::Message(m) => panic!("unexpected {m:?}"),
    }
    assert!(
        waited >= HEARTBEAT_TIMEOUT && waited < HEARTBEAT_TIMEOUT + Duration::from_secs(1),
        "dropped after {waited:?}"
    );
    drop(tx);
}
