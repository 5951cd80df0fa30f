//! Experiment specs: the YAML a user writes, parsed and validated before
//! anything runs. Every error names the file, line and column.
//!
//! - this file: the spec's fields, read and checked;
//! - [`checks`]: the checks that span several fields;
//! - [`plan`]: what the spec asks of each mode (its plan, its round);
//! - [`request`]: an HTTP request (path or url, method, headers, body,
//!   expect) and the values its fields hold;
//! - [`values`]: the values other fields hold (ids, paths, durations, targets);
//! - [`de`]: helpers that check a value while it is read;
//! - [`diagnostic`]: errors and where they point.

mod checks;
pub(crate) mod de;
mod diagnostic;
mod plan;
pub mod query;
pub mod read;
pub mod request;
pub mod scenario;
pub mod track;
mod values;
pub mod variables;

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use loadlab_proto::Mode;
use loadlab_proto::schedule::Arrival;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

pub use crate::kind::Work;
use de::checked_seq;
pub use diagnostic::SpecError;
pub use plan::Plan;
pub use query::QuerySpec;
pub use request::{Destination, Expect, Headers, HttpMethod, RequestBody, RequestSpec, RequestUrl};
pub use track::TrackSpec;
pub use values::{
    HttpTarget, Rate, RequestId, RequestPath, SchemaName, SpecDuration, Targets, parse_duration,
};

/// A parsed, valid experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where requests and queries go: a base URL (the HTTP server), or
    /// `{ http: URL, postgres: URL }`. Without an HTTP target, an embedded
    /// delay server answers; without a PostgreSQL one, `DATABASE_URL`.
    #[serde(default)]
    pub target: Targets,
    /// Settings of the embedded delay server (when there is no HTTP target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_server: Option<DelayServerSpec>,
    #[serde(deserialize_with = "modes")]
    pub modes: Vec<Mode>,
    /// HTTP requests of one round.
    #[serde(
        default,
        deserialize_with = "requests",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub requests: Vec<RequestSpec>,
    /// SQL queries of one round (after the HTTP requests).
    #[serde(
        default,
        deserialize_with = "query::queries",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub queries: Vec<QuerySpec>,
    /// The tracking workload: customers watching their orders over the
    /// tracker's websockets while a courier feed publishes to Redis. Runs
    /// alone (no `requests` or `queries`), with its own rate and duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackSpec>,
    /// Scenarios: users that run steps in order (requests, queries,
    /// pauses), each iteration choosing one by weight. Instead of
    /// `requests` and `queries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenarios: Option<scenario::Scenarios>,
    /// The rows scenarios' templates read as `row`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<scenario::DataSpec>,
    /// Each iteration keeps the cookies its responses set (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<bool>,
    /// The data file's rows, read when the spec is loaded.
    #[serde(skip)]
    pub rows: Option<std::sync::Arc<crate::data::DataTable>>,
    /// Seed the cities dataset (idempotently) before running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetSpec>,
    /// Server-side limit per query (PostgreSQL's `statement_timeout`);
    /// default: `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_timeout: Option<SpecDuration>,
    /// Rounds per mode, each started when a slot frees (closed loop);
    /// default 1. Excludes `rate` and `stages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<NonZeroU32>,
    /// Closed loop for a time: this many users, each starting the next
    /// request as soon as its last one ended, until `duration` is up (k6's
    /// constant VUs). Excludes `repeat`, `rate`, `stages` and `concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<NonZeroU32>,
    /// Open loop: rounds arrive at this rate (the whole run's, split
    /// between agents), whatever the server does; with `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// With `rate`: how long rounds keep arriving; with `users`: how long
    /// they keep going.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<SpecDuration>,
    /// Open loop: stage after stage, the rate moving linearly from the
    /// previous stage's (the first from 0); instead of `rate` and `duration`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "stages"
    )]
    pub stages: Option<Vec<StageSpec>>,
    /// Open loop: `constant` gaps between rounds, or `poisson`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<Arrival>,
    /// Cap on requests in flight: in a closed loop 0 means all at once; in
    /// an open loop 0 means no cap, and rounds due while it is full wait.
    #[serde(default)]
    pub concurrency: u32,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout: SpecDuration,
    /// When a timed schedule (`users`/`rate` with `duration`, `stages`,
    /// `track`) ends, how long what is in flight may still take; then it
    /// is abandoned and counted as interrupted, not as failed (k6's
    /// `gracefulStop`).
    #[serde(default = "default_graceful_stop")]
    pub graceful_stop: SpecDuration,
    #[serde(default)]
    pub agents: AgentsSpec,
    /// What to do when an agent is lost mid-run.
    #[serde(default)]
    pub on_agent_loss: AgentLoss,
    /// Accept any certificate from https:// targets (self-signed test
    /// servers); the run says so loudly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// The gate: each judged per mode on every agent's merged figures;
    /// any failed exits 99. E.g. `["p99 < 250ms", "errors < 1%"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<crate::threshold::Threshold>,
    /// The `${VAR}`s the spec's text used, as they were resolved.
    #[serde(skip)]
    pub variables: Vec<variables::Variable>,
    /// The values of its secret variables, which no output shows.
    #[serde(skip)]
    pub secrets: variables::Secrets,
}

/// How many agents run the experiment, and how they share it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsSpec {
    #[serde(default = "one_agent")]
    pub count: NonZeroU32,
    #[serde(default)]
    pub split: Split,
}

impl Default for AgentsSpec {
    fn default() -> Self {
        AgentsSpec {
            count: one_agent(),
            split: Split::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Every agent runs every round: load from N hosts at once.
    #[default]
    Replicate,
    /// The rounds are divided between the agents.
    Partition,
}

/// What a run does when an agent dies or is cut off before finishing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentLoss {
    /// Stop the run, report what was delivered, exit 1.
    #[default]
    Fail,
    /// Hand the lost agent's unfinished requests to the agents left.
    Redistribute,
}

/// The cities dataset the queries run against.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Scale 1 is 5,564 cities; scale 1400 gives the demonstration's 7.8 M.
    pub scale: NonZeroU32,
    /// The schema the dataset lives in (nothing outside it is touched).
    #[serde(default = "default_schema")]
    pub schema: SchemaName,
}

fn default_schema() -> SchemaName {
    SchemaName("loadlab".to_owned())
}

fn one_agent() -> NonZeroU32 {
    NonZeroU32::MIN
}

fn default_timeout() -> SpecDuration {
    SpecDuration(Duration::from_secs(60))
}

fn default_graceful_stop() -> SpecDuration {
    SpecDuration(Duration::from_secs(30))
}

/// How the embedded delay server behaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayServerSpec {
    /// Stop answering for `hiccup_for` at the end of every period this long.
    pub hiccup_every: SpecDuration,
    pub hiccup_for: SpecDuration,
}

/// One stage of an open loop: the rate it reaches, and for how long.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub rate: Rate,
    #[serde(rename = "for")]
    pub duration: SpecDuration,
}

impl Spec {
    /// Reads and validates the spec at `path`, its variables from the
    /// process's environment.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        Spec::load_with(path, &variables::Environment::default())
    }

    /// Reads and validates the spec at `path`, its variables from `env`.
    pub fn load_with(path: &Path, env: &variables::Environment) -> Result<Spec, SpecError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut spec = Spec::parse_with(&text, &shown, env)?;
        if let Some(data) = &spec.data {
            let dir = path.parent().unwrap_or(Path::new("."));
            let table = crate::data::DataTable::read(&dir.join(&data.file), &data.file)
                .map_err(|message| diagnostic::at_field(&text, &shown, "data", message))?;
            spec.rows = Some(std::sync::Arc::new(table));
        }
        Ok(spec)
    }

    /// Validates `text`; `origin` names it in errors (usually the file path).
    pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
        Spec::parse_with(text, origin, &variables::Environment::default())
    }

    /// Resolves `text`'s variables from `env`, then validates it.
    pub fn parse_with(
        text: &str,
        origin: &str,
        env: &variables::Environment,
    ) -> Result<Spec, SpecError> {
        let interpolated = variables::interpolate(text, env)
            .map_err(|(at, message)| SpecError::at(origin, at, message))?;
        let text = interpolated.text.as_str();
        let mut spec =
            read::read::<Spec>(text).map_err(|refusal| SpecError::from_refusal(origin, refusal))?;
        spec.variables = interpolated.variables;
        spec.secrets = interpolated.secrets;
        let round = spec.round();
        let ids: HashSet<&str> = round.iter().map(|work| work.id()).collect();
        if ids.len() < round.len()
            && let Some(error) = diagnostic::duplicate_id(text, origin)
        {
            return Err(error);
        }
        if round.is_empty() {
            return Err(SpecError::at(
                origin,
                (1, 1),
                "nothing to run: give `requests` (HTTP) or `queries` (SQL), or both, `scenarios`, or `track`",
            ));
        }
        if let Err((field, message)) = spec.check_scenarios() {
            return Err(diagnostic::at_field(text, origin, field, message));
        }
        if let Some(scenarios) = &spec.scenarios
            && let Err(error) = scenario::check_templates(scenarios, spec.data.is_some())
        {
            let at = scenario::locate(text, &error.needle).unwrap_or((1, 1));
            return Err(SpecError::at(origin, at, error.message));
        }
        if let Some(t) = spec.unknown_request(&spec.thresholds) {
            let mut known: Vec<&str> = ids.iter().copied().collect();
            known.sort_unstable();
            return Err(diagnostic::at_field(
                text,
                origin,
                "thresholds",
                format!(
                    "threshold {:?} names request `{}`, which the spec does not have (its ids: {})",
                    t.expr,
                    t.request.as_deref().unwrap_or_default(),
                    known.join(", ")
                ),
            ));
        }
        if let Err((field, message)) = spec.check_load().and_then(|()| spec.check_delay_server()) {
            return Err(diagnostic::at_field(text, origin, field, message));
        }
        Ok(spec)
    }

    /// The first of `thresholds` that names a request id this spec does
    /// not have (`Slwo: p99 < 1s`), if any.
    pub fn unknown_request<'t>(
        &self,
        thresholds: &'t [crate::threshold::Threshold],
    ) -> Option<&'t crate::threshold::Threshold> {
        let round = self.round();
        thresholds.iter().find(|t| {
            t.request
                .as_deref()
                .is_some_and(|id| !round.iter().any(|w| w.id() == id))
        })
    }
}

impl Spec {
    /// One round's requests, whatever their kind, in order: the HTTP
    /// requests, the queries, the tracking updates; with scenarios, their
    /// request and query steps. (A new kind's field takes its place here.)
    pub fn round(&self) -> Vec<&dyn Work> {
        if let Some(scenarios) = &self.scenarios {
            return scenarios
                .0
                .iter()
                .flat_map(|(_, s)| &s.steps)
                .filter_map(|step| match step {
                    scenario::StepSpec::Http { request, .. } => Some(request as &dyn Work),
                    scenario::StepSpec::Sql { query } => Some(query as &dyn Work),
                    scenario::StepSpec::Think(_) => None,
                })
                .collect();
        }
        let http = self.requests.iter().map(|r| r as &dyn Work);
        let sql = self.queries.iter().map(|q| q as &dyn Work);
        let track = self.track.iter().map(|t| t as &dyn Work);
        http.chain(sql).chain(track).collect()
    }
}

/// A non-empty list of stages (when the field is given at all).
fn stages<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<StageSpec>>, D::Error> {
    checked_seq(
        deserializer,
        "a list of stages",
        |stages: Vec<StageSpec>| {
            if stages.is_empty() {
                return Err("no stages: list at least one `{ rate: 100/s, for: 10s }`".to_owned());
            }
            Ok(stages)
        },
    )
    .map(Some)
}

/// A non-empty list of distinct modes.
fn modes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Mode>, D::Error> {
    checked_seq(deserializer, "a list of modes", |modes: Vec<Mode>| {
        if modes.is_empty() {
            return Err(format!(
                "no modes: list at least one of {}",
                Mode::ALL.map(|m| format!("`{m}`")).join(", ")
            ));
        }
        let mut seen = HashSet::new();
        match modes.iter().find(|m| !seen.insert(**m)) {
            Some(twice) => Err(format!("mode `{twice}` is listed twice")),
            None => Ok(modes),
        }
    })
}

/// A non-empty list of requests (when the field is given at all).
fn requests<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<RequestSpec>, D::Error> {
    checked_seq(
        deserializer,
        "a list of requests",
        |requests: Vec<RequestSpec>| {
            if requests.is_empty() {
                return Err("no requests: list at least one `{ id, path }`".to_owned());
            }
            Ok(requests)
        },
    )
}

#[cfg(test)]
pub(crate) mod tests;
