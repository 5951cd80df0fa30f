//! `agent`: flags in, session out. All logic lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use loadlab_agent::session::{self, Connection, Identity};
use loadlab_proto::auth::Token;
use loadlab_telemetry::{TraceConfig, process};

/// Connects to a loadlab coordinator and runs the requests it assigns.
///
/// The agent keeps serving: when the coordinator is not up yet, or goes
/// away, it tries again with capped, jittered exponential backoff (0.2 s
/// doubling to 10 s), and joins the next run. It stops on Ctrl-C/SIGTERM,
/// after --give-up without a coordinator, or when the coordinator refuses
/// it (wrong token, other protocol version).
#[derive(Debug, Parser)]
#[command(name = "agent", version)]
struct Args {
    /// The coordinator's gRPC address, e.g. http://coordinator:7000
    /// (https:// for TLS).
    #[arg(long, env = "LOADLAB_COORDINATOR")]
    coordinator: String,

    /// Name shown in reports (default: the host name).
    #[arg(long, env = "LOADLAB_AGENT_NAME")]
    name: Option<String>,

    /// Shared secret the coordinator was started with. It is never sent:
    /// the agent proves it holds it, and checks that the coordinator does.
    #[arg(long, env = "LOADLAB_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Read the token from this file instead (its first line), e.g. a
    /// mounted secret.
    #[arg(
        long,
        env = "LOADLAB_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "token"
    )]
    token_file: Option<PathBuf>,

    /// CA certificate (PEM) that signed the coordinator's TLS certificate;
    /// needs an https:// URL. Without it the system's roots are used.
    #[arg(long, env = "LOADLAB_TLS_CA", value_name = "PEM")]
    tls_ca: Option<PathBuf>,

    /// Exit 1 after this long without reaching a coordinator, e.g. 30s or
    /// 5m (default: keep trying).
    #[arg(long, env = "LOADLAB_GIVE_UP", value_name = "AFTER", value_parser = humantime::parse_duration)]
    give_up: Option<Duration>,

    /// Export a span per assignment and per request to this OTLP/gRPC
    /// collector (e.g. http://127.0.0.1:4317), continuing the coordinator's
    /// trace.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut connection = Connection::new(args.coordinator.clone());
    let token = match loadlab_proto::auth::token_from(args.token, args.token_file.as_deref()) {
        Ok(token) => token,
        Err(error) => {
            eprintln!("agent: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(token) = token {
        match Token::new(token) {
            Ok(token) => connection.token = Some(token),
            Err(error) => {
                eprintln!("agent: --token: {error}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(path) = &args.tls_ca {
        match std::fs::read(path) {
            Ok(pem) => connection.tls_ca = Some(pem),
            Err(error) => {
                eprintln!("agent: cannot read --tls-ca {}: {error}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let name = args
        .name
        .or_else(loadlab_telemetry::host_name)
        .unwrap_or_else(|| "agent".to_owned());
    let config = TraceConfig {
        service: "loadlab-agent",
        endpoint: args.otlp_endpoint.clone(),
        attributes: vec![opentelemetry::KeyValue::new(
            "loadlab.agent.name",
            name.clone(),
        )],
        sends_load: true,
    };
    let identity = Identity::new(name);
    let served = process::run("info,h2=warn,tower=warn,hyper=warn", config, async {
        let shutdown = process::cancel_on_stop();
        session::serve(&connection, &identity, args.give_up, shutdown).await
    });
    match served {
        Err(error) => {
            eprintln!("agent: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(session::SessionError::BadConfig(why))) => {
            eprintln!("agent: {why}");
            ExitCode::from(2)
        }
        Ok(Err(error)) => {
            eprintln!("agent: {error}");
            ExitCode::FAILURE
        }
    }
}
