//! The tracker under idle-connection exhaustion, as its own process (the
//! client's 10,000 sockets and the tracker's would not fit in one process's
//! open-files limit).

use std::time::{Duration, Instant};

use futures::StreamExt;
use loadlab_testkit::process::Running;
use loadlab_testkit::redis::{unique, url};
use loadlab_testkit::slowloris;
use tokio_tungstenite::tungstenite::Message;

/// 11,000 connections that send half a request line and stop, more than
/// `--max-connections` (10,000): the tracker holds no more than its cap (the
/// oldest unfinished connections give way, so its open files do not run
/// out), a new customer still gets its websocket within a second, and the
/// customers already connected keep receiving their updates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_does_not_keep_new_customers_out() {
    slowloris::ensure_open_files(12_000);
    let redis_url = url();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tracker"));
    command.args([
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        &redis_url,
        "--max-connections",
        "10000",
    ]);
    let tracker = Running::spawn(command);
    let address = tracker.address_after_listening(Duration::from_secs(20));

    let order = unique("slowloris");
    let (mut connected, _) =
        tokio_tungstenite::connect_async(format!("ws://{address}/track/{order}"))
            .await
            .expect("a customer before the slowloris");

    let held = slowloris::open(address, 11_000).await;
    let pid = tracker.child.id();
    slowloris::until_open_files(pid, 10_000, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The cap, the customer, the listener, Redis and the runtime's own.
    let open = slowloris::open_files(pid);
    assert!(open <= 10_100, "the tracker holds {open} open files");

    let asked = Instant::now();
    let late = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(format!("ws://{address}/track/{order}")),
    )
    .await
    .expect("a new customer is let in, not kept behind the slowloris");
    let waited = asked.elapsed();
    let (mut late, response) = late.expect("the new customer's handshake");
    assert_eq!(response.status(), 101);
    assert!(waited < Duration::from_secs(1), "let in after {waited:?}");

    let mut redis = redis::Client::open(redis_url.as_str())
        .expect("the Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&order)
        .arg("-23.55,-46.63")
        .query_async(&mut redis)
        .await
        .expect("PUBLISH");
    for (who, socket) in [
        ("the customer from before", &mut connected),
        ("the new customer", &mut late),
    ] {
        let update = loop {
            let next = tokio::time::timeout(Duration::from_secs(5), socket.next())
                .await
                .unwrap_or_else(|_| panic!("{who} got no update"));
            match next {
                Some(Ok(Message::Text(text))) => break text.to_string(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("{who}: {other:?}"),
            }
        };
        assert_eq!(update, "-23.55,-46.63", "{who}");
    }
    drop(held);
}
