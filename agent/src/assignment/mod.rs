//! One assignment on the agent: run it in its mode, tally what finishes, and
//! stream to the coordinator, every [`FLUSH_EVERY`], what finished since the
//! last time — which requests (as ranges), their tally and their records,
//! kept by [`pending`] — and at the end an `AssignmentDone`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use loadlab_proto::v1::{self, AgentMessage, agent_message};
use loadlab_telemetry::requests::RequestSpans;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::run::{Clock, Event, Gauges, execute};
use crate::workload::Workload;

/// At most this many events are taken from the runners at once.
const EVENT_BATCH: usize = 256;
/// How often progress and pending records are sent.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);

mod pending;

use pending::Pending;

fn message(kind: agent_message::Kind) -> AgentMessage {
    AgentMessage { kind: Some(kind) }
}

async fn send(outbound: &mpsc::Sender<AgentMessage>, kind: agent_message::Kind) -> Result<(), ()> {
    outbound.send(message(kind)).await.map_err(|_| ())
}

/// Runs one assignment and streams what happens to the coordinator.
pub async fn run(
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
            let _ = send(&outbound, agent_message::Kind::Error(error)).await;
            return;
        }
    };
    debug!(%run_id, mode = %workload.mode, requests = workload.len(), "running assignment");
    let span = assignment_span(&workload);
    let spans = RequestSpans::new(
        &span,
        workload.len(),
        loadlab_telemetry::requests::sampling(),
    );
    let clock = Clock::new(workload.mode_started_unix_us);
    let (events, mut received) = mpsc::unbounded_channel();
    let gauges = Arc::new(Gauges::new(
        workload.scenarios.as_ref().map_or(0, |s| s.list.len()),
    ));
    let hard_stop = CancellationToken::new();
    let mut execution = tokio::spawn(execute(
        workload.clone(),
        clock,
        events,
        gauges.clone(),
        cancel.clone(),
        spans.clone(),
        hard_stop.clone(),
    ));

    let mut pending = Pending::new(run_id.clone(), clock, spans, &workload);
    // With scenarios, what completes is an iteration.
    let scenarios = workload.scenarios.is_some();
    let (mut completed, mut errors) = (0u64, 0u64);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    let mut gone = false;
    let mut stopped_hard = false;
    let mut events = Vec::with_capacity(EVENT_BATCH);
    loop {
        tokio::select! {
            // The graceful stop ran out: what is in flight is abandoned.
            () = hard_stop.cancelled(), if !stopped_hard => {
                stopped_hard = true;
                break;
            }
            // Events come in batches: one wake-up and one `select!` for
            // all that is ready (at full speed, many at a time).
            n = received.recv_many(&mut events, EVENT_BATCH) => {
                // Every sender dropped: the execution is over.
                if n == 0 {
                    break;
                }
                for event in events.drain(..) {
                    match event {
                        Event::Started { index, request, start_us } => {
                            let request = loadlab_proto::request_field(scenarios.then_some(request));
                            let started = v1::RequestStarted { run_id: run_id.clone(), index, start_us, request };
                            if send(&outbound, agent_message::Kind::Started(started)).await.is_err() {
                                gone = true;
                                break;
                            }
                        }
                        event => {
                            let (done, failed) = pending.take(&workload, event);
                            completed += done;
                            errors += failed;
                            let full = workload.live_events || pending.is_full();
                            if full && pending.flush(&outbound, &gauges).await.is_err() {
                                gone = true;
                                break;
                            }
                        }
                    }
                }
                if gone {
                    break;
                }
            }
            _ = tick.tick() => {
                if pending.flush(&outbound, &gauges).await.is_err() {
                    gone = true;
                    break;
                }
            }
        }
    }
    if gone {
        // The coordinator is gone: stop what is still running.
        cancel.cancel();
        let _ = execution.await;
        return;
    }
    if stopped_hard {
        // Stops what would start, cancels queries on the server, and drops
        // the async requests in flight; a blocking call in flight ends at
        // its own timeout, unheard.
        cancel.cancel();
        execution.abort();
        // What finished just before still counts.
        while let Ok(event) = received.try_recv() {
            let (done, failed) = pending.take(&workload, event);
            completed += done;
            errors += failed;
        }
    }
    let execution = match (&mut execution).await {
        Ok(execution) => execution,
        Err(error) if error.is_cancelled() => Default::default(),
        Err(error) => {
            let error = v1::AgentError {
                run_id,
                message: format!("the run failed: {error}"),
            };
            let _ = send(&outbound, agent_message::Kind::Error(error)).await;
            return;
        }
    };
    if pending.flush(&outbound, &gauges).await.is_err() {
        return;
    }
    let started = gauges.started.load(Ordering::Relaxed);
    let done = v1::AssignmentDone {
        run_id: run_id.clone(),
        completed,
        errors,
        // A timed loop runs what its time allows: nothing is left over.
        not_started: if workload.schedule.is_timed() {
            0
        } else {
            workload.len().saturating_sub(started)
        },
        interrupted: if stopped_hard {
            started.saturating_sub(completed)
        } else {
            0
        },
        cancelled: cancel.is_cancelled() && !stopped_hard,
        not_started_reason: execution.not_started_reason.unwrap_or_default(),
        rows_ran_out: execution.rows_ran_out,
        max_in_flight: gauges.max_in_flight.load(Ordering::Relaxed),
        max_backlog: gauges.max_backlog.load(Ordering::Relaxed),
        stall: execution.stall.map(v1::Stall::from),
        connect_histogram: execution
            .connected
            .as_ref()
            .and_then(|c| loadlab_proto::histogram::encode(&c.histogram).ok())
            .unwrap_or_default(),
        connect_failures: execution.connected.as_ref().map_or(0, |c| c.failures),
    };
    let _ = send(&outbound, agent_message::Kind::Done(done)).await;
    debug!(%run_id, completed, errors, "assignment done");
}

/// The agent's span for an assignment, continuing the coordinator's trace;
/// `Span::none()` when not tracing.
fn assignment_span(workload: &Workload) -> tracing::Span {
    let span = loadlab_telemetry::span(|| {
        tracing::info_span!(
            target: loadlab_telemetry::TARGET,
            "assignment",
            otel.name = format!("run {} ({} requests)", workload.mode, workload.len()),
            loadlab.run_id = workload.run_id.as_str(),
            loadlab.mode = %workload.mode,
            loadlab.requests = workload.len(),
        )
    });
    loadlab_telemetry::propagation::set_parent_from_map(&span, &workload.trace_context);
    span
}
