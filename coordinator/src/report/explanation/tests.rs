use super::*;
use crate::report::analysis::summary;
use crate::report::fixtures::{mode, record};
use loadlab_proto::tally::Finished;

/// A closed loop's note says what it leaves out, in one sentence, as
/// each mode starts its requests.
#[test]
fn a_closed_loop_says_what_its_latencies_leave_out() {
    let note = |m: Mode| {
        let mut tally = Tally::new();
        for i in 0..200u64 {
            tally.record(Finished {
                intended_us: i * 10,
                start_us: i * 10,
                end_us: i * 10 + 5,
                error: None,
            });
        }
        let lag = summary(&tally.lag);
        let service = summary(&tally.service);
        let response = summary(&tally.response);
        schedule_note(
            m,
            Load::Closed { cap: 10 },
            &tally,
            &lag,
            &service,
            &response,
        )
        .expect("a note past 100 requests")
    };
    let concurrent = note(Mode::Async);
    assert_eq!(
        concurrent,
        "closed loop: a request started only when one of the 10 slots freed, so these \
             latencies leave out any wait for a turn; give `rate` and `duration` to run it \
             open-loop and count that wait"
    );
    let sequential = note(Mode::Sync);
    assert!(
        sequential
            .starts_with("closed loop: each request started only when the one before it ended, so"),
        "{sequential}"
    );
    assert!(!sequential.contains("slots"), "{sequential}");
    assert!(!concurrent.contains("  ") && !sequential.contains("  "));
}

#[test]
fn sequential_run_is_explained_as_the_sum() {
    let m = mode(Mode::Sync, &[10_000.0, 2_000.0, 5_000.0], true);
    assert!(
        m.explanation
            .starts_with("≈ the sum of the waits (17.000 s)"),
        "{}",
        m.explanation
    );
    assert!((m.overlap - 1.0).abs() < 0.01);
    assert!((m.wall_ms - 17_000.0).abs() < 1.0);
}

#[test]
fn concurrent_run_is_explained_as_the_slowest() {
    let m = mode(Mode::Async, &[10_000.0, 2_000.0, 5_000.0], false);
    assert!(
        m.explanation.starts_with("≈ the slowest request (10.0"),
        "{}",
        m.explanation
    );
    assert!(
        m.explanation.ends_with("3 in flight at once"),
        "{}",
        m.explanation
    );
}

/// The blocking mode's sentence carries the measured stall.
#[test]
fn a_blocked_executor_is_named_with_its_measure() {
    let mut m = mode(Mode::Blocking, &[10_000.0, 2_000.0, 5_000.0], true);
    let measured = Measured {
        wall_ms: m.wall_ms,
        sum_ms: m.sum_latency_ms,
        max_ms: m.histogram.max_ms,
        count: 3,
        in_flight: InFlight { max: 1, mean: 1.0 },
        stall: Some(StallSummary {
            total_ms: 16_990.0,
            max_ms: 10_000.0,
            p99_ms: 10_000.0,
        }),
    };
    m.explanation = explain(Mode::Blocking, &measured);
    assert_eq!(
        m.explanation,
        "≈ the sum of the waits (17.000 s): the executor was blocked 16.990 s of 17.000 s, \
             never more than 1 request in flight"
    );
    let free = Measured {
        in_flight: InFlight { max: 3, mean: 1.7 },
        stall: Some(StallSummary {
            total_ms: 1.0,
            max_ms: 0.2,
            p99_ms: 0.1,
        }),
        wall_ms: 10_000.0,
        ..measured
    };
    assert_eq!(
        explain(Mode::Async, &free),
        "≈ the slowest request (10.002 s): 3 in flight at once, the executor never blocked more than 0.2 ms"
    );
}

/// Queries that slowed each other down while no backend waited: the
/// database was CPU-bound, and the sentence says so with the figures.
#[test]
fn a_cpu_bound_database_is_named_when_queries_slow_each_other() {
    let mut sync = mode(Mode::Sync, &[2_000.0, 1_000.0], true);
    sync.requests = vec![record("R1", 0.0, 2_000.0), record("R2", 2_000.0, 3_000.0)];
    let mut together = mode(Mode::Async, &[3_600.0, 1_800.0], false);
    together.requests = vec![record("R1", 0.0, 3_600.0), record("R2", 0.0, 1_800.0)];
    together.database = Some(DatabaseActivity {
        samples: 30,
        active_max: 2,
        active_mean: 1.6,
        lock_wait_share: 0.0,
        io_wait_share: 0.01,
    });
    let mut modes = vec![sync, together];
    compare_with_sync(&mut modes);
    assert_eq!(modes[1].slowdown_vs_sync, Some(1.8));
    assert!(
        modes[1].explanation.ends_with(
            "; 3.600 s vs sync 3.000 s: each query took 1.8× longer beside the others; \
                 2 backends were active and none waited on locks or I/O: the database was CPU-bound"
        ),
        "{}",
        modes[1].explanation
    );
}

/// One query in flight on several busy backends is named as parallel
/// workers; one backend, or several queries in flight, is not.
#[test]
fn parallel_workers_are_named_when_one_query_kept_several_backends_busy() {
    let db = |active_mean| DatabaseActivity {
        samples: 20,
        active_max: 3,
        active_mean,
        lock_wait_share: 0.0,
        io_wait_share: 0.0,
    };
    let one = InFlight { max: 1, mean: 1.0 };
    assert_eq!(
        parallel_workers(&db(2.6), one),
        "; yet the database ran each query on ~2.6 backends (parallel workers): the cores \
             were already busy"
    );
    assert_eq!(parallel_workers(&db(1.0), one), "");
    assert_eq!(
        parallel_workers(&db(2.6), InFlight { max: 3, mean: 2.5 }),
        ""
    );
}

/// The generator's own lateness is named when it is a share of the
/// response times, and not otherwise (nor for sync and blocking).
#[test]
fn a_late_generator_says_so_with_its_figures() {
    let response = LatencySummary {
        count: 100,
        p50_ms: 5.0,
        ..LatencySummary::default()
    };
    let lag = LatencySummary {
        p99_ms: 4.2,
        ..LatencySummary::default()
    };
    let open = Load::Open {
        cap: 0,
        intended_per_s: 1000.0,
    };
    let stall = |p99_ms| {
        Some(StallSummary {
            total_ms: 10.0,
            max_ms: p99_ms,
            p99_ms,
        })
    };
    let warned = generator_warning(Mode::Async, open, &lag, stall(0.3), &response).unwrap();
    assert!(
        warned.starts_with("the generator was late by p99 4.2 ms: requests were sent late"),
        "{warned}"
    );
    assert!(
        warned.contains("latencies below that are not the server's"),
        "{warned}"
    );
    let closed = Load::Closed { cap: 50 };
    let warned = generator_warning(Mode::Async, closed, &lag, stall(2.5), &response).unwrap();
    assert!(
        warned.contains("its executor stalled p99 2.5 ms"),
        "{warned}"
    );
    // Small against the responses, or a lesson of its mode: nothing.
    assert_eq!(
        generator_warning(Mode::Async, closed, &lag, stall(0.3), &response),
        None
    );
    let slow = LatencySummary {
        p50_ms: 100.0,
        ..response.clone()
    };
    assert_eq!(
        generator_warning(Mode::Async, open, &lag, stall(0.3), &slow),
        None
    );
    assert_eq!(
        generator_warning(Mode::Blocking, open, &lag, stall(9.0), &response),
        None
    );
}

#[test]
fn speedup_is_against_sync() {
    let mut modes = vec![
        mode(Mode::Sync, &[10_000.0, 2_000.0, 5_000.0], true),
        mode(Mode::Async, &[10_000.0, 2_000.0, 5_000.0], false),
    ];
    compare_with_sync(&mut modes);
    assert_eq!(modes[0].speedup_vs_sync, Some(1.0));
    let async_speedup = modes[1].speedup_vs_sync.unwrap();
    assert!((async_speedup - 1.7).abs() < 0.01, "{async_speedup}");
}
