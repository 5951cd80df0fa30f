//! Many concurrent sleeps against a `delay-server` process.
//!
//! All connections are opened first (as wrk does), then every request is sent
//! at once; the wall time runs from the first request sent to the last reply
//! read. A server that sleeps on timers finishes them all in about one delay.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use loadlab_testkit::process::Running;

use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Concurrent requests, one connection each.
    #[arg(long, default_value_t = 8000)]
    concurrency: usize,
    /// How long each request asks the server to wait.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    delay: Duration,
    /// Target for wall time / delay.
    #[arg(long, default_value_t = 1.05)]
    max_ratio: f64,
    /// Target for the server's peak RSS, in MB.
    #[arg(long, default_value_t = 200)]
    max_rss_mb: u64,
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let mut command = Command::new(sibling_binary("delay-server")?);
    command.args([
        "--listen",
        "127.0.0.1:0",
        "--max-connections",
        &(options.concurrency + 16).to_string(),
    ]);
    command.env("RUST_LOG", "warn");
    let server = Running::spawn(command);
    let url = server.url_after("listening on ", Duration::from_secs(10));
    let addr = url.trim_start_matches("http://").to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fired = runtime.block_on(fire(&addr, options.concurrency, options.delay))?;
    let wall = fired.wall;
    let rss = server
        .peak_rss_bytes()
        .context("no peak RSS for the server")?;
    let server_cpu = server.cpu_time().context("no CPU time for the server")?;

    let ratio = wall.as_secs_f64() / options.delay.as_secs_f64();
    let rss_mb = rss as f64 / 1e6;
    println!(
        "delay-server: {} concurrent requests of {:?}",
        options.concurrency, options.delay
    );
    println!(
        "  wall time   {:>9.3} s   wall/delay {ratio:.3}   (target <= {:.2})  {}",
        wall.as_secs_f64(),
        options.max_ratio,
        verdict(ratio <= options.max_ratio)
    );
    println!(
        "  requests    sent within {:.1} ms; each took {:.3} s .. {:.3} s",
        fired.last_sent.as_secs_f64() * 1e3,
        fired.min.as_secs_f64(),
        fired.max.as_secs_f64()
    );
    println!("  server CPU  {:>9.3} s", server_cpu.as_secs_f64());
    println!(
        "  peak RSS    {rss_mb:>9.1} MB                     (target <= {} MB)  {}",
        options.max_rss_mb,
        verdict(rss_mb <= options.max_rss_mb as f64)
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

/// What the client saw.
struct Fired {
    /// First request sent to last reply read.
    wall: Duration,
    /// When the last request task started sending, after the first.
    last_sent: Duration,
    /// Fastest and slowest single request.
    min: Duration,
    max: Duration,
}

async fn fire(addr: &str, concurrency: usize, delay: Duration) -> anyhow::Result<Fired> {
    // Phase 1: open every connection (a few hundred handshakes at a time).
    use futures::StreamExt;
    let mut senders = Vec::with_capacity(concurrency);
    let opening = futures::stream::iter(0..concurrency)
        .map(|_| connect(addr))
        .buffer_unordered(256);
    let mut opening = std::pin::pin!(opening);
    while let Some(sender) = opening.next().await {
        senders.push(sender?);
    }

    // Phase 2: every request at once.
    let path = format!("/delay-me?ms={}", delay.as_millis());
    let started = Instant::now();
    let requests = senders.into_iter().map(|mut sender| {
        let request = hyper::Request::get(path.as_str())
            .header("host", addr)
            .body(Empty::<Bytes>::new());
        tokio::spawn(async move {
            let sent = Instant::now();
            let response = sender.send_request(request?).await?;
            let status = response.status();
            response.into_body().collect().await?;
            anyhow::Ok((status, sent.duration_since(started), sent.elapsed()))
        })
    });
    let results = futures::future::join_all(requests).await;
    let wall = started.elapsed();
    let failed = results
        .iter()
        .filter(|r| !matches!(r, Ok(Ok((status, _, _))) if status.is_success()))
        .count();
    if failed > 0 {
        bail!("{failed} of {concurrency} requests failed");
    }
    let done = results.into_iter().filter_map(|r| r.ok()?.ok());
    let (last_sent, min, max) = done.fold(
        (Duration::ZERO, Duration::MAX, Duration::ZERO),
        |(last, min, max), (_, sent_at, latency)| {
            (last.max(sent_at), min.min(latency), max.max(latency))
        },
    );
    Ok(Fired {
        wall,
        last_sent,
        min,
        max,
    })
}

async fn connect(addr: &str) -> anyhow::Result<http1::SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
