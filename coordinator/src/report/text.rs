//! The text renderer: a pure function of the report model, for the
//! terminal.

use std::fmt::Write as _;

use console::style;

use super::model::{LoadKind, ModeReport, Report};

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
pub fn mode_footer(mode: &ModeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "----------");
    let _ = writeln!(out, "Time elapsed: {}", style(fmt_ms(mode.wall_ms)).bold());
    let _ = writeln!(out, "  {}", style(&mode.explanation).dim());
    if let Some(note) = &mode.schedule_note {
        let _ = writeln!(out, "  {}", style(note).dim());
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
    table(&mut out, &rows);
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
    if report.interrupted {
        let _ = writeln!(
            out,
            "\n{}",
            style("Interrupted: the figures above are partial.").yellow()
        );
    }
    out
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
mod tests {
    use super::*;
    use crate::report::analysis::tests::mode;
    use loadlab_agent::Mode;

    #[test]
    fn summary_table_and_failures_render() {
        console::set_colors_enabled(false);
        let mut failed = mode(Mode::Async, &[1.0, 1.0], false);
        failed.errors = 2;
        failed
            .errors_by_reason
            .insert("R1: connection refused to 127.0.0.1:9".into(), 2);
        let report = Report {
            spec: crate::spec::Spec::parse(
                "name: x\nmodes: [async]\nrequests: [{id: R1, path: /}]\n",
                "x",
            )
            .unwrap(),
            targets: Default::default(),
            agents: vec!["a".into()],
            modes: vec![
                mode(Mode::Sync, &[10_000.0, 2_000.0, 5_000.0], true),
                failed,
            ],
            interrupted: false,
            trace_id: None,
        };
        let text = summary(&report);
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
