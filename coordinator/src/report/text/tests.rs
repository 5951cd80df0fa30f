use super::*;
use crate::report::fixtures::{mode, record, report_of};
use loadlab_proto::Mode;

#[test]
fn summary_table_and_failures_render() {
    console::set_colors_enabled(false);
    let mut failed = mode(Mode::Async, &[1.0, 1.0], false);
    failed.errors = 2;
    failed
        .errors_by_reason
        .insert("R1: connection refused to 127.0.0.1:9".into(), 2);
    let report = report_of(vec![
        mode(Mode::Sync, &[10_000.0, 2_000.0, 5_000.0], true),
        failed,
    ]);
    let text = summary(&report);
    assert!(text.lines().next().unwrap().starts_with("mode "), "{text}");
    assert!(text.contains("sync   17.000 s"), "{text}");
    assert!(
        text.contains("async: 2 × R1: connection refused to 127.0.0.1:9"),
        "{text}"
    );
    assert!(!report.ok());
}

/// Sync is a staircase, async an overlap, on one axis; ASCII when asked.
#[test]
fn the_terminal_timeline_draws_the_staircase_and_the_overlap() {
    let mut sync = mode(Mode::Sync, &[10_000.0, 2_000.0, 5_000.0], true);
    sync.requests = vec![
        record("R1", 0.0, 10_000.0),
        record("R2", 10_000.0, 12_000.0),
        record("R3", 12_000.0, 17_000.0),
    ];
    let mut concurrent = mode(Mode::Async, &[10_000.0, 2_000.0, 5_000.0], false);
    concurrent.requests = vec![
        record("R1", 0.0, 10_000.0),
        record("R2", 0.0, 2_000.0),
        record("R3", 0.0, 5_000.0),
    ];
    let report = report_of(vec![sync, concurrent]);
    // 17 s over 34 columns: a column is 500 ms.
    let text = timeline(&report, 34 + 5 + 2 + 4, Glyphs::Ascii).unwrap();
    let rows: Vec<&str> = text.lines().skip(2).collect();
    let bar = |row: &str| row.split_once("R").map(|(_, b)| b[2..].to_owned()).unwrap();
    assert_eq!(bar(rows[0]), "#".repeat(20));
    assert_eq!(bar(rows[1]), format!("{}{}", " ".repeat(20), "#".repeat(4)));
    assert_eq!(
        bar(rows[2]),
        format!("{}{}", " ".repeat(24), "#".repeat(10))
    );
    assert_eq!(bar(rows[3]), "#".repeat(20));
    assert_eq!(bar(rows[5]), "#".repeat(10));
    assert!(rows[0].starts_with("sync "), "{text}");
    assert!(rows[3].starts_with("async"), "{text}");
    assert!(text.trim_end().ends_with("17.000 s"), "{text}");
    assert!(text.is_ascii());
}

#[test]
fn durations_read_naturally() {
    assert_eq!(fmt_ms(17_004.2), "17.004 s");
    assert_eq!(fmt_ms(250.34), "250.3 ms");
    // A timeline's column over a run of a few milliseconds.
    assert_eq!(fmt_fine(2.4 / 90.0), "27 µs");
    assert_eq!(fmt_fine(0.5), "0.5 ms");
}
