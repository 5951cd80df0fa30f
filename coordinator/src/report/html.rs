//! The HTML renderer: one self-contained page (inline CSS, inline SVG drawn
//! here, a few lines of inline JavaScript for zooming the timeline; no
//! external font, script or stylesheet), a pure function of the report
//! model. Typed templates with `maud`, so every value is escaped.
//!
//! - the summary table and each mode's explanation;
//! - the request timeline: every mode on one time axis, one bar per request
//!   (an open loop's wait to be sent before it), grouped by agent; past
//!   [`BARS_PER_MODE`] requests, the requests in flight per second and a
//!   sample of bars. Each bar carries `data-mode`, `data-id`, `data-agent`,
//!   `data-start-ms`, `data-end-ms` (and `data-intended-ms`);
//! - per mode, the latency curve (percentiles on a log axis, merged and per
//!   agent) and, when the run has per-second figures, percentiles over time;
//! - failures by reason, and links to the trace in Jaeger when traced.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::model::{
    Exemplar, IntervalSummary, LoadKind, ModeReport, PercentilePoint, Report, RequestRecord,
};
use super::text::fmt_ms;

/// Bars drawn per mode; beyond, a sample of this many spread over the run
/// (see [`drawn`]).
pub const BARS_PER_MODE: usize = 300;

/// The page for `report`.
pub fn render(report: &Report) -> String {
    let title = format!("loadlab: {}", report.spec.name);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (report.spec.name) }
                    @if let Some(description) = &report.spec.description {
                        p.description { (description) }
                    }
                    p.meta {
                        (report.agents.len()) " agent" @if report.agents.len() != 1 { "s" }
                        " (" (report.agents.join(", ")) ")"
                        @if let Some(http) = &report.targets.http { " · HTTP " code { (http) } }
                        @if let Some(db) = &report.targets.database { " · PostgreSQL " code { (db) } }
                        @if report.interrupted { " · " strong.failed { "interrupted: the figures are partial" } }
                        @if report.spec.insecure { " · " strong.failed.insecure { "insecure: the https:// targets' certificates were not verified" } }
                    }
                    @if let Some(id) = &report.trace_id {
                        p.meta {
                            "trace " code { (id) }
                            @if let Some(url) = &report.trace_url {
                                " · " a href=(url) { "view the trace" }
                            }
                        }
                    }
                }
                (summary(report))
                (timeline(report))
                @for mode in &report.modes {
                    (mode_section(mode))
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}

fn summary(report: &Report) -> Markup {
    html! {
        section #summary {
            h2 { "Summary" }
            table {
                thead { tr {
                    th { "mode" } th { "wall" } th { "vs sync" } th { "requests" } th { "errors" }
                    th { "req/s" } th { "mean" } th { "p50" } th { "p90" } th { "p95" } th { "p99" } th { "max" }
                } }
                tbody {
                    @for m in &report.modes {
                        tr {
                            td { (m.mode) }
                            td { (fmt_ms(m.wall_ms)) }
                            td { (m.speedup_vs_sync.map_or("-".to_owned(), |s| format!("{s:.2}x"))) }
                            td { (m.histogram.count) }
                            td class=(if m.errors > 0 { "failed" } else { "" }) { (m.errors) }
                            td { (format!("{:.1}", m.achieved_rate)) }
                            td { (fmt_ms(m.histogram.mean_ms)) }
                            @let exemplars = m.exemplars.as_ref();
                            td { (percentile_cell(m.histogram.p50_ms, exemplars.and_then(|e| e.p50.as_ref()), report.trace_url.as_deref())) }
                            td { (percentile_cell(m.histogram.p90_ms, exemplars.and_then(|e| e.p90.as_ref()), report.trace_url.as_deref())) }
                            td { (fmt_ms(m.histogram.p95_ms)) }
                            td { (percentile_cell(m.histogram.p99_ms, exemplars.and_then(|e| e.p99.as_ref()), report.trace_url.as_deref())) }
                            td { (percentile_cell(m.histogram.max_ms, exemplars.and_then(|e| e.max.as_ref()), report.trace_url.as_deref())) }
                        }
                        @if m.by_request.len() > 1 {
                            @for (id, r) in &m.by_request {
                                tr.request data-mode=(m.mode) data-request=(id) {
                                    td.request-id { "· " (id) } td {} td {}
                                    td { (r.count) }
                                    td class=(if r.errors > 0 { "failed" } else { "" }) { (r.errors) }
                                    td { (format!("{:.1}", r.rps)) }
                                    td { (fmt_ms(r.histogram.mean_ms)) }
                                    td { (fmt_ms(r.histogram.p50_ms)) }
                                    td { (fmt_ms(r.histogram.p90_ms)) }
                                    td { (fmt_ms(r.histogram.p95_ms)) }
                                    td { (fmt_ms(r.histogram.p99_ms)) }
                                    td { (fmt_ms(r.histogram.max_ms)) }
                                }
                            }
                        }
                    }
                }
            }
            ul.why {
                @for m in &report.modes {
                    li {
                        strong { (m.mode) } " — " (m.explanation)
                        @if let Some(note) = &m.schedule_note { br; span.note { (note) } }
                        @if let Some(warning) = &m.generator { br; span.generator { "! " (warning) } }
                        @for note in &m.notes { br; span.note { (note) } }
                        @for failure in &m.failures { br; span.failed { (failure) } }
                    }
                }
            }
            @if !report.thresholds.is_empty() {
                h3 { "Thresholds (every agent merged)" }
                table #thresholds {
                    thead { tr { th { "" } th { "mode" } th { "threshold" } th { "measured" } } }
                    tbody {
                        @for v in &report.thresholds {
                            tr class=(if v.ok { "passed" } else { "failed" }) {
                                td { (if v.ok { "✓" } else { "✗" }) }
                                td { (v.mode) }
                                td { (v.expr) }
                                td { (v.measured()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

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
}

impl Lane<'_> {
    fn labelled(&self) -> bool {
        self.bars.len() <= LABELLED
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
        28.0 + self.bars.len() as f64 * self.row().0
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
            bars.sort_by(|a, b| {
                a.agent
                    .cmp(&b.agent)
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
fn drawn(requests: &[RequestRecord], limit: usize) -> Vec<&RequestRecord> {
    if requests.len() <= limit {
        return requests.iter().collect();
    }
    let mut picked = vec![false; requests.len()];
    let failed = (0..requests.len()).filter(|&i| !requests[i].ok);
    for i in failed.take(limit / 5) {
        picked[i] = true;
    }
    let mut by_latency: Vec<usize> = (0..requests.len()).collect();
    by_latency.sort_by(|&a, &b| requests[b].latency_ms.total_cmp(&requests[a].latency_ms));
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

fn timeline(report: &Report) -> Markup {
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
    Bar(&'a RequestRecord, f64),
}

/// The lane's rows with their heights laid out from `top`: an agent's
/// name before each of its groups (with several agents), then its bars.
fn rows<'a>(lane: &Lane<'a>, top: f64) -> Vec<Row<'a>> {
    let mut y = top;
    let mut rows = Vec::with_capacity(lane.bars.len() + 4);
    for (i, bar) in lane.bars.iter().enumerate() {
        if lane.agents && (i == 0 || lane.bars[i - 1].agent != bar.agent) {
            rows.push(Row::Agent(&bar.agent, y));
            y += AGENT_HEADER;
        }
        rows.push(Row::Bar(bar, y));
        y += lane.row().0;
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
        "{} {}{} · {} → {} ({}){}{}",
        mode.mode,
        r.id,
        if r.agent.is_empty() {
            String::new()
        } else {
            format!(" on {}", r.agent)
        },
        fmt_ms(r.start_ms),
        fmt_ms(r.end_ms),
        fmt_ms(r.latency_ms),
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
            data-start-ms=(r.start_ms) data-end-ms=(r.end_ms) data-intended-ms=(r.intended_ms) {
            title { (tip) }
        }
    };
    html! {
        @if lane.labelled() {
            text.id x=(fmt(axis.left - 6.0)) y=(fmt(y + bar - 1.0)) text-anchor="end" { (r.id) }
        }
        @if lag > 0.0005 {
            line.lag x1=(fmt(axis.x(r.intended_ms))) x2=(fmt(x)) y1=(fmt(y + bar / 2.0)) y2=(fmt(y + bar / 2.0)) {}
            line.due x1=(fmt(axis.x(r.intended_ms))) x2=(fmt(axis.x(r.intended_ms))) y1=(fmt(y)) y2=(fmt(y + bar)) {}
        }
        @match (trace_url, &r.span_id) {
            (Some(url), Some(span)) => a href=(loadlab_telemetry::jaeger::span_page(url, span)) { (rect) },
            _ => (rect),
        }
    }
}

/// A percentile's figure, linked to its exemplar's span in the trace UI when the
/// run was traced: a real request that took about that long.
fn percentile_cell(ms: f64, exemplar: Option<&Exemplar>, trace_url: Option<&str>) -> Markup {
    match (exemplar, trace_url) {
        (Some(e), Some(url)) => html! {
            a.exemplar href=(loadlab_telemetry::jaeger::span_page(url, &e.span_id))
                title=(format!("{} of round {} on {}: {} — open its span", e.id, e.round, e.agent, fmt_ms(e.latency_ms)))
            { (fmt_ms(ms)) }
        },
        _ => html! { (fmt_ms(ms)) },
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

fn mode_section(mode: &ModeReport) -> Markup {
    html! {
        section.mode data-mode=(mode.mode) {
            h2 { (mode.mode) " — " (mode.mode.describe()) }
            div.charts {
                (latency_curve(mode))
                @if mode.intervals.len() >= 3 && mode.histogram.count >= 100 { (over_time(mode)) }
            }
            table.figures {
                tr { th { "response time" } td { (summary_cells(&mode.histogram)) } }
                @if mode.load == LoadKind::Open {
                    tr { th { "service time" } td { (summary_cells(&mode.service_time)) } }
                    tr { th { "schedule lag" } td { (summary_cells(&mode.schedule_lag)) } }
                    tr { th { "rate" } td {
                        (mode.intended_rate.map_or("-".to_owned(), |r| format!("{r:.1}/s asked")))
                        ", " (format!("{:.1}/s achieved", mode.achieved_rate))
                        ", " (mode.late) " late, at most " (mode.max_backlog) " waiting"
                    } }
                }
                tr { th { "in flight" } td { "at most " (mode.in_flight.max) ", " (format!("{:.1}", mode.in_flight.mean)) " on average" } }
                @if let Some(stall) = &mode.stall {
                    tr { th { "executor stall" } td {
                        (fmt_ms(stall.total_ms)) " in all, at most " (fmt_ms(stall.max_ms)) " at once (p99 " (fmt_ms(stall.p99_ms)) ")"
                    } }
                }
                @if mode.not_started > 0 {
                    tr { th { "not started" } td.failed { (mode.not_started) } }
                }
            }
            @if !mode.errors_by_reason.is_empty() {
                h3 { "Failures" }
                table.failures {
                    @for (reason, count) in &mode.errors_by_reason {
                        tr { td { (count) " ×" } td { (reason) } }
                    }
                }
            }
        }
    }
}

fn summary_cells(s: &super::model::LatencySummary) -> Markup {
    html! {
        "p50 " (fmt_ms(s.p50_ms)) " · p90 " (fmt_ms(s.p90_ms)) " · p95 " (fmt_ms(s.p95_ms))
        " · p99 " (fmt_ms(s.p99_ms))
        " · max " (fmt_ms(s.max_ms)) " (" (s.count) ")"
    }
}

const CHART_W: f64 = 480.0;
const CHART_H: f64 = 240.0;
const PAD: f64 = 44.0;

/// Where a percentile goes on the curve's log axis: 1/(1 − p), in decades
/// (90% → 1, 99% → 2, ...); the maximum is put half a decade past the last.
fn nines(percentile: f64) -> f64 {
    if percentile >= 100.0 {
        5.5
    } else {
        (1.0 / (1.0 - percentile / 100.0)).log10().min(5.0)
    }
}

/// One colour per request id on a mode's latency curve (cycled past ten).
const REQUEST_COLOURS: [&str; 10] = [
    "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#bab0ac", "#86bcb6",
];

fn latency_curve(mode: &ModeReport) -> Markup {
    let top_ms = mode
        .percentiles
        .iter()
        .chain(mode.agents.iter().flat_map(|a| &a.percentiles))
        .chain(mode.by_request.values().flat_map(|r| &r.percentiles))
        .map(|p| p.ms)
        .fold(0.0, f64::max)
        .max(0.001);
    let x = |p: f64| PAD + nines(p) / 5.5 * (CHART_W - PAD - 10.0);
    let y = |ms: f64| CHART_H - PAD + 10.0 - ms / top_ms * (CHART_H - PAD - 10.0);
    let points = |points: &[PercentilePoint]| -> String {
        points
            .iter()
            .map(|p| format!("{},{}", fmt(x(p.percentile)), fmt(y(p.ms))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let several = mode.agents.len() > 1;
    let requests = mode.by_request.len() > 1;
    html! {
        figure {
            figcaption {
                "Response time by percentile" @if several { " (merged, and per agent dashed)" }
                @if requests {
                    br;
                    @for (i, id) in mode.by_request.keys().enumerate() {
                        span.legend style=(format!("color: {}", REQUEST_COLOURS[i % REQUEST_COLOURS.len()])) { "━ " (id) " " }
                    }
                }
            }
            svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {CHART_W} {CHART_H}")) width=(CHART_W) height=(CHART_H) {
                @for (p, label) in [(0.0, "0%"), (90.0, "90%"), (99.0, "99%"), (99.9, "99.9%"), (99.99, "99.99%"), (99.999, "99.999%"), (100.0, "max")] {
                    line.gridline x1=(fmt(x(p))) x2=(fmt(x(p))) y1="10" y2=(fmt(CHART_H - PAD + 10.0)) {}
                    text.tick x=(fmt(x(p))) y=(fmt(CHART_H - PAD + 24.0)) text-anchor="middle" { (label) }
                }
                @for (ms, label) in ticks(top_ms).iter().filter(|(ms, _)| *ms <= top_ms) {
                    text.tick x=(fmt(PAD - 4.0)) y=(fmt(y(*ms) + 3.0)) text-anchor="end" { (label) }
                }
                @if several {
                    @for agent in &mode.agents {
                        polyline.agent-curve points=(points(&agent.percentiles)) { title { (agent.name) } }
                    }
                }
                @if requests {
                    @for (i, (id, r)) in mode.by_request.iter().enumerate() {
                        polyline.request-curve data-request=(id) stroke=(REQUEST_COLOURS[i % REQUEST_COLOURS.len()]) points=(points(&r.percentiles)) { title { (id) } }
                    }
                }
                polyline.curve points=(points(&mode.percentiles)) { title { "merged" } }
            }
        }
    }
}

fn over_time(mode: &ModeReport) -> Markup {
    let intervals = &mode.intervals;
    let seconds = intervals.last().map_or(1, |i| i.second + 1).max(1);
    let top_ms = intervals
        .iter()
        .map(|i| i.max_ms)
        .fold(0.0, f64::max)
        .max(0.001);
    let x = |second: f64| PAD + second / f64::from(seconds) * (CHART_W - PAD - 10.0);
    let y = |ms: f64| CHART_H - PAD + 10.0 - ms / top_ms * (CHART_H - PAD - 10.0);
    let line = |value: fn(&IntervalSummary) -> f64| -> String {
        intervals
            .iter()
            .map(|i| format!("{},{}", fmt(x(f64::from(i.second) + 0.5)), fmt(y(value(i)))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        figure {
            figcaption { "Per second: " span.p50 { "p50" } ", " span.p99 { "p99" } ", " span.max { "max" } }
            svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {CHART_W} {CHART_H}")) width=(CHART_W) height=(CHART_H) {
                @for (ms, label) in ticks(top_ms).iter().filter(|(ms, _)| *ms <= top_ms) {
                    line.gridline x1=(fmt(PAD)) x2=(fmt(CHART_W - 10.0)) y1=(fmt(y(*ms))) y2=(fmt(y(*ms))) {}
                    text.tick x=(fmt(PAD - 4.0)) y=(fmt(y(*ms) + 3.0)) text-anchor="end" { (label) }
                }
                @for s in (0..=seconds).step_by((seconds as usize / 8).max(1)) {
                    text.tick x=(fmt(x(f64::from(s)))) y=(fmt(CHART_H - PAD + 24.0)) text-anchor="middle" { (s) "s" }
                }
                polyline.max points=(line(|i| i.max_ms)) {}
                polyline.p99 points=(line(|i| i.p99_ms)) {}
                polyline.p50 points=(line(|i| i.p50_ms)) {}
            }
        }
    }
}

/// About six round ticks from 0 to `end_ms`, with their labels.
fn ticks(end_ms: f64) -> Vec<(f64, String)> {
    let raw = end_ms / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(magnitude * 10.0);
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|ms| *ms <= end_ms * 1.0001)
        .map(|ms| (ms, tick_label(ms)))
        .collect()
}

/// `0`, `250 ms`, `2.5 s`, `10 s`: as short as the tick allows.
fn tick_label(ms: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    match ms {
        0.0 => "0".to_owned(),
        ms if ms >= 1000.0 => format!("{} s", trim(format!("{:.3}", ms / 1e3))),
        ms if ms >= 1.0 => format!("{} ms", trim(format!("{ms:.1}"))),
        ms => format!("{} µs", trim(format!("{:.0}", ms * 1e3))),
    }
}

/// SVG coordinates with two decimals: enough to place a bar, few bytes.
fn fmt(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
.description, .meta, .hint { color: #555; margin: .2rem 0; }
code { font: 12px ui-monospace, monospace; background: #f3f3f3; padding: 0 .3em; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: right; padding: .2rem .6rem; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
table.figures th { text-align: left; font-weight: 600; }
table.figures td { text-align: left; }
tr.request td { color: #555; font-size: .92em; } td.request-id { padding-left: 1.4rem; }
.why { padding-left: 1.2rem; } .why li { margin: .3rem 0; }
.note { color: #555; } .failed { color: #c0392b; } .generator { color: #b9770e; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
.lane-title { font-weight: 600; fill: #222; } .agent { font-style: italic; }
.grid line, .gridline { stroke: #eee; }
.bar.ok { fill: #4e79a7; } .bar.failed { fill: #e15759; }
.bar:hover { fill-opacity: .7; }
.lag { stroke: #f28e2b; stroke-width: 2; } .due { stroke: #f28e2b; }
.in-flight path { fill: #bcd3ea; stroke: #4e79a7; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; } figcaption { color: #555; }
polyline { fill: none; stroke-width: 2; }
.curve { stroke: #4e79a7; } .request-curve { fill: none; stroke-width: 1.5; } .agent-curve { stroke: #9fb7d3; stroke-dasharray: 4 3; stroke-width: 1.5; }
.p50, polyline.p50 { stroke: #59a14f; color: #59a14f; } .p99, polyline.p99 { stroke: #f28e2b; color: #f28e2b; }
.max, polyline.max { stroke: #e15759; color: #e15759; }
"#;

/// Zoom on the timeline: the wheel scales the time axis around the
/// pointer, a double-click resets it. Labels stay put.
const SCRIPT: &str = r#"
(function () {
  var svg = document.getElementById('timeline-chart');
  if (!svg) return;
  var box = svg.viewBox.baseVal, full = { x: box.x, w: box.width };
  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect();
    var at = box.x + (e.clientX - r.left) / r.width * box.width;
    var w = Math.min(full.w, Math.max(full.w / 200, box.width * (e.deltaY > 0 ? 1.25 : 0.8)));
    box.x = Math.max(full.x, Math.min(full.x + full.w - w, at - (at - box.x) * w / box.width));
    box.width = w;
  }, { passive: false });
  svg.addEventListener('dblclick', function () { box.x = full.x; box.width = full.w; });
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::{mode, record, report_of};
    use loadlab_agent::Mode;

    /// Past the limit, the drawn bars span the whole run (not its first
    /// moments), and keep every failure and the slowest request.
    #[test]
    fn a_large_mode_draws_bars_spread_over_the_run_with_failures_and_the_slowest() {
        let mut requests: Vec<RequestRecord> = (0..3_000)
            .map(|i| record("R1", f64::from(i), f64::from(i) + 1.0))
            .collect();
        requests[2_500].ok = false;
        requests[1_234].end_ms += 50.0;
        requests[1_234].latency_ms += 50.0;
        let bars = drawn(&requests, 300);
        assert_eq!(bars.len(), 300);
        let last = bars.iter().map(|b| b.start_ms).fold(0.0, f64::max);
        assert!(last >= 2_900.0, "the last bar starts at {last} ms of 3,000");
        let late_half = bars.iter().filter(|b| b.start_ms >= 1_500.0).count();
        assert!(
            (120..=180).contains(&late_half),
            "{late_half} of 300 in the second half"
        );
        assert!(bars.iter().any(|b| !b.ok), "the failure is drawn");
        assert!(
            bars.iter().any(|b| b.latency_ms > 50.0),
            "the slowest is drawn"
        );
        assert_eq!(drawn(&requests[..200], 300).len(), 200, "all when they fit");

        // Kept records crowd the start (the first thousand of a long run):
        // the bars still reach its end, and every late record is drawn.
        let mut crowded: Vec<RequestRecord> = (0..1_000)
            .map(|i| record("R1", f64::from(i) * 0.01, f64::from(i) * 0.01 + 1.0))
            .collect();
        crowded.extend(
            (1..=40).map(|i| record("R1", f64::from(i) * 100.0, f64::from(i) * 100.0 + 1.0)),
        );
        let bars = drawn(&crowded, 300);
        assert_eq!(bars.len(), 300);
        let late = bars.iter().filter(|b| b.start_ms >= 100.0).count();
        assert_eq!(late, 40, "every one of the 40 late records");
    }

    /// A mode with two request ids has a summary row and a latency curve
    /// for each, beside the mode's own.
    #[test]
    fn each_request_has_a_row_and_a_curve() {
        use crate::report::RequestFigures;
        let mut m = mode(Mode::Async, &[2.0, 80.0], false);
        for (id, ms) in [("Fast", 2.0), ("Slow", 80.0)] {
            let one = mode(Mode::Async, &[ms; 10], false);
            m.by_request.insert(
                id.into(),
                RequestFigures {
                    count: 10,
                    histogram: one.histogram.clone(),
                    percentiles: one.percentiles.clone(),
                    ..RequestFigures::default()
                },
            );
        }
        let page = render(&report_of(vec![m]));
        for id in ["Fast", "Slow"] {
            assert!(
                page.contains(&format!(
                    r#"<tr class="request" data-mode="async" data-request="{id}">"#
                )),
                "{page}"
            );
            assert!(
                page.contains(&format!(r#"class="request-curve" data-request="{id}""#)),
                "{page}"
            );
        }
        assert!(page.contains("<th>p95</th>"));
    }

    /// Every bar carries the JSON's values, and sits where they say.
    #[test]
    fn bars_carry_their_data_and_their_place() {
        let mut sync = mode(Mode::Sync, &[300.0, 60.0], true);
        sync.requests = vec![record("R1", 0.0, 300.0), record("R2", 300.0, 360.0)];
        let page = render(&report_of(vec![sync]));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(r#"data-mode="sync" data-id="R2" data-agent="a" data-start-ms="300" data-end-ms="360""#), "{page}");
        // The axis runs 0..360 ms over 830 units from x = 150.
        assert!(
            page.contains(r#"x="841.67""#),
            "R2 starts at 300 ms: {page}"
        );
        assert!(
            !page.contains("http://") || !page.contains("src=\"http"),
            "nothing loaded from elsewhere"
        );
    }

    #[test]
    fn ticks_are_round() {
        let t: Vec<String> = ticks(17_000.0).into_iter().map(|(_, l)| l).collect();
        assert_eq!(t, ["0", "5 s", "10 s", "15 s"]);
        let t: Vec<String> = ticks(1.3).into_iter().map(|(_, l)| l).collect();
        assert_eq!(t, ["0", "500 µs", "1 ms"]);
    }
}
