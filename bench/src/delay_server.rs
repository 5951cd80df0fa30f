//! Many concurrent sleeps against a `delay-server` process.
//!
//! All connections are opened first (as wrk does), then every request is sent
//! at once; the wall time runs from the first request sent to the last reply
//! read. A server that sleeps on timers finishes them all in about one delay.
//!
//! The client speaks HTTP/1.1 over raw sockets (one write, reads until the
//! reply's Content-Length is in): reading thousands of replies at once is
//! then cheap enough that the figures are the server's, not the client's.
//! `--url` fires at a server already running instead (any HTTP server that
//! answers `GET /delay-me?ms=N`), to compare servers in the same bench.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
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
    #[arg(long, default_value_t = 150)]
    max_rss_mb: u64,
    /// Fire at this server (e.g. http://127.0.0.1:8000) instead of starting
    /// a delay-server process; its memory and CPU are then not measured.
    #[arg(long)]
    url: Option<String>,
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let server = match &options.url {
        Some(_) => None,
        None => {
            let mut command = Command::new(sibling_binary("delay-server")?);
            command.args([
                "--listen",
                "127.0.0.1:0",
                "--max-connections",
                &(options.concurrency + 16).to_string(),
            ]);
            command.env("RUST_LOG", "warn");
            Some(Running::spawn(command))
        }
    };
    let url = match (&server, &options.url) {
        (Some(server), _) => server.url_after("listening on ", Duration::from_secs(10)),
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!("one or the other"),
    };
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fired = runtime.block_on(fire(&addr, options.concurrency, options.delay))?;
    let wall = fired.wall;
    let (rss, server_cpu) = match &server {
        Some(server) => (
            server
                .peak_rss_bytes()
                .context("no peak RSS for the server")?,
            server.cpu_time().context("no CPU time for the server")?,
        ),
        None => (0, Duration::ZERO),
    };

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
    let mut streams = Vec::with_capacity(concurrency);
    let opening = futures::stream::iter(0..concurrency)
        .map(|_| connect(addr))
        .buffer_unordered(256);
    let mut opening = std::pin::pin!(opening);
    while let Some(stream) = opening.next().await {
        streams.push(stream?);
    }

    // Phase 2: every request at once.
    let request = format!(
        "GET /delay-me?ms={} HTTP/1.1\r\nHost: {addr}\r\n\r\n",
        delay.as_millis()
    );
    let request = Bytes::from(request);
    // Every request written in one tight loop (a small write to an idle
    // socket completes at once), then the replies awaited.
    let started = Instant::now();
    let mut sent = Vec::with_capacity(concurrency);
    for stream in streams {
        let written = stream.try_write(&request).unwrap_or(0);
        sent.push((stream, written, Instant::now()));
    }
    let requests = sent.into_iter().map(|(stream, written, at)| {
        let rest = request.slice(written..);
        tokio::spawn(async move {
            let status = exchange(stream, &rest).await?;
            anyhow::Ok((status, at.duration_since(started), at.elapsed()))
        })
    });
    let results = futures::future::join_all(requests).await;
    let wall = started.elapsed();
    let failed = results
        .iter()
        .filter(|r| !matches!(r, Ok(Ok((200, _, _)))))
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

async fn connect(addr: &str) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends what is left of the request and reads the whole reply (head,
/// then Content-Length bytes of body); returns its status.
async fn exchange(mut stream: TcpStream, request: &[u8]) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if !request.is_empty() {
        stream.write_all(request).await?;
    }
    let mut reply = Vec::with_capacity(256);
    let mut buffer = [0u8; 1024];
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            bail!("the server closed the connection mid-reply");
        }
        reply.extend_from_slice(&buffer[..n]);
        let Some(head_end) = reply.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&reply[..head_end])?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status line")?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .context("no Content-Length")?;
        if reply.len() >= head_end + 4 + length {
            return Ok(status);
        }
    }
}
