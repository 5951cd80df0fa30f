//! From what a mode produced to what the report says about it: the merged
//! figures, the shape of its wall time, and why. Renderers never compute;
//! this is where the computing happens.

use loadlab_agent::Mode;
use loadlab_proto::histogram::LatencyHistogram;
use loadlab_proto::tally::Tally;

use super::model::{
    AgentFigures, IntervalSummary, LatencySummary, LoadKind, ModeReport, RequestRecord,
};
use super::text;

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
    pub agents: Vec<AgentResult>,
    pub records: Vec<RequestRecord>,
    /// Requests that never started.
    pub not_started: u64,
    /// Most requests due and not started at once, summed over agents.
    pub max_backlog: u64,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
    /// The coordinator's own measure of the mode, used when no request
    /// finished.
    pub elapsed_ms: f64,
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
        agents,
        mut records,
        not_started,
        max_backlog,
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
    let schedule_note = schedule_note(mode, load, &tally, &schedule_lag, &service_time, &histogram);
    ModeReport {
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
        intervals,
        worst_second,
        explanation: explain(mode, wall_ms, sum_latency_ms, histogram.max_ms, tally.count),
        errors: tally.errors,
        errors_by_reason: tally.failures.clone(),
        not_started,
        failures,
        notes,
        histogram,
        agents: agents.iter().map(figures).collect(),
        requests: records,
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
        Load::Closed { cap } if tally.count > 100 && cap > 0 => Some(format!(
            "closed loop: a request started only when one of the {cap} slots freed, so these              latencies leave out any wait for a slot; give `rate` and `duration` to run it              open-loop and count that wait"
        )),
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

fn figures(agent: &AgentResult) -> AgentFigures {
    AgentFigures {
        name: agent.name.clone(),
        id: agent.id.clone(),
        errors: agent.tally.errors,
        wall_ms: agent.tally.wall_us() as f64 / 1e3,
        latency: summary(&agent.tally.response),
    }
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
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

/// Why a mode's requests waited as they did.
fn how_it_waits(mode: Mode) -> &'static str {
    match mode {
        Mode::Sync => "each request waited for the one before to finish",
        Mode::Async => "while one task waited, the event loop ran the others",
        Mode::Blocking => {
            "each blocking call held the one executor thread, so no other task could start"
        }
        Mode::Threads => "each request waited on an OS thread of its own",
    }
}

/// Says which the wall time is close to — the sum of the waits or the
/// slowest one — and why the mode produced that.
fn explain(mode: Mode, wall_ms: f64, sum_ms: f64, max_ms: f64, count: u64) -> String {
    let near = |a: f64, b: f64| b > 0.0 && (a - b).abs() <= 0.1 * b;
    let shape = if count <= 1 {
        "a single request".to_owned()
    } else if near(wall_ms, sum_ms) && !near(wall_ms, max_ms) {
        format!("≈ the sum of the waits ({})", text::fmt_ms(sum_ms))
    } else if near(wall_ms, max_ms) {
        format!("≈ the slowest request ({})", text::fmt_ms(max_ms))
    } else {
        format!(
            "{:.1} requests waiting at once on average",
            sum_ms / wall_ms.max(f64::EPSILON)
        )
    };
    format!("{shape}: {}", how_it_waits(mode))
}

/// Fills in each mode's speedup against sync.
pub fn compare_with_sync(modes: &mut [ModeReport]) {
    let Some(sync_ms) = modes
        .iter()
        .find(|m| m.mode == Mode::Sync)
        .map(|m| m.wall_ms)
    else {
        return;
    };
    for m in modes {
        if m.wall_ms > 0.0 {
            m.speedup_vs_sync = Some(sync_ms / m.wall_ms);
        }
    }
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
            agents: Vec::new(),
            records: Vec::new(),
            not_started: 0,
            max_backlog: 0,
            failures: Vec::new(),
            notes: Vec::new(),
            elapsed_ms: 0.0,
        })
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
        assert!(m.explanation.contains("event loop"));
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
