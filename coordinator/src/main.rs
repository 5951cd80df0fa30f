//! `coordinator`: flags in, exit code out. All logic lives in the library.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use loadlab_coordinator::threshold::Threshold;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadlab_coordinator::dataset::SeedError;
use loadlab_coordinator::launch::{self, Agents, Remote, RunOptions};
use loadlab_coordinator::one_liner::OneLiner;
use loadlab_coordinator::report::text::{self, Glyphs};
use loadlab_coordinator::report::{Report, file};
use loadlab_coordinator::spec::variables::{self, Environment};
use loadlab_coordinator::spec::{Plan, SchemaName, Spec};
use loadlab_proto::auth::Token;
use loadlab_telemetry::{TraceConfig, process};

/// Runs load experiments that show what waiting costs: the same requests in
/// sync, async, blocking and threads modes, measured and explained.
#[derive(Debug, Parser)]
#[command(
    name = "coordinator",
    version,
    propagate_version = true,
    after_help = EXIT_CODES
)]
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
    /// 127.0.0.1, exactly as remote agents would — or, with --listen, the
    /// coordinator waits for `agent` processes to join from other hosts.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Build the Brazilian-cities dataset the SQL experiments query.
    ///
    /// 27 states and 5,564 cities per unit of scale, in a schema of its own.
    /// Running it again at the same scale does nothing; another scale
    /// rebuilds it.
    #[command(after_help = EXIT_CODES)]
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
    /// Print a saved run's report again (from `run --json`), or write it
    /// as an HTML page or JUnit XML.
    #[command(after_help = EXIT_CODES)]
    Report {
        /// The JSON a run wrote with --json.
        json: PathBuf,
        /// Write the self-contained HTML report here (e.g. report.html).
        #[arg(long, value_name = "PATH")]
        html: Option<PathBuf>,
        /// Write JUnit XML here, as `run --junit` does.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
    },
    /// Check a spec without running anything: which loop it runs, and the
    /// variables it uses and whether each is set.
    #[command(after_help = EXIT_CODES)]
    Validate {
        /// The experiment spec (YAML), e.g. experiments/http.yaml
        spec: PathBuf,
        /// Set a `${VAR}` of the spec (repeatable), over the environment.
        #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_variable)]
        env: Vec<(String, String)>,
    },
}

fn parse_variable(text: &str) -> Result<(String, String), String> {
    variables::parse_assignment(text)
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The experiment spec (YAML), e.g. experiments/http.yaml; or --url.
    #[arg(required_unless_present = "url", conflicts_with = "url")]
    spec: Option<PathBuf>,

    /// Load this URL without a spec: `run --url URL [-n N | -z 30s] [-c 50 |
    /// --rate 200/s] [-m POST -H 'K: V' -d BODY] [--mode async]` (200
    /// requests, 50 at once, async, by default). --print-spec writes the
    /// equivalent spec.
    #[arg(long, value_name = "URL", help_heading = "One-liner (no spec)")]
    url: Option<String>,
    /// Requests to send (a closed loop of N).
    #[arg(
        short = 'n',
        value_name = "N",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    requests_total: Option<u32>,
    /// For this long: N users (-c) until the time is up, or with --rate
    /// requests arriving at that rate.
    #[arg(short = 'z', value_name = "DURATION", requires = "url", value_parser = humantime::parse_duration, help_heading = "One-liner (no spec)")]
    for_time: Option<Duration>,
    /// Requests in flight at once (users with -z; default 50).
    #[arg(
        short = 'c',
        value_name = "N",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    users: Option<u32>,
    /// An open loop at this rate, e.g. 200/s (with -z).
    #[arg(
        long,
        value_name = "RATE",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    rate: Option<String>,
    /// HTTP method (default GET).
    #[arg(
        short = 'm',
        long = "method",
        value_name = "METHOD",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    method: Option<String>,
    /// A header, 'Name: value' (repeatable).
    #[arg(
        short = 'H',
        long = "header",
        value_name = "HEADER",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    headers: Vec<String>,
    /// The request body.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "BODY",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    body: Option<String>,
    /// Mode to run (repeatable: sync, async, blocking, threads; default async).
    #[arg(
        long = "mode",
        value_name = "MODE",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    modes: Vec<String>,
    /// Print the spec the one-liner runs, and exit: a start for your own.
    #[arg(long, requires = "url", help_heading = "One-liner (no spec)")]
    print_spec: bool,

    /// Set a `${VAR}` of the spec (repeatable), over the environment.
    /// Values of variables named like secrets (TOKEN, SECRET, PASSWORD,
    /// KEY) are written `${NAME}` in every output.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_variable)]
    env: Vec<(String, String)>,

    /// In-process agents to start (default: the spec's `agents.count`, else 1).
    #[arg(long, conflicts_with = "listen")]
    agents: Option<NonZeroU32>,

    /// Wait for `agent` processes on this address (e.g. 0.0.0.0:7000)
    /// instead of starting agents in this process. Any address other than
    /// loopback needs --token.
    #[arg(
        long,
        env = "LOADLAB_LISTEN",
        value_name = "ADDR",
        help_heading = "Remote agents"
    )]
    listen: Option<SocketAddr>,

    /// Agents to wait for before the run starts (default: the spec's
    /// `agents.count`).
    #[arg(
        long,
        env = "LOADLAB_EXPECT_AGENTS",
        value_name = "N",
        requires = "listen",
        help_heading = "Remote agents"
    )]
    expect_agents: Option<NonZeroU32>,

    /// How long to wait for them, e.g. 30s or 5m; then exit 1.
    #[arg(long, env = "LOADLAB_WAIT", value_name = "AFTER", default_value = "60s", value_parser = humantime::parse_duration, help_heading = "Remote agents")]
    wait: Duration,

    /// Shared secret agents must prove they hold (they never send it).
    #[arg(
        long,
        env = "LOADLAB_TOKEN",
        hide_env_values = true,
        help_heading = "Remote agents"
    )]
    token: Option<String>,

    /// Read the token from this file instead (its first line), e.g. a
    /// mounted secret.
    #[arg(
        long,
        env = "LOADLAB_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "token",
        help_heading = "Remote agents"
    )]
    token_file: Option<PathBuf>,

    /// What the run does when an agent dies or is cut off, instead of the
    /// spec's `on_agent_loss`: fail (stop, report, exit 1) or redistribute
    /// (the agents left run its unfinished share).
    #[arg(long, env = "LOADLAB_ON_AGENT_LOSS", value_name = "POLICY", value_parser = parse_agent_loss, help_heading = "Remote agents")]
    on_agent_loss: Option<loadlab_coordinator::spec::AgentLoss>,

    /// How long to keep trying a database that refuses connections, e.g.
    /// 60s for one still starting beside the coordinator (Compose); then
    /// exit 1 with the database's error. Default: fail at once.
    #[arg(long, env = "LOADLAB_WAIT_FOR_DATABASE", value_name = "AFTER", default_value = "0s", value_parser = humantime::parse_duration)]
    wait_for_database: Duration,

    /// TLS certificate chain (PEM) to serve agents with; needs --tls-key.
    #[arg(long, env = "LOADLAB_TLS_CERT", value_name = "PEM", requires_all = ["listen", "tls_key"], help_heading = "Remote agents")]
    tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM).
    #[arg(
        long,
        env = "LOADLAB_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert",
        help_heading = "Remote agents"
    )]
    tls_key: Option<PathBuf>,

    /// Base URL of the HTTP server to load, instead of the spec's `target`
    /// (e.g. http://delay-server:8000).
    #[arg(long, env = "LOADLAB_HTTP_TARGET", value_name = "URL")]
    http_target: Option<String>,

    /// CA certificate (PEM) to trust for https:// targets, beside the
    /// system's roots (a private CA's, or a test server's own).
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<PathBuf>,

    /// Export the run's trace (experiment, modes, assignments; the agents
    /// and the delay server add theirs) to this OTLP/gRPC collector, e.g.
    /// http://127.0.0.1:4317 (Jaeger).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,

    /// Where the report links traces: a Jaeger UI's address (e.g.
    /// http://jaeger.internal:16686, pages at /trace/ID), or any URL with
    /// `{trace_id}` in it. Default: when the collector looks like a Jaeger,
    /// its UI at port 16686 (on localhost for a `jaeger` or loopback
    /// collector, else on the collector's host when it listens on 4317);
    /// else no links.
    #[arg(long, env = "LOADLAB_TRACE_UI", value_name = "URL", value_parser = parse_trace_ui)]
    trace_ui: Option<String>,

    /// The database for the spec's queries when the spec names no
    /// `target.postgres`.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    database_url: Option<String>,

    /// Also write the results as JSON to this file (`coordinator report`
    /// renders it again); `-` writes it to stdout (for `jq`), and the
    /// human report then goes to stderr.
    #[arg(long, env = "LOADLAB_JSON", value_name = "PATH")]
    json: Option<PathBuf>,

    /// Also write JUnit XML to this file, for CI test reports: a suite per
    /// mode, a case per threshold and per request id.
    #[arg(long, env = "LOADLAB_JUNIT", value_name = "PATH")]
    junit: Option<PathBuf>,

    /// Send the figures to Prometheus by remote write as each mode ends,
    /// e.g. http://127.0.0.1:9090/api/v1/write: per second, per mode and
    /// request id, requests, errors and p50/p99/max (see docs/cli.md).
    #[arg(long, env = "LOADLAB_PROMETHEUS_RW", value_name = "URL")]
    prometheus_rw: Option<String>,

    /// Also write a self-contained HTML report to this file: the request
    /// timeline, latency curves, percentiles over time, the why.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,

    /// Write every request's record to this file as it arrives, one JSON
    /// object a line (the report itself keeps a sample past 1,000 a mode).
    #[arg(long, value_name = "PATH")]
    requests: Option<PathBuf>,

    /// Print only the summary, not each request as it happens.
    #[arg(long, short)]
    quiet: bool,

    /// A threshold the run must pass, judged per mode on every agent's
    /// merged figures, beside the spec's `thresholds` (repeatable): e.g.
    /// "p99 < 250ms", "errors < 1%", "rps > 500". Any failed: exit 99.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold)]
    thresholds: Vec<Threshold>,
}

/// The spec's variables: `-e` over the process's environment.
fn environment(overrides: Vec<(String, String)>) -> Environment {
    Environment::process(overrides.into_iter().collect())
}

fn parse_threshold(text: &str) -> Result<Threshold, String> {
    text.parse()
}

/// What `--help` says of exit codes (see the constants below).
const EXIT_CODES: &str = "Exit codes (the same in every subcommand):
  0    every request succeeded (with thresholds: every threshold passed)
  1    some requests failed or did not run
  2    bad usage or spec (file:line:column)
  3    could not run: a database or port refused, no agent, a file not writable
  99   a threshold failed
  130  interrupted by Ctrl-C (the partial report is printed)
  143  stopped by SIGTERM (the partial report is printed)";

/// Exit codes, the same in every subcommand: 0 every request succeeded
/// (with thresholds: every threshold passed); 1 some requests failed or
/// did not run; 2 bad usage or spec; 3 could not run (a database or port
/// refused, a file that cannot be written); 99 a threshold failed; 130
/// interrupted by Ctrl-C; 143 stopped by SIGTERM.
const EXIT_USAGE: u8 = 2;
const EXIT_COULD_NOT_RUN: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Validate { .. } | Command::Report { .. }
    ) {
        loadlab_telemetry::init_logging("warn");
    }
    match cli.command {
        Command::Validate { spec, env } => match Spec::load_with(&spec, &environment(env)) {
            Ok(parsed) => {
                let load = match parsed.plan() {
                    Plan::Closed { rounds } => {
                        format!("closed loop, {rounds} rounds each started when a slot frees")
                    }
                    Plan::Timed { users, duration } => format!(
                        "closed loop for {}, {users} users each starting its next request as its \
                         last ends",
                        humantime::format_duration(duration)
                    ),
                    Plan::Open { profile, .. } => format!(
                        "open loop, {:.0} rounds over {}",
                        profile.expected(),
                        humantime::format_duration(profile.duration())
                    ),
                };
                println!(
                    "{}: ok ({} requests × {load} in {} modes)",
                    spec.display(),
                    parsed.round().len(),
                    parsed.modes.len()
                );
                for v in &parsed.variables {
                    let how = match (v.set, &v.default) {
                        (true, _) if v.secret => "set (secret: never shown)".to_owned(),
                        (true, _) => "set".to_owned(),
                        (false, Some(default)) => format!("not set, default {default:?}"),
                        (false, None) => "not set".to_owned(),
                    };
                    println!("  ${{{}}}: {how}", v.name);
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{error}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Run(args) => run(*args),
        Command::Report { json, html, junit } => rerender(&json, html.as_deref(), junit.as_deref()),
        Command::Seed {
            database_url,
            scale,
            schema,
        } => {
            let config = TraceConfig {
                service: "loadlab-coordinator",
                endpoint: None,
                attributes: Vec::new(),
                sends_load: true,
            };
            let seeded = process::run("warn", config, async {
                let interrupt = process::cancel_on_stop();
                launch::seed_with_progress(&database_url, &schema, scale.get(), &interrupt).await
            });
            match seeded {
                Ok(Ok(_)) => ExitCode::SUCCESS,
                Ok(Err(error @ SeedError::Interrupted)) => {
                    eprintln!("coordinator: {error}");
                    ExitCode::from(process::interrupted_exit_code())
                }
                Ok(Err(error)) => {
                    eprintln!("coordinator: {error}");
                    ExitCode::from(EXIT_COULD_NOT_RUN)
                }
                Err(error) => {
                    eprintln!("coordinator: cannot start the async runtime: {error}");
                    ExitCode::from(EXIT_COULD_NOT_RUN)
                }
            }
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    let env = environment(args.env.clone());
    let loaded = match (&args.spec, &args.url) {
        (Some(path), _) => Spec::load_with(path, &env),
        (None, url) => {
            let one = OneLiner {
                url: url.clone().unwrap_or_default(),
                requests: args.requests_total,
                duration: args.for_time,
                concurrency: args.users,
                rate: args.rate.clone(),
                method: args.method.clone(),
                headers: args.headers.clone(),
                body: args.body.clone(),
                modes: args.modes.clone(),
            };
            let yaml = match one.spec_yaml() {
                Ok(yaml) => yaml,
                Err(error) => {
                    eprintln!("coordinator: {error}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            if args.print_spec {
                print!("{yaml}");
                return ExitCode::SUCCESS;
            }
            Spec::parse_with(&yaml, "the --url spec (see --print-spec)", &env)
        }
    };
    let mut spec = match loaded {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Some(policy) = args.on_agent_loss {
        spec.on_agent_loss = policy;
    }
    if let Some(t) = spec.unknown_request(&args.thresholds) {
        eprintln!(
            "coordinator: --threshold {:?}: the spec has no request `{}`",
            t.expr,
            t.request.as_deref().unwrap_or_default()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let options = match options(&args, &spec) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("coordinator: {error:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if spec.insecure {
        eprintln!(
            "coordinator: WARNING: `insecure: true`: the certificates of https:// targets are NOT \
             verified; anyone between the agents and the target could answer in its place. \
             Use it for self-signed test servers only (--tls-ca trusts a private CA instead)."
        );
    }
    // A report that could not be written at the end is a run lost: say so
    // before it starts.
    let json_to_stdout = args.json.as_deref() == Some(Path::new("-"));
    for (flag, path) in [
        ("--json", if json_to_stdout { &None } else { &args.json }),
        ("--html", &args.html),
        ("--junit", &args.junit),
        ("--requests", &args.requests),
    ] {
        if let Some(path) = path
            && let Err(error) = file::check_writable(path)
        {
            eprintln!(
                "coordinator: {flag} {}: cannot write there: {error}",
                path.display()
            );
            return ExitCode::from(EXIT_COULD_NOT_RUN);
        }
    }
    let config = TraceConfig {
        service: "loadlab-coordinator",
        endpoint: args.otlp_endpoint.clone(),
        attributes: Vec::new(),
        sends_load: true,
    };
    // Whatever is still stuck when the run ends — a blocking request, a
    // silent agent — does not hold the report back (see process::run).
    let outcome = process::run("warn", config, async {
        let interrupt = process::cancel_on_stop();
        launch::run(&spec, &options, &interrupt).await
    });
    let report = match outcome {
        Ok(Ok(report)) => report,
        Err(error) => {
            eprintln!("coordinator: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_COULD_NOT_RUN);
        }
        Ok(Err(error)) => {
            eprintln!("coordinator: {error:#}");
            return ExitCode::from(EXIT_COULD_NOT_RUN);
        }
    };
    let mut report = report;
    report.trace_url = report
        .trace_id
        .as_deref()
        .and_then(|id| match &args.trace_ui {
            Some(ui) => Some(loadlab_telemetry::trace_ui::trace_page(ui, id)),
            None => args
                .otlp_endpoint
                .as_deref()
                .and_then(|endpoint| loadlab_telemetry::trace_ui::trace_url(endpoint, id)),
        });
    let thresholds: Vec<Threshold> = spec
        .thresholds
        .iter()
        .chain(&args.thresholds)
        .cloned()
        .collect();
    if !report.interrupted {
        report.judge(&thresholds);
    }
    let report = report.redacted(&spec.secrets);
    if json_to_stdout {
        show(&report, &mut std::io::stderr());
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("coordinator: cannot write the JSON: {error}");
                return ExitCode::from(EXIT_COULD_NOT_RUN);
            }
        }
    } else {
        show(&report, &mut std::io::stdout());
    }
    let json = args.json.as_deref().filter(|_| !json_to_stdout);
    if let Err(code) = write(&report, json, args.html.as_deref(), args.junit.as_deref()) {
        return code;
    }
    match report.exit_code() {
        // Ctrl-C or SIGTERM: by the shell's convention, 130 or 143.
        130 => ExitCode::from(process::interrupted_exit_code()),
        code => ExitCode::from(code),
    }
}

fn parse_agent_loss(text: &str) -> Result<loadlab_coordinator::spec::AgentLoss, String> {
    use loadlab_coordinator::spec::AgentLoss;
    match text {
        "fail" => Ok(AgentLoss::Fail),
        "redistribute" => Ok(AgentLoss::Redistribute),
        other => Err(format!("{other:?} is not a policy: fail or redistribute")),
    }
}

/// The run's options from its flags; errors are usage errors.
fn options(args: &RunArgs, spec: &Spec) -> anyhow::Result<RunOptions> {
    let token = loadlab_proto::auth::token_from(args.token.clone(), args.token_file.as_deref())
        .map_err(anyhow::Error::msg)?
        .map(|t| Token::new(t.as_str()))
        .transpose()
        .context("--token")?;
    let agents = match args.listen {
        None => Agents::InProcess {
            count: args.agents.unwrap_or(spec.agents.count).get(),
        },
        Some(listen) => {
            let tls = match (&args.tls_cert, &args.tls_key) {
                (Some(cert), Some(key)) => {
                    let read = |path: &PathBuf| {
                        std::fs::read(path)
                            .with_context(|| format!("cannot read {}", path.display()))
                    };
                    let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
                    Some(tonic::transport::ServerTlsConfig::new().identity(identity))
                }
                _ => None,
            };
            Agents::Remote(Remote::new(
                listen,
                args.expect_agents.unwrap_or(spec.agents.count).get(),
                args.wait,
                tls,
                token,
            )?)
        }
    };
    let tls_ca_pem = match &args.tls_ca {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("--tls-ca: cannot read {}", path.display()))?;
            loadlab_agent::kind::http::tls::ca_certificates(&pem)
                .map_err(|why| anyhow::anyhow!("--tls-ca {}: {why}", path.display()))?;
            Some(pem)
        }
        None => None,
    };
    Ok(RunOptions {
        agents,
        tls_ca_pem,
        http_target: args.http_target.clone(),
        database_url: args.database_url.clone(),
        wait_for_database: args.wait_for_database,
        quiet: args.quiet,
        human_on_stderr: args.json.as_deref() == Some(Path::new("-")),
        requests: args.requests.clone(),
        prometheus_rw: args.prometheus_rw.clone(),
    })
}

/// The summary and, for small modes, the timeline, on `out` (stdout, or
/// stderr when the JSON goes to stdout).
fn show(report: &Report, out: &mut dyn std::io::Write) {
    let mut text = String::from("\n");
    text.push_str(&text::summary(report));
    let term = console::Term::stdout();
    let plain = !term.is_term() || std::env::var_os("NO_COLOR").is_some();
    let width = term
        .size_checked()
        .map_or(100, |(_, columns)| usize::from(columns));
    let glyphs = if plain { Glyphs::Ascii } else { Glyphs::Blocks };
    if let Some(timeline) = text::timeline(report, width, glyphs) {
        text.push_str(&timeline);
    }
    // A closed pipe (`| head`) is no reason to fail the run.
    let _ = out.write_all(text.as_bytes());
}

/// Writes the JSON and the HTML page asked for; the exit code when one
/// cannot be written.
fn write(
    report: &Report,
    json: Option<&Path>,
    html: Option<&Path>,
    junit: Option<&Path>,
) -> Result<(), ExitCode> {
    let written = [
        (
            json,
            file::write_json as fn(&Report, &Path) -> std::io::Result<()>,
        ),
        (html, file::write_html),
        (junit, file::write_junit),
    ];
    for (path, writer) in written {
        if let Some(path) = path
            && let Err(error) = writer(report, path)
        {
            eprintln!("coordinator: cannot write {}: {error}", path.display());
            return Err(ExitCode::from(EXIT_COULD_NOT_RUN));
        }
    }
    Ok(())
}

/// `coordinator report`: a saved run again, as text or as a page.
fn rerender(json: &Path, html: Option<&Path>, junit: Option<&Path>) -> ExitCode {
    let report = match file::read(json) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("coordinator: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if html.is_none() && junit.is_none() {
        show(&report, &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let outputs = [
        (
            html,
            file::write_html as fn(&Report, &Path) -> std::io::Result<()>,
        ),
        (junit, file::write_junit),
    ];
    for (path, writer) in outputs {
        let Some(path) = path else { continue };
        if let Err(error) = writer(&report, path) {
            eprintln!("coordinator: cannot write {}: {error}", path.display());
            return ExitCode::from(EXIT_COULD_NOT_RUN);
        }
        println!(
            "{}: the report of {} ({} modes)",
            path.display(),
            report.spec.name,
            report.modes.len()
        );
    }
    ExitCode::SUCCESS
}

/// `--trace-ui`: an http(s) URL.
fn parse_trace_ui(text: &str) -> Result<String, String> {
    match url::Url::parse(&text.replace("{trace_id}", "0")) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(text.to_owned()),
        _ => Err(format!(
            "{text:?} is not an http(s) URL of a trace UI (e.g. http://jaeger:16686, \
             or a URL with {{trace_id}} in it)"
        )),
    }
}
