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
//! - failures by reason, and links to the trace in the trace UI when traced.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::duration::{fmt_ms, fmt_short};
use super::model::{Exemplar, LoadKind, ModeReport, Report};

mod charts;
mod timeline;

use charts::{latency_curve, over_time};
use timeline::timeline;

/// Bars drawn per mode; beyond, a sample of this many spread over the run
/// (see [`timeline::drawn`]).
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
            @if report.modes.iter().any(|m| !m.by_scenario.is_empty()) {
                h3 { "Scenarios (an iteration's duration includes its pauses)" }
                table.scenarios {
                    thead { tr {
                        th { "mode" } th { "scenario" } th { "started" } th { "completed" }
                        th { "failed" } th { "interrupted" } th { "p50" } th { "p90" } th { "p99" }
                        th { "max" } th { "thinking" }
                    } }
                    tbody {
                        @for m in &report.modes {
                            @for (name, s) in &m.by_scenario {
                                tr.scenario data-mode=(m.mode) data-scenario=(name) {
                                    td { (m.mode) } td { (name) }
                                    td { (s.started) } td { (s.completed) }
                                    td class=(if s.failed > 0 { "failed" } else { "" }) { (s.failed) }
                                    td { (s.interrupted) }
                                    td { (fmt_ms(s.duration.p50_ms)) }
                                    td { (fmt_ms(s.duration.p90_ms)) }
                                    td { (fmt_ms(s.duration.p99_ms)) }
                                    td { (fmt_ms(s.duration.max_ms)) }
                                    td { (format!("{:.0}%", s.think_share * 100.0)) }
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

/// A percentile's figure, linked to its exemplar's span in the trace UI when the
/// run was traced: a real request that took about that long.
pub(super) fn percentile_cell(
    ms: f64,
    exemplar: Option<&Exemplar>,
    trace_url: Option<&str>,
) -> Markup {
    match (exemplar, trace_url) {
        (Some(e), Some(url)) => html! {
            a.exemplar href=(loadlab_telemetry::trace_ui::span_page(url, &e.span_id))
                title=(format!("{} of round {} on {}: {} — open its span", e.id, e.round, e.agent, fmt_ms(e.response_ms)))
            { (fmt_ms(ms)) }
        },
        _ => html! { (fmt_ms(ms)) },
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

/// About six round ticks from 0 to `end_ms`, with their labels.
pub(super) fn ticks(end_ms: f64) -> Vec<(f64, String)> {
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
        .map(|ms| (ms, fmt_short(ms)))
        .collect()
}

/// SVG coordinates with two decimals: enough to place a bar, few bytes.
pub(super) fn fmt(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// The page's stylesheet and its one script (zooming the timeline: the
/// wheel scales the time axis around the pointer, a double-click resets
/// it; labels stay put), inlined so the page needs nothing else.
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

#[cfg(test)]
mod tests;
