//! `agent`: flags in, session out. All logic lives in the library.

use std::process::ExitCode;

use clap::Parser;
use loadlab_agent::session::{self, Identity};
use tokio_util::sync::CancellationToken;

/// Connects to a loadlab coordinator and runs the requests it assigns.
#[derive(Debug, Parser)]
#[command(name = "agent", version)]
struct Args {
    /// The coordinator's gRPC address, e.g. http://coordinator:7000
    #[arg(long, env = "LOADLAB_COORDINATOR")]
    coordinator: String,

    /// Name shown in reports (default: the host name).
    #[arg(long, env = "LOADLAB_AGENT_NAME")]
    name: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    loadlab_telemetry::init_logging("info,h2=warn,tower=warn,hyper=warn");
    let args = Args::parse();
    let endpoint = match tonic::transport::Endpoint::from_shared(args.coordinator.clone()) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            eprintln!(
                "agent: --coordinator {:?} is not a valid URL: {error}",
                args.coordinator
            );
            return ExitCode::from(2);
        }
    };
    let name = args.name.unwrap_or_else(host_name);
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    match session::run(endpoint, Identity::new(name), shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("agent: {error}");
            ExitCode::FAILURE
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "agent".to_owned())
}
