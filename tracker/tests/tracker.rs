//! The tracker against real Redis and real websockets, on port 0.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use loadlab_testkit::process::{Running, workspace_binary};
use loadlab_testkit::redis::{OwnRedis, unique, url};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracker::{Config, Mode};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A tracker in this process on port 0; stops when the sender is dropped.
async fn tracker(redis_url: &str, mode: Mode) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (listener, address) = tracker::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = Config {
        redis_url: redis_url.to_owned(),
        mode,
        grace: Duration::from_secs(3),
        ..Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let tracker = tracker::Tracker::connect(config).await.unwrap();
    tokio::spawn(tracker.serve(listener, async {
        let _ = stopped.await;
    }));
    (address, stop)
}

async fn customer(address: SocketAddr, path: &str) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(format!("ws://{address}{path}"))
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(response.status(), 101);
    socket
}

async fn publisher(redis_url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn publish(
    redis: &mut redis::aio::MultiplexedConnection,
    channel: &str,
    message: &str,
) -> i64 {
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(message)
        .query_async(redis)
        .await
        .unwrap()
}

/// The next `n` text frames, within a generous bound.
async fn texts(socket: &mut Socket, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while got.len() < n {
        let next = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} messages: {got:?}", got.len()));
        match next {
            Some(Ok(Message::Text(text))) => got.push(text.to_string()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("after {} messages: {other:?}", got.len()),
        }
    }
    got
}

/// The close frame's code, waiting at most `within`.
async fn closed_with(socket: &mut Socket, within: Duration) -> Option<CloseCode> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return None,
            Err(_) => panic!("no close within {within:?}"),
        }
    }
}

/// Each customer gets its own order's updates, all and in order; two
/// customers of one order both get them — in the async and threads modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_get_exactly_their_own_updates_in_order() {
    let redis_url = url();
    let (address, _stop) = tracker(&redis_url, Mode::Async).await;
    for mode in ["async", "threads"] {
        let (a, b) = (unique("order-a"), unique("order-b"));
        let mut a1 = customer(address, &format!("/{mode}/track/{a}")).await;
        let mut a2 = customer(address, &format!("/{mode}/track/{a}")).await;
        let mut b1 = customer(address, &format!("/{mode}/track/{b}")).await;
        let mut redis = publisher(&redis_url).await;
        let mut expected_a = Vec::new();
        let mut expected_b = Vec::new();
        for i in 0..200 {
            let (ma, mb) = (format!("{a} {i} -23.5,-46.6"), format!("{b} {i}"));
            // Redis counts the connections subscribed: async customers
            // share one, threads have one each.
            let subscribers = if mode == "async" { 1 } else { 2 };
            assert_eq!(publish(&mut redis, &a, &ma).await, subscribers, "{mode}");
            publish(&mut redis, &b, &mb).await;
            expected_a.push(ma);
            expected_b.push(mb);
        }
        assert_eq!(texts(&mut a1, 200).await, expected_a, "{mode}");
        assert_eq!(texts(&mut a2, 200).await, expected_a, "{mode}");
        assert_eq!(texts(&mut b1, 200).await, expected_b, "{mode}");
        // Nothing else arrives: b1 saw none of a's updates.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), b1.next())
                .await
                .is_err(),
            "{mode}: an extra message"
        );
    }
}

/// A plain HTTP GET: status and body.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the head and whatever body came with it.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&reply).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn bad_order_ids_are_refused_before_the_upgrade() {
    let (address, _stop) = tracker(&url(), Mode::Async).await;
    let long = "x".repeat(65);
    for path in [
        "/track/",
        "/track/a%20b",
        "/track/a.b",
        &format!("/track/{long}"),
        "/sync/track/a$b",
    ] {
        let (status, body) = tokio::task::spawn_blocking({
            let path = path.to_owned();
            move || get(address, &path)
        })
        .await
        .unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("1 to 64 characters"), "{body}");
    }
    let ok = "A-z_09".to_owned() + &"y".repeat(58);
    let (status, _) = tokio::task::spawn_blocking(move || get(address, &format!("/track/{ok}")))
        .await
        .unwrap();
    assert_eq!(status, 101);
    let (status, body) = tokio::task::spawn_blocking(move || get(address, "/fast/track/a"))
        .await
        .unwrap();
    assert_eq!(status, 404, "{body}");
}

/// A customer that never reads fills its socket and is dropped; the other
/// customer of the same order gets every update meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_that_never_reads_does_not_stall_the_others() {
    let redis_url = url();
    let (address, _stop) = tracker(&redis_url, Mode::Async).await;
    let order = unique("stalled");
    let _stuck = customer(address, &format!("/track/{order}")).await;
    let mut reader = customer(address, &format!("/track/{order}")).await;
    let mut redis = publisher(&redis_url).await;
    let padding = "p".repeat(8 * 1024);
    let n = 3_000; // 24 MB: far more than two sockets' buffers hold
    let reading = tokio::spawn(async move {
        let got = texts(&mut reader, n).await;
        (
            got.iter().map(|m| m.len()).sum::<usize>(),
            got.last().cloned(),
        )
    });
    for i in 0..n {
        publish(&mut redis, &order, &format!("{i:05}{padding}")).await;
    }
    let (bytes, last) = reading.await.unwrap();
    assert_eq!(bytes, n * (5 + padding.len()));
    assert!(last.unwrap().starts_with(&format!("{:05}", n - 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_closes_customers_refuses_new_ones_then_recovers() {
    let mut redis = OwnRedis::start();
    let (address, _stop) = tracker(&redis.url(), Mode::Async).await;
    let order = unique("lost");
    let mut watching = customer(address, &format!("/track/{order}")).await;
    let mut threaded = customer(address, &format!("/threads/track/{order}")).await;
    let health = move || get(address, "/healthz").0;
    assert_eq!(tokio::task::spawn_blocking(health).await.unwrap(), 200);

    redis.kill();
    assert_eq!(
        closed_with(&mut watching, Duration::from_secs(10)).await,
        Some(CloseCode::Error)
    );
    assert_eq!(
        closed_with(&mut threaded, Duration::from_secs(10)).await,
        Some(CloseCode::Error)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::task::spawn_blocking(health).await.unwrap() != 503 {
        assert!(
            Instant::now() < deadline,
            "healthz stayed 200 without Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = tokio_tungstenite::connect_async(format!("ws://{address}/track/{order}")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503)
        }
        other => panic!("a new customer without Redis: {other:?}"),
    }

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::task::spawn_blocking(health).await.unwrap() != 200 {
        assert!(Instant::now() < deadline, "the tracker did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut back = customer(address, &format!("/track/{order}")).await;
    let mut publisher = publisher(&redis.url()).await;
    publish(&mut publisher, &order, "back").await;
    assert_eq!(texts(&mut back, 1).await, ["back"]);
}

/// In async mode, thousands of idle customers are tasks: the process's
/// threads do not grow with them. The tracker is a process of its own here,
/// so `/stats` counts its threads alone, not those of the tests beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_async_customers_cost_tasks_not_threads() {
    let redis_url = url();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tracker"));
    command.args([
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        &redis_url,
        "--mode",
        "async",
    ]);
    let tracker = Running::spawn(command);
    let address = tracker.address_after_listening(Duration::from_secs(20));
    let stats = move || -> serde_json::Value {
        serde_json::from_str(get(address, "/stats").1.trim()).unwrap()
    };
    let before = tokio::task::spawn_blocking(stats).await.unwrap();
    let mut customers = Vec::new();
    for i in 0..2_000 {
        customers.push(customer(address, &format!("/track/{}", unique(&format!("idle{i}")))).await);
    }
    let during = tokio::task::spawn_blocking(stats).await.unwrap();
    assert_eq!(during["customers"], 2_000, "{during}");
    let threads = |v: &serde_json::Value| v["threads"].as_u64().unwrap();
    assert!(
        threads(&during) <= threads(&before) + 2,
        "{before} → {during}"
    );
    drop(customers);
}

/// The binary: Redis unreachable at start is exit 1 naming host:port; on
/// SIGTERM, customers' sockets close with 1001 and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_names_an_unreachable_redis_and_stops_cleanly_on_sigterm() {
    let binary = workspace_binary("tracker", "tracker");
    let closed = loadlab_testkit::closed_port();
    let out = std::process::Command::new(&binary)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            &format!("redis://{closed}"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach Redis at {closed}")),
        "{stderr}"
    );

    let mut command = std::process::Command::new(&binary);
    command.args(["--listen", "127.0.0.1:0", "--redis-url", &url()]);
    let mut process = Running::spawn(command);
    let address = process.address_after_listening(Duration::from_secs(20));
    let mut sockets = Vec::new();
    for mode in ["async", "threads", "sync"] {
        sockets.push(customer(address, &format!("/{mode}/track/{}", unique("bye"))).await);
    }
    process.signal("TERM");
    for (mode, socket) in ["async", "threads", "sync"].iter().zip(&mut sockets) {
        assert_eq!(
            closed_with(socket, Duration::from_secs(5)).await,
            Some(CloseCode::Away),
            "{mode}"
        );
    }
    process.expect_exit(0, Duration::from_secs(10));
}

/// One quiet customer (no updates for its order) and one busy customer
/// (20 updates a second): in async mode the busy one gets every update at
/// once; in blocking mode each turn of the quiet one's blocking Redis read
/// holds the one executor thread for up to a second, and the busy one gets
/// about one update a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_mode_starves_customers_for_the_executor_s_reason() {
    let redis_url = url();
    let (address, _stop) = tracker(&redis_url, Mode::Async).await;
    let mut delivered = Vec::new();
    for mode in ["async", "blocking"] {
        let (quiet, busy) = (unique("quiet"), unique("busy"));
        let _quiet = customer(address, &format!("/{mode}/track/{quiet}")).await;
        let mut socket = customer(address, &format!("/{mode}/track/{busy}")).await;
        let (published, mut done) = tokio::sync::oneshot::channel::<tokio::time::Instant>();
        let counting = tokio::spawn(async move {
            let mut n = 0;
            // Publishing takes ~3 s; counted until a second after its end,
            // for the last to arrive, however long publishing took.
            let mut until = None;
            loop {
                let next = match until {
                    Some(until) => tokio::time::timeout_at(until, socket.next()).await,
                    None => tokio::select! {
                        at = &mut done => {
                            until = Some(at.unwrap() + Duration::from_secs(1));
                            continue;
                        }
                        next = socket.next() => Ok(next),
                    },
                };
                match next {
                    Ok(Some(Ok(message))) => n += usize::from(message.is_text()),
                    _ => break,
                }
            }
            n
        });
        let mut redis = publisher(&redis_url).await;
        for i in 0..60 {
            publish(&mut redis, &busy, &i.to_string()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = published.send(tokio::time::Instant::now());
        delivered.push(counting.await.unwrap());
    }
    assert_eq!(delivered[0], 60, "async delivers every update");
    assert!(
        delivered[1] <= 12,
        "blocking delivered {} of 60 within a second of the last",
        delivered[1]
    );
}
