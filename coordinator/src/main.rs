//! `coordinator`: flags in, exit code out. All logic lives in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use loadlab_coordinator::threshold::Threshold;

use anyhow::Context;
use clap::Parser;
use loadlab_coordinator::dataset::SeedError;
use loadlab_coordinator::launch::{self, Agents, Remote, RunOptions};
use loadlab_coordinator::one_liner::OneLiner;
use loadlab_coordinator::report::text::{self, Glyphs};
use loadlab_coordinator::report::{Report, file};
use loadlab_coordinator::spec::variables::Environment;
use loadlab_coordinator::spec::{Plan, Spec};
use loadlab_proto::auth::Token;
use loadlab_telemetry::{TraceConfig, process};

mod args;

use args::{Cli, Command, RunArgs};

/// The spec's variables: `-e` over the process's environment.
fn environment(overrides: Vec<(String, String)>) -> Environment {
    Environment::process(overrides.into_iter().collect())
}

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
                match &parsed.scenarios {
                    Some(scenarios) => {
                        let load = load
                            .replace("rounds", "iterations")
                            .replace("request", "iteration");
                        println!(
                            "{}: ok ({} scenarios of {} requests × {load} in {} modes)",
                            spec.display(),
                            scenarios.0.len(),
                            parsed.round().len(),
                            parsed.modes.len()
                        );
                        for (name, s) in &scenarios.0 {
                            println!("  {name}: weight {}, {} steps", s.weight, s.steps.len());
                        }
                        if let (Some(data), Some(rows)) = (&parsed.data, &parsed.rows) {
                            println!(
                                "  data: {} rows of {} ({}), order {}",
                                rows.rows.len(),
                                data.file,
                                rows.columns.join(", "),
                                format!("{:?}", data.order).to_lowercase()
                            );
                        }
                    }
                    None => println!(
                        "{}: ok ({} requests × {load} in {} modes)",
                        spec.display(),
                        parsed.round().len(),
                        parsed.modes.len()
                    ),
                }
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
    // `cargo run` without `--release` (the README's first command, quick to
    // build): said where a person reads it, not in pipes and logs.
    if cfg!(debug_assertions) && !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())
    {
        eprintln!(
            "coordinator: note: a debug build (`cargo run` without `--release`): the experiments' \
             waits measure right, but under load its own overhead shows in the figures; for load \
             tests build with `--release` (or `cargo install --locked --path coordinator`)."
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
