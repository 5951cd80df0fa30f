//! What one coordinator holds: N real `agent` processes join a real
//! `coordinator run --listen` over gRPC and load one delay-server process
//! lightly (an open loop of `--per-agent` requests a second each); the
//! coordinator's CPU, peak RSS and the time it takes to merge the agents'
//! results into the mode's report are measured per fleet size, with every
//! request accounted once (merged count = sum of the agents' = the rate ×
//! the duration, none failed, none not run).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use loadlab_testkit::process::Running;

use crate::open_loop::delay_server;
use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Fleet sizes, one run each.
    #[arg(long, value_delimiter = ',', default_value = "8,32,64")]
    agents: Vec<u32>,
    /// Requests a second each agent sends.
    #[arg(long, default_value_t = 50)]
    per_agent: u32,
    /// How long each run's load lasts.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// What each request asks the delay server to wait, in ms.
    #[arg(long, default_value_t = 5)]
    delay_ms: u32,
}

/// One fleet size's figures.
struct Fleet {
    agents: u32,
    requests: u64,
    /// From the coordinator's start to its exit.
    wall: Duration,
    /// The coordinator's user + system time over the whole run.
    cpu: Duration,
    rss_bytes: u64,
    /// From the mode's last result in to its report out (the coordinator's
    /// own measure, logged at debug level).
    merge: Duration,
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let (_server, target) = delay_server(&[])?;
    let dir = tempfile_dir()?;
    let mut fleets = Vec::new();
    for &agents in &options.agents {
        eprintln!("fleet of {agents} agents...");
        fleets.push(fleet(&options, agents, &target, &dir)?);
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "one coordinator, N agent processes, {} req/s each for {:?} (async, open loop, ?ms={}):",
        options.per_agent, options.duration, options.delay_ms
    );
    println!(
        "  {:>6} {:>9} {:>8} {:>10} {:>11} {:>10} {:>12}",
        "agents", "requests", "wall", "CPU", "CPU share", "peak RSS", "merge"
    );
    for f in &fleets {
        println!(
            "  {:>6} {:>9} {:>6.2} s {:>8.3} s {:>10.1} % {:>7.1} MB {:>9.2} ms",
            f.agents,
            f.requests,
            f.wall.as_secs_f64(),
            f.cpu.as_secs_f64(),
            100.0 * f.cpu.as_secs_f64() / f.wall.as_secs_f64(),
            f.rss_bytes as f64 / 1e6,
            f.merge.as_secs_f64() * 1e3
        );
    }
    if let (Some(small), Some(large)) = (fleets.first(), fleets.last())
        && large.agents > small.agents
    {
        let more = f64::from(large.agents - small.agents);
        let per = |f: &dyn Fn(&Fleet) -> f64| (f(large) - f(small)) / more;
        let cpu = per(&|f| f.cpu.as_secs_f64());
        let rss = per(&|f| f.rss_bytes as f64);
        let merge = per(&|f| f.merge.as_secs_f64());
        println!(
            "  each agent more: {:.1} ms CPU over the run, {:.0} kB RSS, {:.3} ms of merge",
            cpu * 1e3,
            rss / 1e3,
            merge * 1e3
        );
        let at = |n: f64, f: &dyn Fn(&Fleet) -> f64, per: f64| {
            f(large) + per * (n - f64::from(large.agents))
        };
        println!(
            "  at 1,000 agents (linear from these): {:.1} s CPU over the run ({:.0} % of a core), {:.0} MB RSS, {:.0} ms of merge",
            at(1000.0, &|f| f.cpu.as_secs_f64(), cpu),
            100.0 * at(1000.0, &|f| f.cpu.as_secs_f64(), cpu) / large.wall.as_secs_f64(),
            at(1000.0, &|f| f.rss_bytes as f64, rss) / 1e6,
            at(1000.0, &|f| f.merge.as_secs_f64(), merge) * 1e3
        );
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("loadlab-bench-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn fleet(
    options: &Options,
    agents: u32,
    target: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Fleet> {
    let rate = u64::from(options.per_agent) * u64::from(agents);
    let expected = rate * options.duration.as_secs();
    ensure!(
        options.duration.subsec_nanos() == 0,
        "--duration must be whole seconds"
    );
    let spec = dir.join(format!("fleet-{agents}.yaml"));
    std::fs::write(
        &spec,
        format!(
            "name: fleet-{agents}\nmodes: [async]\nrequests:\n  - {{ id: A, path: /delay-me?ms={} }}\n\
             rate: {rate}/s\nduration: {}s\nagents: {{ count: {agents}, split: partition }}\ntimeout: 10s\n",
            options.delay_ms,
            options.duration.as_secs()
        ),
    )?;
    let json = dir.join(format!("fleet-{agents}.json"));
    let mut command = Command::new(sibling_binary("coordinator")?);
    command
        .arg("run")
        .arg(&spec)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--http-target",
            target,
        ])
        .arg("--json")
        .arg(&json)
        .env_remove("LOADLAB_TOKEN")
        // The coordinator's own measure of the merge, at debug level.
        .env("RUST_LOG", "warn,loadlab::merge=debug")
        .env("NO_COLOR", "1");
    let started = Instant::now();
    let mut coordinator = Running::spawn(command);
    let url = coordinator.url_after("listening for agents on ", Duration::from_secs(30));
    let _fleet: Vec<Running> = (0..agents)
        .map(|n| {
            let mut command = Command::new(sibling_binary("agent")?);
            command
                .args(["--coordinator", &url, "--name", &format!("agent-{n}")])
                .env_remove("LOADLAB_TOKEN")
                .env("RUST_LOG", "warn");
            Ok(Running::spawn(command))
        })
        .collect::<anyhow::Result<_>>()?;
    let timeout = options.duration + Duration::from_secs(120);
    let (code, cpu, rss_bytes) = coordinator.exit_measured(timeout);
    let wall = started.elapsed();
    if code != Some(0) {
        bail!(
            "the coordinator with {agents} agents exited {code:?}:\n{}",
            coordinator.stderr()
        );
    }
    let cpu = cpu.context("no CPU time for the coordinator")?;
    let rss_bytes = rss_bytes.context("no peak RSS for the coordinator")?;
    let merge = merge_time(&coordinator.stderr())
        .context("the coordinator logged no merge time (loadlab::merge at debug)")?;

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let mode = &report["modes"][0];
    let merged = mode["histogram"]["count"].as_u64().context("no count")?;
    let by_agent: Vec<u64> = mode["agents"]
        .as_array()
        .context("no agents")?
        .iter()
        .filter_map(|a| a["count"].as_u64())
        .collect();
    let errors = mode["errors"].as_u64().unwrap_or(0);
    let not_started = mode["not_started"].as_u64().unwrap_or(0);
    ensure!(
        by_agent.len() == agents as usize,
        "{} of {agents} agents in the report",
        by_agent.len()
    );
    ensure!(
        merged == by_agent.iter().sum::<u64>() && merged == expected,
        "requests not accounted once: merged {merged}, agents' sum {}, expected {expected}",
        by_agent.iter().sum::<u64>()
    );
    ensure!(
        errors == 0 && not_started == 0,
        "{errors} failed and {not_started} not run"
    );
    Ok(Fleet {
        agents,
        requests: merged,
        wall,
        cpu,
        rss_bytes,
        merge,
    })
}

/// The `elapsed_us=N` of the coordinator's `loadlab::merge` log line
/// (`merged the mode's results`).
fn merge_time(stderr: &str) -> Option<Duration> {
    stderr
        .lines()
        .filter(|line| line.contains("merged the mode's results"))
        .filter_map(|line| {
            let value = line.split("elapsed_us=").nth(1)?;
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .map(Duration::from_micros)
}
