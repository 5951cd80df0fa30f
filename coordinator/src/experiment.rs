//! The run loop: for each mode, hand the agents their assignments, collect
//! what they stream back, merge their histograms, and build the report.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use loadlab_agent::Mode;
use loadlab_proto::histogram::{self, LatencyHistogram, new_latency_histogram, record_latency};
use loadlab_proto::v1::{self, agent_message, coordinator_message};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, warn};

use crate::hub::{AgentHandle, AgentKey, Hub, Inbound};
use crate::live::Live;
use crate::report::{
    AgentFigures, LatencySummary, ModeReport, Report, RequestRecord, compare_with_sync,
};
use crate::spec::{AgentLoss, Spec, Split};

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
/// are named in the report and not used for later modes; with
/// `on_agent_loss: fail` a loss also ends the run.
pub async fn run(
    spec: &Spec,
    targets: &Resolved,
    hub: &mut Hub,
    agents: Vec<AgentHandle>,
    live: &mut Live,
    interrupt: &CancellationToken,
) -> Report {
    // The root of the run's trace; every mode, assignment, and the agents'
    // and delay server's spans hang below it.
    let span = loadlab_telemetry::span(|| {
        tracing::info_span!(
            "experiment",
            otel.name = format!("experiment {}", spec.name),
            loadlab.experiment = spec.name.as_str(),
            loadlab.agents = agents.len(),
        )
    });
    let trace_id = loadlab_telemetry::trace_id(&span);
    let mut report = run_modes(spec, targets, hub, agents, live, interrupt)
        .instrument(span)
        .await;
    report.trace_id = trace_id;
    report
}

async fn run_modes(
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
        let span = loadlab_telemetry::span(
            || tracing::info_span!("mode", otel.name = format!("mode {mode}"), loadlab.mode = %mode),
        );
        let mut run = ModeRun::new(spec, mode, &requests, &lines, agents.len());
        let stop = run
            .drive(hub, &mut agents, live, interrupt)
            .instrument(span)
            .await;
        let report = run.finish();
        live.mode_finished(&report);
        modes.push(report);
        if stop {
            live.note("the run stops here (on_agent_loss: fail)");
            break;
        }
    }
    compare_with_sync(&mut modes);
    Report {
        spec: spec.clone(),
        targets: targets.clone(),
        agents: agent_names,
        modes,
        interrupted: interrupt.is_cancelled(),
        trace_id: None,
    }
}

/// A (round, request id) pair: one request of one round.
type Pair = (u32, String);

/// One assignment sent during a mode: an agent's share, or a lost agent's
/// unfinished requests handed to another.
struct Dispatch {
    run_id: String,
    agent: AgentKey,
    name: String,
    share: Share,
    /// When not empty, only these pairs of the share (a takeover).
    only: HashSet<Pair>,
    /// What arrived, each pair once.
    delivered: HashSet<Pair>,
    /// Built from the delivered outcomes: what is merged if the agent is
    /// lost before sending its own histogram.
    from_outcomes: LatencyHistogram,
    /// The agent's own histogram, once it is done.
    histogram: Option<LatencyHistogram>,
    completed: u64,
    wall_us: u64,
    state: State,
    /// Open while the assignment runs; `Span::none()` when not tracing.
    span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Done,
    Lost,
}

impl Dispatch {
    fn new(
        run_id: String,
        agent: &AgentHandle,
        share: Share,
        only: Vec<Pair>,
        span: Span,
    ) -> Dispatch {
        Dispatch {
            run_id,
            agent: agent.key,
            name: agent.name.clone(),
            share,
            only: only.into_iter().collect(),
            delivered: HashSet::new(),
            from_outcomes: new_latency_histogram(),
            histogram: None,
            completed: 0,
            wall_us: 0,
            state: State::Running,
            span,
        }
    }

    fn covers(&self, round: u32, id: &str, ids: &[&str]) -> bool {
        let in_share = round >= self.share.first && round - self.share.first < self.share.count;
        in_share
            && ids.contains(&id)
            && (self.only.is_empty() || self.only.contains(&(round, id.to_owned())))
    }

    fn expected(&self, ids: &[&str]) -> u64 {
        if self.only.is_empty() {
            u64::from(self.share.count) * ids.len() as u64
        } else {
            self.only.len() as u64
        }
    }

    /// The pairs it was given and did not deliver.
    fn unfinished(&self, ids: &[&str]) -> Vec<Pair> {
        let all: Vec<Pair> = if self.only.is_empty() {
            (self.share.first..self.share.first + self.share.count)
                .flat_map(|round| ids.iter().map(move |id| (round, (*id).to_owned())))
                .collect()
        } else {
            self.only.iter().cloned().collect()
        };
        let mut left: Vec<Pair> = all
            .into_iter()
            .filter(|pair| !self.delivered.contains(pair))
            .collect();
        left.sort();
        left
    }
}

/// One mode in progress.
struct ModeRun<'a> {
    spec: &'a Spec,
    mode: Mode,
    requests: &'a [v1::Request],
    lines: &'a HashMap<String, (&'static str, String)>,
    ids: Vec<&'a str>,
    base_id: String,
    live_events: bool,
    dispatches: Vec<Dispatch>,
    by_run: HashMap<String, usize>,
    records: Vec<RequestRecord>,
    failures: Vec<String>,
    notes: Vec<String>,
    lost: HashSet<AgentKey>,
    started: Instant,
}

impl<'a> ModeRun<'a> {
    fn new(
        spec: &'a Spec,
        mode: Mode,
        requests: &'a [v1::Request],
        lines: &'a HashMap<String, (&'static str, String)>,
        agents: usize,
    ) -> ModeRun<'a> {
        let total = spec.total_requests(agents as u32);
        ModeRun {
            spec,
            mode,
            requests,
            lines,
            ids: requests.iter().map(|r| r.id.as_str()).collect(),
            base_id: format!(
                "{}-{mode}-{}",
                spec.name,
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            live_events: total <= LIVE_LIMIT,
            dispatches: Vec::new(),
            by_run: HashMap::new(),
            records: Vec::new(),
            failures: Vec::new(),
            notes: Vec::new(),
            lost: HashSet::new(),
            started: Instant::now(),
        }
    }

    fn running(&self) -> bool {
        self.dispatches.iter().any(|d| d.state == State::Running)
    }

    /// Sends `agent` the rounds of `share` (only the `only` pairs, when
    /// given). False when the agent is already gone.
    async fn dispatch(&mut self, agent: &AgentHandle, share: Share, only: Vec<Pair>) -> bool {
        let run_id = format!("{}-{}", self.base_id, self.dispatches.len() + 1);
        let span = loadlab_telemetry::span(|| {
            tracing::info_span!(
                "assignment",
                otel.name = format!("assignment to {}", agent.name),
                loadlab.agent = agent.name.as_str(),
                loadlab.run_id = run_id.as_str(),
                loadlab.first_round = share.first,
                loadlab.rounds = share.count,
                loadlab.takeover = !only.is_empty(),
            )
        });
        let assignment = v1::Assignment {
            trace_context: loadlab_telemetry::context_map(&span),
            run_id: run_id.clone(),
            mode: v1::Mode::from(self.mode).into(),
            requests: self.requests.to_vec(),
            first_round: share.first,
            rounds: share.count,
            concurrency: self.spec.concurrency,
            timeout_ms: self.spec.timeout.0.as_millis() as u64,
            live_events: self.live_events,
            only: only
                .iter()
                .map(|(round, id)| v1::WorkRef {
                    round: *round,
                    request_id: id.clone(),
                })
                .collect(),
        };
        if !agent
            .send(coordinator_message::Kind::Assignment(assignment))
            .await
        {
            return false;
        }
        self.by_run.insert(run_id.clone(), self.dispatches.len());
        self.dispatches
            .push(Dispatch::new(run_id, agent, share, only, span));
        true
    }

    /// Hands out the shares, then consumes what the agents send until every
    /// assignment is done or lost (or the cancel grace runs out). Returns
    /// true when the run must stop after this mode.
    async fn drive(
        &mut self,
        hub: &mut Hub,
        agents: &mut Vec<AgentHandle>,
        live: &mut Live,
        interrupt: &CancellationToken,
    ) -> bool {
        let total = self.spec.total_requests(agents.len() as u32);
        live.mode_started(self.mode, total, self.live_events);
        let shares = shares(self.spec.repeat.get(), agents.len(), self.spec.agents.split);
        let mut unreachable = Vec::new();
        for (agent, share) in agents.iter().zip(shares) {
            if share.count > 0 && !self.dispatch(agent, share, Vec::new()).await {
                unreachable.push((agent, share));
            }
        }
        for (agent, share) in unreachable {
            // Never sent: account for it as a loss with nothing delivered.
            let never_sent = Dispatch::new(String::new(), agent, share, Vec::new(), Span::none());
            self.dispatches.push(never_sent);
            if self
                .agent_lost(agent.key, "gone before its assignment", agents, live)
                .await
            {
                self.cancel_all(agents).await;
                return true;
            }
        }

        let mut cancel_deadline: Option<tokio::time::Instant> = None;
        let mut stop = false;
        while self.running() {
            let received = tokio::select! {
                received = hub.inbound.recv() => received,
                () = interrupt.cancelled(), if cancel_deadline.is_none() => {
                    self.cancel_all(agents).await;
                    cancel_deadline = Some(tokio::time::Instant::now() + CANCEL_GRACE);
                    continue;
                }
                () = sleep_until(cancel_deadline) => {
                    for d in self.dispatches.iter().filter(|d| d.state == State::Running) {
                        self.failures.push(format!(
                            "agent {} did not stop within {CANCEL_GRACE:?} of the cancel",
                            name_of(agents, d.agent)
                        ));
                    }
                    break;
                }
            };
            let Some((key, inbound)) = received else {
                self.failures
                    .push("the coordinator's gRPC server stopped".to_owned());
                break;
            };
            match inbound {
                Inbound::Message(message) => self.on_message(key, message, agents, live),
                Inbound::Gone(how) => {
                    if self.agent_lost(key, &how, agents, live).await && cancel_deadline.is_none() {
                        stop = true;
                        self.cancel_all(agents).await;
                        cancel_deadline = Some(tokio::time::Instant::now() + CANCEL_GRACE);
                    }
                }
            }
        }
        agents.retain(|a| !self.lost.contains(&a.key));
        stop
    }

    async fn cancel_all(&self, agents: &[AgentHandle]) {
        for d in self.dispatches.iter().filter(|d| d.state == State::Running) {
            if let Some(agent) = agents.iter().find(|a| a.key == d.agent) {
                let cancel = v1::Cancel {
                    run_id: d.run_id.clone(),
                };
                agent.send(coordinator_message::Kind::Cancel(cancel)).await;
            }
        }
    }

    /// Marks `key`'s running assignments lost and, by the spec's policy,
    /// hands their unfinished requests to the agents left or ends the run
    /// (returns true).
    async fn agent_lost(
        &mut self,
        key: AgentKey,
        how: &str,
        agents: &[AgentHandle],
        live: &mut Live,
    ) -> bool {
        let name = name_of(agents, key);
        self.lost.insert(key);
        let mut stop = false;
        let orphaned: Vec<usize> = (0..self.dispatches.len())
            .filter(|&i| {
                self.dispatches[i].agent == key && self.dispatches[i].state == State::Running
            })
            .collect();
        for i in orphaned {
            let d = &mut self.dispatches[i];
            d.state = State::Lost;
            d.span = Span::none();
            let (delivered, expected) = (d.delivered.len(), d.expected(&self.ids));
            let unfinished = d.unfinished(&self.ids);
            let lost = format!(
                "agent {name} lost ({how}) after delivering {delivered} of its {expected} requests"
            );
            live.note(&lost);
            match self.spec.on_agent_loss {
                AgentLoss::Fail => {
                    self.failures.push(format!(
                        "{lost}; {} did not run (on_agent_loss: fail)",
                        unfinished.len()
                    ));
                    stop = true;
                }
                AgentLoss::Redistribute if unfinished.is_empty() => self.notes.push(lost),
                AgentLoss::Redistribute => {
                    let survivors: Vec<&AgentHandle> = agents
                        .iter()
                        .filter(|a| !self.lost.contains(&a.key))
                        .collect();
                    let left = unfinished.len();
                    let mut takers = Vec::new();
                    let chunk = left.div_ceil(survivors.len().max(1));
                    let mut pieces = unfinished.chunks(chunk.max(1));
                    for agent in &survivors {
                        let Some(piece) = pieces.next() else { break };
                        let first = piece.iter().map(|p| p.0).min().unwrap_or(0);
                        let last = piece.iter().map(|p| p.0).max().unwrap_or(0);
                        let share = Share {
                            first,
                            count: last - first + 1,
                        };
                        if self.dispatch(agent, share, piece.to_vec()).await {
                            takers.push(agent.name.clone());
                        } else {
                            self.failures.push(format!(
                                "{lost}; agent {} was to take over {} of them but is gone too",
                                agent.name,
                                piece.len()
                            ));
                        }
                    }
                    if survivors.is_empty() {
                        self.failures.push(format!(
                            "{lost}; no agent is left to take over its {left} unfinished requests"
                        ));
                    } else {
                        let note = format!(
                            "{lost}; its {left} unfinished requests went to {}",
                            takers.join(", ")
                        );
                        live.note(&note);
                        self.notes.push(note);
                    }
                }
            }
        }
        stop
    }

    fn on_message(
        &mut self,
        key: AgentKey,
        message: agent_message::Kind,
        agents: &[AgentHandle],
        live: &mut Live,
    ) {
        let run_id = match &message {
            agent_message::Kind::Started(m) => m.run_id.clone(),
            agent_message::Kind::Outcomes(m) => m.run_id.clone(),
            agent_message::Kind::Progress(m) => m.run_id.clone(),
            agent_message::Kind::Done(m) => m.run_id.clone(),
            agent_message::Kind::Error(m) => m.run_id.clone(),
            agent_message::Kind::Hello(_) | agent_message::Kind::Heartbeat(_) => return,
        };
        let agent = name_of(agents, key);
        let Some(&index) = self.by_run.get(&run_id) else {
            warn!(%agent, %run_id, "rejected a message for an unknown or finished run");
            return;
        };
        let d = &mut self.dispatches[index];
        if d.agent != key || d.state != State::Running {
            warn!(%agent, %run_id, "rejected a message for a run this agent is not running");
            return;
        }
        match message {
            agent_message::Kind::Started(started) => {
                let (verb, what) = self
                    .lines
                    .get(&started.request_id)
                    .map_or(("Requesting", "?"), |(verb, what)| (*verb, what.as_str()));
                live.request_started(&agent, &started.request_id, verb, what);
            }
            agent_message::Kind::Outcomes(batch) => {
                let mut rejected = 0;
                for outcome in batch.outcomes {
                    let pair = (outcome.round, outcome.request_id.clone());
                    if !d.covers(outcome.round, &outcome.request_id, &self.ids)
                        || !d.delivered.insert(pair)
                    {
                        rejected += 1;
                        continue;
                    }
                    record_latency(
                        &mut d.from_outcomes,
                        outcome.end_us.saturating_sub(outcome.start_us),
                    );
                    let record = to_record(outcome, &agent);
                    if self.live_events {
                        live.request_finished(&record);
                    }
                    self.records.push(record);
                }
                if rejected > 0 {
                    warn!(%agent, %run_id, rejected, "rejected outcomes outside the assignment or already delivered");
                    self.failures.push(format!(
                        "agent {agent} sent {rejected} outcomes outside its assignment or twice; they were ignored"
                    ));
                }
            }
            agent_message::Kind::Progress(p) => {
                d.completed = p.completed;
                let completed = self.dispatches.iter().map(|d| d.completed).sum();
                live.progress(completed);
            }
            agent_message::Kind::Done(done) => {
                d.state = State::Done;
                d.span = Span::none();
                d.wall_us = done.wall_us;
                match histogram::decode(&done.histogram) {
                    Ok(h) if h.len() == d.delivered.len() as u64 => d.histogram = Some(h),
                    Ok(h) => {
                        warn!(%agent, %run_id, "histogram holds {} samples but {} outcomes arrived", h.len(), d.delivered.len());
                        self.failures.push(format!(
                            "agent {agent}: its histogram holds {} samples but it delivered {} outcomes; the outcomes were used",
                            h.len(),
                            d.delivered.len()
                        ));
                    }
                    Err(error) => {
                        warn!(%agent, %error, "rejected a histogram");
                        self.failures
                            .push(format!("agent {agent}: {error}; its outcomes were used"));
                    }
                }
                let delivered = d.delivered.len() as u64;
                if delivered != done.completed {
                    self.failures.push(format!(
                        "agent {agent} reported {} requests done but delivered {delivered}",
                        done.completed
                    ));
                }
            }
            agent_message::Kind::Error(error) => {
                d.state = State::Done;
                d.span = Span::none();
                self.failures
                    .push(format!("agent {agent}: {}", error.message));
            }
            agent_message::Kind::Hello(_) | agent_message::Kind::Heartbeat(_) => {}
        }
    }

    /// Merges every assignment's histogram (the agent's own, or the one
    /// built from its outcomes when it was lost) into the mode's report.
    fn finish(self) -> ModeReport {
        let mut merged = new_latency_histogram();
        let mut per_agent: Vec<(&str, LatencyHistogram, u64)> = Vec::new();
        let mut failures = self.failures;
        for d in &self.dispatches {
            let h = d.histogram.as_ref().unwrap_or(&d.from_outcomes);
            if let Err(error) = histogram::merge_into(&mut merged, h) {
                failures.push(format!("merging agent {}'s histogram: {error}", d.name));
            }
            match per_agent.iter_mut().find(|(name, _, _)| *name == d.name) {
                Some((_, sum, wall)) => {
                    let _ = histogram::merge_into(sum, h);
                    *wall = (*wall).max(d.wall_us);
                }
                None => per_agent.push((&d.name, h.clone(), d.wall_us)),
            }
        }
        let figures = per_agent
            .iter()
            .map(|(agent, h, wall_us)| {
                let errors = self
                    .records
                    .iter()
                    .filter(|r| r.agent == *agent && !r.ok)
                    .count();
                figures_of(agent, h, errors as u64, *wall_us)
            })
            .collect();
        // An agent's wall time is its own; after a loss the takeover ran
        // later, so the mode's wall time is the coordinator's clock.
        let disturbed = self.dispatches.iter().any(|d| d.state == State::Lost);
        let wall_us = self.dispatches.iter().map(|d| d.wall_us).max().unwrap_or(0);
        let wall_ms = if wall_us > 0 && !disturbed {
            wall_us as f64 / 1e3
        } else {
            self.started.elapsed().as_secs_f64() * 1e3
        };
        let mut report =
            ModeReport::new(self.mode, wall_ms, &merged, figures, self.records, failures);
        report.notes = self.notes;
        report
    }
}

fn name_of(agents: &[AgentHandle], key: AgentKey) -> String {
    agents
        .iter()
        .find(|a| a.key == key)
        .map_or_else(|| format!("agent-{key}"), |a| a.name.clone())
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
