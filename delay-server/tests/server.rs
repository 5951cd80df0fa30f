//! The delay server over real TCP with a real HTTP client: each test starts
//! a server on 127.0.0.1:0 and talks to the address it got.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use loadlab_testkit::http::{Client, get};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start(config: delay_server::Config) -> TestServer {
        let (listener, addr) = delay_server::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(delay_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            handle,
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    async fn shutdown(mut self) -> std::io::Result<()> {
        self.stop.take().unwrap().send(()).unwrap();
        self.handle.await.unwrap()
    }
}

/// The reply speaks the original Django view's words, for seconds, decimal
/// seconds and milliseconds alike.
#[tokio::test]
async fn answers_with_the_delay_echoed_as_given() {
    let server = TestServer::start(Default::default()).await;
    let client = Client::new();
    assert_eq!(
        get(&client, &server.url("/delay-me?seconds=0")).await,
        (200, "Done, I waited for 0 secs".into())
    );
    assert_eq!(
        get(&client, &server.url("/delay-me?seconds=0.05")).await,
        (200, "Done, I waited for 0.05 secs".into())
    );
    assert_eq!(
        get(&client, &server.url("/delay-me?ms=20")).await,
        (200, "Done, I waited for 20 ms".into())
    );
    assert_eq!(get(&client, &server.url("/healthz")).await.0, 200);
    assert_eq!(get(&client, &server.url("/nope")).await.0, 404);
    server.shutdown().await.unwrap();
}

/// A 300 ms request really waits 300 ms, and not much more.
#[tokio::test]
async fn a_300ms_request_takes_300ms() {
    let server = TestServer::start(Default::default()).await;
    let client = Client::new();
    let started = Instant::now();
    let (status, body) = get(&client, &server.url("/delay-me?ms=300")).await;
    let took = started.elapsed();
    assert_eq!((status, body.as_str()), (200, "Done, I waited for 300 ms"));
    assert!(
        took >= Duration::from_millis(300),
        "returned early: {took:?}"
    );
    // Generous: protects against a server that sleeps on a blocked thread or
    // waits twice, not a latency target.
    assert!(took < Duration::from_millis(900), "too slow: {took:?}");
    server.shutdown().await.unwrap();
}

/// Sleeping requests cost timers, not threads: 1,000 concurrent 500 ms
/// requests finish together, far sooner than they would one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sleeps_finish_together() {
    let server = TestServer::start(Default::default()).await;
    let client = Client::keeping_idle(1000);
    let url = server.url("/delay-me?ms=500");
    let started = Instant::now();
    let requests = (0..1000).map(|_| {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move { get(&client, &url).await })
    });
    let replies = futures::future::join_all(requests).await;
    let took = started.elapsed();
    let ok = replies
        .iter()
        .filter(|r| matches!(r, Ok((200, body)) if body == "Done, I waited for 500 ms"))
        .count();
    assert_eq!(ok, 1000);
    assert!(took >= Duration::from_millis(500));
    assert!(
        took < Duration::from_secs(3),
        "1000 concurrent 500 ms sleeps took {took:?}"
    );
    server.shutdown().await.unwrap();
}

/// Every kind of bad input gets a 400 naming the parameter, and the server
/// goes on serving good requests afterwards.
#[tokio::test]
async fn bad_input_gets_400_and_the_server_keeps_serving() {
    let server = TestServer::start(delay_server::Config {
        max_delay: Duration::from_secs(5),
        ..Default::default()
    })
    .await;
    let client = Client::new();
    for (query, says) in [
        ("", "missing parameter"),
        ("?seconds=abc", "`seconds`"),
        ("?ms=ten", "`ms`"),
        ("?seconds=-1", "negative"),
        ("?seconds=NaN", "not a finite number"),
        ("?seconds=inf", "not a finite number"),
        ("?seconds=1&ms=100", "both given"),
        ("?seconds=6", "--max-delay of 5s"),
        ("?seconds=%FF%FE", "`seconds`"),
    ] {
        let (status, body) = get(&client, &server.url(&format!("/delay-me{query}"))).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
        assert!(!body.contains('\n'), "one-line reason expected: {body:?}");
    }
    assert_eq!(get(&client, &server.url("/delay-me?ms=1")).await.0, 200);
    server.shutdown().await.unwrap();
}

/// Shutdown stops new connections but lets a request already waiting finish.
#[tokio::test]
async fn graceful_shutdown_lets_in_flight_requests_finish() {
    let server = TestServer::start(Default::default()).await;
    let client = Client::new();
    let url = server.url("/delay-me?ms=1000");
    let in_flight = tokio::spawn(async move { get(&client, &url).await });
    // Time for the request to reach the server, with room for a loaded machine.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = server.addr;
    let started = Instant::now();
    server.shutdown().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "shutdown did not wait"
    );
    assert_eq!(
        in_flight.await.unwrap(),
        (200, "Done, I waited for 1000 ms".into())
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// A keep-alive connection idle between requests does not hold shutdown
/// up: it is closed at once, not after the grace period.
#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    let server = TestServer::start(Default::default()).await;
    let client = Client::new();
    assert_eq!(get(&client, &server.url("/delay-me?ms=0")).await.0, 200);
    // The client keeps its connection open, idle.
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown waited for an idle connection (the grace period is 30 s)")
        .unwrap();
    // Generous: protects against waiting out an idle connection, not a
    // speed target.
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(client);
}

/// Past the grace period, shutdown completes even if a request is still waiting.
#[tokio::test]
async fn shutdown_does_not_outlast_the_grace_period() {
    let server = TestServer::start(delay_server::Config {
        grace: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let url = server.url("/delay-me?seconds=30");
    let _long = tokio::spawn(async move { Client::new().send(&url).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// With the connection limit reached, further clients wait their turn
/// instead of being dropped.
#[tokio::test]
async fn connection_limit_queues_rather_than_refuses() {
    let server = TestServer::start(delay_server::Config {
        max_connections: 1,
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    // No idle keep-alive: an idle connection would give way to the other
    // client, which is not what this test is about.
    let a = Client::keeping_idle(0);
    let b = Client::keeping_idle(0);
    let url = server.url("/delay-me?ms=200");
    let (ra, rb) = tokio::join!(get(&a, &url), get(&b, &url));
    assert_eq!(ra.0, 200);
    assert_eq!(rb.0, 200);
    drop((a, b));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "both served at once despite the limit"
    );
    server.shutdown().await.unwrap();
}

/// A client that arrives while the server waits for one is served, not
/// taken for an idle connection: with a cap of 2 and one request sleeping,
/// a client that comes half a second later is answered (its slot counts
/// from when it arrived, not from when the server got ready for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_client_is_not_evicted_as_idle_on_arrival() {
    let server = TestServer::start(delay_server::Config {
        max_connections: 2,
        ..Default::default()
    })
    .await;
    let client = Client::keeping_idle(0);
    let sleeping = {
        let (client, url) = (client.clone(), server.url("/delay-me?ms=1500"));
        tokio::spawn(async move { get(&client, &url).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        let (status, body) = get(&client, &server.url("/delay-me?ms=0")).await;
        assert_eq!((status, body.as_str()), (200, "Done, I waited for 0 ms"));
    }
    assert_eq!(sleeping.await.unwrap().0, 200);
    server.shutdown().await.unwrap();
}

/// With hiccups, a request that arrives during one is answered only when it
/// ends (nothing is read or written meanwhile); between hiccups the server
/// answers at once, and every request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hiccup_holds_every_reply_until_it_ends() {
    let hiccups =
        delay_server::hiccup::Hiccups::new(Duration::from_millis(400), Duration::from_millis(200))
            .unwrap();
    let server = TestServer::start(delay_server::Config {
        hiccups: Some(hiccups),
        ..Default::default()
    })
    .await;
    let origin = Instant::now();
    let client = Client::new();
    // Serving: 0–200 ms; frozen: 200–400 ms; serving again from 400 ms.
    let took = |sent_at_ms: u64| {
        let (client, url) = (client.clone(), server.url("/delay-me?ms=0"));
        async move {
            tokio::time::sleep_until((origin + Duration::from_millis(sent_at_ms)).into()).await;
            let sent = Instant::now();
            let (status, _) = get(&client, &url).await;
            assert_eq!(status, 200);
            (sent.duration_since(origin), sent.elapsed())
        }
    };
    let (early, frozen) = tokio::join!(took(50), took(250));
    assert!(
        early.1 < Duration::from_millis(140),
        "between hiccups: {early:?}"
    );
    // Sent at ~250 ms, answered at the hiccup's end (~400 ms). The server's
    // clock starts a little before `origin` (inside `start`), so its thaw
    // can come a few ms early in this test's time: 350 ms still says the
    // request was held, which without the hiccup it is answered in ~1 ms.
    let answered_at = frozen.0 + frozen.1;
    assert!(
        answered_at >= Duration::from_millis(350) && answered_at < Duration::from_millis(600),
        "sent at {:?}, answered after {:?}",
        frozen.0,
        frozen.1
    );
    server.shutdown().await.unwrap();
}

/// Injected faults over real HTTP: `fail=1` answers the status asked for,
/// `fail=0.5` about half the time, `reset=1` closes the connection without
/// an answer, `jitter` adds up to its milliseconds; bad values are 400s
/// `cookie=NAME` sets a cookie of that name on the reply (for trying a
/// client's cookie jar); a bad name is refused, naming the parameter.
#[tokio::test]
async fn a_cookie_is_set_when_asked_for() {
    let server = TestServer::start(delay_server::Config::default()).await;
    let client = Client::new();
    let reply = client
        .send(&server.url("/delay-me?ms=5&cookie=session"))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()[hyper::header::SET_COOKIE],
        "session=waited-5ms; Path=/"
    );
    let plain = client.send(&server.url("/delay-me?ms=5")).await.unwrap();
    assert!(!plain.headers().contains_key(hyper::header::SET_COOKIE));
    let (status, body) = get(&client, &server.url("/delay-me?ms=5&cookie=a;b")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("parameter `cookie`"), "{body}");
}

/// naming the parameter, and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_injected_as_asked_and_bad_ones_refused() {
    let server = TestServer::start(delay_server::Config::default()).await;
    let client = Client::new();
    let (status, body) = get(&client, &server.url("/delay-me?ms=1&fail=1&status=503")).await;
    assert_eq!((status, body.as_str()), (503, "injected failure: HTTP 503"));
    // Marked, so that reports tell injected failures from real ones.
    let marked = client
        .send(&server.url("/delay-me?ms=1&fail=1&status=503"))
        .await
        .unwrap();
    assert_eq!(marked.headers()[delay_server::server::INJECTED], "injected");
    let real = client.send(&server.url("/nowhere")).await.unwrap();
    assert!(!real.headers().contains_key(delay_server::server::INJECTED));
    assert_eq!(
        get(&client, &server.url("/delay-me?ms=1&fail=1")).await.0,
        500
    );
    assert_eq!(
        get(&client, &server.url("/delay-me?ms=1&fail=0")).await.0,
        200
    );

    let mut failed = 0;
    for _ in 0..400 {
        if get(&client, &server.url("/delay-me?ms=0&fail=0.5")).await.0 == 500 {
            failed += 1;
        }
    }
    // Binomial(400, 0.5): 200 ± 10; 140..260 is six standard deviations.
    assert!((140..260).contains(&failed), "{failed} of 400 failed");

    let reset = client.send(&server.url("/delay-me?ms=1&reset=1")).await;
    let error = reset.expect_err("a reset gets no answer");
    // Connected, then cut off: not a refused connection.
    assert!(!error.is_connect(), "{error:?}");

    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let one = Instant::now();
        assert_eq!(
            get(&client, &server.url("/delay-me?ms=10&jitter=40"))
                .await
                .0,
            200
        );
        slowest = slowest.max(one.elapsed());
        assert!(one.elapsed() >= Duration::from_millis(10));
    }
    assert!(
        slowest > Duration::from_millis(20),
        "no jitter seen: {slowest:?}"
    );
    // Generous: 20 requests of at most 50 ms each, on a busy machine.
    assert!(started.elapsed() < Duration::from_secs(5));

    for (query, says) in [
        ("?ms=1&fail=2", "`fail`"),
        ("?ms=1&fail=NaN", "`fail`"),
        ("?ms=1&reset=-1", "`reset`"),
        ("?ms=1&fail=0.1&status=302", "`status`"),
        ("?ms=1&status=503", "`status` chooses"),
        ("?ms=1&jitter=-3", "`jitter`"),
        ("?ms=1&jitter=soon", "`jitter`"),
    ] {
        let (status, body) = get(&client, &server.url(&format!("/delay-me{query}"))).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
    assert_eq!(get(&client, &server.url("/delay-me?ms=1")).await.0, 200);
    server.shutdown().await.unwrap();
}
