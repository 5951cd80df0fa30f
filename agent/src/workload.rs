//! What an agent is asked to run, as domain types: the wire `Assignment`
//! converted once, at the edge.

use std::sync::Arc;
use std::time::Duration;

use loadlab_proto::v1;

use crate::Mode;
use crate::sql::SqlTarget;

/// One assignment, ready to execute.
#[derive(Debug, Clone)]
pub struct Workload {
    pub run_id: String,
    pub mode: Mode,
    /// Every request of every round this agent runs, in order.
    pub items: Vec<WorkItem>,
    /// Requests in flight at once in async and threads modes (at least 1).
    pub concurrency: usize,
    pub timeout: Option<Duration>,
    /// Report each request as it starts and ends, not only in batches.
    pub live_events: bool,
    /// The coordinator's W3C trace context for this assignment.
    pub trace_context: std::collections::HashMap<String, String>,
}

/// One request of one round.
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub id: Arc<str>,
    pub round: u32,
    pub target: Target,
}

#[derive(Debug, Clone)]
pub enum Target {
    Http { url: String },
    Sql(Arc<SqlTarget>),
}

/// Why an assignment cannot run at all.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("assignment {run_id}: unknown mode {mode}")]
    UnknownMode { run_id: String, mode: i32 },
    #[error("assignment {run_id}: request {id:?} has no target")]
    NoTarget { run_id: String, id: String },
    #[error("assignment {run_id}: query {id:?} has an empty database URL or statement")]
    EmptyQuery { run_id: String, id: String },
    #[error("assignment {run_id}: request {id:?}: {url:?} is not an http:// URL")]
    BadUrl {
        run_id: String,
        id: String,
        url: String,
    },
    #[error(
        "assignment {run_id}: {rounds} rounds of {requests} requests is more than this agent will hold"
    )]
    TooLarge {
        run_id: String,
        rounds: u32,
        requests: usize,
    },
}

/// Most requests one assignment may expand to; bounds an agent's memory
/// against a malformed or hostile assignment.
pub const MAX_ITEMS: usize = 10_000_000;

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
        let mut round_items = Vec::with_capacity(assignment.requests.len());
        for request in &assignment.requests {
            let target = match &request.kind {
                Some(v1::request::Kind::Http(http)) => {
                    if !http.url.starts_with("http://") {
                        return Err(WorkloadError::BadUrl {
                            run_id,
                            id: request.id.clone(),
                            url: http.url.clone(),
                        });
                    }
                    Target::Http {
                        url: http.url.clone(),
                    }
                }
                Some(v1::request::Kind::Sql(query)) => {
                    if query.database_url.is_empty() || query.sql.trim().is_empty() {
                        return Err(WorkloadError::EmptyQuery {
                            run_id,
                            id: request.id.clone(),
                        });
                    }
                    Target::Sql(Arc::new(SqlTarget {
                        database_url: query.database_url.clone(),
                        sql: query.sql.clone(),
                        search_path: (!query.search_path.is_empty())
                            .then(|| query.search_path.clone()),
                        statement_timeout: (query.statement_timeout_ms > 0)
                            .then(|| Duration::from_millis(query.statement_timeout_ms)),
                    }))
                }
                None => {
                    return Err(WorkloadError::NoTarget {
                        run_id,
                        id: request.id.clone(),
                    });
                }
            };
            round_items.push((Arc::<str>::from(request.id.as_str()), target));
        }
        let total = (assignment.rounds as usize).saturating_mul(round_items.len());
        if total > MAX_ITEMS {
            return Err(WorkloadError::TooLarge {
                run_id,
                rounds: assignment.rounds,
                requests: round_items.len(),
            });
        }
        // A redistributed share names the pairs to run; otherwise all of them.
        let only: std::collections::HashSet<(u32, &str)> = assignment
            .only
            .iter()
            .map(|w| (w.round, w.request_id.as_str()))
            .collect();
        let mut items = Vec::with_capacity(if only.is_empty() { total } else { only.len() });
        for round in
            assignment.first_round..assignment.first_round.saturating_add(assignment.rounds)
        {
            for (id, target) in &round_items {
                if !only.is_empty() && !only.contains(&(round, &**id)) {
                    continue;
                }
                items.push(WorkItem {
                    id: id.clone(),
                    round,
                    target: target.clone(),
                });
            }
        }
        let concurrency = match assignment.concurrency as usize {
            0 => items.len().max(1),
            n => n,
        };
        Ok(Workload {
            run_id,
            mode,
            items,
            concurrency,
            timeout: (assignment.timeout_ms > 0)
                .then(|| Duration::from_millis(assignment.timeout_ms)),
            live_events: assignment.live_events,
            trace_context: assignment.trace_context,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(rounds: u32, only: &[(u32, &str)]) -> v1::Assignment {
        let request = |id: &str| v1::Request {
            id: id.to_owned(),
            kind: Some(v1::request::Kind::Http(v1::HttpRequest {
                url: format!("http://127.0.0.1:1/{id}"),
            })),
        };
        v1::Assignment {
            run_id: "r".into(),
            mode: v1::Mode::Async.into(),
            requests: vec![request("A"), request("B")],
            first_round: 3,
            rounds,
            only: only
                .iter()
                .map(|(round, id)| v1::WorkRef {
                    round: *round,
                    request_id: (*id).to_owned(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn pairs(workload: &Workload) -> Vec<(u32, String)> {
        workload
            .items
            .iter()
            .map(|i| (i.round, i.id.to_string()))
            .collect()
    }

    #[test]
    fn rounds_expand_in_order() {
        let workload = Workload::try_from(assignment(2, &[])).unwrap();
        let expected = [(3, "A"), (3, "B"), (4, "A"), (4, "B")];
        assert_eq!(
            pairs(&workload),
            expected.map(|(r, id)| (r, id.to_owned())).to_vec()
        );
        assert_eq!(workload.concurrency, 4);
    }

    #[test]
    fn only_keeps_just_the_named_pairs() {
        let workload = Workload::try_from(assignment(2, &[(4, "A"), (3, "B"), (9, "A")])).unwrap();
        // (9, A) lies outside the rounds given and is not run.
        assert_eq!(
            pairs(&workload),
            vec![(3, "B".to_owned()), (4, "A".to_owned())]
        );
    }
}
