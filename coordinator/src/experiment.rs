//! The run loop: for each mode, hand the agents their assignments, collect
//! what they stream back, merge their histograms, and build the report.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use loadlab_agent::Mode;
use loadlab_proto::histogram::{self, LatencyHistogram, new_latency_histogram};
use loadlab_proto::v1::{self, agent_message, coordinator_message};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::hub::{AgentHandle, AgentKey, Hub, Inbound};
use crate::live::Live;
use crate::report::{
    AgentFigures, LatencySummary, ModeReport, Report, RequestRecord, compare_with_sync,
};
use crate::spec::{Spec, Split};

/// Runs with at most this many requests in a mode print a line per request;
/// larger ones show a progress bar.
pub const LIVE_LIMIT: u64 = 100;

/// How long agents get to stop after a cancel before the run gives up on them.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// The rounds one agent runs: `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub first: u32,
    pub count: u32,
}

/// Divides `rounds` between `agents` as the spec asks.
pub fn shares(rounds: u32, agents: usize, split: Split) -> Vec<Share> {
    match split {
        Split::Replicate => vec![
            Share {
                first: 0,
                count: rounds
            };
            agents
        ],
        Split::Partition => {
            let n = agents.max(1) as u32;
            let (base, extra) = (rounds / n, rounds % n);
            let mut first = 0;
            (0..n)
                .map(|i| {
                    let count = base + u32::from(i < extra);
                    let share = Share { first, count };
                    first += count;
                    share
                })
                .collect()
        }
    }
}

/// Where the work goes, with the embedded delay server's address filled in.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Resolved {
    /// Base URL of the HTTP server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// The database URL (with any password left out of the report).
    #[serde(skip_serializing)]
    pub postgres: Option<String>,
    /// `host:port/database`, for the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// One round as wire requests (HTTP requests first, then queries), and for
/// each id the line that announces it: ("Requesting", url) or ("Querying", sql).
fn round(
    spec: &Spec,
    targets: &Resolved,
) -> (Vec<v1::Request>, HashMap<String, (&'static str, String)>) {
    let mut requests = Vec::new();
    let mut lines = HashMap::new();
    let http = targets.http.as_deref().unwrap_or_default();
    for r in &spec.requests {
        let url = format!("{http}{}", r.path.0);
        lines.insert(r.id.0.clone(), ("Requesting", url.clone()));
        requests.push(v1::Request {
            id: r.id.0.clone(),
            kind: Some(v1::request::Kind::Http(v1::HttpRequest { url })),
        });
    }
    let search_path = spec
        .dataset
        .as_ref()
        .map(|d| format!("{},public", d.schema))
        .unwrap_or_default();
    for q in &spec.queries {
        lines.insert(q.id.0.clone(), ("Querying", q.sql.clone()));
        let query = v1::SqlQuery {
            database_url: targets.postgres.clone().unwrap_or_default(),
            sql: q.sql.clone(),
            search_path: search_path.clone(),
            statement_timeout_ms: spec.query_timeout().as_millis() as u64,
        };
        requests.push(v1::Request {
            id: q.id.0.clone(),
            kind: Some(v1::request::Kind::Sql(query)),
        });
    }
    (requests, lines)
}

/// Runs every mode of `spec` on `agents` and reports. Agents that are lost
/// are named in the report and not used for later modes.
pub async fn run(
    spec: &Spec,
    targets: &Resolved,
    hub: &mut Hub,
    mut agents: Vec<AgentHandle>,
    live: &mut Live,
    interrupt: &CancellationToken,
) -> Report {
    let agent_names = agents.iter().map(|a| a.name.clone()).collect();
    let (requests, lines) = round(spec, targets);
    let mut modes = Vec::new();
    for &mode in &spec.modes {
        if interrupt.is_cancelled() {
            break;
        }
        if agents.is_empty() {
            live.note(&format!("{mode}: skipped, no agent left"));
            break;
        }
        let report = run_mode(
            spec,
            mode,
            &requests,
            &lines,
            hub,
            &mut agents,
            live,
            interrupt,
        )
        .await;
        live.mode_finished(&report);
        modes.push(report);
    }
    compare_with_sync(&mut modes);
    Report {
        spec: spec.clone(),
        targets: targets.clone(),
        agents: agent_names,
        modes,
        interrupted: interrupt.is_cancelled(),
    }
}

/// What one agent has delivered for the current mode.
#[derive(Default)]
struct AgentProgress {
    completed: u64,
    outcomes: u64,
}

#[allow(clippy::too_many_arguments)]
async fn run_mode(
    spec: &Spec,
    mode: Mode,
    requests: &[v1::Request],
    lines: &HashMap<String, (&'static str, String)>,
    hub: &mut Hub,
    agents: &mut Vec<AgentHandle>,
    live: &mut Live,
    interrupt: &CancellationToken,
) -> ModeReport {
    let run_id = format!(
        "{}-{mode}-{}",
        spec.name,
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let shares = shares(spec.repeat.get(), agents.len(), spec.agents.split);
    let total = spec.total_requests(agents.len() as u32);
    let live_events = total <= LIVE_LIMIT;
    live.mode_started(mode, total, live_events);

    let started = Instant::now();
    let mut failures = Vec::new();
    let mut pending: HashSet<AgentKey> = HashSet::new();
    for (agent, share) in agents.iter().zip(&shares) {
        if share.count == 0 {
            continue;
        }
        let assignment = v1::Assignment {
            run_id: run_id.clone(),
            mode: v1::Mode::from(mode).into(),
            requests: requests.to_vec(),
            first_round: share.first,
            rounds: share.count,
            concurrency: spec.concurrency,
            timeout_ms: spec.timeout.0.as_millis() as u64,
            live_events,
        };
        if agent
            .send(coordinator_message::Kind::Assignment(assignment))
            .await
        {
            pending.insert(agent.key);
        } else {
            failures.push(format!(
                "agent {} is gone; its share did not run",
                agent.name
            ));
        }
    }

    let mut merged = new_latency_histogram();
    let mut records = Vec::new();
    let mut figures = Vec::new();
    let mut progress: HashMap<AgentKey, AgentProgress> = HashMap::new();
    let mut wall_us = 0u64;
    let mut cancel_deadline: Option<tokio::time::Instant> = None;
    let mut gone = Vec::new();
    let name_of = |agents: &[AgentHandle], key| {
        agents
            .iter()
            .find(|a| a.key == key)
            .map_or_else(|| format!("agent-{key}"), |a| a.name.clone())
    };

    while !pending.is_empty() {
        let received = tokio::select! {
            received = hub.inbound.recv() => received,
            () = interrupt.cancelled(), if cancel_deadline.is_none() => {
                for agent in agents.iter().filter(|a| pending.contains(&a.key)) {
                    let cancel = v1::Cancel { run_id: run_id.clone() };
                    agent.send(coordinator_message::Kind::Cancel(cancel)).await;
                }
                cancel_deadline = Some(tokio::time::Instant::now() + CANCEL_GRACE);
                continue;
            }
            () = sleep_until(cancel_deadline) => {
                for key in &pending {
                    failures.push(format!("agent {} did not stop within {CANCEL_GRACE:?} of the cancel", name_of(agents, *key)));
                }
                break;
            }
        };
        let Some((key, inbound)) = received else {
            failures.push("the coordinator's gRPC server stopped".to_owned());
            break;
        };
        let agent = name_of(agents, key);
        let message = match inbound {
            Inbound::Message(message) => message,
            Inbound::Gone(how) => {
                gone.push(key);
                if pending.remove(&key) {
                    let delivered = progress.get(&key).map_or(0, |p| p.outcomes);
                    failures.push(format!(
                        "agent {agent} lost ({how}) before finishing; {delivered} of its requests were reported"
                    ));
                }
                continue;
            }
        };
        let for_this_run = match &message {
            agent_message::Kind::Started(m) => m.run_id == run_id,
            agent_message::Kind::Outcomes(m) => m.run_id == run_id,
            agent_message::Kind::Progress(m) => m.run_id == run_id,
            agent_message::Kind::Done(m) => m.run_id == run_id,
            agent_message::Kind::Error(m) => m.run_id == run_id,
            agent_message::Kind::Hello(_) | agent_message::Kind::Heartbeat(_) => continue,
        };
        if !for_this_run || !pending.contains(&key) {
            debug!(%agent, "ignoring a message for another run");
            continue;
        }
        match message {
            agent_message::Kind::Started(started) => {
                let (verb, what) = lines
                    .get(&started.request_id)
                    .map_or(("Requesting", "?"), |(verb, what)| (*verb, what.as_str()));
                live.request_started(&agent, &started.request_id, verb, what);
            }
            agent_message::Kind::Outcomes(batch) => {
                progress.entry(key).or_default().outcomes += batch.outcomes.len() as u64;
                for outcome in batch.outcomes {
                    let record = to_record(outcome, &agent);
                    if live_events {
                        live.request_finished(&record);
                    }
                    records.push(record);
                }
            }
            agent_message::Kind::Progress(p) => {
                progress.entry(key).or_default().completed = p.completed;
                live.progress(progress.values().map(|p| p.completed).sum());
            }
            agent_message::Kind::Done(done) => {
                pending.remove(&key);
                wall_us = wall_us.max(done.wall_us);
                match histogram::decode(&done.histogram) {
                    Ok(h) => {
                        if let Err(error) = histogram::merge_into(&mut merged, &h) {
                            failures.push(format!("agent {agent}: {error}"));
                        }
                        figures.push(figures_of(&agent, &h, done.errors, done.wall_us));
                    }
                    Err(error) => {
                        warn!(%agent, %error, "rejected a histogram");
                        failures.push(format!("agent {agent}: {error}"));
                    }
                }
                let delivered = progress.get(&key).map_or(0, |p| p.outcomes);
                if delivered != done.completed {
                    failures.push(format!(
                        "agent {agent} reported {} requests done but delivered {delivered}",
                        done.completed
                    ));
                }
            }
            agent_message::Kind::Error(error) => {
                pending.remove(&key);
                failures.push(format!("agent {agent}: {}", error.message));
            }
            agent_message::Kind::Hello(_) | agent_message::Kind::Heartbeat(_) => {}
        }
    }
    agents.retain(|a| !gone.contains(&a.key));
    let wall_ms = if wall_us > 0 {
        wall_us as f64 / 1e3
    } else {
        started.elapsed().as_secs_f64() * 1e3
    };
    ModeReport::new(mode, wall_ms, &merged, figures, records, failures)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn figures_of(agent: &str, h: &LatencyHistogram, errors: u64, wall_us: u64) -> AgentFigures {
    AgentFigures {
        name: agent.to_owned(),
        errors,
        wall_ms: wall_us as f64 / 1e3,
        latency: LatencySummary::of(h),
    }
}

fn to_record(outcome: v1::RequestOutcome, agent: &str) -> RequestRecord {
    RequestRecord {
        id: outcome.request_id,
        round: outcome.round,
        agent: agent.to_owned(),
        ok: outcome.ok,
        status: outcome.status,
        start_ms: outcome.start_us as f64 / 1e3,
        end_ms: outcome.end_us as f64 / 1e3,
        latency_ms: outcome.end_us.saturating_sub(outcome.start_us) as f64 / 1e3,
        bytes: outcome.bytes,
        body: outcome.body,
        error: (!outcome.ok).then_some(outcome.error),
        rows: outcome.rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicate_gives_everyone_everything() {
        assert_eq!(
            shares(5, 2, Split::Replicate),
            vec![Share { first: 0, count: 5 }; 2]
        );
    }

    #[test]
    fn partition_covers_every_round_exactly_once() {
        let s = shares(10, 3, Split::Partition);
        assert_eq!(
            s,
            vec![
                Share { first: 0, count: 4 },
                Share { first: 4, count: 3 },
                Share { first: 7, count: 3 }
            ]
        );
        let s = shares(1, 3, Split::Partition);
        assert_eq!(s.iter().map(|s| s.count).sum::<u32>(), 1);
    }
}
