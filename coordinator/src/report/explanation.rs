//! Why a mode took what it took, in words, from what was measured: the
//! shape of its wall time and what held it (requests in flight, the
//! executor, the database), what its schedule did to the figures, when the
//! generator itself was late, and how it compares with sync. The figures
//! themselves are [`super::analysis`]'s.

use std::collections::BTreeMap;

use loadlab_proto::Mode;
use loadlab_proto::tally::Tally;

use super::analysis::{Load, Tracking};
use super::duration;
use super::model::{DatabaseActivity, InFlight, LatencySummary, ModeReport, StallSummary};

/// What the schedule did to the figures: how long requests waited to be
/// sent in an open loop and why; what a closed-loop load run leaves out.
pub(super) fn schedule_note(
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
            duration::fmt_ms(lag.max_ms)
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
                duration::fmt_ms(lag.max_ms),
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
pub(super) fn generator_warning(
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
        format!(
            "requests were sent late by p99 {}",
            duration::fmt_ms(lag_ms)
        )
    } else {
        format!(
            "its executor stalled p99 {} (ready work waiting for a thread)",
            duration::fmt_ms(stall_ms)
        )
    };
    Some(format!(
        "the generator was late by p99 {}: {what}, against a response p50 of {}; \
         latencies below that are not the server's (a CPU too busy for the load: fewer \
         modes or agents per core, or more agents)",
        duration::fmt_ms(late_ms),
        duration::fmt_ms(response.p50_ms)
    ))
}

/// What the explanation is computed from.
pub(super) struct Measured {
    pub(super) wall_ms: f64,
    pub(super) sum_ms: f64,
    pub(super) max_ms: f64,
    pub(super) count: u64,
    pub(super) in_flight: InFlight,
    pub(super) stall: Option<StallSummary>,
}

/// Says which the wall time is close to — the sum of the waits or the
/// slowest one — and why, from what was measured: requests in flight at
/// once, and how long the executor could not run ready work.
pub(super) fn explain(mode: Mode, m: &Measured) -> String {
    let near = |a: f64, b: f64| b > 0.0 && (a - b).abs() <= 0.1 * b;
    let shape = if m.count <= 1 {
        "a single request".to_owned()
    } else if near(m.wall_ms, m.sum_ms) && !near(m.wall_ms, m.max_ms) {
        format!("≈ the sum of the waits ({})", duration::fmt_ms(m.sum_ms))
    } else if near(m.wall_ms, m.max_ms) {
        format!("≈ the slowest request ({})", duration::fmt_ms(m.max_ms))
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
            duration::fmt_ms(stall.total_ms),
            duration::fmt_ms(m.wall_ms)
        ),
        (Mode::Async, Some(stall)) if stall.max_ms > 20.0 || stall.total_ms > 0.1 * m.wall_ms => {
            format!(
                "{in_flight}; the load generator was the bottleneck: its executor stalled {} in \
                 all, up to {} at once (a CPU too busy, or a blocking call in async code)",
                duration::fmt_ms(stall.total_ms),
                duration::fmt_ms(stall.max_ms)
            )
        }
        (_, Some(stall)) => format!(
            "{in_flight}, the executor never blocked more than {}",
            duration::fmt_ms(stall.max_ms)
        ),
        (Mode::Threads, None) if most > 1 => format!("{in_flight}, each on a thread of its own"),
        (_, None) => in_flight,
    };
    format!("{shape}: {why}")
}

/// A tracking mode in one sentence, from what it measured: how many
/// updates reached their customer, how fast, and what the tracker spent.
pub(super) fn explain_tracking(
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
        out.push_str(&format!(", p99 {}", duration::fmt_ms(delivery.p99_ms)));
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
            duration::fmt_ms(m.wall_ms),
            duration::fmt_ms(sync_ms),
            database_verdict(&db)
        ));
    }
}

/// One query at a time that still kept several backends busy: PostgreSQL
/// ran it on parallel workers, so the cores were busy before any
/// concurrency was added (why async gains little on a CPU-bound query).
/// Empty unless the measured figures say so.
pub(super) fn parallel_workers(db: &DatabaseActivity, in_flight: InFlight) -> String {
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
        entry.0 += r.service_ms;
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
mod tests;
