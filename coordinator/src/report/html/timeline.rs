//! The request timeline: every mode on one time axis, one bar per request
//! (an open loop's wait to be sent before it), grouped by agent — with
//! scenarios, a row per user, so that its Login → think → Order reads left
//! to right; past
//! [`BARS_PER_MODE`] requests, the requests in flight per second and a
//! sample of bars spread over the run.

use maud::{Markup, html};

use super::{BARS_PER_MODE, fmt, ticks};
use crate::report::duration::fmt_ms;
use crate::report::model::{IntervalSummary, LoadKind, ModeReport, Report, RequestRecord};

/// Geometry of the timeline, in SVG user units.
struct Axis {
    /// Left edge of the plot (labels to its left) and its width.
    left: f64,
    width: f64,
    /// The axis runs from 0 to this, in milliseconds.
    end_ms: f64,
}

impl Axis {
    fn x(&self, ms: f64) -> f64 {
        self.left + ms.max(0.0) / self.end_ms * self.width
    }

    fn w(&self, ms: f64) -> f64 {
        ms.max(0.0) / self.end_ms * self.width
    }
}

/// Row and bar heights of a lane with labelled bars; a lane of more than
/// [`LABELLED`] bars draws thin ones without labels.
const ROW: f64 = 14.0;
const BAR: f64 = 10.0;
const LABELLED: usize = 40;
const THIN_ROW: f64 = 4.0;
const THIN_BAR: f64 = 3.0;
/// Room for an agent's name above its group of bars.
const AGENT_HEADER: f64 = 12.0;
const VIEW_WIDTH: f64 = 1000.0;

/// A lane of bars: one mode's drawn requests, grouped by agent.
struct Lane<'a> {
    mode: &'a ModeReport,
    bars: Vec<&'a RequestRecord>,
    /// Draw requests in flight over time above the bars (large modes).
    in_flight: bool,
    /// Name the agent above each group of bars.
    agents: bool,
    /// A row per user, its requests along it (scenarios), instead of a row
    /// per request.
    by_user: bool,
}

impl Lane<'_> {
    fn labelled(&self) -> bool {
        self.row_count() <= LABELLED
    }

    /// Rows of bars: one per request, or one per agent's user.
    fn row_count(&self) -> usize {
        if !self.by_user {
            return self.bars.len();
        }
        let mut users: Vec<(&str, Option<u64>)> = self
            .bars
            .iter()
            .map(|b| (b.agent.as_str(), b.user))
            .collect();
        users.dedup();
        users.len()
    }

    fn row(&self) -> (f64, f64) {
        if self.labelled() {
            (ROW, BAR)
        } else {
            (THIN_ROW, THIN_BAR)
        }
    }

    fn height(&self) -> f64 {
        let groups = if self.agents {
            distinct_agents(&self.bars)
        } else {
            0
        };
        28.0 + self.row_count() as f64 * self.row().0
            + groups as f64 * AGENT_HEADER
            + if self.in_flight {
                IN_FLIGHT_HEIGHT + 10.0
            } else {
                0.0
            }
    }
}

fn lanes(report: &Report) -> Vec<Lane<'_>> {
    report
        .modes
        .iter()
        .map(|mode| {
            let mut bars = drawn(&mode.requests, BARS_PER_MODE);
            let by_user = !bars.is_empty() && bars.iter().all(|b| b.user.is_some());
            bars.sort_by(|a, b| {
                a.agent
                    .cmp(&b.agent)
                    .then(if by_user {
                        a.user.cmp(&b.user)
                    } else {
                        std::cmp::Ordering::Equal
                    })
                    .then(a.start_ms.total_cmp(&b.start_ms))
            });
            let in_flight =
                mode.histogram.count as usize > BARS_PER_MODE && !mode.intervals.is_empty();
            let agents = distinct_agents(&bars) > 1;
            Lane {
                mode,
                bars,
                in_flight,
                agents,
                by_user,
            }
        })
        .collect()
}

/// Which of a mode's records the timeline draws, at most `limit`: all of
/// them when they fit; else the failed and the slowest (up to a fifth of
/// `limit` each), then one record per equal slice of time from the first
/// start to the last (the kept records crowd a run's first moments: the
/// first thousand are all kept), then, while there is room, every k-th of
/// the rest in order of start.
pub(super) fn drawn(requests: &[RequestRecord], limit: usize) -> Vec<&RequestRecord> {
    if requests.len() <= limit {
        return requests.iter().collect();
    }
    let mut picked = vec![false; requests.len()];
    let failed = (0..requests.len()).filter(|&i| !requests[i].ok);
    for i in failed.take(limit / 5) {
        picked[i] = true;
    }
    let mut by_latency: Vec<usize> = (0..requests.len()).collect();
    by_latency.sort_by(|&a, &b| requests[b].service_ms.total_cmp(&requests[a].service_ms));
    for &i in by_latency.iter().take(limit / 5) {
        picked[i] = true;
    }
    let unpicked = |picked: &[bool]| -> Vec<usize> {
        let mut rest: Vec<usize> = (0..requests.len()).filter(|&i| !picked[i]).collect();
        rest.sort_by(|&a, &b| requests[a].start_ms.total_cmp(&requests[b].start_ms));
        rest
    };
    let room = |picked: &[bool]| limit.saturating_sub(picked.iter().filter(|p| **p).count());
    // One per slice of time.
    let rest = unpicked(&picked);
    let slices = room(&picked);
    if let (Some(&first), Some(&last)) = (rest.first(), rest.last())
        && slices > 0
    {
        let (from, to) = (requests[first].start_ms, requests[last].start_ms);
        let width = ((to - from) / slices as f64).max(f64::MIN_POSITIVE);
        let mut taken = None;
        for &i in &rest {
            let slice = (((requests[i].start_ms - from) / width) as usize).min(slices - 1);
            if taken.is_none_or(|t| slice > t) {
                picked[i] = true;
                taken = Some(slice);
            }
        }
    }
    // Then every k-th of what is left, while there is room.
    let rest = unpicked(&picked);
    let room = room(&picked);
    let step = rest.len() as f64 / room.max(1) as f64;
    for k in 0..room.min(rest.len()) {
        picked[rest[(k as f64 * step) as usize]] = true;
    }
    requests
        .iter()
        .zip(picked)
        .filter_map(|(r, p)| p.then_some(r))
        .collect()
}

/// Height of the in-flight chart above a large lane.
const IN_FLIGHT_HEIGHT: f64 = 60.0;

pub(super) fn timeline(report: &Report) -> Markup {
    let lanes = lanes(report);
    let end_ms = report
        .modes
        .iter()
        .flat_map(|m| m.requests.iter().map(|r| r.end_ms).chain([m.wall_ms]))
        .fold(0.0, f64::max)
        .max(1.0);
    let axis = Axis {
        left: 150.0,
        width: VIEW_WIDTH - 170.0,
        end_ms,
    };
    let height = 30.0 + lanes.iter().map(Lane::height).sum::<f64>();
    let tops: Vec<f64> = lanes
        .iter()
        .scan(0.0, |y, lane| {
            let top = *y;
            *y += lane.height();
            Some(top)
        })
        .collect();
    let ticks = ticks(end_ms);
    html! {
        section #timeline {
            h2 { "Request timeline" }
            p.hint {
                "Every mode on one time axis (milliseconds since each mode started): a bar per request, from its start to its end"
                @if report.modes.iter().any(|m| m.load == LoadKind::Open) {
                    ", with its wait to be sent (from when it was due) before it"
                }
                @if report.modes.iter().any(|m| !m.by_scenario.is_empty()) {
                    "; with scenarios, a row per user, its steps left to right (the gaps are its pauses)"
                }
                ". Hover a bar for its figures; scroll over the chart to zoom, double-click to reset."
            }
            svg #timeline-chart xmlns="http://www.w3.org/2000/svg"
                viewBox=(format!("0 0 {VIEW_WIDTH} {height:.0}"))
                data-left=(axis.left) data-width=(axis.width) data-end-ms=(end_ms)
                preserveAspectRatio="none" width="100%" height=(format!("{height:.0}")) {
                g.grid {
                    @for (ms, label) in &ticks {
                        line x1=(fmt(axis.x(*ms))) x2=(fmt(axis.x(*ms))) y1="0" y2=(format!("{:.0}", height - 20.0)) {}
                        text.tick x=(fmt(axis.x(*ms))) y=(format!("{:.0}", height - 6.0)) text-anchor="middle" { (label) }
                    }
                }
                @for (lane, top) in lanes.iter().zip(tops) {
                    (lane_markup(lane, &axis, top, report.trace_url.as_deref()))
                }
            }
        }
    }
}

fn distinct_agents(bars: &[&RequestRecord]) -> usize {
    let mut agents: Vec<&str> = bars.iter().map(|b| b.agent.as_str()).collect();
    agents.dedup();
    agents.len()
}

/// What a lane draws, top to bottom, and where.
enum Row<'a> {
    Agent(&'a str, f64),
    /// The label of a user's row.
    User(u64, f64),
    Bar(&'a RequestRecord, f64),
}

/// The lane's rows with their heights laid out from `top`: an agent's
/// name before each of its groups (with several agents), then its bars,
/// a row each — or, by user, a row per user with its bars along it.
fn rows<'a>(lane: &Lane<'a>, top: f64) -> Vec<Row<'a>> {
    let mut y = top;
    let mut rows = Vec::with_capacity(lane.bars.len() + 4);
    let mut last: Option<(&str, Option<u64>)> = None;
    for bar in &lane.bars {
        let key = (bar.agent.as_str(), bar.user);
        if lane.by_user && last == Some(key) {
            rows.push(Row::Bar(bar, y));
            continue;
        }
        if last.is_some() {
            y += lane.row().0;
        }
        if lane.agents && last.map(|(agent, _)| agent) != Some(key.0) {
            rows.push(Row::Agent(&bar.agent, y));
            y += AGENT_HEADER;
        }
        if let (true, Some(user)) = (lane.by_user, bar.user) {
            rows.push(Row::User(user, y));
        }
        rows.push(Row::Bar(bar, y));
        last = Some(key);
    }
    rows
}

fn lane_markup(lane: &Lane, axis: &Axis, top: f64, trace_url: Option<&str>) -> Markup {
    let mode = lane.mode;
    let shown = if lane.bars.len() < mode.histogram.count as usize {
        format!(
            "{} — {} requests; {} drawn: the failed, the slowest and the rest spread over the run's time",
            mode.mode,
            mode.histogram.count,
            lane.bars.len()
        )
    } else {
        format!("{} — {} requests", mode.mode, mode.histogram.count)
    };
    let chart_top = top + 24.0;
    let bars_top = chart_top
        + if lane.in_flight {
            IN_FLIGHT_HEIGHT + 10.0
        } else {
            0.0
        };
    html! {
        g.lane data-mode=(mode.mode) {
            text.lane-title x="4" y=(fmt(top + 16.0)) { (shown) }
            @if lane.in_flight {
                (in_flight_chart(&mode.intervals, axis, chart_top))
            }
            @for row in rows(lane, bars_top) {
                @match row {
                    Row::Agent(agent, y) => text.agent x="4" y=(fmt(y + 9.0)) { (agent) },
                    Row::User(user, y) => @if lane.labelled() {
                        text.id x=(fmt(axis.left - 6.0)) y=(fmt(y + lane.row().1 - 1.0)) text-anchor="end" {
                            "user " (user)
                        }
                    },
                    Row::Bar(bar, y) => (bar_markup(mode, bar, axis, y, lane, trace_url)),
                }
            }
        }
    }
}

fn bar_markup(
    mode: &ModeReport,
    r: &RequestRecord,
    axis: &Axis,
    y: f64,
    lane: &Lane,
    trace_url: Option<&str>,
) -> Markup {
    let (_, bar) = lane.row();
    let x = axis.x(r.start_ms);
    let width = axis.w(r.end_ms - r.start_ms);
    let lag = r.start_ms - r.intended_ms;
    let class = if r.ok { "bar ok" } else { "bar failed" };
    let tip = format!(
        "{} {}{}{} · {} → {} ({}){}{}",
        mode.mode,
        r.id,
        if r.agent.is_empty() {
            String::new()
        } else {
            format!(" on {}", r.agent)
        },
        match r.user {
            Some(user) => format!(", user {user}, iteration {}", r.round),
            None => String::new(),
        },
        fmt_ms(r.start_ms),
        fmt_ms(r.end_ms),
        fmt_ms(r.service_ms),
        if lag > 0.0005 {
            format!(" · sent {} late", fmt_ms(lag))
        } else {
            String::new()
        },
        match &r.error {
            Some(error) => format!(" · {error}"),
            None if r.status > 0 => format!(" · HTTP {}", r.status),
            None => String::new(),
        }
    );
    let rect = html! {
        rect class=(class) x=(fmt(x)) y=(fmt(y)) width=(fmt(width)) height=(bar)
            data-mode=(mode.mode) data-id=(r.id) data-agent=(r.agent)
            data-user=[r.user]
            data-start-ms=(r.start_ms) data-end-ms=(r.end_ms) data-intended-ms=(r.intended_ms) {
            title { (tip) }
        }
    };
    html! {
        @if lane.labelled() && !lane.by_user {
            text.id x=(fmt(axis.left - 6.0)) y=(fmt(y + bar - 1.0)) text-anchor="end" { (r.id) }
        }
        @if lag > 0.0005 {
            line.lag x1=(fmt(axis.x(r.intended_ms))) x2=(fmt(x)) y1=(fmt(y + bar / 2.0)) y2=(fmt(y + bar / 2.0)) {}
            line.due x1=(fmt(axis.x(r.intended_ms))) x2=(fmt(axis.x(r.intended_ms))) y1=(fmt(y)) y2=(fmt(y + bar)) {}
        }
        @match (trace_url, &r.span_id) {
            (Some(url), Some(span)) => a href=(loadlab_telemetry::trace_ui::span_page(url, span)) { (rect) },
            _ => (rect),
        }
    }
}

/// Mean requests in flight, second by second, as steps over the lane.
fn in_flight_chart(intervals: &[IntervalSummary], axis: &Axis, top: f64) -> Markup {
    let most = intervals
        .iter()
        .map(|i| i.in_flight)
        .fold(0.0, f64::max)
        .max(1e-9);
    let y = |v: f64| top + IN_FLIGHT_HEIGHT - v / most * IN_FLIGHT_HEIGHT;
    let mut path = format!("M{} {}", fmt(axis.x(0.0)), fmt(y(0.0)));
    for i in intervals {
        let (from, to) = (f64::from(i.second) * 1e3, f64::from(i.second + 1) * 1e3);
        path.push_str(&format!(
            " L{} {} L{} {}",
            fmt(axis.x(from)),
            fmt(y(i.in_flight)),
            fmt(axis.x(to.min(axis.end_ms))),
            fmt(y(i.in_flight))
        ));
    }
    let last = intervals
        .last()
        .map_or(0.0, |i| f64::from(i.second + 1) * 1e3);
    path.push_str(&format!(
        " L{} {} Z",
        fmt(axis.x(last.min(axis.end_ms))),
        fmt(y(0.0))
    ));
    html! {
        g.in-flight {
            path d=(path) {}
            text.tick x=(fmt(axis.left - 6.0)) y=(fmt(top + 10.0)) text-anchor="end" {
                (format!("{most:.1} in flight"))
            }
        }
    }
}
