//! From what a mode produced to what the report says about it: the merged
//! figures, the shape of its wall time, and why. Renderers never compute;
//! this is where the computing happens.

use std::collections::BTreeMap;

use loadlab_agent::Mode;
use loadlab_proto::histogram::LatencyHistogram;
use loadlab_proto::tally::Tally;

use super::model::{
    AgentFigures, DatabaseActivity, InFlight, IntervalSummary, LatencySummary, LoadKind,
    ModeReport, PercentilePoint, RequestFigures, RequestRecord, StallSummary,
};
use super::text;
use loadlab_agent::probe::Stall;

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
            .map(|(id, t)| (id, request_figures(t, wall_ms)))
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
                text::fmt_ms(graceful_stop.as_secs_f64() * 1e3)
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
        response: (!tally.response.is_empty()).then_some(tally.response),
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

/// What the schedule did to the figures: how long requests waited to be
/// sent in an open loop and why; what a closed-loop load run leaves out.
fn schedule_note(
    mode: Mode,
    load: Load,
    tally: &Tally,
    lag: &LatencySummary,
    service: &LatencySummary,
    response: &LatencySummary,
) -> Option<String> {
    match load {
        Load::Closed { cap } if tally.count > 100 && cap > 0 => {
            let started = match mode {
                Mode::Sync | Mode::Blocking => {
                    "each request started only when the one before it ended".to_owned()
                }
                _ => format!("a request started only when one of the {cap} slots freed"),
            };
            Some(format!(
                "closed loop: {started}, so these latencies leave out any wait for a turn; \
                 give `rate` and `duration` to run it open-loop and count that wait"
            ))
        }
        Load::Closed { .. } => None,
        Load::Open { .. } if tally.late == 0 => Some(format!(
            "open loop: every request started within 1 ms of when it was due (lag max {})",
            text::fmt_ms(lag.max_ms)
        )),
        Load::Open { cap, .. } => {
            let why = match mode {
                Mode::Sync => "one request at a time, each waited for the one before".to_owned(),
                Mode::Blocking => {
                    "the one executor thread was held by a blocking call each time".to_owned()
                }
                _ if cap > 0 && response.p99_ms > 2.0 * service.p99_ms.max(0.001) => {
                    format!("the cap of {cap} in flight was full while the server was slow")
                }
                _ if cap > 0 => format!("the cap of {cap} in flight was full"),
                _ => "the load generator could not keep up with the rate".to_owned(),
            };
            Some(format!(
                "requests waited up to {} to be sent ({} of {} late by more than 1 ms): {why}",
                text::fmt_ms(lag.max_ms),
                tally.late,
                tally.count,
            ))
        }
    }
}

/// The load generator watching itself: when its own lateness — how long
/// the executor could not run ready work, or (an open loop without a cap)
/// how late requests were sent — is a share of the response times, the
/// latencies below it are not the server's, and the report says so with
/// the figures. Not for `sync` and `blocking`, whose waits are their lesson.
fn generator_warning(
    mode: Mode,
    load: Load,
    lag: &LatencySummary,
    stall: Option<StallSummary>,
    response: &LatencySummary,
) -> Option<String> {
    if matches!(mode, Mode::Sync | Mode::Blocking) || response.count == 0 {
        return None;
    }
    // Lag counts only when no cap made requests wait for a slot.
    let lag_ms = match load {
        Load::Open { cap: 0, .. } => lag.p99_ms,
        _ => 0.0,
    };
    let stall_ms = stall.map_or(0.0, |s| s.p99_ms);
    let late_ms = lag_ms.max(stall_ms);
    if late_ms < 1.0 || late_ms < 0.1 * response.p50_ms {
        return None;
    }
    let what = if lag_ms >= stall_ms {
        format!("requests were sent late by p99 {}", text::fmt_ms(lag_ms))
    } else {
        format!(
            "its executor stalled p99 {} (ready work waiting for a thread)",
            text::fmt_ms(stall_ms)
        )
    };
    Some(format!(
        "the generator was late by p99 {}: {what}, against a response p50 of {}; \
         latencies below that are not the server's (a CPU too busy for the load: fewer \
         modes or agents per core, or more agents)",
        text::fmt_ms(late_ms),
        text::fmt_ms(response.p50_ms)
    ))
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

/// What the explanation is computed from.
struct Measured {
    wall_ms: f64,
    sum_ms: f64,
    max_ms: f64,
    count: u64,
    in_flight: InFlight,
    stall: Option<StallSummary>,
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

/// Says which the wall time is close to — the sum of the waits or the
/// slowest one — and why, from what was measured: requests in flight at
/// once, and how long the executor could not run ready work.
fn explain(mode: Mode, m: &Measured) -> String {
    let near = |a: f64, b: f64| b > 0.0 && (a - b).abs() <= 0.1 * b;
    let shape = if m.count <= 1 {
        "a single request".to_owned()
    } else if near(m.wall_ms, m.sum_ms) && !near(m.wall_ms, m.max_ms) {
        format!("≈ the sum of the waits ({})", text::fmt_ms(m.sum_ms))
    } else if near(m.wall_ms, m.max_ms) {
        format!("≈ the slowest request ({})", text::fmt_ms(m.max_ms))
    } else {
        format!(
            "{:.1} requests waiting at once on average",
            m.in_flight.mean
        )
    };
    let most = m.in_flight.max;
    let in_flight = if most <= 1 {
        "never more than 1 request in flight".to_owned()
    } else {
        format!("{most} in flight at once")
    };
    let why = match (mode, m.stall) {
        (_, Some(stall)) if stall.total_ms >= 0.5 * m.wall_ms => format!(
            "the executor was blocked {} of {}, {in_flight}",
            text::fmt_ms(stall.total_ms),
            text::fmt_ms(m.wall_ms)
        ),
        (Mode::Async, Some(stall)) if stall.max_ms > 20.0 || stall.total_ms > 0.1 * m.wall_ms => {
            format!(
                "{in_flight}; the load generator was the bottleneck: its executor stalled {} in \
                 all, up to {} at once (a CPU too busy, or a blocking call in async code)",
                text::fmt_ms(stall.total_ms),
                text::fmt_ms(stall.max_ms)
            )
        }
        (_, Some(stall)) => format!(
            "{in_flight}, the executor never blocked more than {}",
            text::fmt_ms(stall.max_ms)
        ),
        (Mode::Threads, None) if most > 1 => format!("{in_flight}, each on a thread of its own"),
        (_, None) => in_flight,
    };
    format!("{shape}: {why}")
}

/// A tracking mode in one sentence, from what it measured: how many
/// updates reached their customer, how fast, and what the tracker spent.
fn explain_tracking(
    mode: Mode,
    tally: &Tally,
    delivery: &LatencySummary,
    tracking: &Tracking,
) -> String {
    let published = tally.count;
    let delivered = published - tally.errors;
    let share = if published > 0 {
        100.0 * delivered as f64 / published as f64
    } else {
        0.0
    };
    let mut out = format!("{delivered} of {published} updates delivered ({share:.0}%)");
    if delivered > 0 {
        out.push_str(&format!(", p99 {}", text::fmt_ms(delivery.p99_ms)));
    }
    if tracking.connect_failures > 0 {
        out.push_str(&format!(
            "; {} customers could not connect",
            tracking.connect_failures
        ));
    }
    if let Some(tracker) = tracking.tracker {
        out.push_str(&format!(
            "; the tracker ran {} threads, {:.0} MB",
            tracker.threads_max, tracker.rss_mb_max
        ));
    }
    let how = match mode {
        Mode::Async => "a task per customer on one Redis subscriber",
        Mode::Threads => "a thread and a Redis connection per customer",
        Mode::Blocking => {
            "one executor thread, held by each customer's blocking Redis read in turn"
        }
        Mode::Sync => "one customer at a time; the others wait to connect",
    };
    format!("{out} ({how})")
}

/// Compares each mode with sync, where the requests ran alone: its
/// speedup, how much longer each request took beside the others, and — for
/// queries — whether the database was the bottleneck. Modes already
/// compared (see [`compare_mode_with_sync`]) are left as they are.
pub fn compare_with_sync(modes: &mut [ModeReport]) {
    let Some(sync) = modes.iter().find(|m| m.mode == Mode::Sync).cloned() else {
        return;
    };
    for m in modes.iter_mut() {
        if m.speedup_vs_sync.is_none() {
            compare_mode_with_sync(&sync, m);
        }
    }
}

/// Compares one mode with `sync` (its speedup, and for modes other than
/// sync the slowdown of each request and what the database did), so that
/// the run loop can do it as soon as the mode ends and the terminal shows
/// the whole explanation under the mode.
pub fn compare_mode_with_sync(sync: &ModeReport, m: &mut ModeReport) {
    let sync_ms = sync.wall_ms;
    if m.wall_ms > 0.0 {
        m.speedup_vs_sync = Some(sync_ms / m.wall_ms);
    }
    if m.mode == Mode::Sync {
        return;
    }
    m.slowdown_vs_sync = slowdown(&mean_latency_by_id(sync), &mean_latency_by_id(m));
    // Queries that slowed each other down: say what the database did.
    if let (Some(slowdown), Some(db)) = (m.slowdown_vs_sync, m.database)
        && slowdown >= 1.2
    {
        m.explanation.push_str(&format!(
            "; {} vs sync {}: each query took {slowdown:.1}× longer beside the others; {}",
            text::fmt_ms(m.wall_ms),
            text::fmt_ms(sync_ms),
            database_verdict(&db)
        ));
    }
}

/// One query at a time that still kept several backends busy: PostgreSQL
/// ran it on parallel workers, so the cores were busy before any
/// concurrency was added (why async gains little on a CPU-bound query).
/// Empty unless the measured figures say so.
fn parallel_workers(db: &DatabaseActivity, in_flight: InFlight) -> String {
    if in_flight.max > 1 || db.active_mean < 1.5 {
        return String::new();
    }
    format!(
        "; yet the database ran each query on ~{:.1} backends (parallel workers): the cores \
         were already busy",
        db.active_mean
    )
}

/// What the database's activity says about a slowdown.
fn database_verdict(db: &DatabaseActivity) -> String {
    let waits = db.lock_wait_share + db.io_wait_share;
    let active = format!(
        "{} backend{} were active",
        db.active_max,
        if db.active_max == 1 { "" } else { "s" }
    );
    if db.lock_wait_share >= 0.1 {
        format!(
            "{active} and {:.0}% of the time waited on locks: they queued for each other",
            db.lock_wait_share * 100.0
        )
    } else if db.io_wait_share >= 0.1 {
        format!(
            "{active} and {:.0}% of the time waited on I/O: the database was I/O-bound",
            db.io_wait_share * 100.0
        )
    } else if waits < 0.05 {
        format!("{active} and none waited on locks or I/O: the database was CPU-bound")
    } else {
        format!(
            "{active}, waiting on locks or I/O {:.0}% of the time",
            waits * 100.0
        )
    }
}

/// Mean latency per request id, when every request's record is there.
fn mean_latency_by_id(mode: &ModeReport) -> Option<BTreeMap<String, f64>> {
    if mode.requests.is_empty() || mode.requests.len() as u64 != mode.histogram.count {
        return None;
    }
    let mut sums: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for r in &mode.requests {
        let entry = sums.entry(r.id.clone()).or_default();
        entry.0 += r.latency_ms;
        entry.1 += 1;
    }
    Some(
        sums.into_iter()
            .map(|(id, (sum, n))| (id, sum / n as f64))
            .collect(),
    )
}

/// The mean, over ids present in both, of `here / alone`.
fn slowdown(
    alone: &Option<BTreeMap<String, f64>>,
    here: &Option<BTreeMap<String, f64>>,
) -> Option<f64> {
    let (alone, here) = (alone.as_ref()?, here.as_ref()?);
    let ratios: Vec<f64> = here
        .iter()
        .filter_map(|(id, ms)| alone.get(id).filter(|a| **a > 0.0).map(|a| ms / a))
        .collect();
    (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use loadlab_proto::tally::Sample;

    /// A mode whose requests ran back to back (`sequential`) or all from 0.
    pub fn mode(mode: Mode, latencies_ms: &[f64], sequential: bool) -> ModeReport {
        let mut tally = Tally::new();
        let mut at = 0u64;
        for &l in latencies_ms {
            let us = (l * 1e3) as u64;
            tally.record(Sample {
                intended_us: at,
                start_us: at,
                end_us: at + us,
                error: None,
            });
            if sequential {
                at += us;
            }
        }
        mode_report(ModeResults {
            mode,
            load: Load::Closed { cap: 0 },
            tally,
            by_request: BTreeMap::new(),
            agents: Vec::new(),
            records: Vec::new(),
            not_started: 0,
            interrupted: 0,
            graceful_stop: std::time::Duration::ZERO,
            max_backlog: 0,
            max_in_flight: if sequential {
                1
            } else {
                latencies_ms.len() as u64
            },
            stalls: Vec::new(),
            database: None,
            tracking: None,
            failures: Vec::new(),
            notes: Vec::new(),
            elapsed_ms: 0.0,
        })
    }

    /// A closed loop's note says what it leaves out, in one sentence, as
    /// each mode starts its requests.
    #[test]
    fn a_closed_loop_says_what_its_latencies_leave_out() {
        let note = |m: Mode| {
            let mut tally = Tally::new();
            for i in 0..200u64 {
                tally.record(Sample {
                    intended_us: i * 10,
                    start_us: i * 10,
                    end_us: i * 10 + 5,
                    error: None,
                });
            }
            let lag = summary(&tally.lag);
            let service = summary(&tally.service);
            let response = summary(&tally.response);
            schedule_note(
                m,
                Load::Closed { cap: 10 },
                &tally,
                &lag,
                &service,
                &response,
            )
            .expect("a note past 100 requests")
        };
        let concurrent = note(Mode::Async);
        assert_eq!(
            concurrent,
            "closed loop: a request started only when one of the 10 slots freed, so these \
             latencies leave out any wait for a turn; give `rate` and `duration` to run it \
             open-loop and count that wait"
        );
        let sequential = note(Mode::Sync);
        assert!(
            sequential.starts_with(
                "closed loop: each request started only when the one before it ended, so"
            ),
            "{sequential}"
        );
        assert!(!sequential.contains("slots"), "{sequential}");
        assert!(!concurrent.contains("  ") && !sequential.contains("  "));
    }

    #[test]
    fn sequential_run_is_explained_as_the_sum() {
        let m = mode(Mode::Sync, &[10_000.0, 2_000.0, 5_000.0], true);
        assert!(
            m.explanation
                .starts_with("≈ the sum of the waits (17.000 s)"),
            "{}",
            m.explanation
        );
        assert!((m.overlap - 1.0).abs() < 0.01);
        assert!((m.wall_ms - 17_000.0).abs() < 1.0);
    }

    #[test]
    fn concurrent_run_is_explained_as_the_slowest() {
        let m = mode(Mode::Async, &[10_000.0, 2_000.0, 5_000.0], false);
        assert!(
            m.explanation.starts_with("≈ the slowest request (10.0"),
            "{}",
            m.explanation
        );
        assert!(
            m.explanation.ends_with("3 in flight at once"),
            "{}",
            m.explanation
        );
    }

    /// The blocking mode's sentence carries the measured stall.
    #[test]
    fn a_blocked_executor_is_named_with_its_measure() {
        let mut m = mode(Mode::Blocking, &[10_000.0, 2_000.0, 5_000.0], true);
        let measured = Measured {
            wall_ms: m.wall_ms,
            sum_ms: m.sum_latency_ms,
            max_ms: m.histogram.max_ms,
            count: 3,
            in_flight: InFlight { max: 1, mean: 1.0 },
            stall: Some(StallSummary {
                total_ms: 16_990.0,
                max_ms: 10_000.0,
                p99_ms: 10_000.0,
            }),
        };
        m.explanation = explain(Mode::Blocking, &measured);
        assert_eq!(
            m.explanation,
            "≈ the sum of the waits (17.000 s): the executor was blocked 16.990 s of 17.000 s, \
             never more than 1 request in flight"
        );
        let free = Measured {
            in_flight: InFlight { max: 3, mean: 1.7 },
            stall: Some(StallSummary {
                total_ms: 1.0,
                max_ms: 0.2,
                p99_ms: 0.1,
            }),
            wall_ms: 10_000.0,
            ..measured
        };
        assert_eq!(
            explain(Mode::Async, &free),
            "≈ the slowest request (10.002 s): 3 in flight at once, the executor never blocked more than 0.2 ms"
        );
    }

    /// A successful request of `id` from `start_ms` to `end_ms`, on agent `a`.
    pub fn record(id: &str, start_ms: f64, end_ms: f64) -> RequestRecord {
        RequestRecord {
            id: id.into(),
            kind: crate::report::Kind::Http,
            round: 0,
            agent: "a".into(),
            ok: true,
            status: 200,
            intended_ms: start_ms,
            start_ms,
            end_ms,
            latency_ms: end_ms - start_ms,
            bytes: 0,
            body: String::new(),
            error: None,
            rows: 0,
            span_id: None,
        }
    }

    /// A report of `modes` from a one-request spec, on agent `a`.
    pub fn report_of(modes: Vec<ModeReport>) -> crate::report::Report {
        let spec = crate::spec::Spec::parse(
            "name: x\nmodes: [sync]\nrequests: [{id: R1, path: /}]\n",
            "x",
        )
        .unwrap();
        crate::report::Report::new(spec, Default::default(), vec!["a".into()], modes, false)
    }

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

    /// Queries that slowed each other down while no backend waited: the
    /// database was CPU-bound, and the sentence says so with the figures.
    #[test]
    fn a_cpu_bound_database_is_named_when_queries_slow_each_other() {
        let mut sync = mode(Mode::Sync, &[2_000.0, 1_000.0], true);
        sync.requests = vec![record("R1", 0.0, 2_000.0), record("R2", 2_000.0, 3_000.0)];
        let mut together = mode(Mode::Async, &[3_600.0, 1_800.0], false);
        together.requests = vec![record("R1", 0.0, 3_600.0), record("R2", 0.0, 1_800.0)];
        together.database = Some(DatabaseActivity {
            samples: 30,
            active_max: 2,
            active_mean: 1.6,
            lock_wait_share: 0.0,
            io_wait_share: 0.01,
        });
        let mut modes = vec![sync, together];
        compare_with_sync(&mut modes);
        assert_eq!(modes[1].slowdown_vs_sync, Some(1.8));
        assert!(
            modes[1].explanation.ends_with(
                "; 3.600 s vs sync 3.000 s: each query took 1.8× longer beside the others; \
                 2 backends were active and none waited on locks or I/O: the database was CPU-bound"
            ),
            "{}",
            modes[1].explanation
        );
    }

    /// One query in flight on several busy backends is named as parallel
    /// workers; one backend, or several queries in flight, is not.
    #[test]
    fn parallel_workers_are_named_when_one_query_kept_several_backends_busy() {
        let db = |active_mean| DatabaseActivity {
            samples: 20,
            active_max: 3,
            active_mean,
            lock_wait_share: 0.0,
            io_wait_share: 0.0,
        };
        let one = InFlight { max: 1, mean: 1.0 };
        assert_eq!(
            parallel_workers(&db(2.6), one),
            "; yet the database ran each query on ~2.6 backends (parallel workers): the cores \
             were already busy"
        );
        assert_eq!(parallel_workers(&db(1.0), one), "");
        assert_eq!(
            parallel_workers(&db(2.6), InFlight { max: 3, mean: 2.5 }),
            ""
        );
    }

    /// The generator's own lateness is named when it is a share of the
    /// response times, and not otherwise (nor for sync and blocking).
    #[test]
    fn a_late_generator_says_so_with_its_figures() {
        let response = LatencySummary {
            count: 100,
            p50_ms: 5.0,
            ..LatencySummary::default()
        };
        let lag = LatencySummary {
            p99_ms: 4.2,
            ..LatencySummary::default()
        };
        let open = Load::Open {
            cap: 0,
            intended_per_s: 1000.0,
        };
        let stall = |p99_ms| {
            Some(StallSummary {
                total_ms: 10.0,
                max_ms: p99_ms,
                p99_ms,
            })
        };
        let warned = generator_warning(Mode::Async, open, &lag, stall(0.3), &response).unwrap();
        assert!(
            warned.starts_with("the generator was late by p99 4.2 ms: requests were sent late"),
            "{warned}"
        );
        assert!(
            warned.contains("latencies below that are not the server's"),
            "{warned}"
        );
        let closed = Load::Closed { cap: 50 };
        let warned = generator_warning(Mode::Async, closed, &lag, stall(2.5), &response).unwrap();
        assert!(
            warned.contains("its executor stalled p99 2.5 ms"),
            "{warned}"
        );
        // Small against the responses, or a lesson of its mode: nothing.
        assert_eq!(
            generator_warning(Mode::Async, closed, &lag, stall(0.3), &response),
            None
        );
        let slow = LatencySummary {
            p50_ms: 100.0,
            ..response.clone()
        };
        assert_eq!(
            generator_warning(Mode::Async, open, &lag, stall(0.3), &slow),
            None
        );
        assert_eq!(
            generator_warning(Mode::Blocking, open, &lag, stall(9.0), &response),
            None
        );
    }

    #[test]
    fn speedup_is_against_sync() {
        let mut modes = vec![
            mode(Mode::Sync, &[10_000.0, 2_000.0, 5_000.0], true),
            mode(Mode::Async, &[10_000.0, 2_000.0, 5_000.0], false),
        ];
        compare_with_sync(&mut modes);
        assert_eq!(modes[0].speedup_vs_sync, Some(1.0));
        let async_speedup = modes[1].speedup_vs_sync.unwrap();
        assert!((async_speedup - 1.7).abs() < 0.01, "{async_speedup}");
    }
}
