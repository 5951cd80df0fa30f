//! The report model: what a run found, built once by [`super::analysis`]
//! and rendered by the renderers ([`super::text`], JSON as its serde form).
//! It serializes and deserializes, so a saved run can be rendered again.
//! What a report decides once its modes are in (exemplars, redaction,
//! thresholds, the exit code) is in [`verdict`].

use std::collections::BTreeMap;

use loadlab_proto::Mode;
use serde::{Deserialize, Serialize};

use crate::kind::Kind;
use crate::spec::Spec;

mod verdict;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// What this file is: [`FORMAT`], so a saved report is told from other
    /// JSON.
    pub format: String,
    /// The run's OpenTelemetry trace, when traces were exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The trace's page in a trace UI (`--trace-ui`, or Jaeger's beside a
    /// collector that looks like one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
    pub spec: Spec,
    /// Where the requests went (the embedded delay server's address when the
    /// spec names no HTTP target).
    pub targets: Targets,
    /// The agents' names, as the report shows them (unique).
    pub agents: Vec<String>,
    pub modes: Vec<ModeReport>,
    /// True when the run was stopped (Ctrl-C) before it finished.
    pub interrupted: bool,
    /// Where every request's record went (`--requests`), when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_file: Option<String>,
    /// Each threshold (the spec's, then `--threshold`'s) judged on each
    /// mode's merged figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<crate::threshold::Verdict>,
}

/// The `format` of reports this version writes and reads.
pub const FORMAT: &str = "loadlab-report/1";

/// Where the work went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// Base URL of the HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// `host:port/database` (never the password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The tracker's ws:// URL (tracking workload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeReport {
    pub mode: Mode,
    /// First request started to last request finished, on the mode's time
    /// axis (across every agent).
    pub wall_ms: f64,
    /// Sum of every request's service time: the wall time if nothing
    /// overlapped.
    pub sum_latency_ms: f64,
    /// How many requests were waiting at once, on average (sum / wall).
    pub overlap: f64,
    /// Sync's wall time divided by this mode's, when sync ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speedup_vs_sync: Option<f64>,
    /// Why this mode took what it took, in one sentence.
    pub explanation: String,
    /// Requests that failed.
    pub errors: u64,
    /// Failed requests by request id and reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors_by_reason: BTreeMap<String, u64>,
    /// Requests of the mode that never started (cancelled, or a thread
    /// that could not start).
    #[serde(default)]
    pub not_started: u64,
    /// Requests still in flight when a timed schedule's `graceful_stop`
    /// ran out: abandoned, counted neither as done nor as failed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interrupted: u64,
    /// Agent-level problems: an agent lost, a refused assignment, requests
    /// that did not run.
    pub failures: Vec<String>,
    /// What happened but did not cost a result: an agent lost whose
    /// unfinished requests other agents ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Closed loop (a request starts when a slot frees) or open loop
    /// (requests are due at a rate, whatever the server does).
    pub load: LoadKind,
    /// Open loop: requests per second the schedule asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_rate: Option<f64>,
    /// Requests finished per second of the mode's wall time.
    #[serde(default)]
    pub achieved_rate: f64,
    /// Response time, from when each request was due (its intended start;
    /// the actual start in a closed loop) to its end, merged across agents.
    pub histogram: LatencySummary,
    /// From each request's actual start to its end.
    #[serde(default)]
    pub service_time: LatencySummary,
    /// How late each request started after it was due.
    #[serde(default)]
    pub schedule_lag: LatencySummary,
    /// Requests that started more than 1 ms after they were due.
    #[serde(default)]
    pub late: u64,
    /// Most requests due and not yet started at once (summed over agents).
    #[serde(default)]
    pub max_backlog: u64,
    /// What the schedule did to the figures, in one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_note: Option<String>,
    /// When the load generator itself was late enough to show in the
    /// latencies: by how much, and what that means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// Per second of the mode (by when requests ended), merged across agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<IntervalSummary>,
    /// The second with the highest p99, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_second: Option<IntervalSummary>,
    /// How long ready work waited for the mode's executor (async and
    /// blocking modes): measured by a canary task the executor should have
    /// run every 5 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<StallSummary>,
    /// Requests in flight at once.
    #[serde(default)]
    pub in_flight: InFlight,
    /// The database while the mode's queries ran (modes with queries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseActivity>,
    /// How much longer each request took here than alone, in sync: the
    /// mean over request ids of their mean latency here over theirs in
    /// sync (modes other than sync, when sync ran and every record is
    /// there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowdown_vs_sync: Option<f64>,
    /// Response time by percentile, for the latency curve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<PercentilePoint>,
    /// The merged response-time histogram itself (µs), while the run that
    /// made it is in memory: what a threshold on any percentile is judged
    /// on. Not written: a saved report keeps its summaries.
    #[serde(skip)]
    pub response: Option<loadlab_proto::histogram::LatencyHistogram>,
    /// Each request id's own figures, merged across agents like the
    /// mode's: a fast and a slow endpoint are not one histogram.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_request: BTreeMap<String, RequestFigures>,
    /// With scenarios: each scenario's iterations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_scenario: BTreeMap<String, ScenarioFigures>,
    pub agents: Vec<AgentFigures>,
    /// Requests as they happened, ordered by start: every one, or (see
    /// `requests_sampled`) the first, the failures, the slowest and a
    /// uniform sample.
    pub requests: Vec<RequestRecord>,
    /// True when `requests` is a sample, not every request.
    #[serde(default)]
    pub requests_sampled: bool,
    /// Tracking workload: courier updates published (each a request of
    /// the mode; `histogram` is their publish-to-delivery latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u64>,
    /// Of those, delivered to their customer within the timeout; the rest
    /// were lost (see `errors_by_reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u64>,
    /// How long the customers' websockets took to open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<LatencySummary>,
    /// Customers whose websocket did not open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_failures: Option<u64>,
    /// The tracker's threads at most during the mode (its `/stats`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u64>,
    /// The tracker's resident memory at most during the mode, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_mb: Option<f64>,
    /// Traced requests near the median, p90 and p99, and the slowest: each a
    /// span of the run's trace to open (when the run was traced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemplars: Option<Exemplars>,
}

/// One request id's share of a mode.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RequestFigures {
    pub count: u64,
    /// Of those, failed.
    pub errors: u64,
    /// Finished per second of the mode's wall time.
    pub rps: f64,
    /// Response time (from when each was due), as the mode's `histogram`.
    pub histogram: LatencySummary,
    #[serde(default)]
    pub service_time: LatencySummary,
    #[serde(default)]
    pub schedule_lag: LatencySummary,
    /// Response time by percentile, for its latency curve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<PercentilePoint>,
    /// Its merged histogram (µs) while the run is in memory, for
    /// thresholds on any percentile; not written.
    #[serde(skip)]
    pub response: Option<loadlab_proto::histogram::LatencyHistogram>,
    /// Per second of the mode, merged across agents, as the mode's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<IntervalSummary>,
    /// Not run: an earlier step of their iteration failed (scenarios).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
}

/// One scenario's iterations in a mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioFigures {
    pub started: u64,
    /// Ran to their end (failed ones included).
    pub completed: u64,
    /// Of those, with a failed step.
    pub failed: u64,
    /// Started and not completed: abandoned at the graceful stop, or cut
    /// short by a cancel.
    pub interrupted: u64,
    /// How long a completed iteration took, pauses included.
    pub duration: LatencySummary,
    /// Time its users spent thinking, and its share of their iterations'
    /// time.
    pub think_ms: f64,
    pub think_share: f64,
}

/// Requests that stand for a percentile, with their spans.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exemplars {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<Exemplar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<Exemplar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<Exemplar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Exemplar>,
}

/// One traced request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    pub id: String,
    pub round: u64,
    pub agent: String,
    pub trace_id: String,
    pub span_id: String,
    /// Its response time (from when it was due; the JSON's `latency_ms`).
    #[serde(rename = "latency_ms")]
    pub response_ms: f64,
}

/// The tracker as its `/stats` showed it during a mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackerActivity {
    pub samples: u64,
    pub threads_max: u64,
    pub rss_mb_max: f64,
}

/// How a mode's requests were started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadKind {
    Closed,
    Open,
}

/// Executor stall, merged across agents: their sum, and the worst.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StallSummary {
    pub total_ms: f64,
    pub max_ms: f64,
    pub p99_ms: f64,
}

/// The agents' backends as PostgreSQL saw them, sampled every 100 ms while
/// queries ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseActivity {
    /// Samples with at least one query active.
    pub samples: u64,
    pub active_max: u64,
    pub active_mean: f64,
    /// Share of active backends waiting on locks, and on I/O.
    pub lock_wait_share: f64,
    pub io_wait_share: f64,
}

/// Requests in flight at once: the most (exact from the records when they
/// are all there, else the sum of each agent's most) and the mean over the
/// wall time (the sum of service times over it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    pub max: u64,
    pub mean: f64,
}

/// The response time below which `percentile` percent of requests ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentilePoint {
    pub percentile: f64,
    pub ms: f64,
}

/// One second of a mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalSummary {
    /// Since the mode started.
    pub second: u32,
    pub count: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Mean requests in flight during the second.
    #[serde(default)]
    pub in_flight: f64,
}

/// Latency percentiles from a merged histogram, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    /// Absent from reports written before it was added (read as 0).
    #[serde(default)]
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// One agent's share of a mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentFigures {
    /// As the report shows it: the agent's name, with `#2`, `#3`... when
    /// another agent gave the same one.
    pub name: String,
    /// The agent's own id (unique per agent process).
    #[serde(default)]
    pub id: String,
    pub errors: u64,
    pub wall_ms: f64,
    #[serde(flatten)]
    pub latency: LatencySummary,
    /// Its response time by percentile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<PercentilePoint>,
}

/// One request as it happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    pub id: String,
    pub kind: Kind,
    pub round: u64,
    pub agent: String,
    pub ok: bool,
    pub status: u32,
    /// When it was due, since the mode started: equal to `start_ms` in a
    /// closed loop, earlier when an open loop's request started late.
    #[serde(default)]
    pub intended_ms: f64,
    /// Since the mode started (one time axis for every agent).
    pub start_ms: f64,
    pub end_ms: f64,
    /// Its service time: from when it started to when it ended (the
    /// JSON's `latency_ms`, as users' scripts read it).
    #[serde(rename = "latency_ms")]
    pub service_ms: f64,
    pub bytes: u64,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub rows: u64,
    /// Its span in the run's trace (see `trace_url`), when tracing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// A scenario's request: the user that sent it (the timeline gives
    /// each user a row); `round` is then the user's iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<u64>,
}

impl RequestRecord {
    /// From when it was due to its end: the response time of
    /// `loadlab_proto::tally::Finished::response_us`, in ms.
    pub fn response_ms(&self) -> f64 {
        self.end_ms - self.intended_ms.min(self.start_ms)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
