//! The four modes against a real delay server on 127.0.0.1:0, with
//! millisecond delays: how long each takes, and how its requests overlap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use loadlab_agent::outcome::Outcome;
use loadlab_agent::run::{Clock, Event, Gauges, execute};
use loadlab_agent::workload::Workload;
use loadlab_proto::Mode;
use loadlab_proto::v1;
use loadlab_testkit::assignment;
use tokio_util::sync::CancellationToken;

/// The quick reference round: 300, 60 and 150 ms (sum 510, max 300).
const DELAYS_MS: [u64; 3] = [300, 60, 150];
const SUM: Duration = Duration::from_millis(510);
const MAX: Duration = Duration::from_millis(300);

async fn delay_server() -> (String, tokio_util::sync::DropGuard) {
    loadlab_testkit::servers::delay_server(Default::default()).await
}

fn workload(
    mode: Mode,
    urls: &[String],
    rounds: u64,
    concurrency: u32,
    timeout_ms: u64,
) -> Workload {
    let items = rounds * urls.len() as u64;
    let mut assignment = assignment::closed("test", v1::Mode::from(mode).into(), items)
        .concurrency(concurrency)
        .timeout_ms(timeout_ms)
        .live_events(true)
        .all_records(true);
    for (i, url) in urls.iter().enumerate() {
        assignment = assignment.request(assignment::http(&format!("R{}", i + 1), url));
    }
    Workload::try_from(assignment.build()).unwrap()
}

/// Runs the workload; returns the wall time, the outcomes in finishing
/// order, and how many starts were reported.
async fn run(workload: Workload, cancel: CancellationToken) -> (Duration, Vec<Outcome>, usize) {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    execute(
        Arc::new(workload),
        Clock::new(0),
        events,
        Arc::new(Gauges::default()),
        cancel,
        None,
        CancellationToken::new(),
    )
    .await;
    let wall = started.elapsed();
    let (mut outcomes, mut starts) = (Vec::new(), 0);
    while let Ok(event) = received.try_recv() {
        match event {
            Event::Started { .. } => starts += 1,
            Event::Finished(outcome) => outcomes.push(outcome),
            Event::Iteration(_) => panic!("no scenarios here"),
        }
    }
    (wall, outcomes, starts)
}

fn reference_urls(base: &str) -> Vec<String> {
    DELAYS_MS
        .iter()
        .map(|ms| format!("{base}/delay-me?ms={ms}"))
        .collect()
}

/// True when some request started before another had finished.
fn overlapping(outcomes: &[Outcome]) -> bool {
    let mut by_start: Vec<_> = outcomes.iter().collect();
    by_start.sort_by_key(|o| o.start_us);
    by_start.windows(2).any(|w| w[1].start_us < w[0].end_us)
}

/// The most requests in flight at one moment, and how many times the
/// count rose to that most.
fn most_in_flight(outcomes: &[Outcome]) -> (usize, usize) {
    let mut edges: Vec<(u64, i32)> = outcomes
        .iter()
        .flat_map(|o| [(o.start_us, 1), (o.end_us, -1)])
        .collect();
    // At equal times an end comes before a start: back-to-back is not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    let mut counts = Vec::new();
    for (_, step) in edges {
        now += step;
        most = most.max(now);
        if step > 0 {
            counts.push(now);
        }
    }
    let reached = counts.iter().filter(|&&n| n == most).count();
    (most as usize, reached)
}

/// Sync and blocking take the sum of the waits and never overlap; async and
/// threads take the slowest wait and do overlap. Bounds are generous: they
/// separate "sum" (510 ms) from "max" (300 ms), not measure precision (a
/// test beside this one may stream large bodies on the same two cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_mode_waits_as_its_name_says() {
    let (base, _stop) = delay_server().await;
    for mode in Mode::ALL {
        let (wall, outcomes, starts) = run(
            workload(mode, &reference_urls(&base), 1, 0, 5_000),
            CancellationToken::new(),
        )
        .await;
        assert_eq!((outcomes.len(), starts), (3, 3), "{mode}");
        for o in &outcomes {
            assert!(o.ok(), "{mode}: {:?}", o.error);
            assert_eq!(o.status, 200);
            assert!(
                o.body.text().starts_with("Done, I waited for "),
                "{mode}: {}",
                o.body.text()
            );
        }
        if matches!(mode, Mode::Async | Mode::Threads) {
            assert!(
                wall >= MAX && wall < SUM,
                "{mode} took {wall:?}, expected ≈ max"
            );
            assert!(overlapping(&outcomes), "{mode}: requests should overlap");
        } else {
            assert!(
                wall >= SUM && wall < SUM + Duration::from_millis(500),
                "{mode} took {wall:?}, expected ≈ sum"
            );
            assert!(
                !overlapping(&outcomes),
                "{mode}: requests should not overlap"
            );
        }
    }
}

/// In blocking mode the tasks are all spawned up front, yet each starts only
/// when the previous one's blocking call returned: the executor was held.
#[tokio::test]
async fn blocking_mode_starts_each_task_only_after_the_previous_call_returned() {
    let (base, _stop) = delay_server().await;
    let urls = vec![format!("{base}/delay-me?ms=100"); 4];
    let (wall, outcomes, _) = run(
        workload(Mode::Blocking, &urls, 1, 0, 5_000),
        CancellationToken::new(),
    )
    .await;
    assert!(wall >= Duration::from_millis(400), "{wall:?}");
    for pair in outcomes.windows(2) {
        assert!(
            pair[1].start_us >= pair[0].end_us,
            "task started while another held the executor"
        );
    }
}

/// `concurrency` caps in-flight requests: 6 requests of 100 ms at 2 at a
/// time take three waves, and never more than 2 are in flight at once nor
/// fewer than 2 at the busiest moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_caps_requests_in_flight() {
    let (base, _stop) = delay_server().await;
    let urls = vec![format!("{base}/delay-me?ms=100")];
    for mode in [Mode::Async, Mode::Threads] {
        let (wall, outcomes, _) =
            run(workload(mode, &urls, 6, 2, 5_000), CancellationToken::new()).await;
        assert_eq!(outcomes.len(), 6);
        assert!(wall >= Duration::from_millis(300), "{mode}: {wall:?}");
        // Two at a time, and two again in each wave (not one pair, then
        // the rest one by one).
        let (most, reached) = most_in_flight(&outcomes);
        assert_eq!(most, 2, "{mode}");
        assert!(reached >= 3, "{mode}: 2 in flight only {reached} times");
    }
}

/// A refused connection is an outcome naming host:port, in every mode.
#[tokio::test]
async fn unreachable_target_is_reported_with_host_and_port() {
    let addr = loadlab_testkit::closed_port();
    let urls = vec![format!("http://{addr}/delay-me?ms=1")];
    for mode in Mode::ALL {
        let (_, outcomes, _) =
            run(workload(mode, &urls, 2, 0, 5_000), CancellationToken::new()).await;
        assert_eq!(outcomes.len(), 2, "{mode}");
        for o in outcomes {
            assert_eq!(
                o.error.as_deref(),
                Some(format!("connection refused to {addr}").as_str()),
                "{mode}"
            );
        }
    }
}

/// A request slower than the timeout fails with "timed out after", in both clients.
#[tokio::test]
async fn slow_request_times_out() {
    let (base, _stop) = delay_server().await;
    let urls = vec![format!("{base}/delay-me?seconds=5")];
    for mode in [Mode::Sync, Mode::Async] {
        let started = Instant::now();
        let (_, outcomes, _) =
            run(workload(mode, &urls, 1, 0, 200), CancellationToken::new()).await;
        assert!(started.elapsed() < Duration::from_secs(2), "{mode}");
        let error = outcomes[0].error.as_deref().unwrap_or("");
        assert!(
            error.starts_with("timed out after 200ms"),
            "{mode}: {error}"
        );
    }
}

/// A non-2xx reply is a failed request that quotes the server.
#[tokio::test]
async fn http_error_status_is_a_failure_with_the_servers_reason() {
    let (base, _stop) = delay_server().await;
    let urls = vec![format!("{base}/delay-me?seconds=-1")];
    for mode in Mode::ALL {
        let (_, outcomes, _) =
            run(workload(mode, &urls, 1, 0, 5_000), CancellationToken::new()).await;
        assert_eq!(outcomes[0].status, 400, "{mode}");
        let error = outcomes[0].error.as_deref().unwrap_or("");
        assert!(
            error.starts_with("HTTP 400 Bad Request: parameter `seconds`"),
            "{mode}: {error}"
        );
    }
}

/// Cancelling stops a run: requests not yet started are not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_remaining_requests() {
    let (base, _stop) = delay_server().await;
    let urls = vec![format!("{base}/delay-me?ms=100")];
    let cancel = CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        later.cancel();
    });
    let (wall, outcomes, _) = run(workload(Mode::Sync, &urls, 20, 0, 5_000), cancel).await;
    assert!((1..=4).contains(&outcomes.len()), "{} ran", outcomes.len());
    assert!(wall < Duration::from_secs(1), "{wall:?}");
}

/// A malformed assignment is refused with a reason, not run or panicked on.
#[test]
fn malformed_assignments_are_refused() {
    let bad_mode = assignment::closed("r", 99, 1).build();
    assert!(
        Workload::try_from(bad_mode)
            .unwrap_err()
            .to_string()
            .contains("unknown mode")
    );
    let no_target = assignment::closed("r", v1::Mode::Sync.into(), 1)
        .request(v1::Request {
            id: "R1".into(),
            kind: None,
        })
        .build();
    assert!(
        Workload::try_from(no_target)
            .unwrap_err()
            .to_string()
            .contains("no target")
    );
}

/// However long the run, an assignment is ranges, not a list of requests:
/// four billion rounds are accepted without holding them.
#[test]
fn a_huge_assignment_costs_nothing_until_it_runs() {
    let huge = assignment::closed("r", v1::Mode::Async.into(), 4_000_000_000)
        .request(assignment::http("R1", "http://x/"))
        .build();
    let workload = Workload::try_from(huge).unwrap();
    assert_eq!(workload.len(), 4_000_000_000);
    assert_eq!(
        workload.schedule.locate(3_999_999_999, 1),
        Some((3_999_999_999, 0))
    );
}

/// Every mode streams the body: a 20 MB reply (past ureq's 10 MB default
/// limit) is counted whole, only its start is kept, and every mode gives
/// the same outcome for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_streams_large_bodies_alike() {
    let (base, _stop) = delay_server().await;
    let urls = vec![format!("{base}/delay-me?ms=0&bytes=20000000")];
    let mut bodies = Vec::new();
    for mode in Mode::ALL {
        let (_, outcomes, _) = run(
            workload(mode, &urls, 2, 0, 30_000),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(outcomes.len(), 2, "{mode}");
        for o in &outcomes {
            assert!(o.ok(), "{mode}: {:?}", o.error);
            assert_eq!(o.body.bytes, 20_000_000, "{mode}");
            let text = o.body.text();
            assert!(
                text.starts_with("Done, I waited for 0 ms...."),
                "{mode}: {text}"
            );
            assert!(text.chars().count() <= 201, "{mode}: kept {}", text.len());
            bodies.push(text);
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
}
