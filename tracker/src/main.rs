//! `tracker`: flags in, service out. All logic lives in the library.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tracker::Mode;

/// Courier locations from Redis pub/sub to customers' websockets.
///
/// `GET /track/ORDER_ID` upgrades to a websocket that receives, as text
/// frames, every message published on the Redis channel ORDER_ID, in order.
/// `GET /{async,threads,blocking,sync}/track/ORDER_ID` serves it in that
/// mode; `GET /healthz` is 200 while Redis is reachable; `GET /stats` is
/// JSON (customers, delivered, threads, rss_mb).
#[derive(Debug, Parser)]
#[command(name = "tracker", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed on stdout as
    /// `listening on http://ADDR`).
    #[arg(long, env = "TRACKER_LISTEN", default_value = "127.0.0.1:8001")]
    listen: SocketAddr,

    /// The Redis to subscribe to.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,

    /// How `/track/ORDER_ID` serves customers: async (a task each, one
    /// shared Redis subscriber), threads (an OS thread and a Redis
    /// connection each), blocking (async handlers calling a blocking Redis
    /// read on one executor thread: the pitfall), sync (one at a time).
    #[arg(long, env = "TRACKER_MODE", default_value = "async", value_parser = parse_mode)]
    mode: Mode,

    /// On SIGINT/SIGTERM, how long customers' sockets get to close (1001).
    #[arg(long, env = "TRACKER_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    grace: Duration,

    /// HTTP connections open at once before their websocket upgrade; when
    /// full, the oldest one not serving a request (idle, or still sending
    /// its header) is closed to make room. Upgraded customers do not count.
    #[arg(long, env = "TRACKER_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,

    /// Export a span per customer session to this OTLP/gRPC collector.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
}

fn parse_mode(value: &str) -> Result<Mode, String> {
    value.parse()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = loadlab_telemetry::TraceConfig {
        service: "loadlab-tracker",
        endpoint: args.otlp_endpoint.clone(),
        attributes: Vec::new(),
        sends_load: false,
    };
    match loadlab_telemetry::process::run("info,hyper=warn", config, serve(args)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tracker: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
        Ok(Err(error)) => {
            eprintln!("tracker: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let config = tracker::Config {
        redis_url: args.redis_url,
        mode: args.mode,
        grace: args.grace,
        max_connections: args.max_connections,
    };
    let tracker = tracker::Tracker::connect(config).await?;
    let (listener, local) = tracker::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // Scripts and tests read this line to learn the port when given :0.
    println!("listening on http://{local}");
    std::io::stdout().flush().ok();
    tracker
        .serve(listener, loadlab_telemetry::process::stop_requested())
        .await?;
    Ok(())
}
