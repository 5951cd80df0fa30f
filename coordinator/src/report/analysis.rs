//! From what a mode produced to its report: the merged figures (the
//! mode's, each request id's, each agent's, per second, the latency curve),
//! with the words for them from [`super::explanation`]. Renderers never
//! compute; this is where the computing happens.

use std::collections::BTreeMap;

use loadlab_proto::Mode;
use loadlab_proto::histogram::LatencyHistogram;
use loadlab_proto::tally::Tally;

use super::duration;
use super::explanation::{
    Measured, explain, explain_tracking, generator_warning, parallel_workers, schedule_note,
};
use super::model::{
    AgentFigures, DatabaseActivity, InFlight, IntervalSummary, LatencySummary, LoadKind,
    ModeReport, PercentilePoint, RequestFigures, RequestRecord, StallSummary,
};
use loadlab_proto::stall::Stall;

/// How the mode's requests were started.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// Each when a slot freed; `cap` in flight (0: all at once).
    Closed { cap: u32 },
    /// At a rate: `intended_per_s` requests a second; `cap` in flight (0:
    /// no cap).
    Open { cap: u32, intended_per_s: f64 },
}

/// What a mode produced, as the run loop hands it over.
#[derive(Debug)]
pub struct ModeResults {
    pub mode: Mode,
    pub load: Load,
    /// Every agent's requests, merged.
    pub tally: Tally,
    /// The same by request id, merged.
    pub by_request: BTreeMap<String, Tally>,
    /// Requests skipped after a failed step, by request id (scenarios).
    pub skipped: BTreeMap<String, u64>,
    /// Iterations by scenario, merged.
    pub by_scenario: BTreeMap<String, crate::experiment::ScenarioTally>,
    pub agents: Vec<AgentResult>,
    pub records: Vec<RequestRecord>,
    /// Requests that never started.
    pub not_started: u64,
    /// Requests in flight when the graceful stop ran out, abandoned.
    pub interrupted: u64,
    /// How long in-flight requests were given after a timed schedule ended.
    pub graceful_stop: std::time::Duration,
    /// Most requests due and not started at once, summed over agents.
    pub max_backlog: u64,
    /// Most requests in flight at once on each agent, summed.
    pub max_in_flight: u64,
    /// The executor stall each agent measured (modes with an executor).
    pub stalls: Vec<Stall>,
    /// The database's activity while the mode's queries ran.
    pub database: Option<DatabaseActivity>,
    /// The tracking workload's own figures.
    pub tracking: Option<Tracking>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
    /// The coordinator's own measure of the mode, used when no request
    /// finished.
    pub elapsed_ms: f64,
}

/// What a tracking mode measured beyond its updates.
#[derive(Debug)]
pub struct Tracking {
    /// The customers' websocket set-up times, merged across agents.
    pub connect: LatencyHistogram,
    pub connect_failures: u64,
    pub tracker: Option<crate::report::TrackerActivity>,
}

/// One agent's part of a mode.
#[derive(Debug)]
pub struct AgentResult {
    pub name: String,
    pub id: String,
    pub tally: Tally,
}

pub fn mode_report(results: ModeResults) -> ModeReport {
    let ModeResults {
        mode,
        load,
        tally,
        by_request,
        skipped,
        by_scenario,
        agents,
        mut records,
        not_started,
        interrupted,
        graceful_stop,
        max_backlog,
        max_in_flight,
        stalls,
        database,
        tracking,
        failures,
        notes,
        elapsed_ms,
    } = results;
    records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let wall_ms = if tally.is_empty() {
        elapsed_ms
    } else {
        tally.wall_us() as f64 / 1e3
    };
    let sum_latency_ms = tally.service_sum_us as f64 / 1e3;
    let overlap = if wall_ms > 0.0 {
        sum_latency_ms / wall_ms
    } else {
        0.0
    };
    let histogram = summary(&tally.response);
    let service_time = summary(&tally.service);
    let schedule_lag = summary(&tally.lag);
    let intervals = intervals(&tally);
    // The worst second among those with a fair share of the requests (a
    // last second with one straggler says little).
    let fair = (tally.count / intervals.len().max(1) as u64 / 10).max(1);
    let worst_second = intervals
        .iter()
        .filter(|i| i.count >= fair)
        .max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms))
        .cloned();
    // Tracking's agents always send with async tasks (the mode is the
    // tracker's): their lag is the async generator's.
    let sender = if tracking.is_some() {
        Mode::Async
    } else {
        mode
    };
    let schedule_note = schedule_note(
        sender,
        load,
        &tally,
        &schedule_lag,
        &service_time,
        &histogram,
    );
    let stall = merge_stalls(&stalls);
    let generator = generator_warning(sender, load, &schedule_lag, stall, &histogram);
    let in_flight = InFlight {
        max: exact_max_in_flight(&records, tally.count).unwrap_or(max_in_flight),
        mean: overlap,
    };
    let measured = Measured {
        wall_ms,
        sum_ms: sum_latency_ms,
        max_ms: histogram.max_ms,
        count: tally.count,
        in_flight,
        stall,
    };
    let mut explanation = explain(mode, &measured);
    if let Some(db) = database {
        explanation.push_str(&parallel_workers(&db, in_flight));
    }
    if let Some(tracking) = &tracking {
        explanation = explain_tracking(mode, &tally, &histogram, tracking);
    }
    ModeReport {
        published: tracking.as_ref().map(|_| tally.count),
        delivered: tracking.as_ref().map(|_| tally.count - tally.errors),
        connect: tracking
            .as_ref()
            .filter(|t| !t.connect.is_empty())
            .map(|t| summary(&t.connect)),
        connect_failures: tracking.as_ref().map(|t| t.connect_failures),
        threads: tracking
            .as_ref()
            .and_then(|t| t.tracker)
            .map(|a| a.threads_max),
        rss_mb: tracking
            .as_ref()
            .and_then(|t| t.tracker)
            .map(|a| a.rss_mb_max),
        exemplars: None,
        mode,
        wall_ms,
        sum_latency_ms,
        overlap,
        speedup_vs_sync: None,
        load: match load {
            Load::Closed { .. } => LoadKind::Closed,
            Load::Open { .. } => LoadKind::Open,
        },
        intended_rate: match load {
            Load::Open { intended_per_s, .. } => Some(intended_per_s),
            Load::Closed { .. } => None,
        },
        achieved_rate: if wall_ms > 0.0 {
            tally.count as f64 / (wall_ms / 1e3)
        } else {
            0.0
        },
        service_time,
        schedule_lag,
        late: tally.late,
        max_backlog,
        schedule_note,
        generator,
        intervals,
        worst_second,
        explanation,
        stall,
        in_flight,
        database,
        slowdown_vs_sync: None,
        percentiles: curve(&tally.response),
        response: (!tally.response.is_empty()).then(|| tally.response.clone()),
        by_request: by_request
            .into_iter()
            .map(|(id, t)| {
                let mut figures = request_figures(t, wall_ms);
                figures.skipped = skipped.get(&id).copied().unwrap_or(0);
                (id, figures)
            })
            .collect(),
        by_scenario: by_scenario
            .into_iter()
            .map(|(name, s)| (name, scenario_figures(&s)))
            .collect(),
        errors: tally.errors,
        errors_by_reason: tally.failures.clone(),
        not_started,
        interrupted,
        failures,
        notes: if interrupted > 0 {
            let mut notes = notes;
            notes.push(format!(
                "{interrupted} request{} still in flight {} after the schedule ended, abandoned: \
                 interrupted (graceful_stop), not failed",
                if interrupted == 1 { " was" } else { "s were" },
                duration::fmt_ms(graceful_stop.as_secs_f64() * 1e3)
            ));
            notes
        } else {
            notes
        },
        histogram,
        agents: agents.iter().map(figures).collect(),
        requests_sampled: records.len() as u64 != tally.count,
        requests: records,
    }
}

/// One request id's figures, from its merged tally: its rate over the
/// mode's wall time, as the mode's own rate is.
fn scenario_figures(s: &crate::experiment::ScenarioTally) -> crate::report::ScenarioFigures {
    let completed = s.iterations.count;
    let busy_us = s.iterations.service_sum_us;
    crate::report::ScenarioFigures {
        started: s.started.max(completed),
        completed,
        failed: s.iterations.errors,
        interrupted: s.started.saturating_sub(completed),
        duration: summary(&s.iterations.service),
        think_ms: s.think_us as f64 / 1e3,
        think_share: if busy_us > 0 {
            (s.think_us as f64 / busy_us as f64).min(1.0)
        } else {
            0.0
        },
    }
}

fn request_figures(tally: Tally, wall_ms: f64) -> RequestFigures {
    RequestFigures {
        count: tally.count,
        errors: tally.errors,
        rps: if wall_ms > 0.0 {
            tally.count as f64 / (wall_ms / 1e3)
        } else {
            0.0
        },
        histogram: summary(&tally.response),
        service_time: summary(&tally.service),
        schedule_lag: summary(&tally.lag),
        percentiles: curve(&tally.response),
        intervals: intervals(&tally),
        response: (!tally.response.is_empty()).then_some(tally.response),
        skipped: 0,
    }
}

/// The tally's seconds, with their percentiles.
fn intervals(tally: &Tally) -> Vec<IntervalSummary> {
    tally
        .intervals
        .iter()
        .filter_map(|(second, interval)| {
            let h = interval.response().ok()?;
            let s = summary(&h);
            Some(IntervalSummary {
                second,
                count: interval.count,
                errors: interval.errors,
                p50_ms: s.p50_ms,
                p99_ms: s.p99_ms,
                max_ms: s.max_ms,
                in_flight: interval.service_sum_us as f64 / 1e6,
            })
        })
        .collect()
}

fn figures(agent: &AgentResult) -> AgentFigures {
    AgentFigures {
        name: agent.name.clone(),
        id: agent.id.clone(),
        errors: agent.tally.errors,
        wall_ms: agent.tally.wall_us() as f64 / 1e3,
        latency: summary(&agent.tally.response),
        percentiles: curve(&agent.tally.response),
    }
}

/// Percentiles the latency curve is drawn through.
const CURVE: [f64; 13] = [
    0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

/// The response time at each of [`CURVE`]'s percentiles.
pub fn curve(h: &LatencyHistogram) -> Vec<PercentilePoint> {
    if h.is_empty() {
        return Vec::new();
    }
    CURVE
        .iter()
        .map(|&percentile| PercentilePoint {
            percentile,
            ms: h.value_at_quantile(percentile / 100.0) as f64 / 1e3,
        })
        .collect()
}

/// The agents' stalls as one: time stalled adds up, the worst is the worst.
fn merge_stalls(stalls: &[Stall]) -> Option<StallSummary> {
    if stalls.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1e3;
    Some(StallSummary {
        total_ms: ms(stalls.iter().map(|s| s.total_us).sum()),
        max_ms: ms(stalls.iter().map(|s| s.max_us).max().unwrap_or(0)),
        p99_ms: ms(stalls.iter().map(|s| s.p99_us).max().unwrap_or(0)),
    })
}

/// The most requests in flight at once, swept over the records on the
/// mode's one time axis — when every request's record is there.
fn exact_max_in_flight(records: &[RequestRecord], count: u64) -> Option<u64> {
    if records.is_empty() || records.len() as u64 != count {
        return None;
    }
    let mut edges: Vec<(f64, i64)> = records
        .iter()
        .flat_map(|r| [(r.start_ms, 1), (r.end_ms, -1)])
        .collect();
    // Ends before starts at the same instant: back to back is not overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0i64, 0i64);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    Some(most as u64)
}

/// Percentiles of a histogram of microseconds, in milliseconds.
pub fn summary(h: &LatencyHistogram) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let ms = |us: u64| us as f64 / 1e3;
    LatencySummary {
        count: h.len(),
        min_ms: ms(h.min()),
        mean_ms: h.mean() / 1e3,
        p50_ms: ms(h.value_at_quantile(0.5)),
        p90_ms: ms(h.value_at_quantile(0.9)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::record;

    #[test]
    fn the_most_in_flight_is_swept_from_the_records() {
        // Back to back is one at a time; overlapping is two.
        let chain = [record("R", 0.0, 1.0), record("R", 1.0, 2.0)];
        assert_eq!(exact_max_in_flight(&chain, 2), Some(1));
        let overlap = [
            record("R", 0.0, 2.0),
            record("R", 1.0, 3.0),
            record("R", 2.5, 4.0),
        ];
        assert_eq!(exact_max_in_flight(&overlap, 3), Some(2));
        assert_eq!(
            exact_max_in_flight(&overlap, 5),
            None,
            "not every record is there"
        );
    }
}
