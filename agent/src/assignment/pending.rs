//! What finished since the last progress message: the requests (as
//! ranges), their tallies (the mode's, by request id, by scenario), the
//! records that go with them and the spans of those traced; and the
//! message that sends them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use loadlab_proto::ranges::RangeSet;
use loadlab_proto::tally::Tally;
use loadlab_proto::v1::{self, AgentMessage, agent_message};
use loadlab_telemetry::requests::{RequestSpan, RequestSpans};
use opentelemetry::trace::{SpanId, SpanKind};
use tokio::sync::mpsc;
use tracing::warn;

use super::send;
use crate::outcome::Outcome;
use crate::run::{Clock, Event, Gauges};
use crate::sample::RecordSampler;
use crate::workload::Workload;

/// Records, or finished requests, that make a progress message go at once,
/// without waiting for the next flush.
const BATCH: usize = 500;
const BATCH_REQUESTS: u64 = 50_000;

/// What finished since the last flush.
pub(super) struct Pending {
    run_id: String,
    clock: Clock,
    /// Where request spans go, when tracing.
    spans: Option<RequestSpans>,
    completed: RangeSet,
    tally: Tally,
    /// The same requests by their place in the round (one tally per
    /// request id of the spec: bounded whatever the run's length). Empty
    /// when the round has one request: the mode's tally is its tally.
    by_request: Vec<Tally>,
    records: Vec<v1::RequestRecord>,
    /// Which records go with it.
    sampler: RecordSampler,
    /// Requests started, as last reported.
    reported_started: u64,
    /// The round's request ids, in order.
    ids: Vec<Arc<str>>,
    /// Requests skipped after a failed step, by their place in the round.
    skipped: Vec<u64>,
    /// With scenarios: the iterations that ended, by scenario, and the
    /// time their users thought.
    by_scenario: Vec<(Tally, u64)>,
    scenario_names: Vec<String>,
}

impl Pending {
    /// Nothing yet, for the assignment `run_id` of `workload`.
    pub(super) fn new(
        run_id: String,
        clock: Clock,
        spans: Option<RequestSpans>,
        workload: &Workload,
    ) -> Pending {
        let scenario_names: Vec<String> = workload
            .scenarios
            .as_ref()
            .map(|s| s.list.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        Pending {
            run_id,
            clock,
            spans,
            completed: RangeSet::new(),
            tally: Tally::new(),
            by_request: match workload.round.len() {
                1 => Vec::new(),
                _ => workload.round.iter().map(|_| Tally::new()).collect(),
            },
            ids: workload.round.iter().map(|r| r.id.clone()).collect(),
            skipped: vec![0; workload.round.len()],
            by_scenario: scenario_names.iter().map(|_| (Tally::new(), 0)).collect(),
            scenario_names,
            records: Vec::new(),
            sampler: RecordSampler::new(),
            reported_started: 0,
        }
    }

    /// Enough is pending to send it without waiting for the next flush.
    pub(super) fn is_full(&self) -> bool {
        self.records.len() >= BATCH || self.tally.count >= BATCH_REQUESTS
    }

    /// Keeps what `event` finished (a request, an iteration); returns how
    /// many of what completes it completed (requests, or with scenarios
    /// iterations) and how many of those failed.
    pub(super) fn take(&mut self, workload: &Workload, event: Event) -> (u64, u64) {
        match event {
            Event::Finished(outcome) => {
                let failed = !outcome.ok();
                self.add(workload, outcome);
                match workload.scenarios {
                    None => (1, u64::from(failed)),
                    Some(_) => (0, 0),
                }
            }
            Event::Iteration(ended) => {
                let (done, last) = *ended;
                if let Some(outcome) = last {
                    self.add(workload, outcome);
                }
                let failed = done.error.is_some();
                self.iteration(workload, done);
                (1, u64::from(failed))
            }
            Event::Started { .. } => (0, 0),
        }
    }

    fn add(&mut self, workload: &Workload, outcome: Outcome) {
        // With scenarios, an index is an iteration: it is complete when
        // the iteration ends (`iteration`), not with each of its requests.
        if workload.scenarios.is_none() {
            self.completed.insert_one(outcome.index);
        }
        let response_us = outcome.as_finished().response_us();
        let in_sample = self.sampler.keep(response_us, !outcome.ok());
        // None in a round of one request: its tally is the mode's.
        let by_request = self.by_request.get_mut(outcome.request);
        match &outcome.error {
            None => {
                self.tally.record(outcome.as_finished());
                if let Some(by_request) = by_request {
                    by_request.record(outcome.as_finished());
                }
            }
            Some(error) => {
                // Failures are counted by request and reason: `R2: HTTP 503 ...`.
                let reason = format!("{}: {error}", workload.round[outcome.request].id);
                let mut finished = outcome.as_finished();
                finished.error = Some(&reason);
                self.tally.record(finished);
                if let Some(by_request) = by_request {
                    by_request.record(finished);
                }
            }
        }
        // Sampled requests are traced, and so are the ones whose records
        // the report keeps (its exemplars link to them).
        let mut span_id = None;
        if let Some(spans) = &self.spans
            && (outcome.sampled.is_some() || in_sample && spans.exports_afterwards())
        {
            let request = &workload.round[outcome.request];
            let (name, attributes) = request.target.span(&request.id, &outcome);
            let mut span = RequestSpan {
                name,
                kind: SpanKind::Client,
                start: self.clock.unix(outcome.start_us),
                end: self.clock.unix(outcome.end_us),
                attributes,
                error: outcome.error.clone(),
            };
            redact(&mut span, &workload.redact);
            span_id = Some(spans.export(outcome.sampled, span));
        }
        if in_sample || workload.all_records {
            // Every record sent: each was sure to be.
            let one_in = if workload.all_records {
                1
            } else {
                self.sampler.one_in()
            };
            let request = loadlab_proto::request_field(
                workload.scenarios.is_some().then_some(outcome.request),
            );
            self.records
                .push(to_wire(outcome, span_id, one_in, request));
        }
    }

    /// A scenario's iteration ended: its index is complete.
    fn iteration(&mut self, workload: &Workload, done: crate::run::IterationDone) {
        self.completed.insert_one(done.index);
        for r in &done.skipped {
            self.skipped[*r] += 1;
        }
        let reason = done.error.as_deref().map(|error| {
            let name = workload
                .scenarios
                .as_ref()
                .map_or("", |s| s.list[done.scenario].name.as_str());
            format!("{name}: {error}")
        });
        let (tally, think_us) = &mut self.by_scenario[done.scenario];
        tally.record_iteration(loadlab_proto::tally::Finished {
            intended_us: done.intended_us,
            start_us: done.start_us,
            end_us: done.end_us,
            error: reason.as_deref(),
        });
        *think_us += done.think_us;
    }

    /// Sends what finished since the last flush: the completed ranges, their
    /// tally and their records, in one message. Err when the coordinator is
    /// gone.
    pub(super) async fn flush(
        &mut self,
        outbound: &mpsc::Sender<AgentMessage>,
        gauges: &Gauges,
    ) -> Result<(), ()> {
        let started = gauges.started.load(Ordering::Relaxed);
        if self.completed.is_empty() && self.tally.is_empty() && started == self.reported_started {
            return Ok(());
        }
        self.reported_started = started;
        let encoded = self.tally.to_wire().and_then(|tally| {
            let by_request = if self.by_request.is_empty() {
                std::slice::from_ref(&self.tally)
            } else {
                &self.by_request[..]
            };
            let by_request = workload_ids(by_request, &self.skipped, &self.ids)
                .map(|(id, t, skipped)| {
                    t.to_wire().map(|tally| v1::RequestTally {
                        id: id.to_owned(),
                        tally: Some(tally),
                        skipped,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let by_scenario = self
                .by_scenario
                .iter()
                .zip(&self.scenario_names)
                .zip(&gauges.iterations)
                .map(|(((t, think_us), name), started)| {
                    t.to_wire().map(|iterations| v1::ScenarioTally {
                        name: name.clone(),
                        iterations: Some(iterations),
                        think_us: *think_us,
                        started: started.load(Ordering::Relaxed),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((tally, by_request, by_scenario))
        });
        let (tally, by_request, by_scenario) = match encoded {
            Ok(encoded) => encoded,
            Err(error) => {
                warn!(%error, "cannot encode a tally");
                return Err(());
            }
        };
        let progress = v1::Progress {
            run_id: self.run_id.clone(),
            completed: self.completed.to_wire(),
            tally: Some(tally),
            started,
            records: std::mem::take(&mut self.records),
            by_request,
            by_scenario,
        };
        self.completed = RangeSet::new();
        self.tally.clear();
        for t in &mut self.by_request {
            t.clear();
        }
        self.skipped.fill(0);
        for (t, think_us) in &mut self.by_scenario {
            t.clear();
            *think_us = 0;
        }
        send(outbound, agent_message::Kind::Progress(progress)).await
    }
}

/// `span` with every value of `secrets` written `***` (the spec's secret
/// variables may sit in a URL, a query or a reason).
fn redact(span: &mut RequestSpan, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    let clean = |text: &str| -> Option<String> {
        secrets.iter().any(|s| text.contains(s.as_str())).then(|| {
            secrets
                .iter()
                .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "***"))
        })
    };
    if let Some(name) = clean(&span.name) {
        span.name = name.into();
    }
    for attribute in &mut span.attributes {
        if let opentelemetry::Value::String(value) = &attribute.value
            && let Some(value) = clean(value.as_str())
        {
            attribute.value = opentelemetry::Value::String(value.into());
        }
    }
    if let Some(error) = span.error.as_deref().and_then(clean) {
        span.error = Some(error);
    }
}

/// The tallies of `by_request` with their request ids and skipped counts,
/// those with something to say (the round's ids, in the round's order;
/// ids repeat only across kinds that share one, and then their tallies go
/// as separate entries the coordinator adds up).
fn workload_ids<'a>(
    by_request: &'a [Tally],
    skipped: &'a [u64],
    ids: &'a [Arc<str>],
) -> impl Iterator<Item = (&'a str, &'a Tally, u64)> {
    ids.iter()
        .zip(by_request.iter().zip(skipped))
        .map(|(id, (t, skipped))| (&**id, t, *skipped))
        .filter(|(_, t, skipped)| !t.is_empty() || *skipped > 0)
}

fn to_wire(
    outcome: Outcome,
    span_id: Option<SpanId>,
    one_in: u64,
    request: u32,
) -> v1::RequestRecord {
    v1::RequestRecord {
        index: outcome.index,
        intended_us: outcome.intended_us,
        start_us: outcome.start_us,
        end_us: outcome.end_us,
        ok: outcome.ok(),
        status: u32::from(outcome.status),
        bytes: outcome.body.bytes,
        body: outcome.body.text(),
        error: outcome.error.unwrap_or_default(),
        rows: outcome.rows,
        span_id: span_id.map(|id| id.to_string()).unwrap_or_default(),
        one_in,
        request,
        user: outcome.user.map_or(0, |user| user + 1),
    }
}
