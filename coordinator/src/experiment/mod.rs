//! The run loop: the experiment's modes one after another, each handed to
//! the agents ([`mode`]) and accounted for request by request
//! ([`dispatch`]). It reports to an [`Observer`] as it goes and returns the
//! report model; it shows nothing itself.

mod activity;
mod dispatch;
mod kept;
mod mode;
mod tracker_stats;

pub use dispatch::{ScenarioTally, Share, shares};
pub use mode::LIVE_LIMIT;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::hub::{AgentHandle, Hub};
use crate::observer::Observer;
use crate::report::explanation::{compare_mode_with_sync, compare_with_sync};
use crate::report::{ModeReport, Report};
use crate::round::{Resolved, Round};
use crate::spec::Spec;
use loadlab_proto::Mode;

/// Runs every mode of `spec` on `agents` and reports. Agents that are lost
/// are named in the report and not used for later modes; with
/// `on_agent_loss: fail` a loss also ends the run.
pub async fn run(
    spec: &Spec,
    targets: &Resolved,
    hub: &mut Hub,
    agents: Vec<AgentHandle>,
    observer: &mut dyn Observer,
    interrupt: &CancellationToken,
) -> Report {
    // The root of the run's trace; every mode, assignment, and the agents'
    // and delay server's spans hang below it.
    let span = loadlab_telemetry::span(|| {
        tracing::info_span!(
            target: loadlab_telemetry::TARGET,
            "experiment",
            otel.name = format!("experiment {}", spec.name),
            loadlab.experiment = spec.name.as_str(),
            loadlab.agents = agents.len(),
        )
    });
    let trace_id = loadlab_telemetry::propagation::trace_id(&span);
    let mut report = run_modes(spec, targets, hub, agents, observer, interrupt)
        .instrument(span)
        .await;
    report.trace_id = trace_id;
    report.pick_exemplars();
    report
}

async fn run_modes(
    spec: &Spec,
    targets: &Resolved,
    hub: &mut Hub,
    mut agents: Vec<AgentHandle>,
    observer: &mut dyn Observer,
    interrupt: &CancellationToken,
) -> Report {
    let agent_names = agents.iter().map(|a| a.name.clone()).collect();
    let round = Round::new(spec, targets);
    let mut modes = Vec::new();
    for &mode in &spec.modes {
        if interrupt.is_cancelled() {
            break;
        }
        if agents.is_empty() {
            observer.note(&format!("{mode}: skipped, no agent left"));
            break;
        }
        let (report, stop) = mode::run_mode(
            spec,
            mode,
            &round,
            targets.postgres.as_deref(),
            targets.tracker.as_deref(),
            hub,
            &mut agents,
            observer,
            interrupt,
        )
        .await;
        let mut report = report;
        // Compared with sync now, when sync ran before it, so that the
        // mode's own lines end with the whole explanation.
        if let Some(sync) = modes.iter().find(|m: &&ModeReport| m.mode == Mode::Sync) {
            compare_mode_with_sync(sync, &mut report);
        }
        observer.mode_finished(&report);
        modes.push(report);
        if stop {
            observer.note("the run stops here (on_agent_loss: fail)");
            break;
        }
    }
    compare_with_sync(&mut modes);
    Report::new(
        spec.clone(),
        targets.for_report(),
        agent_names,
        modes,
        interrupt.is_cancelled(),
    )
}
