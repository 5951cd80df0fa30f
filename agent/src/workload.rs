//! What an agent is asked to run, as domain types: the wire `Assignment`
//! converted once, at the edge.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use loadlab_proto::v1;

use crate::Mode;
use crate::kind::Target;
use crate::schedule::{Due, Schedule};

/// One assignment, ready to execute.
#[derive(Debug, Clone)]
pub struct Workload {
    pub run_id: String,
    pub mode: Mode,
    /// The requests of one round.
    pub round: Vec<Request>,
    pub schedule: Schedule,
    /// Most requests in flight at once (at least 1).
    pub cap: usize,
    /// Past this much after the assignment's start, requests not started
    /// are not started at all (an open loop's end plus the timeout).
    pub stop_after: Option<Duration>,
    pub timeout: Option<Duration>,
    /// Report each request as it starts and ends, not only in batches.
    pub live_events: bool,
    /// Send every request's record, not a sample.
    pub all_records: bool,
    /// The coordinator's W3C trace context for this assignment.
    pub trace_context: HashMap<String, String>,
    /// The zero of the mode's time axis, as Unix time in microseconds.
    pub mode_started_unix_us: u64,
    /// Secret values no span may carry.
    pub redact: Vec<String>,
    /// After the schedule's start, when what is still in flight is
    /// abandoned (a timed schedule's end plus its graceful stop).
    pub hard_stop: Option<Duration>,
    /// With scenarios, each index is an iteration of one of them.
    pub scenarios: Option<Arc<crate::scenario::Scenarios>>,
}

/// One request of a round.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: Arc<str>,
    pub target: Target,
}

/// Why an assignment cannot run at all.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("assignment {run_id}: unknown mode {mode}")]
    UnknownMode { run_id: String, mode: i32 },
    #[error("assignment {run_id}: request {id:?} {why}")]
    BadRequest {
        run_id: String,
        id: String,
        why: String,
    },
    #[error("assignment {run_id}: no schedule")]
    NoSchedule { run_id: String },
    #[error(
        "assignment {run_id}: an empty or reversed item range, or a negative or non-finite rate"
    )]
    BadSchedule { run_id: String },
    #[error("assignment {run_id}: it has work but no requests")]
    NoRequests { run_id: String },
    #[error("assignment {run_id}: {why}")]
    BadScenario { run_id: String, why: String },
}

impl Workload {
    /// How many requests (with scenarios, iterations) the assignment runs.
    pub fn len(&self) -> u64 {
        self.schedule.len(self.per_item())
    }

    /// Requests per item of the schedule: the round's, or with scenarios 1
    /// (an item is an iteration).
    pub fn per_item(&self) -> usize {
        if self.scenarios.is_some() {
            1
        } else {
            self.round.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every request in the order it is due.
    pub fn dues(&self) -> impl Iterator<Item = Due> + Send + 'static {
        self.schedule.dues(self.per_item())
    }

    /// The request a due is about.
    pub fn request(&self, due: &Due) -> &Request {
        &self.round[due.request]
    }
}

impl TryFrom<v1::Assignment> for Workload {
    type Error = WorkloadError;

    fn try_from(assignment: v1::Assignment) -> Result<Self, Self::Error> {
        let run_id = assignment.run_id.clone();
        let mode = v1::Mode::try_from(assignment.mode)
            .ok()
            .and_then(|m| Mode::try_from(m).ok())
            .ok_or(WorkloadError::UnknownMode {
                run_id: run_id.clone(),
                mode: assignment.mode,
            })?;
        let mut round = Vec::with_capacity(assignment.requests.len());
        for request in &assignment.requests {
            // A templated request is checked as its stand-in; its
            // scenario renders what is sent.
            let stand_in = match &request.kind {
                Some(v1::request::Kind::Http(wire)) if wire.templated => {
                    Some(v1::request::Kind::Http(crate::scenario::stand_in(wire)))
                }
                _ => None,
            };
            let kind = stand_in.as_ref().or(request.kind.as_ref());
            let target = Target::from_wire(kind).map_err(|why| WorkloadError::BadRequest {
                run_id: run_id.clone(),
                id: request.id.clone(),
                why,
            })?;
            round.push(Request {
                id: Arc::from(request.id.as_str()),
                target,
            });
        }
        let schedule = match &assignment.schedule {
            Some(wire) => Schedule::from_wire(wire).ok_or_else(|| WorkloadError::BadSchedule {
                run_id: run_id.clone(),
            })?,
            None => return Err(WorkloadError::NoSchedule { run_id }),
        };
        let scenarios = crate::scenario::Scenarios::from_wire(&assignment, &mut round)
            .map_err(|why| WorkloadError::BadScenario {
                run_id: run_id.clone(),
                why,
            })?
            .map(Arc::new);
        let per_item = if scenarios.is_some() { 1 } else { round.len() };
        let len = schedule.len(per_item);
        if round.is_empty() && len > 0 {
            return Err(WorkloadError::NoRequests { run_id });
        }
        let timeout =
            (assignment.timeout_ms > 0).then(|| Duration::from_millis(assignment.timeout_ms));
        // 0 means every request at once in a closed loop, no cap in an open one.
        let graceful = assignment.graceful_stop_ms.map(Duration::from_millis);
        let hard_stop = match (&schedule, graceful) {
            (Schedule::Open(open), Some(graceful)) => {
                Some(open.profile.duration().saturating_sub(open.from) + graceful)
            }
            (Schedule::Timed { run_for, .. }, Some(graceful)) => Some(*run_for + graceful),
            _ => None,
        };
        let (cap, stop_after) = match &schedule {
            Schedule::Closed { .. } => (usize::try_from(len).unwrap_or(usize::MAX), None),
            // Nothing starts past the time; what is in flight finishes.
            Schedule::Timed { users, run_for } => (*users as usize, Some(*run_for)),
            Schedule::Open(open) => {
                let end = open.profile.duration().saturating_sub(open.from);
                (usize::MAX, Some(end + timeout.unwrap_or(Duration::ZERO)))
            }
        };
        let cap = match assignment.concurrency as usize {
            0 => cap,
            n => n,
        }
        .max(1);
        Ok(Workload {
            run_id,
            mode,
            round,
            schedule,
            cap,
            stop_after,
            timeout,
            live_events: assignment.live_events,
            all_records: assignment.all_records || assignment.live_events,
            trace_context: assignment.trace_context,
            mode_started_unix_us: assignment.mode_started_unix_us,
            redact: assignment
                .redact
                .into_iter()
                .filter(|value| !value.is_empty())
                .collect(),
            hard_stop,
            scenarios,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(items: Vec<v1::Range>) -> v1::Assignment {
        let request = |id: &str| v1::Request {
            id: id.to_owned(),
            kind: Some(v1::request::Kind::Http(v1::HttpRequest {
                url: format!("http://127.0.0.1:1/{id}"),
                ..Default::default()
            })),
        };
        v1::Assignment {
            run_id: "r".into(),
            mode: v1::Mode::Async.into(),
            requests: vec![request("A"), request("B")],
            schedule: Some(v1::assignment::Schedule::Closed(v1::ClosedLoop { items })),
            ..Default::default()
        }
    }

    #[test]
    fn items_expand_to_rounds_and_requests_in_order() {
        let workload =
            Workload::try_from(assignment(vec![v1::Range { start: 6, end: 10 }])).unwrap();
        let pairs: Vec<(u64, &str)> = workload
            .dues()
            .map(|d| (d.round, &*workload.request(&d).id))
            .collect();
        assert_eq!(pairs, [(3, "A"), (3, "B"), (4, "A"), (4, "B")]);
        assert_eq!(workload.cap, 4);
    }

    #[test]
    fn malformed_assignments_are_refused_with_the_reason() {
        let mut bad = assignment(vec![v1::Range { start: 3, end: 3 }]);
        assert!(matches!(
            Workload::try_from(bad.clone()),
            Err(WorkloadError::BadSchedule { .. })
        ));
        bad.schedule = None;
        assert!(matches!(
            Workload::try_from(bad.clone()),
            Err(WorkloadError::NoSchedule { .. })
        ));
        let mut no_url = assignment(vec![v1::Range { start: 0, end: 2 }]);
        no_url.requests[1].kind = Some(v1::request::Kind::Http(v1::HttpRequest {
            url: "ftp://x".into(),
            ..Default::default()
        }));
        let error = Workload::try_from(no_url).unwrap_err().to_string();
        assert!(
            error.contains("request \"B\" \"ftp://x\" is not an http:// or https:// URL"),
            "{error}"
        );
    }
}
