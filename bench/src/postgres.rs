//! The three slow queries at scale 1400, in each mode, next to `psql`
//! running the same three queries concurrently, in the same run.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// The spec with the queries (its dataset is seeded first if missing).
    #[arg(long, default_value = "experiments/postgres.yaml")]
    spec: PathBuf,
    /// The database (default: the spec's target or DATABASE_URL).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Target: async wall time / psql wall time.
    #[arg(long, default_value_t = 1.2)]
    max_ratio: f64,
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let coordinator = sibling_binary("coordinator")?;
    let report_path =
        std::env::temp_dir().join(format!("loadlab-pg-bench-{}.json", std::process::id()));
    let mut command = Command::new(&coordinator);
    command
        .arg("run")
        .arg(&options.spec)
        .args(["--quiet", "--json"])
        .arg(&report_path);
    if let Some(url) = &options.database_url {
        command.env("DATABASE_URL", url);
    }
    let status = command
        .stdout(Stdio::null())
        .status()
        .context("cannot run the coordinator")?;
    if !status.success() {
        bail!(
            "coordinator run {} failed ({status})",
            options.spec.display()
        );
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path)?)?;
    let _ = std::fs::remove_file(&report_path);

    let spec = &report["spec"];
    let url = spec["target"]["postgres"]
        .as_str()
        .map(str::to_owned)
        .or(options.database_url.clone())
        .context("no database URL in the spec; pass --database-url")?;
    let schema = spec["dataset"]["schema"].as_str().unwrap_or("public");
    let queries: Vec<String> = spec["queries"]
        .as_array()
        .context("the spec has no queries")?
        .iter()
        .filter_map(|q| q["sql"].as_str().map(str::to_owned))
        .collect();

    // psql: one process per query, all at once; rows fetched and discarded.
    let started = Instant::now();
    let children: Vec<_> = queries
        .iter()
        .map(|sql| {
            Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-o",
                    "/dev/null",
                    "-v",
                    "ON_ERROR_STOP=1",
                ])
                .arg("-d")
                .arg(&url)
                .arg("-c")
                .arg(format!("SET search_path = {schema}, public"))
                .arg("-c")
                .arg(sql)
                .stdout(Stdio::null())
                .spawn()
                .context("cannot start psql (apt-get install postgresql-client)")
        })
        .collect::<anyhow::Result<_>>()?;
    for child in children {
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("psql failed: {}", output.status);
        }
    }
    let psql_ms = started.elapsed().as_secs_f64() * 1e3;

    println!(
        "postgres: {} queries of {}, each mode vs psql running them concurrently",
        queries.len(),
        options.spec.display()
    );
    println!("  {:<9} {:>11} {:>13}", "", "wall", "vs psql");
    println!("  {:<9} {:>9.0} ms {:>12}", "psql", psql_ms, "1.00x");
    for mode in report["modes"].as_array().context("no modes")? {
        let name = mode["mode"].as_str().unwrap_or("?");
        let wall = mode["wall_ms"].as_f64().unwrap_or(f64::NAN);
        let ratio = wall / psql_ms;
        let verdict = match name {
            "async" if ratio <= options.max_ratio => {
                format!("(target <= {:.1}x) ok", options.max_ratio)
            }
            "async" => format!("(target <= {:.1}x) MISSED", options.max_ratio),
            _ => String::new(),
        };
        println!("  {name:<9} {wall:>9.0} ms {ratio:>11.2}x  {verdict}");
    }
    Ok(())
}
