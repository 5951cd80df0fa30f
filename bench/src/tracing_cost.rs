//! What tracing costs: the same load run with span export off and on,
//! alternated in one run, against an OTLP/gRPC collector in this process
//! that counts what it receives. Goal: at most 5% lower throughput on.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use loadlab_testkit::otlp::Collector;
use serde_json::Value;

use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// The load spec to run.
    #[arg(long, default_value = "experiments/http-load.yaml")]
    spec: PathBuf,
    /// Runs with export off and on each (alternated); medians are compared.
    /// Short runs on a shared machine vary by several percent: nine make the
    /// median steady.
    #[arg(long, default_value_t = 9)]
    runs: usize,
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let coordinator = sibling_binary("coordinator")?;
    let (counter, endpoint, _runtime) = Collector::start_counting();

    let json = std::env::temp_dir().join(format!("loadlab-tracing-{}.json", std::process::id()));
    // mode -> (throughputs off, throughputs on), requests per second
    let mut figures: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut spans_per_run = Vec::new();
    for run in 0..options.runs * 2 {
        let traced = run % 2 == 1;
        let before = counter.count();
        let mut command = Command::new(&coordinator);
        command
            .arg("run")
            .arg(&options.spec)
            .args(["--quiet", "--json"])
            .arg(&json)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        if traced {
            command.args(["--otlp-endpoint", &endpoint]);
        }
        let status = command
            .stdout(std::process::Stdio::null())
            .status()
            .context("cannot run the coordinator")?;
        if !status.success() {
            bail!("coordinator run failed: {status}");
        }
        if traced {
            spans_per_run.push(counter.count() - before);
        }
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
        for mode in report["modes"].as_array().context("no modes")? {
            let name = mode["mode"].as_str().unwrap_or("?").to_owned();
            let count = mode["histogram"]["count"].as_f64().unwrap_or(0.0);
            let throughput = count / (mode["wall_ms"].as_f64().unwrap_or(1.0) / 1e3);
            let entry = match figures.iter_mut().find(|(m, _, _)| *m == name) {
                Some(entry) => entry,
                None => {
                    figures.push((name, Vec::new(), Vec::new()));
                    figures.last_mut().expect("just pushed")
                }
            };
            if traced {
                entry.2.push(throughput);
            } else {
                entry.1.push(throughput);
            }
        }
    }
    let _ = std::fs::remove_file(&json);
    println!(
        "tracing cost: {} ({} runs each, off and on alternated; median requests/s)",
        options.spec.display(),
        options.runs
    );
    for (mode, off, on) in &figures {
        let (off, on) = (crate::stats::median(off), crate::stats::median(on));
        let ratio = on / off;
        println!(
            "  {mode:<8} off {off:>8.0}/s  on {on:>8.0}/s  on/off {ratio:.3}  ({})",
            if ratio >= 0.95 {
                "met: ≤ 5% lower"
            } else {
                "MISSED: > 5% lower"
            }
        );
    }
    println!("  spans received per traced run: {spans_per_run:?}");
    Ok(())
}
