//! One assignment sent during a mode, and its accounting: which of its
//! requests came back (as ranges of its indices, each at most once) and
//! their merged tally. An agent's share of a mode is one dispatch; a lost
//! agent's unfinished requests handed to another are another.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use loadlab_proto::ranges::RangeSet;
use loadlab_proto::schedule::{OpenLoop, Schedule};
use loadlab_proto::tally::Tally;
use loadlab_proto::v1;
use tracing::Span;

use crate::hub::{AgentHandle, AgentKey};
use crate::spec::{Plan, Split};

/// The rounds one agent runs: `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub first: u64,
    pub count: u64,
}

/// Each agent's schedule of a mode run on `plan`, as the spec's `split`
/// asks: a closed loop's rounds and a timed loop's users divided or
/// replicated, an open loop's rate in interleaved shares (seeded from
/// `seed`, so the coordinator can replay them).
pub fn schedules(
    plan: &Plan,
    agents: usize,
    split: Split,
    seed: u64,
    per_item: usize,
) -> Vec<Schedule> {
    match plan {
        Plan::Closed { rounds } => shares(u64::from(*rounds), agents, split)
            .into_iter()
            .map(|share| Schedule::rounds(share.first, share.count, per_item))
            .collect(),
        // Users for a time: each agent runs its users (all of them, or its
        // part with `split: partition`) until the time is up.
        Plan::Timed { users, duration } => {
            let per_agent: Vec<u64> = match split {
                Split::Replicate => vec![u64::from(*users); agents],
                Split::Partition => shares(u64::from(*users), agents, Split::Partition)
                    .into_iter()
                    .map(|share| share.count)
                    .collect(),
            };
            per_agent
                .into_iter()
                .map(|users| Schedule::Timed {
                    users: users as u32,
                    run_for: *duration,
                })
                .collect()
        }
        // The rate is the run's: each agent takes an interleaved share.
        Plan::Open { profile, arrival } => {
            let profile = Arc::new(profile.clone());
            let shares = agents as u64;
            (0..shares)
                .map(|share| {
                    Schedule::Open(OpenLoop::new(
                        profile.clone(),
                        *arrival,
                        seed.wrapping_add(share),
                        share,
                        shares,
                        Duration::ZERO,
                    ))
                })
                .collect()
        }
    }
}

/// Divides `rounds` between `agents` as the spec asks.
pub fn shares(rounds: u64, agents: usize, split: Split) -> Vec<Share> {
    match split {
        Split::Replicate => vec![
            Share {
                first: 0,
                count: rounds
            };
            agents
        ],
        Split::Partition => {
            let n = agents.max(1) as u64;
            let (base, extra) = (rounds / n, rounds % n);
            let mut first = 0;
            (0..n)
                .map(|i| {
                    let count = base + u64::from(i < extra);
                    let share = Share { first, count };
                    first += count;
                    share
                })
                .collect()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Done,
    Lost,
}

/// One scenario's iterations on one assignment.
#[derive(Debug, Clone, Default)]
pub struct ScenarioTally {
    /// Those that ended: their durations, and as errors those that failed.
    pub iterations: Tally,
    /// Time its users spent thinking, in microseconds.
    pub think_us: u64,
    /// Iterations started so far (the latest count the agent sent).
    pub started: u64,
}

impl ScenarioTally {
    /// Adds what a later progress says.
    pub fn add(&mut self, later: ScenarioTally) -> Result<(), String> {
        self.iterations
            .merge(&later.iterations)
            .map_err(|e| e.to_string())?;
        self.think_us += later.think_us;
        self.started = self.started.max(later.started);
        Ok(())
    }
}

pub struct Dispatch {
    pub run_id: String,
    pub agent: AgentKey,
    /// The agent's name in the report, and its own id.
    pub name: String,
    pub agent_id: String,
    /// What the agent was given, and the length of a round.
    pub schedule: Schedule,
    pub round_len: usize,
    /// Indices per item of the schedule: `round_len`, or with scenarios 1
    /// (an index is an iteration).
    pub per_item: usize,
    /// A scenario assignment: its tally counts the iterations' requests,
    /// and `by_scenario` the iterations.
    pub scenarios: bool,
    /// Which agent of how many it is, for its data rows.
    pub data_share: (u64, u64),
    /// Iterations by scenario, the time their users thought, and how many
    /// started (as last reported).
    pub by_scenario: BTreeMap<String, ScenarioTally>,
    /// Requests skipped after a failed step, by request id.
    pub skipped: BTreeMap<String, u64>,
    /// Indices whose results arrived, each once.
    pub delivered: RangeSet,
    /// The tally of the delivered requests.
    pub tally: Tally,
    /// The same, by request id (without per-second figures: the mode's
    /// tally has those).
    pub by_request: BTreeMap<String, Tally>,
    /// The agent's last word on the assignment, once it is done.
    pub done: Option<v1::AssignmentDone>,
    pub state: State,
    /// Open while the assignment runs; `Span::none()` when not tracing.
    pub span: Span,
}

impl Dispatch {
    pub fn new(
        run_id: String,
        agent: &AgentHandle,
        schedule: Schedule,
        round_len: usize,
        span: Span,
    ) -> Dispatch {
        Dispatch {
            run_id,
            agent: agent.key,
            name: agent.name.clone(),
            agent_id: agent.id.clone(),
            schedule,
            round_len,
            per_item: round_len,
            scenarios: false,
            data_share: (0, 1),
            by_scenario: BTreeMap::new(),
            skipped: BTreeMap::new(),
            delivered: RangeSet::new(),
            tally: Tally::new(),
            by_request: BTreeMap::new(),
            done: None,
            state: State::Running,
            span,
        }
    }

    /// How many requests it was given.
    pub fn len(&self) -> u64 {
        self.schedule.len(self.per_item)
    }

    /// Takes what finished since the agent's last progress: its indices
    /// must lie in the assignment and not have been delivered before, its
    /// tally must count exactly them, and its records be of them (each
    /// once). Refused whole otherwise. Returns the records.
    pub fn progress(&mut self, progress: v1::Progress) -> Result<Vec<v1::RequestRecord>, String> {
        let completed = RangeSet::from_wire(&progress.completed)
            .ok_or("an empty or reversed range of requests")?;
        let len = self.len();
        if completed.ranges().iter().any(|r| r.end > len) {
            return Err(format!("requests outside its assignment of {len}"));
        }
        if completed
            .ranges()
            .iter()
            .any(|r| self.delivered.intersects(r))
        {
            return Err("requests it had already delivered".to_owned());
        }
        let tally = progress
            .tally
            .as_ref()
            .map(Tally::from_wire)
            .transpose()
            .map_err(|e| format!("a tally that cannot be read: {e}"))?
            .unwrap_or_default();
        // With scenarios, an index is an iteration, and the tally counts
        // the requests of iterations that may not have ended yet.
        let by_scenario = self.by_scenario(&progress.by_scenario)?;
        let finished = if self.scenarios {
            by_scenario.iter().map(|(_, s)| s.iterations.count).sum()
        } else {
            tally.count
        };
        if finished != completed.len() {
            return Err(format!(
                "a tally of {finished} {} for {} finished",
                if self.scenarios {
                    "iterations"
                } else {
                    "requests"
                },
                completed.len()
            ));
        }
        let by_request = self.by_request(&progress.by_request, tally.count)?;
        let mut recorded = std::collections::HashSet::new();
        for record in &progress.records {
            let known = record.request as usize <= self.round_len;
            let request_of = |record: &v1::RequestRecord| (record.index, record.request);
            // A scenario's records are per request, and its requests end
            // before their iteration does.
            let finished = self.scenarios || completed.contains(record.index);
            if !known
                || !finished
                || (self.scenarios && record.request == 0)
                || !recorded.insert(request_of(record))
            {
                return Err(format!(
                    "a record of request {} that it did not finish then, or twice",
                    record.index
                ));
            }
        }
        for (name, scenario) in by_scenario {
            self.by_scenario
                .entry(name)
                .or_default()
                .add(scenario)
                .map_err(|e| format!("a tally that cannot be merged: {e}"))?;
        }
        for entry in &progress.by_request {
            if entry.skipped > 0 {
                *self.skipped.entry(entry.id.clone()).or_default() += entry.skipped;
            }
        }
        self.tally
            .merge(&tally)
            .map_err(|e| format!("a tally that cannot be merged: {e}"))?;
        for (id, tally) in by_request {
            let mine = self.by_request.entry(id).or_default();
            mine.merge(&tally)
                .map_err(|e| format!("a tally that cannot be merged: {e}"))?;
            // As the whole tally's: seconds well behind are kept encoded.
            if let Some(last) = mine.intervals.last_second() {
                let _ = mine.intervals.store_before(last.saturating_sub(2));
            }
        }
        // Seconds well behind the latest are done: keep them encoded.
        if let Some(last) = self.tally.intervals.last_second() {
            let _ = self.tally.intervals.store_before(last.saturating_sub(2));
        }
        self.delivered.union_with(&completed);
        Ok(progress.records)
    }

    /// A progress's tallies by request id, read and checked: as many ids
    /// as the round has at most (so what the coordinator holds stays
    /// bounded whatever an agent sends), counts adding up to `count`.
    fn by_request(
        &self,
        wire: &[v1::RequestTally],
        count: u64,
    ) -> Result<Vec<(String, Tally)>, String> {
        if wire.is_empty() {
            return Ok(Vec::new());
        }
        let mut read = Vec::with_capacity(wire.len());
        for entry in wire {
            let tally = entry
                .tally
                .as_ref()
                .map(Tally::from_wire)
                .transpose()
                .map_err(|e| format!("a tally of {} that cannot be read: {e}", entry.id))?
                .unwrap_or_default();
            read.push((entry.id.clone(), tally));
        }
        let total: u64 = read.iter().map(|(_, t)| t.count).sum();
        if total != count {
            return Err(format!(
                "tallies by request of {total} requests for {count} finished"
            ));
        }
        let known = |id: &String| self.by_request.contains_key(id);
        let new = read.iter().filter(|(id, _)| !known(id)).count();
        if self.by_request.len() + new > self.round_len.max(1) {
            return Err(format!(
                "more request ids than its round of {} has",
                self.round_len
            ));
        }
        Ok(read)
    }

    /// A progress's iterations by scenario, read and checked: only the
    /// scenarios the spec has.
    fn by_scenario(
        &self,
        wire: &[v1::ScenarioTally],
    ) -> Result<Vec<(String, ScenarioTally)>, String> {
        if !self.scenarios && !wire.is_empty() {
            return Err("iterations of scenarios in an assignment without any".to_owned());
        }
        let mut read = Vec::with_capacity(wire.len());
        for entry in wire {
            let iterations = entry
                .iterations
                .as_ref()
                .map(Tally::from_wire)
                .transpose()
                .map_err(|e| format!("a tally of {} that cannot be read: {e}", entry.name))?
                .unwrap_or_default();
            read.push((
                entry.name.clone(),
                ScenarioTally {
                    iterations,
                    think_us: entry.think_us,
                    started: entry.started,
                },
            ));
        }
        let known = |name: &String| self.by_scenario.contains_key(name);
        let new = read.iter().filter(|(name, _)| !known(name)).count();
        if self.by_scenario.len() + new > self.round_len.max(1) {
            return Err("more scenarios than its round has requests".to_owned());
        }
        Ok(read)
    }

    /// The indices it was given and did not deliver.
    pub fn unfinished(&self) -> RangeSet {
        RangeSet::of(0..self.len()).difference(&self.delivered)
    }
}

#[cfg(test)]
mod tests;
