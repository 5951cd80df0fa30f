//! The blocking mode's memory does not grow with the length of the run:
//! its tasks, and each task's blocking client, are made as the executor
//! gets to them, not all before it starts. (A test binary of its own, so
//! the process's peak memory is this test's alone.)

use std::sync::Arc;

use loadlab_agent::run::{Clock, Event, Gauges, execute};
use loadlab_agent::workload::Workload;
use loadlab_proto::v1;
use loadlab_testkit::assignment;
use tokio_util::sync::CancellationToken;

/// Peak resident memory of this process so far, in bytes.
fn peak_rss() -> u64 {
    loadlab_testkit::process::peak_rss_bytes(std::process::id()).expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_mode_memory_does_not_grow_with_the_number_of_requests() {
    const REQUESTS: u64 = 200_000;
    // A query whose URL cannot be parsed fails at once, without I/O: the
    // run is all tasks and clients, nothing else.
    let workload = Workload::try_from(
        assignment::closed("memory", v1::Mode::Blocking.into(), REQUESTS)
            .request(assignment::sql("Q", "postgres://[not-a-host", "SELECT 1"))
            .build(),
    )
    .unwrap();
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    // Count outcomes as they come, so the channel holds few.
    let counter = tokio::spawn(async move {
        let mut finished = 0u64;
        while let Some(event) = received.recv().await {
            if let Event::Finished(outcome) = event {
                assert!(outcome.error.is_some());
                finished += 1;
            }
        }
        finished
    });
    let before = peak_rss();
    execute(
        Arc::new(workload),
        Clock::new(0),
        events,
        Arc::new(Gauges::default()),
        CancellationToken::new(),
        None,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(counter.await.unwrap(), REQUESTS);
    let grown = peak_rss().saturating_sub(before);
    // Generous: the run needs a few MB; a client per request held at once
    // would take hundreds.
    assert!(
        grown < 40 << 20,
        "peak memory grew by {} MB for {REQUESTS} requests",
        grown >> 20
    );
}
