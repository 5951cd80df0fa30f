//! `coordinator`: flags in, exit code out. All logic lives in the library.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadlab_coordinator::local::{self, LocalRun};
use loadlab_coordinator::report::{Report, render_summary};
use loadlab_coordinator::spec::{SchemaName, Spec};
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
    /// Build the Brazilian-cities dataset the SQL experiments query.
    ///
    /// 27 states and 5,564 cities per unit of scale, in a schema of its own.
    /// Running it again at the same scale does nothing; another scale
    /// rebuilds it.
    Seed {
        /// The database, e.g. postgres://postgres@127.0.0.1:5432/postgres
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Units of 5,564 cities; 1400 gives the demonstration's 7,789,600.
        #[arg(long, default_value_t = NonZeroU32::new(1400).expect("nonzero"))]
        scale: NonZeroU32,
        /// The schema to build it in (nothing outside it is touched).
        #[arg(long, default_value = "loadlab", value_parser = SchemaName::parse)]
        schema: SchemaName,
    },
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
                    parsed.requests.len() + parsed.queries.len(),
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
        Command::Seed {
            database_url,
            scale,
            schema,
        } => {
            let seeded = tokio::runtime::Runtime::new()
                .map_err(anyhow::Error::from)
                .and_then(|rt| {
                    rt.block_on(local::seed_with_progress(
                        &database_url,
                        &schema,
                        scale.get(),
                    ))
                });
            match seeded {
                Ok(_) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("coordinator: {error:#}");
                    ExitCode::from(EXIT_FAILED)
                }
            }
        }
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
