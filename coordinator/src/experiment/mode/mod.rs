//! One mode in progress: hand the agents their shares, take what they send
//! back (each request accounted for once), deal with agents that are lost,
//! and hand the merged results to the report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use loadlab_proto::Mode;
use loadlab_proto::clock::Clock;
use loadlab_proto::ranges::RangeSet;
use loadlab_proto::schedule::{OpenLoop, Schedule};
use loadlab_proto::stall::Stall;
use loadlab_proto::tally::Tally;
use loadlab_proto::v1::{self, agent_message, coordinator_message};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, warn};

use super::activity;
use super::dispatch::{Dispatch, State, schedules};
use super::kept::KeptRecords;
use crate::hub::{AgentHandle, AgentKey, Hub, Inbound};
use crate::observer::Observer;
use crate::report::analysis::{AgentResult, Load, ModeResults, mode_report};
use crate::report::{DatabaseActivity, ModeReport, RequestRecord};
use crate::round::Round;
use crate::spec::{AgentLoss, Plan, Spec};

mod report;
mod takeover;

use report::to_record;

/// Runs with at most this many requests in a mode print a line per request;
/// larger ones show a progress bar.
pub const LIVE_LIMIT: u64 = 100;

/// How long agents get to stop after a cancel before the run gives up on them.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

pub(super) struct ModeRun<'a> {
    spec: &'a Spec,
    mode: Mode,
    round: &'a Round,
    base_id: String,
    live_events: bool,
    /// The zero of the mode's time axis, sent to every agent.
    /// The mode's time axis (its zero goes to the agents).
    clock: Clock,
    dispatches: Vec<Dispatch>,
    by_run: HashMap<String, usize>,
    records: KeptRecords,
    /// Ask agents for every record (someone wants them all).
    all_records: bool,
    failures: Vec<String>,
    notes: Vec<String>,
    lost: HashSet<AgentKey>,
    /// Set once the coordinator asked the agents to stop.
    cancelled: bool,
    plan: Plan,
    /// Seeds the open loop's Poisson gaps (one process per share).
    seed: u64,
    /// Open loop: requests a lost agent had due and never reported.
    unreported: u64,
    /// The database's activity, once the mode is over.
    database: Option<DatabaseActivity>,
    /// The tracker's, once the mode is over (tracking workload).
    tracker: Option<crate::report::TrackerActivity>,
}

impl<'a> ModeRun<'a> {
    pub fn new(spec: &'a Spec, mode: Mode, round: &'a Round, agents: usize) -> ModeRun<'a> {
        let total = spec.total_requests(agents as u32);
        ModeRun {
            spec,
            mode,
            round,
            base_id: format!(
                "{}-{mode}-{}",
                spec.name,
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            // Users for a time run an unknown number: never line by line.
            live_events: total <= LIVE_LIMIT && !matches!(spec.plan(), Plan::Timed { .. }),
            clock: Clock::starting_now(),
            dispatches: Vec::new(),
            by_run: HashMap::new(),
            records: KeptRecords::new(),
            all_records: false,
            failures: Vec::new(),
            notes: Vec::new(),
            lost: HashSet::new(),
            cancelled: false,
            plan: spec.plan(),
            seed: rand::random(),
            unreported: 0,
            database: None,
            tracker: None,
        }
    }

    /// Where the mode is now on its time axis.
    fn now(&self) -> Duration {
        self.clock.now()
    }

    fn running(&self) -> bool {
        self.dispatches.iter().any(|d| d.state == State::Running)
    }

    /// Sends `agent` the requests of `schedule`. False when the agent is
    /// already gone (the dispatch is then accounted for as lost).
    /// `data_share`: which agent of how many it is, for its data rows.
    async fn dispatch(
        &mut self,
        agent: &AgentHandle,
        schedule: Schedule,
        takeover: bool,
        data_share: (u64, u64),
    ) -> bool {
        let run_id = format!("{}-{}", self.base_id, self.dispatches.len() + 1);
        let span = loadlab_telemetry::span(|| {
            tracing::info_span!(
                target: loadlab_telemetry::TARGET,
                "assignment",
                otel.name = format!("assignment to {}", agent.name),
                loadlab.agent = agent.name.as_str(),
                loadlab.run_id = run_id.as_str(),
                loadlab.requests = schedule.len(self.round.per_item()),
                loadlab.takeover = takeover,
            )
        });
        let assignment = v1::Assignment {
            trace_context: loadlab_telemetry::propagation::context_map(&span),
            run_id: run_id.clone(),
            mode: v1::Mode::from(self.mode).into(),
            requests: self.round.requests.clone(),
            schedule: Some(schedule.to_wire()),
            concurrency: self.spec.concurrency,
            timeout_ms: self.spec.timeout.0.as_millis() as u64,
            live_events: self.live_events,
            mode_started_unix_us: self.clock.zero_unix_us(),
            all_records: self.all_records,
            redact: self.spec.secrets.values().map(str::to_owned).collect(),
            graceful_stop_ms: Some(self.spec.graceful_stop.0.as_millis() as u64),
            scenarios: self.round.scenarios.clone(),
            data: self
                .spec
                .rows
                .as_ref()
                .zip(self.spec.data.as_ref())
                .map(|(rows, data)| rows.to_wire(data.order, data_share.0, data_share.1)),
            cookies: self.round.cookies,
        };
        let sent = agent
            .send(coordinator_message::Kind::Assignment(Box::new(assignment)))
            .await;
        self.by_run.insert(run_id.clone(), self.dispatches.len());
        let mut dispatch = Dispatch::new(run_id, agent, schedule, self.round.len(), span);
        dispatch.per_item = self.round.per_item();
        dispatch.scenarios = !self.round.scenarios.is_empty();
        dispatch.data_share = data_share;
        self.dispatches.push(dispatch);
        sent
    }

    /// Hands out the shares, then consumes what the agents send until every
    /// assignment is done or lost (or the cancel grace runs out). Returns
    /// true when the run must stop after this mode.
    pub async fn drive(
        &mut self,
        hub: &mut Hub,
        agents: &mut Vec<AgentHandle>,
        observer: &mut dyn Observer,
        interrupt: &CancellationToken,
    ) -> bool {
        let total = self.spec.total_requests(agents.len() as u32);
        self.all_records = observer.wants_every_record();
        observer.mode_started(self.mode, total, self.live_events);
        let schedules = schedules(
            &self.plan,
            agents.len(),
            self.spec.agents.split,
            self.seed,
            self.round.per_item(),
        );
        let mut unreachable = Vec::new();
        let count = agents.len() as u64;
        for (n, (agent, schedule)) in agents.iter().zip(schedules).enumerate() {
            if schedule.len(self.round.per_item()) > 0
                && !self
                    .dispatch(agent, schedule, false, (n as u64, count))
                    .await
            {
                unreachable.push(agent.key);
            }
        }
        for key in unreachable {
            // Never sent: a loss with nothing delivered.
            if self
                .agent_lost(key, "gone before its assignment", agents, observer)
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
                Inbound::Message(message) => self.on_message(key, *message, agents, observer),
                Inbound::Gone(how) => {
                    let stops = self.agent_lost(key, &how, agents, observer).await;
                    // Let it go now: dropping its handle ends its stream,
                    // and with it every assignment it still runs. Kept, it
                    // would go on hearing heartbeats and, were it only
                    // silent for a while, run a share others took over.
                    agents.retain(|a| a.key != key);
                    if stops && cancel_deadline.is_none() {
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

    async fn cancel_all(&mut self, agents: &[AgentHandle]) {
        self.cancelled = true;
        for d in self.dispatches.iter().filter(|d| d.state == State::Running) {
            if let Some(agent) = agents.iter().find(|a| a.key == d.agent) {
                let cancel = v1::Cancel {
                    run_id: d.run_id.clone(),
                };
                agent.send(coordinator_message::Kind::Cancel(cancel)).await;
            }
        }
    }

    fn on_message(
        &mut self,
        key: AgentKey,
        message: agent_message::Kind,
        agents: &[AgentHandle],
        observer: &mut dyn Observer,
    ) {
        let run_id = match &message {
            agent_message::Kind::Started(m) => m.run_id.clone(),
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
                let request = loadlab_proto::request_place(started.request).or_else(|| {
                    d.schedule
                        .locate(started.index, self.round.per_item())
                        .map(|(_, r)| r)
                });
                if let Some(entry) = request.and_then(|r| self.round.entries.get(r)) {
                    observer.request_started(&agent, entry);
                }
            }
            agent_message::Kind::Progress(progress) => {
                match d.progress(progress) {
                    Ok(records) => {
                        for record in records {
                            let Some((round, request)) =
                                d.schedule.locate(record.index, self.round.per_item())
                            else {
                                continue; // checked: the index is in the assignment
                            };
                            // A scenario's record names its step's request.
                            let request =
                                loadlab_proto::request_place(record.request).unwrap_or(request);
                            if request >= self.round.entries.len() {
                                continue; // checked with the progress
                            }
                            let key = if record.request == 0 {
                                (index, record.index)
                            } else {
                                (
                                    index,
                                    record.index * self.round.len() as u64 + request as u64,
                                )
                            };
                            let one_in = record.one_in;
                            let entry = &self.round.entries[request];
                            let record = to_record(record, entry, round, &agent);
                            if self.live_events {
                                observer.request_finished(entry, &record);
                            }
                            observer.record(self.mode, &record);
                            self.records.offer(key, record, one_in);
                        }
                    }
                    Err(why) => {
                        warn!(%agent, %run_id, "rejected progress: {why}");
                        self.failures.push(format!(
                            "agent {agent} reported {why}; that report was ignored"
                        ));
                    }
                }
                let (completed, errors) = self
                    .dispatches
                    .iter()
                    .fold((0, 0), |(c, e), d| (c + d.tally.count, e + d.tally.errors));
                observer.progress(completed, errors);
            }
            agent_message::Kind::Done(done) => {
                d.state = State::Done;
                d.span = Span::none();
                let delivered = d.delivered.len();
                if done.completed != delivered {
                    self.failures.push(format!(
                        "agent {agent} reported {} requests done but delivered {delivered}",
                        done.completed
                    ));
                }
                if done.errors != d.tally.errors {
                    self.failures.push(format!(
                        "agent {agent} reported {} failed requests but delivered {}",
                        done.errors, d.tally.errors
                    ));
                }
                d.done = Some(done);
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
}

/// Runs one mode; returns its report and whether the run must stop.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_mode(
    spec: &Spec,
    mode: Mode,
    round: &Round,
    database_url: Option<&str>,
    tracker_url: Option<&str>,
    hub: &mut Hub,
    agents: &mut Vec<AgentHandle>,
    observer: &mut dyn Observer,
    interrupt: &CancellationToken,
) -> (ModeReport, bool) {
    let span = loadlab_telemetry::span(|| {
        tracing::info_span!(
            target: loadlab_telemetry::TARGET,
            "mode",
            otel.name = format!("mode {mode}"),
            loadlab.mode = %mode,
        )
    });
    let mut run = ModeRun::new(spec, mode, round, agents.len());
    // With queries, watch the database while they run (a run resolves a
    // database only when a request of its round needs one).
    let watching = CancellationToken::new();
    let activity =
        database_url.map(|url| tokio::spawn(activity::watch(url.to_owned(), watching.clone())));
    // With a tracker, watch its threads and memory.
    let tracker = tracker_url.map(|url| {
        tokio::spawn(super::tracker_stats::watch(
            url.to_owned(),
            watching.clone(),
        ))
    });
    let stop = run
        .drive(hub, agents, observer, interrupt)
        .instrument(span)
        .await;
    watching.cancel();
    if let Some(activity) = activity {
        run.database = activity.await.ok().flatten();
    }
    if let Some(tracker) = tracker {
        run.tracker = tracker.await.ok().flatten();
    }
    (run.finish(), stop)
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
