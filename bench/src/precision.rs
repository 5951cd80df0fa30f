//! How close loadlab's wall times come to the waits themselves: runs a spec
//! with the `coordinator` binary several times and reports, per mode, the
//! median excess of the wall time over what the requested delays imply
//! (their sum for sync and blocking, the slowest for async and threads).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// The spec to run.
    #[arg(long, default_value = "experiments/http-quick.yaml")]
    spec: PathBuf,
    /// Runs to take the median of.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Targets: async exceeds the slowest by at most 2 ms, sync the sum by 5 ms.
fn target_ms(mode: &str) -> f64 {
    match mode {
        "async" | "threads" => 2.0,
        _ => 5.0,
    }
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let coordinator = sibling_binary("coordinator")?;
    let report_path =
        std::env::temp_dir().join(format!("loadlab-precision-{}.json", std::process::id()));
    let mut excess: Vec<(String, Vec<f64>)> = Vec::new();
    for run in 0..options.runs {
        let status = Command::new(&coordinator)
            .arg("run")
            .arg(&options.spec)
            .args(["--quiet", "--json"])
            .arg(&report_path)
            .stdout(std::process::Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", coordinator.display()))?;
        if !status.success() {
            bail!(
                "run {} of {} failed: {status}",
                run + 1,
                options.spec.display()
            );
        }
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path)?)?;
        let delays = requested_delays_ms(&report)?;
        let (sum, max) = (
            delays.iter().sum::<f64>(),
            delays.iter().cloned().fold(0.0, f64::max),
        );
        for mode in report["modes"]
            .as_array()
            .context("no modes in the report")?
        {
            let name = mode["mode"].as_str().unwrap_or("?").to_owned();
            let wall = mode["wall_ms"].as_f64().context("no wall_ms")?;
            let ideal = if matches!(name.as_str(), "async" | "threads") {
                max
            } else {
                sum
            };
            match excess.iter_mut().find(|(m, _)| *m == name) {
                Some((_, values)) => values.push(wall - ideal),
                None => excess.push((name, vec![wall - ideal])),
            }
        }
    }
    let _ = std::fs::remove_file(&report_path);
    println!(
        "precision: {} runs of {}",
        options.runs,
        options.spec.display()
    );
    println!(
        "  {:<9} {:>14} {:>14} {:>10}",
        "mode", "median excess", "worst excess", "target"
    );
    for (mode, values) in excess {
        let median = crate::stats::median(&values);
        let worst = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let target = target_ms(&mode);
        let verdict = if median <= target { "ok" } else { "MISSED" };
        println!(
            "  {mode:<9} {median:>11.2} ms {worst:>11.2} ms {:>7.0} ms  {verdict}",
            target
        );
    }
    Ok(())
}

/// The delay each request of one round asks for, read from the spec in the
/// report exactly as the delay server reads it.
fn requested_delays_ms(report: &Value) -> anyhow::Result<Vec<f64>> {
    let requests = report["spec"]["requests"]
        .as_array()
        .context("no requests in the spec")?;
    requests
        .iter()
        .map(|r| {
            let path = r["path"].as_str().context("request without a path")?;
            let query = path.split_once('?').map(|(_, q)| q);
            let delay = delay_server::Delay::from_query(query, Duration::MAX)
                .with_context(|| format!("{path}: no delay the delay server understands"))?;
            Ok(delay.duration.as_secs_f64() * 1e3)
        })
        .collect()
}
