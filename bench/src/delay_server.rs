//! Many concurrent sleeps against a `delay-server` process, beside the same
//! against its yardstick, a minimal hyper server (`minimal_server.rs`), in
//! the same run: opening thousands of connections from the same 2 cores is
//! the machine's cost, so only a server measured alongside tells what is the
//! delay server's own. Targets: p99 and peak RSS no higher than the minimal
//! server's.
//!
//! All connections are opened first (as wrk does), then every request is sent
//! at once; the wall time runs from the first request sent to the last reply
//! read. A server that sleeps on timers finishes them all in about one delay.
//!
//! The client speaks HTTP/1.1 over raw sockets (one write, reads until the
//! reply's Content-Length is in): reading thousands of replies at once is
//! then cheap enough that the figures are the server's, not the client's.
//! `--url` fires at a server already running instead (any HTTP server that
//! answers `GET /delay-me?ms=N`).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use tokio::net::TcpStream;

use loadlab_testkit::process::Running;

use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Concurrent requests, one connection each; a run per value, each
    /// against both servers (e.g. 8000,16000).
    #[arg(long, value_delimiter = ',', default_value = "8000,16000")]
    connections: Vec<usize>,
    /// How long each request asks the server to wait.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    delay: Duration,
    /// Runs per server at each concurrency, alternated (delay server,
    /// minimal server, delay server, ...); medians are compared.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Fire at this server (e.g. http://127.0.0.1:8000) instead, once per
    /// concurrency, with no yardstick; its memory and CPU are not measured.
    #[arg(long)]
    url: Option<String>,
}

/// One server, one run.
struct Measured {
    fired: Fired,
    rss_bytes: u64,
    cpu: Duration,
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(url) = &options.url {
        for &connections in &options.connections {
            let fired = runtime.block_on(fire(address(url), connections, options.delay))?;
            println!(
                "{url}: {connections} connections, {:?} sleeps",
                options.delay
            );
            println!("  {}", fired.summary(options.delay));
        }
        return Ok(());
    }
    let servers = [
        ("delay-server", Server::Delay),
        ("minimal hyper", Server::Minimal),
    ];
    for &connections in &options.connections {
        println!(
            "{connections} connections, {:?} sleeps, {} runs per server, alternated:",
            options.delay, options.runs
        );
        let mut results: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
        for run in 0..options.runs {
            for (i, (name, server)) in servers.iter().enumerate() {
                let measured = measure(&runtime, *server, connections, options.delay)
                    .with_context(|| format!("{name}, run {}", run + 1))?;
                eprintln!(
                    "  run {} {name:<14} {}  RSS {:.1} MB",
                    run + 1,
                    measured.fired.summary(options.delay),
                    measured.rss_bytes as f64 / 1e6
                );
                results[i].push(measured);
            }
        }
        println!(
            "  {:<14} {:>9} {:>9} {:>9} {:>11} {:>9} {:>10}",
            "server (median)", "p50", "p99", "max", "wall/delay", "CPU", "peak RSS"
        );
        let medians: Vec<Medians> = results
            .iter()
            .map(|r| Medians::of(r, options.delay))
            .collect();
        for ((name, _), m) in servers.iter().zip(&medians) {
            println!(
                "  {name:<14} {:>7.3} s {:>7.3} s {:>7.3} s {:>11.3} {:>7.2} s {:>7.1} MB",
                m.p50, m.p99, m.max, m.wall_ratio, m.cpu, m.rss_mb
            );
        }
        let (ours, yardstick) = (&medians[0], &medians[1]);
        let p99 = ours.p99 / yardstick.p99;
        let rss = ours.rss_mb / yardstick.rss_mb;
        println!(
            "  delay-server / minimal: p99 {p99:.3} (target <= 1.00) {}   peak RSS {rss:.3} (target <= 1.00) {}",
            verdict(p99 <= 1.0),
            verdict(rss <= 1.0)
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Server {
    Delay,
    Minimal,
}

/// Starts `server` as a process of its own, fires `connections` requests
/// at it at once, and stops it.
fn measure(
    runtime: &tokio::runtime::Runtime,
    server: Server,
    connections: usize,
    delay: Duration,
) -> anyhow::Result<Measured> {
    let mut command = match server {
        Server::Delay => {
            let mut command = Command::new(sibling_binary("delay-server")?);
            command.args([
                "--listen",
                "127.0.0.1:0",
                "--max-connections",
                &(connections + 16).to_string(),
            ]);
            command
        }
        Server::Minimal => {
            let mut command = Command::new(std::env::current_exe()?);
            command.args(["minimal-server", "--listen", "127.0.0.1:0"]);
            command
        }
    };
    command.env("RUST_LOG", "warn");
    let running = Running::spawn(command);
    let url = running.url_after("listening on ", Duration::from_secs(10));
    let fired = runtime.block_on(fire(address(&url), connections, delay))?;
    Ok(Measured {
        fired,
        rss_bytes: running
            .peak_rss_bytes()
            .context("no peak RSS for the server")?,
        cpu: running.cpu_time().context("no CPU time for the server")?,
    })
}

fn address(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

/// The medians of one server's runs, in seconds and MB.
struct Medians {
    p50: f64,
    p99: f64,
    max: f64,
    wall_ratio: f64,
    cpu: f64,
    rss_mb: f64,
}

impl Medians {
    fn of(runs: &[Measured], delay: Duration) -> Medians {
        let median = |f: &dyn Fn(&Measured) -> f64| {
            crate::stats::median(&runs.iter().map(f).collect::<Vec<_>>())
        };
        Medians {
            p50: median(&|m| m.fired.quantile(0.5).as_secs_f64()),
            p99: median(&|m| m.fired.quantile(0.99).as_secs_f64()),
            max: median(&|m| m.fired.quantile(1.0).as_secs_f64()),
            wall_ratio: median(&|m| m.fired.wall.as_secs_f64() / delay.as_secs_f64()),
            cpu: median(&|m| m.cpu.as_secs_f64()),
            rss_mb: median(&|m| m.rss_bytes as f64 / 1e6),
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

/// What the client saw.
struct Fired {
    /// First request sent to last reply read.
    wall: Duration,
    /// When the last request started sending, after the first.
    last_sent: Duration,
    /// Each request's time, sent to reply read, sorted.
    latencies: Vec<Duration>,
}

impl Fired {
    /// The `q` quantile of the requests' times (nearest rank).
    fn quantile(&self, q: f64) -> Duration {
        let rank = ((q * self.latencies.len() as f64).ceil() as usize).max(1);
        self.latencies[rank.min(self.latencies.len()) - 1]
    }

    fn summary(&self, delay: Duration) -> String {
        format!(
            "p50 {:.3} s  p99 {:.3} s  max {:.3} s  wall/delay {:.3}  (all sent within {:.1} ms)",
            self.quantile(0.5).as_secs_f64(),
            self.quantile(0.99).as_secs_f64(),
            self.quantile(1.0).as_secs_f64(),
            self.wall.as_secs_f64() / delay.as_secs_f64(),
            self.last_sent.as_secs_f64() * 1e3
        )
    }
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
        let mut reasons = std::collections::BTreeMap::<String, usize>::new();
        for result in &results {
            let reason = match result {
                Ok(Ok((200, _, _))) => continue,
                Ok(Ok((status, _, _))) => format!("HTTP {status}"),
                Ok(Err(error)) => format!("{error:#}"),
                Err(error) => error.to_string(),
            };
            *reasons.entry(reason).or_default() += 1;
        }
        bail!("{failed} of {concurrency} requests failed: {reasons:?}");
    }
    let mut last_sent = Duration::ZERO;
    let mut latencies = Vec::with_capacity(concurrency);
    for (_, sent_at, latency) in results.into_iter().filter_map(|r| r.ok()?.ok()) {
        last_sent = last_sent.max(sent_at);
        latencies.push(latency);
    }
    latencies.sort();
    Ok(Fired {
        wall,
        last_sent,
        latencies,
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
