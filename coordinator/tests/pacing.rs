//! The async open loop starts each request when it is due, to a fraction
//! of a millisecond: only one worker waits for the next request at a time,
//! so the wait is a precise one. (When every idle worker held a request
//! and waited for it at once, more than `loadlab_wait::PRECISE_AT_ONCE`
//! waits were in progress and each woke on tokio's millisecond timer:
//! schedule lag p50 ~1 ms, spread over 0–1.4 ms, at any rate.) A test
//! binary of its own, so no other test loads the cores meanwhile.

mod common;
use common::{run_spec, text};

#[test]
fn the_async_open_loop_starts_requests_within_a_fraction_of_a_millisecond() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"
name: pacing
modes: [async]
requests: [{ id: R1, path: "/delay-me?ms=1" }]
rate: 300/s
duration: 3s
concurrency: 200
"#;
    let (out, report) = run_spec(&dir, spec, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mode = &report.unwrap()["modes"][0];
    let lag = &mode["schedule_lag"];
    assert_eq!(mode["histogram"]["count"], 900);
    // Generous for a debug build on a busy 2-core machine: alone it
    // measures ~0.19 ms, and once, in a full suite run (2026-12-03, p90
    // 3.5 ms, max 21 ms: the cores were busy), 0.545 ms. The defect it
    // guards against puts the median at 0.8-1.1 ms.
    let p50 = lag["p50_ms"].as_f64().unwrap();
    assert!(p50 < 0.7, "schedule lag p50 {p50} ms: {lag}");
}
