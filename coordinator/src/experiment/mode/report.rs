//! A mode's end: every assignment's tally merged into the mode's, what did
//! not run said, and the wire's records turned into the report's.

use super::*;
use crate::experiment::ScenarioTally;

impl ModeRun<'_> {
    /// Merges every assignment's tally into the mode's, and says what did
    /// not run.
    pub fn finish(self) -> ModeReport {
        let merging = Instant::now();
        let assignments = self.dispatches.len();
        let mut failures = self.failures;
        let mut notes = self.notes;
        let mut merged = Tally::new();
        let mut by_request: BTreeMap<String, Tally> = BTreeMap::new();
        let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_scenario: BTreeMap<String, ScenarioTally> = BTreeMap::new();
        let mut per_agent: Vec<(&Dispatch, Tally)> = Vec::new();
        let mut not_started = 0u64;
        let mut interrupted = 0u64;
        for d in &self.dispatches {
            let name = &d.name;
            if let Err(error) = merged.merge(&d.tally) {
                failures.push(format!("merging agent {name}'s results: {error}"));
            }
            for (id, tally) in &d.by_request {
                if let Err(error) = by_request.entry(id.clone()).or_default().merge(tally) {
                    failures.push(format!("merging agent {name}'s results for {id}: {error}"));
                }
            }
            for (id, n) in &d.skipped {
                *skipped.entry(id.clone()).or_default() += n;
            }
            for (scenario, tally) in &d.by_scenario {
                let mine = by_scenario.entry(scenario.clone()).or_default();
                // Each assignment's own count of starts, summed.
                let started = mine.started + tally.started;
                if let Err(error) = mine.add(tally.clone()) {
                    failures.push(format!(
                        "merging agent {name}'s iterations of {scenario}: {error}"
                    ));
                }
                mine.started = started;
            }
            match per_agent
                .iter_mut()
                .find(|(first, _)| first.agent == d.agent)
            {
                Some((_, tally)) => {
                    if let Err(error) = tally.merge(&d.tally) {
                        failures.push(format!("merging agent {name}'s results: {error}"));
                    }
                }
                None => per_agent.push((d, d.tally.clone())),
            }
            // Whatever was given and neither delivered nor handed over did
            // not run; a cancel we asked for is the interruption's doing.
            if let Some(done) = &d.done {
                // A timed loop runs what its time allows: nothing is missing.
                interrupted += done.interrupted;
                let missing = if d.schedule.is_timed() {
                    0
                } else {
                    // Abandoned at the graceful stop: counted apart.
                    d.len()
                        .saturating_sub(d.delivered.len())
                        .saturating_sub(done.interrupted)
                };
                not_started += missing;
                if missing > 0 && done.rows_ran_out {
                    // Each row once: the data's end is the run's.
                    notes.push(format!(
                        "agent {name} ran {} of its {} iterations: {}",
                        d.delivered.len(),
                        d.len(),
                        done.not_started_reason
                    ));
                } else if missing > 0 && !(done.cancelled && self.cancelled) {
                    let why = if done.not_started_reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", done.not_started_reason)
                    };
                    failures.push(format!(
                        "agent {name} ran {} of its {} requests; {missing} did not run{why}",
                        d.delivered.len(),
                        d.len(),
                    ));
                }
            } else if d.state == State::Lost
                && self.spec.on_agent_loss == AgentLoss::Fail
                && !d.schedule.is_timed()
            {
                not_started += d.unfinished().len();
            }
        }
        let agents = per_agent
            .into_iter()
            .map(|(d, tally)| AgentResult {
                name: d.name.clone(),
                id: d.agent_id.clone(),
                tally,
            })
            .collect();
        let done = || self.dispatches.iter().filter_map(|d| d.done.as_ref());
        let max_backlog = done().map(|done| done.max_backlog).sum();
        let max_in_flight = done().map(|done| done.max_in_flight).sum();
        let stalls = done()
            .filter_map(|done| done.stall)
            .map(Stall::from)
            .collect();
        let load = match &self.plan {
            Plan::Closed { .. } => Load::Closed {
                cap: self.spec.concurrency,
            },
            Plan::Timed { users, .. } => Load::Closed { cap: *users },
            Plan::Open { profile, .. } => Load::Open {
                cap: self.spec.concurrency,
                intended_per_s: profile.expected() * self.round.per_item() as f64
                    / profile.duration().as_secs_f64(),
            },
        };
        let tracking = self
            .round
            .entries
            .iter()
            .any(|e| e.about.kind == crate::spec::track::ABOUT.kind)
            .then(|| {
                let mut connect = loadlab_proto::histogram::new_latency_histogram();
                let mut failures = 0;
                for (d, done) in self
                    .dispatches
                    .iter()
                    .filter_map(|d| d.done.as_ref().map(|done| (d, done)))
                {
                    failures += done.connect_failures;
                    // None sent (no connection made); figures that cannot
                    // be read are said, not dropped unseen.
                    if done.connect_histogram.is_empty() {
                        continue;
                    }
                    let added = loadlab_proto::histogram::decode(&done.connect_histogram)
                        .map_err(|e| e.to_string())
                        .and_then(|h| connect.add(&h).map_err(|e| e.to_string()));
                    if let Err(why) = added {
                        notes.push(format!(
                            "agent {}: its connect times could not be read ({why}); they are left out",
                            d.name
                        ));
                    }
                }
                crate::report::analysis::Tracking {
                    connect,
                    connect_failures: failures,
                    tracker: self.tracker,
                }
            });
        let report = mode_report(ModeResults {
            tracking,
            mode: self.mode,
            load,
            tally: merged,
            by_request,
            skipped,
            by_scenario,
            agents,
            records: self.records.into_records(),
            not_started: not_started + self.unreported,
            interrupted,
            graceful_stop: self.spec.graceful_stop.0,
            max_backlog,
            max_in_flight,
            stalls,
            database: self.database,
            failures,
            notes,
            elapsed_ms: self.clock.now().as_secs_f64() * 1e3,
        });
        // What a fleet costs at a mode's end (`bench fleet` reads it).
        tracing::debug!(
            target: "loadlab::merge",
            assignments,
            elapsed_us = merging.elapsed().as_micros() as u64,
            "merged the mode's results"
        );
        report
    }
}

pub(super) fn to_record(
    record: v1::RequestRecord,
    entry: &crate::round::Entry,
    round: u64,
    agent: &str,
) -> RequestRecord {
    RequestRecord {
        id: entry.id.clone(),
        kind: entry.about.kind.clone(),
        round,
        agent: agent.to_owned(),
        ok: record.ok,
        status: record.status,
        intended_ms: record.intended_us as f64 / 1e3,
        start_ms: record.start_us as f64 / 1e3,
        end_ms: record.end_us as f64 / 1e3,
        service_ms: record.end_us.saturating_sub(record.start_us) as f64 / 1e3,
        bytes: record.bytes,
        body: record.body,
        error: (!record.ok).then_some(record.error),
        rows: record.rows,
        span_id: (!record.span_id.is_empty()).then_some(record.span_id),
        user: record.user.checked_sub(1),
    }
}
