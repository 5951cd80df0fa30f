//! Open-loop benchmarks.
//!
//! `coordinated-omission`: a delay-server process that freezes for 1 s
//! every 4 s, loaded in one run by loadlab in a closed loop, loadlab in an
//! open loop, and oha with `-q RATE --latency-correction` (when installed:
//! `cargo install oha --locked`), side by side.
//!
//! `schedule`: how closely the open loop keeps to its rate against a
//! delay-server process answering at once: achieved rate and schedule lag
//! at 2,000/s, then the highest rate whose lag p99 stays within 5 ms, and
//! at that rate loadlab's open loop beside oha's `-q` on the same server.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use loadlab_testkit::process::Running;
use serde_json::Value;

use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct OmissionOptions {
    /// Rounds per second of the open loop (and oha's -q).
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// How long each run lasts.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Requests in flight at most (the closed loop's concurrency, oha's -c).
    #[arg(long, default_value_t = 4)]
    concurrency: u32,
    /// The server freezes for --hiccup-for every --hiccup-every.
    #[arg(long, default_value = "4s", value_parser = humantime::parse_duration)]
    hiccup_every: Duration,
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    hiccup_for: Duration,
}

#[derive(Debug, clap::Args)]
pub struct ScheduleOptions {
    /// The rate checked against the targets (achieved within 2%, lag p99 ≤ 5 ms).
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Then the rates tried, each for --probe-for, until lag p99 passes 5 ms.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5000,10000,14000,16000,18000,20000,40000"
    )]
    probe: Vec<u32>,
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    probe_for: Duration,
}

/// A delay-server process with `args`, and its URL.
pub(crate) fn delay_server(args: &[&str]) -> anyhow::Result<(Running, String)> {
    let mut command = Command::new(sibling_binary("delay-server")?);
    command
        .args(["--listen", "127.0.0.1:0", "--max-connections", "20000"])
        .args(args)
        .env("RUST_LOG", "warn");
    let server = Running::spawn(command);
    let url = server.url_after("listening on ", Duration::from_secs(10));
    Ok((server, url))
}

/// Runs `spec` (YAML) with the release coordinator against `target`;
/// returns its first mode's report.
pub(crate) fn loadlab(spec: &str, target: &str) -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("loadlab-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (spec_path, json) = (dir.join("spec.yaml"), dir.join("run.json"));
    std::fs::write(&spec_path, spec)?;
    let out = Command::new(sibling_binary("coordinator")?)
        .arg("run")
        .arg(&spec_path)
        .args(["--quiet", "--http-target", target, "--json"])
        .arg(&json)
        .output()
        .context("cannot run the coordinator")?;
    if !out.status.success() {
        bail!(
            "coordinator run failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report["modes"][0].clone())
}

/// p50, p90, p99, max in milliseconds.
pub(crate) type Percentiles = [f64; 4];

pub(crate) fn percentiles(summary: &Value) -> Percentiles {
    ["p50_ms", "p90_ms", "p99_ms", "max_ms"].map(|f| summary[f].as_f64().unwrap_or(f64::NAN))
}

/// oha at `rate`/s with latency correction, if it is installed.
fn oha(options: &OmissionOptions, url: &str) -> anyhow::Result<Option<Percentiles>> {
    if !crate::process::installed("oha") {
        return Ok(None);
    }
    let (duration, concurrency, rate) = (
        format!("{}s", options.duration.as_secs()),
        options.concurrency.to_string(),
        options.rate.to_string(),
    );
    let report = crate::process::oha(
        &[
            "--latency-correction",
            "-z",
            &duration,
            "-c",
            &concurrency,
            "-q",
            &rate,
        ],
        &format!("{url}/delay-me?ms=1"),
    )?;
    Ok(Some(oha_percentiles(&report)))
}

pub fn coordinated_omission(options: OmissionOptions) -> anyhow::Result<()> {
    let every = humantime::format_duration(options.hiccup_every).to_string();
    let pause = humantime::format_duration(options.hiccup_for).to_string();
    let (_server, url) = delay_server(&["--hiccup-every", &every, "--hiccup-for", &pause])?;
    let secs = options.duration.as_secs_f64();
    // The closed loop sends as fast as its slots free: about as many rounds
    // as fit in the same time at ~1.25 ms each, so it meets the hiccups too.
    let closed_rounds = (secs * f64::from(options.concurrency) * 800.0) as u64;
    let closed = loadlab(
        &format!(
            "name: closed\nmodes: [async]\nrequests: [{{ id: R1, path: /delay-me?ms=1 }}]\n\
             repeat: {closed_rounds}\nconcurrency: {}\ntimeout: 30s\n",
            options.concurrency
        ),
        &url,
    )?;
    let open = loadlab(
        &format!(
            "name: open\nmodes: [async]\nrequests: [{{ id: R1, path: /delay-me?ms=1 }}]\n\
             rate: {}/s\nduration: {}s\nconcurrency: {}\ntimeout: 30s\n",
            options.rate, secs, options.concurrency
        ),
        &url,
    )?;
    let oha = oha(&options, &url)?;

    println!(
        "coordinated omission: a server frozen {pause} every {every}, 1 ms requests; {} in flight at most",
        options.concurrency
    );
    println!(
        "  {:<42} {:>10} {:>10} {:>10} {:>10}",
        "", "p50", "p90", "p99", "max"
    );
    let row = |name: &str, p: Percentiles| {
        println!(
            "  {name:<42} {:>7.1} ms {:>7.1} ms {:>7.1} ms {:>7.1} ms",
            p[0], p[1], p[2], p[3]
        );
    };
    row(
        &format!(
            "loadlab closed loop ({} req, {:.1} s)",
            closed["histogram"]["count"],
            closed["wall_ms"].as_f64().unwrap_or(0.0) / 1e3
        ),
        percentiles(&closed["histogram"]),
    );
    let open_response = percentiles(&open["histogram"]);
    row(
        &format!("loadlab open loop {}/s, response", options.rate),
        open_response,
    );
    row("  its service time", percentiles(&open["service_time"]));
    row("  its schedule lag", percentiles(&open["schedule_lag"]));
    match oha {
        Some(oha) => {
            row(
                &format!("oha -q {} --latency-correction", options.rate),
                oha,
            );
            let ratio = |i: usize| open_response[i] / oha[i];
            println!(
                "  open loop / oha: p90 {:.2}, p99 {:.2} (target within 10%: {})",
                ratio(1),
                ratio(2),
                if (ratio(1) - 1.0).abs() <= 0.1 && (ratio(2) - 1.0).abs() <= 0.1 {
                    "met"
                } else {
                    "MISSED"
                }
            );
        }
        None => println!("  oha: not installed (cargo install oha --locked)"),
    }
    Ok(())
}

pub fn schedule(options: ScheduleOptions) -> anyhow::Result<()> {
    let (_server, url) = delay_server(&[])?;
    let measure = |rate: u32, duration: Duration| -> anyhow::Result<((f64, Value), f64, f64)> {
        let mode = loadlab(
            &format!(
                "name: schedule\nmodes: [async]\nrequests: [{{ id: R1, path: /delay-me?ms=0 }}]\n\
                 rate: {rate}/s\nduration: {}ms\ntimeout: 10s\n",
                duration.as_millis()
            ),
            &url,
        )?;
        let achieved = mode["achieved_rate"].as_f64().unwrap_or(0.0);
        Ok((
            (achieved, mode["histogram"].clone()),
            mode["schedule_lag"]["p99_ms"].as_f64().unwrap_or(f64::NAN),
            mode["schedule_lag"]["max_ms"].as_f64().unwrap_or(f64::NAN),
        ))
    };
    let ((achieved, _), lag_p99, lag_max) = measure(options.rate, options.duration)?;
    let off = (achieved / f64::from(options.rate) - 1.0) * 100.0;
    println!(
        "schedule: {}/s for {:?}: achieved {achieved:.0}/s ({off:+.1}%, target within 2%: {}), \
         lag p99 {lag_p99:.2} ms (target <= 5 ms: {}), max {lag_max:.1} ms",
        options.rate,
        options.duration,
        if off.abs() <= 2.0 { "met" } else { "MISSED" },
        if lag_p99 <= 5.0 { "met" } else { "MISSED" },
    );
    let mut highest = None;
    for rate in options.probe {
        let ((achieved, _), lag_p99, _) = measure(rate, options.probe_for)?;
        println!("  {rate:>6}/s: achieved {achieved:>8.0}/s, lag p99 {lag_p99:>8.2} ms");
        if lag_p99 > 5.0 {
            break;
        }
        highest = Some(rate);
    }
    let Some(rate) = highest else {
        println!("  no rate tried kept lag p99 within 5 ms");
        return Ok(());
    };
    println!("  highest rate tried with lag p99 <= 5 ms: {rate}/s");
    // The same rate, the same server: loadlab's open loop beside oha's -q
    // (with latency correction, so both count from the intended start).
    let (mode, _, _) = measure(rate, options.probe_for)?;
    let ours = percentiles(&mode.1);
    println!(
        "  at {rate}/s for {:?}: loadlab achieved {:>8.0}/s, response p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        options.probe_for, mode.0, ours[0], ours[2], ours[3]
    );
    match oha_at(rate, options.probe_for, &url)? {
        Some((achieved, theirs)) => println!(
            "  at {rate}/s for {:?}: oha     achieved {achieved:>8.0}/s, response p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            options.probe_for, theirs[0], theirs[2], theirs[3]
        ),
        None => println!("  oha: not installed (cargo install oha --locked)"),
    }
    Ok(())
}

/// oha at `rate`/s for `duration` with latency correction and 50
/// connections against `url`'s `/delay-me?ms=0`: its achieved rate and
/// percentiles, if oha is installed.
fn oha_at(rate: u32, duration: Duration, url: &str) -> anyhow::Result<Option<(f64, Percentiles)>> {
    if !crate::process::installed("oha") {
        return Ok(None);
    }
    let (duration, rate) = (format!("{}ms", duration.as_millis()), rate.to_string());
    let report = crate::process::oha(
        &[
            "--latency-correction",
            "-z",
            &duration,
            "-c",
            "50",
            "-q",
            &rate,
        ],
        &format!("{url}/delay-me?ms=0"),
    )?;
    let achieved = report["summary"]["requestsPerSec"]
        .as_f64()
        .unwrap_or(f64::NAN);
    Ok(Some((achieved, oha_percentiles(&report))))
}

/// p50, p90, p99 and max from oha's JSON (which gives seconds).
pub(crate) fn oha_percentiles(report: &Value) -> Percentiles {
    let p = &report["latencyPercentiles"];
    let ms = |v: &Value| v.as_f64().unwrap_or(f64::NAN) * 1e3;
    [
        ms(&p["p50"]),
        ms(&p["p90"]),
        ms(&p["p99"]),
        ms(&report["summary"]["slowest"]),
    ]
}
