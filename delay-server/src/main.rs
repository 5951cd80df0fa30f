//! `delay-server`: flags in, server out. All logic lives in the library.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use delay_server::hiccup::Hiccups;

/// A slow HTTP server: `GET /delay-me?seconds=N` (or `?ms=N`) answers
/// `Done, I waited for N secs` after N seconds. `GET /healthz` answers 200.
#[derive(Debug, Parser)]
#[command(name = "delay-server", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the address bound is
    /// printed on stdout as `listening on http://ADDR`).
    #[arg(long, env = "DELAY_SERVER_LISTEN", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,

    /// Longest delay a client may ask for (e.g. 300s, 5m); longer ones get 400.
    #[arg(long, env = "DELAY_SERVER_MAX_DELAY", default_value = "300s", value_parser = humantime::parse_duration)]
    max_delay: Duration,

    /// Connections open at once. When full, the oldest connection that is not
    /// serving a request (idle, or still sending its header) is closed to make
    /// room; when all are serving, more clients wait in the accept backlog.
    #[arg(long, env = "DELAY_SERVER_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,

    /// On SIGINT/SIGTERM, how long in-flight requests may take to finish.
    #[arg(long, env = "DELAY_SERVER_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    grace: Duration,

    /// Stop answering (no reads, no replies) for --hiccup-for at the end of
    /// every period this long, as a GC pause would (e.g. 4s); with
    /// --hiccup-for.
    #[arg(long, env = "DELAY_SERVER_HICCUP_EVERY", value_name = "PERIOD", requires = "hiccup_for", value_parser = humantime::parse_duration)]
    hiccup_every: Option<Duration>,

    /// How long each hiccup lasts (e.g. 1s); shorter than --hiccup-every.
    #[arg(long, env = "DELAY_SERVER_HICCUP_FOR", value_name = "PAUSE", requires = "hiccup_every", value_parser = humantime::parse_duration)]
    hiccup_for: Option<Duration>,

    /// Export a span per delayed request to this OTLP/gRPC collector
    /// (e.g. http://127.0.0.1:4317), continuing the caller's trace.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let hiccups = match (args.hiccup_every, args.hiccup_for) {
        (Some(every), Some(pause)) => match Hiccups::new(every, pause) {
            Ok(hiccups) => Some(hiccups),
            Err(error) => {
                eprintln!("delay-server: {error}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let config = loadlab_telemetry::TraceConfig {
        service: "loadlab-delay-server",
        endpoint: args.otlp_endpoint.clone(),
        attributes: Vec::new(),
        sends_load: false,
    };
    match loadlab_telemetry::process::run("info,hyper=warn", config, serve(args, hiccups)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("delay-server: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
        Ok(Err(error)) => {
            eprintln!("delay-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args, hiccups: Option<Hiccups>) -> anyhow::Result<()> {
    let (listener, local) = delay_server::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // Scripts and tests read this line to learn the port when given :0.
    println!("listening on http://{local}");
    std::io::stdout().flush().ok();
    let config = delay_server::Config {
        max_delay: args.max_delay,
        max_connections: args.max_connections,
        grace: args.grace,
        hiccups,
    };
    delay_server::run(
        listener,
        config,
        loadlab_telemetry::process::stop_requested(),
    )
    .await?;
    Ok(())
}
