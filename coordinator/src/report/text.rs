//! The text renderer: a pure function of the report model, for the
//! terminal.

use std::fmt::Write as _;

use console::style;

use super::duration::fmt_fine;
pub use super::duration::fmt_ms;
use super::model::{LoadKind, ModeReport, Report, RequestRecord};

/// What closes a mode's section: the elapsed time and why.
pub fn mode_footer(mode: &ModeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "----------");
    let _ = writeln!(out, "Time elapsed: {}", style(fmt_ms(mode.wall_ms)).bold());
    let _ = writeln!(out, "  {}", style(&mode.explanation).dim());
    if let Some(note) = &mode.schedule_note {
        let _ = writeln!(out, "  {}", style(note).dim());
    }
    if let Some(warning) = &mode.generator {
        let _ = writeln!(out, "  {} {warning}", style("!").yellow().bold());
    }
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
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let header = [
        "mode", "wall", "vs sync", "requests", "errors", "req/s", "mean", "p50", "p90", "p95",
        "p99", "max",
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
            format!("{:.1}", m.achieved_rate),
            fmt_ms(m.histogram.mean_ms),
            fmt_ms(m.histogram.p50_ms),
            fmt_ms(m.histogram.p90_ms),
            fmt_ms(m.histogram.p95_ms),
            fmt_ms(m.histogram.p99_ms),
            fmt_ms(m.histogram.max_ms),
        ]);
    }
    table(&mut out, &rows);
    if report.spec.insecure {
        let _ = writeln!(
            out,
            "\nWARNING: insecure: true: the https:// targets' certificates were not verified"
        );
    }
    let open: Vec<&ModeReport> = report
        .modes
        .iter()
        .filter(|m| m.load == LoadKind::Open)
        .collect();
    if !open.is_empty() {
        let _ = writeln!(
            out,
            "\nopen loop: response time counts from when each request was due; service time from when it was sent"
        );
        let header = [
            "mode",
            "rate",
            "achieved",
            "late",
            "backlog",
            "service p50",
            "service p99",
            "lag p99",
            "lag max",
            "worst second",
        ];
        let mut rows = vec![header.map(str::to_owned).to_vec()];
        for m in open {
            rows.push(vec![
                m.mode.to_string(),
                m.intended_rate
                    .map_or("-".to_owned(), |r| format!("{r:.1}/s")),
                format!("{:.1}/s", m.achieved_rate),
                m.late.to_string(),
                m.max_backlog.to_string(),
                fmt_ms(m.service_time.p50_ms),
                fmt_ms(m.service_time.p99_ms),
                fmt_ms(m.schedule_lag.p99_ms),
                fmt_ms(m.schedule_lag.max_ms),
                m.worst_second.as_ref().map_or("-".to_owned(), |w| {
                    format!("{}s: p99 {}, {} req", w.second, fmt_ms(w.p99_ms), w.count)
                }),
            ]);
        }
        table(&mut out, &rows);
    }
    for m in &report.modes {
        // Two or more ids, and not one request each (the timeline shows
        // those one by one).
        let scenarios = !m.by_scenario.is_empty();
        if scenarios || m.by_request.len() > 1 && m.by_request.values().any(|r| r.count > 1) {
            let _ = writeln!(out, "\n{} by request:", m.mode);
            let mut header = vec![
                "request", "requests", "errors", "req/s", "mean", "p50", "p90", "p95", "p99", "max",
            ];
            if scenarios {
                header.insert(3, "skipped");
            }
            let mut rows = vec![header.into_iter().map(str::to_owned).collect::<Vec<_>>()];
            for (id, r) in &m.by_request {
                let h = &r.histogram;
                let mut row = vec![
                    id.clone(),
                    r.count.to_string(),
                    r.errors.to_string(),
                    format!("{:.1}", r.rps),
                    fmt_ms(h.mean_ms),
                    fmt_ms(h.p50_ms),
                    fmt_ms(h.p90_ms),
                    fmt_ms(h.p95_ms),
                    fmt_ms(h.p99_ms),
                    fmt_ms(h.max_ms),
                ];
                if scenarios {
                    row.insert(3, r.skipped.to_string());
                }
                rows.push(row);
            }
            table(&mut out, &rows);
        }
        if scenarios {
            let _ = writeln!(
                out,
                "\n{} by scenario (an iteration's duration includes its pauses):",
                m.mode
            );
            let header = [
                "scenario",
                "started",
                "completed",
                "failed",
                "interrupted",
                "p50",
                "p90",
                "p99",
                "max",
                "thinking",
            ];
            let mut rows = vec![header.map(str::to_owned).to_vec()];
            for (name, s) in &m.by_scenario {
                let d = &s.duration;
                rows.push(vec![
                    name.clone(),
                    s.started.to_string(),
                    s.completed.to_string(),
                    s.failed.to_string(),
                    s.interrupted.to_string(),
                    fmt_ms(d.p50_ms),
                    fmt_ms(d.p90_ms),
                    fmt_ms(d.p99_ms),
                    fmt_ms(d.max_ms),
                    format!("{:.0}%", s.think_share * 100.0),
                ]);
            }
            table(&mut out, &rows);
        }
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
    if report.modes.iter().any(|m| !m.errors_by_reason.is_empty()) {
        let _ = writeln!(out, "\n{}", style("Failures").red().bold());
        for m in &report.modes {
            for (reason, count) in &m.errors_by_reason {
                let _ = writeln!(out, "  {}: {count} × {reason}", m.mode);
            }
        }
    }
    for m in &report.modes {
        for failure in &m.failures {
            let _ = writeln!(out, "  {}: {failure}", m.mode);
        }
    }
    for m in &report.modes {
        if let Some(warning) = &m.generator {
            let _ = writeln!(
                out,
                "  {} {}: {warning}",
                style("!").yellow().bold(),
                m.mode
            );
        }
    }
    for m in report.modes.iter().filter(|m| m.interrupted > 0) {
        let _ = writeln!(
            out,
            "  {} {}: {} interrupted: in flight when graceful_stop ran out (not failed)",
            style("·").yellow().bold(),
            m.mode,
            m.interrupted
        );
    }
    if report.interrupted {
        let _ = writeln!(
            out,
            "\n{}",
            style("Interrupted: the figures above are partial.").yellow()
        );
    }
    thresholds(&mut out, report);
    if let Some(id) = &report.trace_id {
        let _ = writeln!(out, "\ntrace {id}");
        for m in &report.modes {
            if let Some(max) = m.exemplars.as_ref().and_then(|e| e.max.as_ref()) {
                let _ = writeln!(
                    out,
                    "  {} slowest: {} round {} ({}) span {}",
                    m.mode,
                    max.id,
                    max.round,
                    fmt_ms(max.response_ms),
                    max.span_id
                );
            }
        }
        if let Some(url) = &report.trace_url {
            let _ = writeln!(out, "  view it: {url}");
        }
    }
    out
}

/// Each threshold per mode, with what was measured and ✓/✗.
fn thresholds(out: &mut String, report: &Report) {
    if report.thresholds.is_empty() {
        return;
    }
    let failed = report.thresholds.iter().filter(|v| !v.ok).count();
    let _ = writeln!(
        out,
        "\nThresholds (every agent merged): {}",
        if failed == 0 {
            style("all passed".to_owned()).green()
        } else {
            style(format!("{failed} failed")).red().bold()
        }
    );
    for v in &report.thresholds {
        let value = v.measured();
        let mark = if v.ok {
            style("✓").green()
        } else {
            style("✗").red().bold()
        };
        let _ = writeln!(
            out,
            "  {mark} {:<9} {:<18} measured {value}",
            v.mode, v.expr
        );
    }
}

/// Modes with more requests than this are left out of the terminal
/// timeline.
pub const TIMELINE_LIMIT: usize = 100;

/// How the timeline is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glyphs {
    /// Block characters (a terminal).
    Blocks,
    /// Plain ASCII (a pipe, a file, `NO_COLOR`).
    Ascii,
}

/// The requests of small modes (at most [`TIMELINE_LIMIT`], every record
/// present) as bars on one time axis shared by all of them, `width`
/// columns wide: the sync staircase and the async overlap, without a
/// browser. An open loop's wait to be sent is drawn before its bar.
pub fn timeline(report: &Report, width: usize, glyphs: Glyphs) -> Option<String> {
    let modes: Vec<&ModeReport> = report
        .modes
        .iter()
        .filter(|m| {
            !m.requests.is_empty()
                && m.requests.len() <= TIMELINE_LIMIT
                && m.requests.len() as u64 == m.histogram.count
        })
        .collect();
    let end_ms = modes
        .iter()
        .flat_map(|m| &m.requests)
        .map(|r| r.end_ms)
        .fold(0.0, f64::max);
    if modes.is_empty() || end_ms <= 0.0 {
        return None;
    }
    let several_agents = report.agents.len() > 1;
    let label = |r: &RequestRecord| {
        if several_agents {
            format!("{}/{}", r.agent, r.id)
        } else {
            r.id.clone()
        }
    };
    let mode_width = modes
        .iter()
        .map(|m| m.mode.as_str().len())
        .max()
        .unwrap_or(0);
    let id_width = modes
        .iter()
        .flat_map(|m| &m.requests)
        .map(|r| label(r).chars().count())
        .max()
        .unwrap_or(0);
    let columns = width.saturating_sub(mode_width + id_width + 4).max(10);
    let column_of = |ms: f64| ((ms / end_ms) * columns as f64).clamp(0.0, columns as f64);
    let (done, failed, waited) = match glyphs {
        Glyphs::Blocks => ('█', '▓', '░'),
        Glyphs::Ascii => ('#', 'x', '.'),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nTimeline (one axis for every mode; a column is {})",
        fmt_fine(end_ms / columns as f64)
    );
    for mode in modes {
        let mut requests: Vec<&RequestRecord> = mode.requests.iter().collect();
        requests.sort_by(|a, b| {
            a.agent
                .cmp(&b.agent)
                .then(a.start_ms.total_cmp(&b.start_ms))
        });
        for (i, r) in requests.iter().enumerate() {
            let name = if i == 0 { mode.mode.as_str() } else { "" };
            let due = column_of(r.intended_ms.min(r.start_ms)).floor() as usize;
            let start = column_of(r.start_ms).floor() as usize;
            let end = (column_of(r.end_ms).ceil() as usize)
                .max(start + 1)
                .min(columns);
            let glyph = if r.ok { done } else { failed };
            let bar: String = (0..end)
                .map(|c| match c {
                    c if c < due => ' ',
                    c if c < start => waited,
                    _ => glyph,
                })
                .collect();
            let bar = match (glyphs, r.ok) {
                (Glyphs::Blocks, false) => style(bar).red().to_string(),
                _ => bar,
            };
            let _ = writeln!(out, "{name:<mode_width$}  {:<id_width$} {bar}", label(r));
        }
    }
    let axis_start = format!("{:<w$}", "0", w = mode_width + id_width + 3);
    let last = fmt_ms(end_ms);
    let _ = writeln!(out, "{axis_start}{last:>columns$}", columns = columns);
    Some(out)
}

/// Rows of cells as aligned columns: the first left-aligned, the others
/// right-aligned, the header bold.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
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
}

#[cfg(test)]
mod tests;
