use super::timeline::drawn;
use super::*;
use crate::report::fixtures::{mode, record, report_of};
use crate::report::model::RequestRecord;
use loadlab_proto::Mode;

/// Past the limit, the drawn bars span the whole run (not its first
/// moments), and keep every failure and the slowest request.
#[test]
fn a_large_mode_draws_bars_spread_over_the_run_with_failures_and_the_slowest() {
    let mut requests: Vec<RequestRecord> = (0..3_000)
        .map(|i| record("R1", f64::from(i), f64::from(i) + 1.0))
        .collect();
    requests[2_500].ok = false;
    requests[1_234].end_ms += 50.0;
    requests[1_234].service_ms += 50.0;
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
        bars.iter().any(|b| b.service_ms > 50.0),
        "the slowest is drawn"
    );
    assert_eq!(drawn(&requests[..200], 300).len(), 200, "all when they fit");

    // Kept records crowd the start (the first thousand of a long run):
    // the bars still reach its end, and every late record is drawn.
    let mut crowded: Vec<RequestRecord> = (0..1_000)
        .map(|i| record("R1", f64::from(i) * 0.01, f64::from(i) * 0.01 + 1.0))
        .collect();
    crowded
        .extend((1..=40).map(|i| record("R1", f64::from(i) * 100.0, f64::from(i) * 100.0 + 1.0)));
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
    assert!(
        page.contains(
            r#"data-mode="sync" data-id="R2" data-agent="a" data-start-ms="300" data-end-ms="360""#
        ),
        "{page}"
    );
    // The axis runs 0..360 ms over 830 units from x = 150.
    assert!(
        page.contains(r#"x="841.67""#),
        "R2 starts at 300 ms: {page}"
    );
    // Self-contained: no script, style, image or font fetched from
    // elsewhere (links to a trace UI are navigation, not loads).
    for remote in ["src=", "<link", "@import", "url("] {
        assert!(
            !page.contains(remote),
            "nothing loaded from elsewhere, yet the page has {remote:?}"
        );
    }
}

/// With scenarios, a user's requests share its row, left to right;
/// another user's are on a row of their own.
#[test]
fn a_users_steps_share_a_row() {
    let mut async_ = mode(Mode::Async, &[10.0, 20.0, 15.0], false);
    let step = |id: &str, user: u64, start: f64, end: f64| {
        let mut r = record(id, start, end);
        r.user = Some(user);
        r
    };
    async_.requests = vec![
        step("Login", 0, 0.0, 10.0),
        step("Login", 1, 1.0, 16.0),
        step("Order", 0, 30.0, 50.0),
    ];
    let page = render(&report_of(vec![async_]));
    let y_of = |id: &str, user: u64| {
        let at = page
            .find(&format!(
                r#"data-id="{id}" data-agent="a" data-user="{user}""#
            ))
            .unwrap_or_else(|| panic!("no {id} of user {user}: {page}"));
        let rect = &page[page[..at].rfind("<rect").unwrap()..at];
        let y = rect.split(" y=\"").nth(1).unwrap();
        y[..y.find('"').unwrap()].to_owned()
    };
    assert_eq!(y_of("Login", 0), y_of("Order", 0), "user 0's row");
    assert_ne!(y_of("Login", 0), y_of("Login", 1), "user 1's own row");
    assert!(page.contains(">user 0</text>") && page.contains(">user 1</text>"));
}

#[test]
fn scenarios_have_a_table() {
    let mut m = mode(Mode::Threads, &[10.0], false);
    m.by_scenario.insert(
        "buy".into(),
        crate::report::ScenarioFigures {
            started: 4,
            completed: 3,
            failed: 1,
            interrupted: 1,
            think_share: 0.5,
            ..Default::default()
        },
    );
    let page = render(&report_of(vec![m]));
    assert!(
            page.contains(r#"<tr class="scenario" data-mode="threads" data-scenario="buy"><td>threads</td><td>buy</td><td>4</td><td>3</td><td class="failed">1</td><td>1</td>"#),
            "{page}"
        );
    assert!(page.contains("<td>50%</td>"));
}

#[test]
fn ticks_are_round() {
    let t: Vec<String> = ticks(17_000.0).into_iter().map(|(_, l)| l).collect();
    assert_eq!(t, ["0", "5 s", "10 s", "15 s"]);
    let t: Vec<String> = ticks(1.3).into_iter().map(|(_, l)| l).collect();
    assert_eq!(t, ["0", "500 µs", "1 ms"]);
}
