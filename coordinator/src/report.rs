//! The results of an experiment, and how they are shown. Rendering is a pure
//! function of the `Report`, so the same result prints as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use console::style;
use loadlab_agent::Mode;
use loadlab_proto::histogram::LatencyHistogram;
use serde::Serialize;

use crate::spec::Spec;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run's OpenTelemetry trace, when traces were exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    pub spec: Spec,
    /// Where the requests went (the embedded delay server's address when the
    /// spec names no HTTP target).
    pub targets: crate::experiment::Resolved,
    pub agents: Vec<String>,
    pub modes: Vec<ModeReport>,
    /// True when the run was stopped (Ctrl-C) before it finished.
    pub interrupted: bool,
}

impl Report {
    pub fn failed_requests(&self) -> u64 {
        self.modes.iter().map(|m| m.errors).sum()
    }

    /// Every request succeeded and every agent delivered.
    pub fn ok(&self) -> bool {
        !self.interrupted
            && self
                .modes
                .iter()
                .all(|m| m.errors == 0 && m.failures.is_empty())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub mode: Mode,
    /// First request started to last request finished, on the agent that
    /// took longest.
    pub wall_ms: f64,
    /// Sum of every request's latency: the wall time if nothing overlapped.
    pub sum_latency_ms: f64,
    /// How many requests were waiting at once, on average (sum / wall).
    pub overlap: f64,
    /// Sync's wall time divided by this mode's, when sync ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup_vs_sync: Option<f64>,
    /// Why this mode took what it took, in one sentence.
    pub explanation: String,
    pub errors: u64,
    /// Agent-level problems: an agent lost, a refused assignment, a
    /// histogram that could not be read.
    pub failures: Vec<String>,
    /// What happened but did not cost a result: an agent lost whose
    /// unfinished requests other agents ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub histogram: LatencySummary,
    pub agents: Vec<AgentFigures>,
    pub requests: Vec<RequestRecord>,
}

impl ModeReport {
    /// Derives the figures that explain the mode from its raw results.
    pub fn new(
        mode: Mode,
        wall_ms: f64,
        histogram: &LatencyHistogram,
        agents: Vec<AgentFigures>,
        mut requests: Vec<RequestRecord>,
        failures: Vec<String>,
    ) -> ModeReport {
        requests.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let sum_latency_ms: f64 = requests.iter().map(|r| r.latency_ms).sum();
        let errors = requests.iter().filter(|r| !r.ok).count() as u64;
        let overlap = if wall_ms > 0.0 {
            sum_latency_ms / wall_ms
        } else {
            0.0
        };
        let max_ms = histogram.max() as f64 / 1e3;
        ModeReport {
            mode,
            wall_ms,
            sum_latency_ms,
            overlap,
            speedup_vs_sync: None,
            explanation: explain(mode, wall_ms, sum_latency_ms, max_ms, requests.len()),
            errors,
            failures,
            notes: Vec::new(),
            histogram: LatencySummary::of(histogram),
            agents,
            requests,
        }
    }
}

/// Says which the wall time is close to — the sum of the waits or the
/// slowest one — and why the mode produced that.
fn explain(mode: Mode, wall_ms: f64, sum_ms: f64, max_ms: f64, count: usize) -> String {
    let near = |a: f64, b: f64| b > 0.0 && (a - b).abs() <= 0.1 * b;
    let shape = if count <= 1 {
        "a single request".to_owned()
    } else if near(wall_ms, sum_ms) && !near(wall_ms, max_ms) {
        format!("≈ the sum of the waits ({})", fmt_ms(sum_ms))
    } else if near(wall_ms, max_ms) {
        format!("≈ the slowest request ({})", fmt_ms(max_ms))
    } else {
        format!(
            "{:.1} requests waiting at once on average",
            sum_ms / wall_ms.max(f64::EPSILON)
        )
    };
    format!("{shape}: {}", mode.how_it_waits())
}

/// Latency percentiles from a merged histogram, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(h: &LatencyHistogram) -> LatencySummary {
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
}

/// One agent's share of a mode.
#[derive(Debug, Clone, Serialize)]
pub struct AgentFigures {
    pub name: String,
    pub errors: u64,
    pub wall_ms: f64,
    #[serde(flatten)]
    pub latency: LatencySummary,
}

/// One request as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub id: String,
    pub round: u32,
    pub agent: String,
    pub ok: bool,
    pub status: u32,
    /// Offsets from the start of the agent's assignment.
    pub start_ms: f64,
    pub end_ms: f64,
    pub latency_ms: f64,
    pub bytes: u64,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub rows: u64,
}

/// `17.004 s`, `250.3 ms`: seconds with millisecond precision above a
/// second, milliseconds below.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.3} s", ms / 1e3)
    } else {
        format!("{ms:.1} ms")
    }
}

/// What closes a mode's section: the elapsed time and why.
pub fn render_mode_footer(mode: &ModeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "----------");
    let _ = writeln!(out, "Time elapsed: {}", style(fmt_ms(mode.wall_ms)).bold());
    let _ = writeln!(out, "  {}", style(&mode.explanation).dim());
    for note in &mode.notes {
        let _ = writeln!(out, "  {} {note}", style("·").yellow().bold());
    }
    for failure in &mode.failures {
        let _ = writeln!(out, "  {} {failure}", style("!").red().bold());
    }
    let _ = writeln!(out, "==========");
    out
}

/// The closing summary: one row per mode, then what went wrong.
pub fn render_summary(report: &Report) -> String {
    let mut out = String::new();
    let header = [
        "mode", "wall", "vs sync", "requests", "errors", "p50", "p90", "p99", "max",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for m in &report.modes {
        rows.push(vec![
            m.mode.to_string(),
            fmt_ms(m.wall_ms),
            m.speedup_vs_sync
                .map_or("-".to_owned(), |s| format!("{s:.2}x")),
            m.histogram.count.to_string(),
            m.errors.to_string(),
            fmt_ms(m.histogram.p50_ms),
            fmt_ms(m.histogram.p90_ms),
            fmt_ms(m.histogram.p99_ms),
            fmt_ms(m.histogram.max_ms),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == 0 {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        let line = line.join("  ");
        let _ = writeln!(
            out,
            "{}",
            if i == 0 {
                style(line).bold().to_string()
            } else {
                line
            }
        );
    }
    for m in &report.modes {
        if m.agents.len() > 1 {
            let _ = writeln!(out, "\n{} per agent:", m.mode);
            for a in &m.agents {
                let _ = writeln!(
                    out,
                    "  {:<16} requests {:>8}  errors {:>6}  wall {:>10}  p50 {:>10}  p99 {:>10}",
                    a.name,
                    a.latency.count,
                    a.errors,
                    fmt_ms(a.wall_ms),
                    fmt_ms(a.latency.p50_ms),
                    fmt_ms(a.latency.p99_ms)
                );
            }
        }
    }
    let failures = error_counts(report);
    if !failures.is_empty() {
        let _ = writeln!(out, "\n{}", style("Failures").red().bold());
        for ((mode, error), count) in failures {
            let _ = writeln!(out, "  {mode}: {count} × {error}");
        }
    }
    for m in &report.modes {
        for failure in &m.failures {
            let _ = writeln!(out, "  {}: {failure}", m.mode);
        }
    }
    if report.interrupted {
        let _ = writeln!(
            out,
            "\n{}",
            style("Interrupted: the figures above are partial.").yellow()
        );
    }
    out
}

/// Failed requests grouped by mode and error text, so 20,000 identical
/// failures read as one line.
fn error_counts(report: &Report) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for m in &report.modes {
        for r in m.requests.iter().filter(|r| !r.ok) {
            let error = format!("{}: {}", r.id, r.error.as_deref().unwrap_or("failed"));
            *counts.entry((m.mode.to_string(), error)).or_insert(0) += 1;
        }
    }
    counts
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
mod tests {
    use super::*;
    use loadlab_proto::histogram::{new_latency_histogram, record_latency};

    fn record(id: &str, start_ms: f64, latency_ms: f64, ok: bool) -> RequestRecord {
        RequestRecord {
            id: id.into(),
            round: 0,
            agent: "a".into(),
            ok,
            status: if ok { 200 } else { 0 },
            start_ms,
            end_ms: start_ms + latency_ms,
            latency_ms,
            bytes: 0,
            body: String::new(),
            error: (!ok).then(|| "connection refused to 127.0.0.1:9".into()),
            rows: 0,
        }
    }

    fn mode(mode: Mode, wall_ms: f64, latencies: &[f64]) -> ModeReport {
        let mut h = new_latency_histogram();
        let mut at = 0.0;
        let records = latencies
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                record_latency(&mut h, (l * 1e3) as u64);
                let r = record(&format!("R{}", i + 1), at, l, true);
                at += 1.0;
                r
            })
            .collect();
        ModeReport::new(mode, wall_ms, &h, vec![], records, vec![])
    }

    #[test]
    fn sequential_run_is_explained_as_the_sum() {
        let m = mode(Mode::Sync, 17_010.0, &[10_000.0, 2_000.0, 5_000.0]);
        assert!(
            m.explanation
                .starts_with("≈ the sum of the waits (17.000 s)"),
            "{}",
            m.explanation
        );
        assert!((m.overlap - 1.0).abs() < 0.01);
    }

    #[test]
    fn concurrent_run_is_explained_as_the_slowest() {
        let m = mode(Mode::Async, 10_004.0, &[10_000.0, 2_000.0, 5_000.0]);
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
            mode(Mode::Sync, 17_000.0, &[10_000.0, 2_000.0, 5_000.0]),
            mode(Mode::Async, 10_000.0, &[10_000.0, 2_000.0, 5_000.0]),
        ];
        compare_with_sync(&mut modes);
        assert_eq!(modes[0].speedup_vs_sync, Some(1.0));
        assert_eq!(modes[1].speedup_vs_sync, Some(1.7));
    }

    #[test]
    fn summary_table_and_failures_render() {
        console::set_colors_enabled(false);
        let mut failed = mode(Mode::Async, 5.0, &[]);
        failed.requests = vec![record("R1", 0.0, 1.0, false), record("R1", 0.0, 1.0, false)];
        failed.errors = 2;
        let report = Report {
            spec: crate::spec::Spec::parse(
                "name: x\nmodes: [async]\nrequests: [{id: R1, path: /}]\n",
                "x",
            )
            .unwrap(),
            targets: Default::default(),
            agents: vec!["a".into()],
            modes: vec![
                mode(Mode::Sync, 17_000.0, &[10_000.0, 2_000.0, 5_000.0]),
                failed,
            ],
            interrupted: false,
            trace_id: None,
        };
        let text = render_summary(&report);
        assert!(text.lines().next().unwrap().starts_with("mode "), "{text}");
        assert!(text.contains("sync   17.000 s"), "{text}");
        assert!(
            text.contains("async: 2 × R1: connection refused to 127.0.0.1:9"),
            "{text}"
        );
        assert!(!report.ok());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_ms(17_004.2), "17.004 s");
        assert_eq!(fmt_ms(250.34), "250.3 ms");
    }
}
