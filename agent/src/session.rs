//! One agent's connection to a coordinator: say hello, take assignments, run
//! them, stream back what happened.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use loadlab_proto::histogram::{self, new_latency_histogram, record_latency};
use loadlab_proto::v1::{
    self, AgentMessage, CoordinatorMessage, agent_message, coordinator_client::CoordinatorClient,
    coordinator_message,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;
use tracing::{debug, info, warn};

use crate::execute::execute;
use crate::outcome::{Event, Outcome};
use crate::workload::Workload;

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

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot connect to the coordinator at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("the coordinator refused this agent: {0}")]
    Refused(String),
    #[error("the connection to the coordinator broke: {0}")]
    Broken(String),
}

/// Outcomes sent together when the assignment is not live.
const BATCH: usize = 500;
/// How often progress and pending outcomes are sent.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Connects to the coordinator at `endpoint` and serves it until it ends the
/// session (`Ok`), the connection breaks (`Err`), or `shutdown` is cancelled.
pub async fn run(
    endpoint: Endpoint,
    identity: Identity,
    shutdown: CancellationToken,
) -> Result<(), SessionError> {
    let address = endpoint.uri().to_string();
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| SessionError::Connect {
            endpoint: address.clone(),
            source,
        })?;
    let mut client = CoordinatorClient::new(channel);
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
    let mut inbound = client
        .join(ReceiverStream::new(outbound_stream))
        .await
        .map_err(|status| SessionError::Refused(status.message().to_owned()))?
        .into_inner();
    info!(coordinator = %address, name = %identity.name, "joined the coordinator");

    // However the session ends, the assignments it started stop with it.
    let session = shutdown.child_token();
    let _stop_assignments = session.clone().drop_guard();
    let mut running: HashMap<String, (CancellationToken, JoinHandle<()>)> = HashMap::new();
    loop {
        let received = tokio::select! {
            received = inbound.message() => received,
            () = shutdown.cancelled() => return Ok(()),
        };
        let kind = match received {
            Ok(Some(CoordinatorMessage { kind: Some(kind) })) => kind,
            Ok(Some(CoordinatorMessage { kind: None })) => continue,
            Ok(None) => {
                info!("the coordinator ended the session");
                return Ok(());
            }
            Err(status) => return Err(SessionError::Broken(status.message().to_owned())),
        };
        match kind {
            coordinator_message::Kind::Assignment(assignment) => {
                running.retain(|_, (_, task)| !task.is_finished());
                let cancel = session.child_token();
                let run_id = assignment.run_id.clone();
                let task =
                    tokio::spawn(run_assignment(assignment, outbound.clone(), cancel.clone()));
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

fn message(kind: agent_message::Kind) -> AgentMessage {
    AgentMessage { kind: Some(kind) }
}

/// Runs one assignment and streams its events, outcomes, progress and final
/// histogram to the coordinator.
async fn run_assignment(
    assignment: v1::Assignment,
    outbound: mpsc::Sender<AgentMessage>,
    cancel: CancellationToken,
) {
    let run_id = assignment.run_id.clone();
    let workload = match Workload::try_from(assignment) {
        Ok(workload) => Arc::new(workload),
        Err(error) => {
            warn!(%error, "refusing assignment");
            let error = v1::AgentError {
                run_id,
                message: error.to_string(),
            };
            let _ = outbound
                .send(message(agent_message::Kind::Error(error)))
                .await;
            return;
        }
    };
    debug!(%run_id, mode = %workload.mode, requests = workload.items.len(), "running assignment");
    let (events, mut received) = mpsc::unbounded_channel();
    let execution = tokio::spawn(execute(workload.clone(), events, cancel.clone()));

    let mut histogram = new_latency_histogram();
    let (mut completed, mut errors) = (0u64, 0u64);
    // Wall time runs from the first request's start to the last one's end.
    let (mut first_start_us, mut last_end_us) = (u64::MAX, 0u64);
    let mut batch = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    let send = |kind| outbound.send(message(kind));
    loop {
        tokio::select! {
            event = received.recv() => match event {
                Some(Event::Started { index, start_us }) => {
                    if workload.live_events {
                        let started = v1::RequestStarted {
                            run_id: run_id.clone(),
                            request_id: workload.items[index].id.to_string(),
                            round: workload.items[index].round,
                            start_us,
                        };
                        if send(agent_message::Kind::Started(started)).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Event::Finished(outcome)) => {
                    record_latency(&mut histogram, outcome.latency_us());
                    completed += 1;
                    errors += u64::from(!outcome.ok());
                    first_start_us = first_start_us.min(outcome.start_us);
                    last_end_us = last_end_us.max(outcome.end_us);
                    batch.push(to_wire(&workload, outcome));
                    if (workload.live_events || batch.len() >= BATCH)
                        && flush(&outbound, &run_id, &mut batch).await.is_err()
                    {
                        break;
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                if flush(&outbound, &run_id, &mut batch).await.is_err() {
                    break;
                }
                let progress = v1::Progress { run_id: run_id.clone(), completed, errors };
                if send(agent_message::Kind::Progress(progress)).await.is_err() {
                    break;
                }
            }
        }
    }
    if outbound.is_closed() {
        // The coordinator is gone: stop what is still running.
        cancel.cancel();
        let _ = execution.await;
        return;
    }
    let _ = execution.await;
    if flush(&outbound, &run_id, &mut batch).await.is_err() {
        return;
    }
    let wall_us = last_end_us.saturating_sub(first_start_us);
    let done = match histogram::encode(&histogram) {
        Ok(encoded) => agent_message::Kind::Done(v1::AssignmentDone {
            run_id: run_id.clone(),
            histogram: encoded,
            wall_us,
            completed,
            errors,
            cancelled: cancel.is_cancelled(),
        }),
        Err(error) => agent_message::Kind::Error(v1::AgentError {
            run_id: run_id.clone(),
            message: error.to_string(),
        }),
    };
    let _ = send(done).await;
    debug!(%run_id, completed, errors, "assignment done");
}

async fn flush(
    outbound: &mpsc::Sender<AgentMessage>,
    run_id: &str,
    batch: &mut Vec<v1::RequestOutcome>,
) -> Result<(), ()> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcomes = v1::OutcomeBatch {
        run_id: run_id.to_owned(),
        outcomes: std::mem::take(batch),
    };
    outbound
        .send(message(agent_message::Kind::Outcomes(outcomes)))
        .await
        .map_err(|_| ())
}

fn to_wire(workload: &Workload, outcome: Outcome) -> v1::RequestOutcome {
    let item = &workload.items[outcome.index];
    v1::RequestOutcome {
        request_id: item.id.to_string(),
        round: item.round,
        start_us: outcome.start_us,
        end_us: outcome.end_us,
        ok: outcome.ok(),
        status: u32::from(outcome.status),
        bytes: outcome.bytes,
        body: outcome.body,
        error: outcome.error.unwrap_or_default(),
        rows: outcome.rows,
    }
}
