//! Each mode's charts: the latency curve (percentiles on a log axis,
//! merged, per request id and per agent) and percentiles over time.

use maud::{Markup, html};

use super::{fmt, ticks};
use crate::report::model::{IntervalSummary, ModeReport, PercentilePoint};

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

pub(super) fn latency_curve(mode: &ModeReport) -> Markup {
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

pub(super) fn over_time(mode: &ModeReport) -> Markup {
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
