//! `coordinator`: flags in, exit code out. All logic lives in the library.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadlab_coordinator::local::{self, LocalRun};
use loadlab_coordinator::report::{Report, render_summary};
use loadlab_coordinator::spec::Spec;
use tokio_util::sync::CancellationToken;

/// Runs load experiments that show what waiting costs: the same requests in
/// sync, async, blocking and threads modes, measured and explained.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment and print its report.
    ///
    /// With no `target` in the spec, an embedded delay server answers the
    /// requests. Agents run in this process and connect over gRPC on
    /// 127.0.0.1, exactly as remote agents would.
    Run(RunArgs),
    /// Check a spec without running anything.
    Validate {
        /// The experiment spec (YAML), e.g. experiments/http.yaml
        spec: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The experiment spec (YAML), e.g. experiments/http.yaml
    spec: PathBuf,

    /// In-process agents to start (default: the spec's `agents.count`, else 1).
    #[arg(long)]
    agents: Option<NonZeroU32>,

    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,

    /// Print only the summary, not each request as it happens.
    #[arg(long, short)]
    quiet: bool,
}

/// Exit codes: 0 all requests succeeded, 1 some failed or the run could not
/// start, 2 bad usage or spec, 130 interrupted.
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    loadlab_telemetry::init_logging("warn");
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { spec } => match Spec::load(&spec) {
            Ok(parsed) => {
                println!(
                    "{}: ok ({} requests × {} rounds in {} modes)",
                    spec.display(),
                    parsed.requests.len(),
                    parsed.repeat,
                    parsed.modes.len()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{error}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Run(args) => run(args),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let spec = match Spec::load(&args.spec) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("coordinator: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let options = LocalRun {
        agents: args.agents.unwrap_or(spec.agents.count).get(),
        quiet: args.quiet,
        join_timeout: Duration::from_secs(10),
    };
    let outcome = runtime.block_on(async {
        let interrupt = CancellationToken::new();
        let on_signal = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        local::run(&spec, &options, &interrupt).await
    });
    let report = match outcome {
        Ok(report) => report,
        Err(error) => {
            eprintln!("coordinator: {error:#}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    println!();
    print!("{}", render_summary(&report));
    if let Some(path) = &args.json
        && let Err(error) = write_json(&report, path)
    {
        eprintln!("coordinator: {error:#}");
        return ExitCode::from(EXIT_FAILED);
    }
    if report.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn write_json(report: &Report, path: &PathBuf) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report).context("cannot encode the report as JSON")?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}
