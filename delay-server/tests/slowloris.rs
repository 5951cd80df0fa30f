//! The delay server under idle-connection exhaustion, as its own process
//! (the client's 10,000 sockets and the server's would not fit in one
//! process's open-files limit).

use std::time::{Duration, Instant};

use loadlab_testkit::process::Running;
use loadlab_testkit::slowloris;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request on a connection of its own; the whole reply as text.
async fn request(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.expect("read");
    reply
}

/// 10,000 connections that send half a request line and stop (more than
/// `--max-connections` leaves beside 20 sleeping requests) do not keep a new
/// client waiting: it is answered within a second, because the oldest
/// unfinished connection gives way to it; the server holds no more than its
/// cap; and none of the requests sleeping meanwhile is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_does_not_keep_new_clients_or_sleepers_waiting() {
    slowloris::ensure_open_files(12_000);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_delay-server"));
    command.args(["--listen", "127.0.0.1:0", "--max-connections", "10000"]);
    let server = Running::spawn(command);
    let address = server.address_after_listening(Duration::from_secs(10));
    let pid = server.child.id();

    // Requests sleeping 8 s, in flight before the slowloris arrives.
    let slept = Instant::now();
    let sleepers: Vec<_> = (0..20)
        .map(|_| tokio::spawn(request(address, "/delay-me?ms=8000")))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let held = slowloris::open(address, 10_000).await;
    // The server has accepted up to its cap: every slot is taken, by the
    // sleepers and the slowloris.
    slowloris::until_open_files(pid, 10_000, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The cap, the listener and the runtime's own: the oldest half-sent
    // connections gave way to the newer ones.
    let open = slowloris::open_files(pid);
    assert!(open <= 10_050, "the delay server holds {open} open files");

    let asked = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(5), request(address, "/delay-me?ms=0"))
        .await
        .expect("a new client is answered, not kept behind the slowloris");
    let waited = asked.elapsed();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(waited < Duration::from_secs(1), "answered after {waited:?}");
    assert!(
        slept.elapsed() < Duration::from_secs(7),
        "this machine took {:?} to get here: the sleepers were no longer in flight",
        slept.elapsed()
    );

    for sleeper in sleepers {
        let reply = sleeper.await.expect("the sleeper's task");
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.ends_with("Done, I waited for 8000 ms"),
            "a sleeping request was dropped: {reply:?}"
        );
    }
    drop(held);
}
