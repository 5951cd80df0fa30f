//! Scale and speed.
//!
//! `throughput`: loadlab's async mode against oha (and wrk, where
//! installed) on one delay-server process answering at once, with the same
//! connections, alternated, best of N each, as ratios.
//!
//! `memory`: the coordinator's peak memory and JSON size for a run of
//! 200,000 requests and one of 2,000,000: what it holds must not grow with
//! the number of requests.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use loadlab_testkit::process::{Running, cpu_time, peak_rss_bytes};
use serde_json::Value;

use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct ThroughputOptions {
    /// Requests per loadlab and oha run.
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// Connections (loadlab's concurrency, oha's and wrk's -c).
    #[arg(long, default_value_t = 50)]
    connections: u32,
    /// Runs of each tool, alternated; the best counts (for the scenario's
    /// cost, the median of the side-by-side pairs).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

#[derive(Debug, clap::Args)]
pub struct MemoryOptions {
    #[arg(long, default_value_t = 200_000)]
    small: u64,
    #[arg(long, default_value_t = 2_000_000)]
    large: u64,
    #[arg(long, default_value_t = 50)]
    connections: u32,
}

/// A delay-server process answering at once, and its URL.
fn server() -> anyhow::Result<(Running, String)> {
    let mut command = Command::new(sibling_binary("delay-server")?);
    command
        .args(["--listen", "127.0.0.1:0", "--max-connections", "20000"])
        .env("RUST_LOG", "warn");
    let server = Running::spawn(command);
    let url = server.url_after("listening on ", Duration::from_secs(10));
    Ok((server, url))
}

/// A closed-loop spec of `requests` × 0 ms at `connections` in flight.
fn spec(requests: u64, connections: u32) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!(
        "loadlab-scale-{}-{requests}.yaml",
        std::process::id()
    ));
    std::fs::write(
        &path,
        format!(
            "name: scale\nmodes: [async]\nrequests: [{{ id: R1, path: /delay-me?ms=0 }}]\n\
             repeat: {requests}\nconcurrency: {connections}\ntimeout: 10s\n"
        ),
    )?;
    Ok(path)
}

/// The same load as [`spec`] (as many requests), as a scenario of two
/// steps: the first's path is a template that reads a data row and draws a
/// number, its header comes from the row, and its reply sets a cookie
/// (the delay server's `cookie=`), which the iteration's jar keeps and the
/// second step sends back.
fn scenario_spec(
    requests: u64,
    connections: u32,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let stem = format!("loadlab-scale-{}-{requests}", std::process::id());
    let data = std::env::temp_dir().join(format!("{stem}.csv"));
    let mut rows = "user,password\n".to_owned();
    for n in 0..1_000 {
        rows.push_str(&format!("user{n},pw-{n}\n"));
    }
    std::fs::write(&data, rows)?;
    let path = std::env::temp_dir().join(format!("{stem}-scenario.yaml"));
    let iterations = requests.div_ceil(2);
    std::fs::write(
        &path,
        format!(
            "name: scale-scenario\nmodes: [async]\nrepeat: {iterations}\nconcurrency: {connections}\n\
             timeout: 10s\ndata: {{ file: {} }}\nscenarios:\n  s:\n    steps:\n\
             \x20     - {{ id: R1, path: \"/delay-me?ms=0&cookie=session&user={{{{ row.user }}}}&n={{{{ random(1, 1000) }}}}\", \
             headers: {{ X-User: \"{{{{ row.user }}}}\" }} }}\n\
             \x20     - {{ id: R2, path: /delay-me?ms=0 }}\n",
            data.display()
        ),
    )?;
    Ok((path, data))
}

/// What one coordinator run reported and cost.
struct Ran {
    /// The report's first mode.
    mode: Value,
    peak_rss: u64,
    json_bytes: u64,
    /// The coordinator's CPU time (user and system), as last read before it
    /// exited (read every 20 ms: its last moments, writing the report, may
    /// be missed).
    cpu: Duration,
}

/// Runs the coordinator on `spec` against `target`, watching its memory
/// and CPU.
fn coordinator(spec: &std::path::Path, target: &str) -> anyhow::Result<Ran> {
    let json = spec.with_extension("json");
    let mut child = Command::new(sibling_binary("coordinator")?)
        .arg("run")
        .arg(spec)
        .args(["--quiet", "--http-target", target, "--json"])
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot run the coordinator")?;
    let (mut peak, mut cpu) = (0, Duration::ZERO);
    let status = loop {
        if let Some(rss) = peak_rss_bytes(child.id()) {
            peak = peak.max(rss);
        }
        if let Some(used) = cpu_time(child.id()) {
            cpu = cpu.max(used);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if !status.success() {
        bail!("coordinator run failed: {status}");
    }
    let size = std::fs::metadata(&json)?.len();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let _ = std::fs::remove_file(&json);
    Ok(Ran {
        mode: report["modes"][0].clone(),
        peak_rss: peak,
        json_bytes: size,
        cpu,
    })
}

/// CPU per request, in µs, of the generator (the coordinator with its
/// in-process agent) and of the server, over one run.
#[derive(Debug, Clone, Copy)]
struct CpuPerRequest {
    generator: f64,
    server: f64,
}

impl CpuPerRequest {
    fn of(ran: &Ran, server: Duration) -> CpuPerRequest {
        let requests = ran.mode["histogram"]["count"]
            .as_f64()
            .unwrap_or(0.0)
            .max(1.0);
        CpuPerRequest {
            generator: ran.cpu.as_secs_f64() * 1e6 / requests,
            server: server.as_secs_f64() * 1e6 / requests,
        }
    }
}

/// Runs the coordinator as [`coordinator`] does, and what the server's
/// process used meanwhile.
fn measured(
    spec: &std::path::Path,
    target: &str,
    server: &Running,
) -> anyhow::Result<(Ran, CpuPerRequest)> {
    let before = server.cpu_time().context("no CPU time for the server")?;
    let ran = coordinator(spec, target)?;
    let after = server.cpu_time().context("no CPU time for the server")?;
    let cpu = CpuPerRequest::of(&ran, after.saturating_sub(before));
    Ok((ran, cpu))
}

fn oha(url: &str, requests: u64, connections: u32) -> anyhow::Result<f64> {
    let (requests, connections) = (requests.to_string(), connections.to_string());
    crate::process::oha(&["-n", &requests, "-c", &connections], url)?["summary"]["requestsPerSec"]
        .as_f64()
        .context("no requestsPerSec in oha's JSON")
}

fn wrk(url: &str, connections: u32, duration: Duration) -> anyhow::Result<f64> {
    let out = Command::new("wrk")
        .args(["-t1", "-c", &connections.to_string()])
        .args(["-d", &format!("{}s", duration.as_secs().max(2))])
        .arg(url)
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no Requests/sec in wrk's output")
}

pub fn throughput(options: ThroughputOptions) -> anyhow::Result<()> {
    if options.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let (server, base) = server()?;
    let url = format!("{base}/delay-me?ms=0");
    let spec = spec(options.requests, options.connections)?;
    let (has_oha, has_wrk) = (
        crate::process::installed("oha"),
        crate::process::installed("wrk"),
    );
    let (scenario, data) = scenario_spec(options.requests, options.connections)?;
    let (mut loadlab_best, mut oha_best, mut wrk_best) = (0.0f64, 0.0f64, 0.0f64);
    let mut scenario_best = 0.0f64;
    // The scenario's cost is judged pair by pair: each scenario run beside
    // a plain one, the order swapped every other pair, so that a machine
    // busier in one minute than the next weighs on both sides alike.
    let mut pairs = Vec::new();
    let rps = |mode: &Value| {
        let count = mode["histogram"]["count"].as_f64().unwrap_or(0.0);
        count / (mode["wall_ms"].as_f64().unwrap_or(f64::MAX) / 1e3)
    };
    // CPU per request of each side, plain and as a scenario, pair by pair:
    // where the scenario's extra cost goes (the server shares the cores).
    let mut cpu: Vec<(CpuPerRequest, CpuPerRequest)> = Vec::new();
    let scenario_run = || -> anyhow::Result<(f64, CpuPerRequest)> {
        let (Ran { mode, .. }, cpu) = measured(&scenario, &base, &server)?;
        let failed = ["R1", "R2"]
            .iter()
            .any(|id| mode["by_request"][id]["errors"].as_u64() != Some(0));
        if failed {
            bail!(
                "the scenario's requests failed: {}",
                mode["errors_by_reason"]
            );
        }
        Ok((rps(&mode), cpu))
    };
    for run in 0..options.runs {
        let scenario_first = run % 2 == 1;
        let earlier = if scenario_first {
            Some(scenario_run()?)
        } else {
            None
        };
        let started = Instant::now();
        let (Ran { mode, .. }, plain_cpu) = measured(&spec, &base, &server)?;
        let took = started.elapsed();
        let plain = rps(&mode);
        if plain <= 0.0 {
            bail!(
                "the plain run reported no requests/s: {}",
                mode["errors_by_reason"]
            );
        }
        let (as_scenario, scenario_cpu) = match earlier {
            Some(ran) => ran,
            None => scenario_run()?,
        };
        cpu.push((plain_cpu, scenario_cpu));
        loadlab_best = loadlab_best.max(plain);
        scenario_best = scenario_best.max(as_scenario);
        pairs.push(as_scenario / plain);
        if has_oha {
            oha_best = oha_best.max(oha(&url, options.requests, options.connections)?);
        }
        if has_wrk {
            wrk_best = wrk_best.max(wrk(&url, options.connections, took)?);
        }
    }
    let _ = std::fs::remove_file(&spec);
    let _ = std::fs::remove_file(&scenario);
    let _ = std::fs::remove_file(&data);
    println!(
        "throughput: {} × 0 ms at {} connections, best of {} (requests/s)",
        options.requests, options.connections, options.runs
    );
    println!("  loadlab async  {loadlab_best:>9.0}");
    let each: Vec<String> = pairs.iter().map(|r| format!("{r:.2}")).collect();
    let ratio = crate::stats::median(&pairs);
    println!(
        "  as a scenario  {scenario_best:>9.0}   templated path and header from a data row, cookie jar: \
         scenario/plain {ratio:.2}, the median of {} side-by-side pairs (in run order: {}) (target >= 0.9: {})",
        pairs.len(),
        each.join(", "),
        if ratio >= 0.9 { "met" } else { "MISSED" }
    );
    let median_of = |f: &dyn Fn(&(CpuPerRequest, CpuPerRequest)) -> f64| {
        crate::stats::median(&cpu.iter().map(f).collect::<Vec<_>>())
    };
    let (plain_generator, plain_server) = (
        median_of(&|(p, _)| p.generator),
        median_of(&|(p, _)| p.server),
    );
    let (scenario_generator, scenario_server) = (
        median_of(&|(_, s)| s.generator),
        median_of(&|(_, s)| s.server),
    );
    println!(
        "  CPU per request (µs, medians): plain: generator {plain_generator:.1}, server {plain_server:.1}; \
         as a scenario: generator {scenario_generator:.1} ({:+.1}), server {scenario_server:.1} ({:+.1})",
        scenario_generator - plain_generator,
        scenario_server - plain_server,
    );
    if has_oha {
        let ratio = loadlab_best / oha_best;
        println!(
            "  oha            {oha_best:>9.0}   loadlab/oha {ratio:.2} (target >= 1.0: {})",
            if ratio >= 1.0 { "met" } else { "MISSED" }
        );
    } else {
        println!("  oha            not installed (cargo install oha --locked)");
    }
    if has_wrk {
        let ratio = loadlab_best / wrk_best;
        println!(
            "  wrk -t1        {wrk_best:>9.0}   loadlab/wrk {ratio:.2} (target >= 0.9: {})",
            if ratio >= 0.9 { "met" } else { "MISSED" }
        );
    } else {
        println!("  wrk            not installed (apt-get install wrk)");
    }
    Ok(())
}

pub fn memory(options: MemoryOptions) -> anyhow::Result<()> {
    let (server, base) = server()?;
    let mut rows = Vec::new();
    for requests in [options.small, options.large] {
        let spec = spec(requests, options.connections)?;
        let Ran {
            mode,
            peak_rss: peak,
            json_bytes: json,
            ..
        } = coordinator(&spec, &base)?;
        let _ = std::fs::remove_file(&spec);
        let count = mode["histogram"]["count"].as_u64().unwrap_or(0);
        if count != requests {
            bail!("{requests} requests asked, {count} reported");
        }
        rows.push((
            requests,
            peak,
            json,
            mode["wall_ms"].as_f64().unwrap_or(0.0),
        ));
    }
    let server_peak = server.peak_rss_bytes().unwrap_or(0);
    let mb = |b: u64| b as f64 / 1e6;
    println!("memory: the coordinator (with its in-process agent) and its JSON");
    for (requests, peak, json, wall) in &rows {
        println!(
            "  {requests:>9} requests  peak RSS {:>7.1} MB  JSON {:>6.2} MB  ({:.1} s)",
            mb(*peak),
            mb(*json),
            wall / 1e3
        );
    }
    let (small, large) = (rows[0].1 as f64, rows[1].1 as f64);
    let ratio = large / small;
    println!(
        "  {}× the requests: {ratio:.2}× the memory (target <= 1.3: {}); large run {:.1} MB (target <= 150 MB: {}), JSON {:.2} MB (target <= 20 MB: {})",
        options.large / options.small.max(1),
        if ratio <= 1.3 { "met" } else { "MISSED" },
        mb(rows[1].1),
        if mb(rows[1].1) <= 150.0 {
            "met"
        } else {
            "MISSED"
        },
        mb(rows[1].2),
        if mb(rows[1].2) <= 20.0 {
            "met"
        } else {
            "MISSED"
        },
    );
    println!("  delay server peak RSS {:.1} MB", mb(server_peak));
    Ok(())
}
