//! The command line: subcommands, their flags and how each flag's value
//! is read (clap derive). `main.rs` acts on them.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use loadlab_coordinator::spec::SchemaName;
use loadlab_coordinator::spec::variables;
use loadlab_coordinator::threshold::Threshold;

/// Runs load experiments that show what waiting costs: the same requests in
/// sync, async, blocking and threads modes, measured and explained.
#[derive(Debug, Parser)]
#[command(
    name = "coordinator",
    version,
    propagate_version = true,
    after_help = EXIT_CODES
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
pub(crate) struct RunArgs {
    /// The experiment spec (YAML), e.g. experiments/http.yaml; or --url.
    #[arg(required_unless_present = "url", conflicts_with = "url")]
    pub(crate) spec: Option<PathBuf>,

    /// Load this URL without a spec: `run --url URL [-n N | -z 30s] [-c 50 |
    /// --rate 200/s] [-m POST -H 'K: V' -d BODY] [--mode async]` (200
    /// requests, 50 at once, async, by default). --print-spec writes the
    /// equivalent spec.
    #[arg(long, value_name = "URL", help_heading = "One-liner (no spec)")]
    pub(crate) url: Option<String>,
    /// Requests to send (a closed loop of N).
    #[arg(
        short = 'n',
        value_name = "N",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    pub(crate) requests_total: Option<u32>,
    /// For this long: N users (-c) until the time is up, or with --rate
    /// requests arriving at that rate.
    #[arg(short = 'z', value_name = "DURATION", requires = "url", value_parser = humantime::parse_duration, help_heading = "One-liner (no spec)")]
    pub(crate) for_time: Option<Duration>,
    /// Requests in flight at once (users with -z; default 50).
    #[arg(
        short = 'c',
        value_name = "N",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    pub(crate) users: Option<u32>,
    /// An open loop at this rate, e.g. 200/s (with -z).
    #[arg(
        long,
        value_name = "RATE",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    pub(crate) rate: Option<String>,
    /// HTTP method (default GET).
    #[arg(
        short = 'm',
        long = "method",
        value_name = "METHOD",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    pub(crate) method: Option<String>,
    /// A header, 'Name: value' (repeatable).
    #[arg(
        short = 'H',
        long = "header",
        value_name = "HEADER",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    pub(crate) headers: Vec<String>,
    /// The request body.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "BODY",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    pub(crate) body: Option<String>,
    /// Mode to run (repeatable: sync, async, blocking, threads; default async).
    #[arg(
        long = "mode",
        value_name = "MODE",
        requires = "url",
        help_heading = "One-liner (no spec)"
    )]
    pub(crate) modes: Vec<String>,
    /// Print the spec the one-liner runs, and exit: a start for your own.
    #[arg(long, requires = "url", help_heading = "One-liner (no spec)")]
    pub(crate) print_spec: bool,

    /// Set a `${VAR}` of the spec (repeatable), over the environment.
    /// Values of variables named like secrets (TOKEN, SECRET, PASSWORD,
    /// KEY) are written `${NAME}` in every output.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_variable)]
    pub(crate) env: Vec<(String, String)>,

    /// In-process agents to start (default: the spec's `agents.count`, else 1).
    #[arg(long, conflicts_with = "listen")]
    pub(crate) agents: Option<NonZeroU32>,

    /// Wait for `agent` processes on this address (e.g. 0.0.0.0:7000)
    /// instead of starting agents in this process. Any address other than
    /// loopback needs --token.
    #[arg(
        long,
        env = "LOADLAB_LISTEN",
        value_name = "ADDR",
        help_heading = "Remote agents"
    )]
    pub(crate) listen: Option<SocketAddr>,

    /// Agents to wait for before the run starts (default: the spec's
    /// `agents.count`).
    #[arg(
        long,
        env = "LOADLAB_EXPECT_AGENTS",
        value_name = "N",
        requires = "listen",
        help_heading = "Remote agents"
    )]
    pub(crate) expect_agents: Option<NonZeroU32>,

    /// How long to wait for them, e.g. 30s or 5m; then exit 1.
    #[arg(long, env = "LOADLAB_WAIT", value_name = "AFTER", default_value = "60s", value_parser = humantime::parse_duration, help_heading = "Remote agents")]
    pub(crate) wait: Duration,

    /// Shared secret agents must prove they hold (they never send it).
    #[arg(
        long,
        env = "LOADLAB_TOKEN",
        hide_env_values = true,
        help_heading = "Remote agents"
    )]
    pub(crate) token: Option<String>,

    /// Read the token from this file instead (its first line), e.g. a
    /// mounted secret.
    #[arg(
        long,
        env = "LOADLAB_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "token",
        help_heading = "Remote agents"
    )]
    pub(crate) token_file: Option<PathBuf>,

    /// What the run does when an agent dies or is cut off, instead of the
    /// spec's `on_agent_loss`: fail (stop, report, exit 1) or redistribute
    /// (the agents left run its unfinished share).
    #[arg(long, env = "LOADLAB_ON_AGENT_LOSS", value_name = "POLICY", value_parser = parse_agent_loss, help_heading = "Remote agents")]
    pub(crate) on_agent_loss: Option<loadlab_coordinator::spec::AgentLoss>,

    /// How long to keep trying a database that refuses connections, e.g.
    /// 60s for one still starting beside the coordinator (Compose); then
    /// exit 1 with the database's error. Default: fail at once.
    #[arg(long, env = "LOADLAB_WAIT_FOR_DATABASE", value_name = "AFTER", default_value = "0s", value_parser = humantime::parse_duration)]
    pub(crate) wait_for_database: Duration,

    /// TLS certificate chain (PEM) to serve agents with; needs --tls-key.
    #[arg(long, env = "LOADLAB_TLS_CERT", value_name = "PEM", requires_all = ["listen", "tls_key"], help_heading = "Remote agents")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM).
    #[arg(
        long,
        env = "LOADLAB_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert",
        help_heading = "Remote agents"
    )]
    pub(crate) tls_key: Option<PathBuf>,

    /// Base URL of the HTTP server to load, instead of the spec's `target`
    /// (e.g. http://delay-server:8000).
    #[arg(long, env = "LOADLAB_HTTP_TARGET", value_name = "URL")]
    pub(crate) http_target: Option<String>,

    /// CA certificate (PEM) to trust for https:// targets, beside the
    /// system's roots (a private CA's, or a test server's own).
    #[arg(long, value_name = "PEM")]
    pub(crate) tls_ca: Option<PathBuf>,

    /// Export the run's trace (experiment, modes, assignments; the agents
    /// and the delay server add theirs) to this OTLP/gRPC collector, e.g.
    /// http://127.0.0.1:4317 (Jaeger).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,

    /// Where the report links traces: a Jaeger UI's address (e.g.
    /// http://jaeger.internal:16686, pages at /trace/ID), or any URL with
    /// `{trace_id}` in it. Default: when the collector looks like a Jaeger,
    /// its UI at port 16686 (on localhost for a `jaeger` or loopback
    /// collector, else on the collector's host when it listens on 4317);
    /// else no links.
    #[arg(long, env = "LOADLAB_TRACE_UI", value_name = "URL", value_parser = parse_trace_ui)]
    pub(crate) trace_ui: Option<String>,

    /// The database for the spec's queries when the spec names no
    /// `target.postgres`.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,

    /// Also write the results as JSON to this file (`coordinator report`
    /// renders it again); `-` writes it to stdout (for `jq`), and the
    /// human report then goes to stderr.
    #[arg(long, env = "LOADLAB_JSON", value_name = "PATH")]
    pub(crate) json: Option<PathBuf>,

    /// Also write JUnit XML to this file, for CI test reports: a suite per
    /// mode, a case per threshold and per request id.
    #[arg(long, env = "LOADLAB_JUNIT", value_name = "PATH")]
    pub(crate) junit: Option<PathBuf>,

    /// Send the figures to Prometheus by remote write as each mode ends,
    /// e.g. http://127.0.0.1:9090/api/v1/write: per second, per mode and
    /// request id, requests, errors and p50/p99/max (see docs/cli.md).
    #[arg(long, env = "LOADLAB_PROMETHEUS_RW", value_name = "URL")]
    pub(crate) prometheus_rw: Option<String>,

    /// Also write a self-contained HTML report to this file: the request
    /// timeline, latency curves, percentiles over time, the why.
    #[arg(long, value_name = "PATH")]
    pub(crate) html: Option<PathBuf>,

    /// Write every request's record to this file as it arrives, one JSON
    /// object a line (the report itself keeps a sample past 1,000 a mode).
    #[arg(long, value_name = "PATH")]
    pub(crate) requests: Option<PathBuf>,

    /// Print only the summary, not each request as it happens.
    #[arg(long, short)]
    pub(crate) quiet: bool,

    /// A threshold the run must pass, judged per mode on every agent's
    /// merged figures, beside the spec's `thresholds` (repeatable): e.g.
    /// "p99 < 250ms", "errors < 1%", "rps > 500". Any failed: exit 99.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold)]
    pub(crate) thresholds: Vec<Threshold>,
}

fn parse_threshold(text: &str) -> Result<Threshold, String> {
    text.parse()
}

fn parse_agent_loss(text: &str) -> Result<loadlab_coordinator::spec::AgentLoss, String> {
    use loadlab_coordinator::spec::AgentLoss;
    match text {
        "fail" => Ok(AgentLoss::Fail),
        "redistribute" => Ok(AgentLoss::Redistribute),
        other => Err(format!("{other:?} is not a policy: fail or redistribute")),
    }
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

/// What `--help` says of exit codes (see the constants below).
const EXIT_CODES: &str = "Exit codes (the same in every subcommand):
  0    every request succeeded (with thresholds: every threshold passed)
  1    some requests failed or did not run
  2    bad usage or spec (file:line:column)
  3    could not run: a database or port refused, no agent, a file not writable
  99   a threshold failed
  130  interrupted by Ctrl-C (the partial report is printed)
  143  stopped by SIGTERM (the partial report is printed)";
