//! `fidelity`: does loadlab add its own time to what it measures? One
//! delay-server process answering `?ms=1`; at each rate, loadlab's open loop
//! and oha's `-q RATE --latency-correction` (both count from the intended
//! start), alternated, each for `--duration`, best of `--runs`; then the
//! closed loop at a fixed concurrency beside oha's `-c`. Targets: loadlab p50
//! ≤ oha p50 + 0.1 ms and p99 ≤ 1.2 × oha p99; schedule lag p99 ≤ 1 ms up
//! to 4,000/s.

use std::time::Duration;

use serde_json::Value;

use crate::open_loop::{Percentiles, delay_server, loadlab, oha_percentiles, percentiles};

#[derive(Debug, clap::Args)]
pub struct FidelityOptions {
    /// The rates compared, per second.
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,4000,8000")]
    rates: Vec<u32>,
    /// How long each run lasts.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Runs per tool and rate; the best (lowest p50, lowest p99) counts.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Requests in flight at most in the open loop (oha's -c).
    #[arg(long, default_value_t = 200)]
    concurrency: u32,
    /// The closed loop's concurrency (oha's -c without -q).
    #[arg(long, default_value_t = 50)]
    closed_concurrency: u32,
}

/// The best of several runs: lowest p50 and lowest p99 apart.
#[derive(Debug, Clone, Copy)]
struct Best {
    p50: f64,
    p99: f64,
    lag_p99: f64,
    achieved: f64,
}

impl Best {
    fn new() -> Best {
        Best {
            p50: f64::INFINITY,
            p99: f64::INFINITY,
            lag_p99: f64::INFINITY,
            achieved: 0.0,
        }
    }
    fn add(&mut self, p: Percentiles, lag_p99: f64, achieved: f64) {
        self.p50 = self.p50.min(p[0]);
        self.p99 = self.p99.min(p[2]);
        self.lag_p99 = self.lag_p99.min(lag_p99);
        self.achieved = self.achieved.max(achieved);
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

pub fn fidelity(options: FidelityOptions) -> anyhow::Result<()> {
    if !crate::process::installed("oha") {
        anyhow::bail!("fidelity compares with oha: install it (cargo install oha --locked)");
    }
    let (_server, url) = delay_server(&[])?;
    let secs = options.duration.as_secs_f64();
    println!(
        "fidelity: one delay-server process, ?ms=1; {} s per run, best of {} (alternated); profile: {}",
        secs,
        options.runs,
        crate::process::profile()
    );
    println!(
        "  {:>7} | {:>17} | {:>17} | {:>9} | {:>10} | targets: p50 <= oha + 0.1 ms, p99 <= 1.2x oha, lag p99 <= 1 ms (to 4000/s)",
        "rate", "oha p50 / p99", "loadlab p50 / p99", "lag p99", "achieved"
    );
    for &rate in &options.rates {
        let spec = format!(
            "name: fidelity\nmodes: [async]\nrequests: [{{ id: R1, path: /delay-me?ms=1 }}]\n\
             rate: {rate}/s\nduration: {}ms\nconcurrency: {}\ntimeout: 10s\n",
            options.duration.as_millis(),
            options.concurrency
        );
        let (ours, theirs) = compare(&options, &spec, &url, Some(rate), options.concurrency)?;
        let p50_ok = ours.p50 <= theirs.p50 + 0.1;
        let p99_ok = ours.p99 <= 1.2 * theirs.p99;
        let lag_ok = rate > 4000 || ours.lag_p99 <= 1.0;
        println!(
            "  {rate:>5}/s | {:>6.2} / {:>6.2} ms | {:>6.2} / {:>6.2} ms | {:>6.2} ms | {:>7.0}/s | p50 {} ({:+.2} ms), p99 {} ({:.2}x), lag {}",
            theirs.p50,
            theirs.p99,
            ours.p50,
            ours.p99,
            ours.lag_p99,
            ours.achieved,
            met(p50_ok),
            ours.p50 - theirs.p50,
            met(p99_ok),
            ours.p99 / theirs.p99,
            if rate > 4000 {
                "(not a target)"
            } else {
                met(lag_ok)
            },
        );
    }

    // The closed loop: as many requests as fit, `closed_concurrency` at once.
    let c = options.closed_concurrency;
    let spec = format!(
        "name: fidelity-closed\nmodes: [async]\nrequests: [{{ id: R1, path: /delay-me?ms=1 }}]\n\
         users: {c}\nduration: {}ms\ntimeout: 10s\n",
        options.duration.as_millis()
    );
    let (ours, theirs) = compare(&options, &spec, &url, None, c)?;
    println!(
        "  closed loop, {c} at once: oha p50 / p99 {:.2} / {:.2} ms ({:.0}/s); loadlab {:.2} / {:.2} ms ({:.0}/s): p50 {} ({:+.2} ms), p99 {} ({:.2}x)",
        theirs.p50,
        theirs.p99,
        theirs.achieved,
        ours.p50,
        ours.p99,
        ours.achieved,
        met(ours.p50 <= theirs.p50 + 0.1),
        ours.p50 - theirs.p50,
        met(ours.p99 <= 1.2 * theirs.p99),
        ours.p99 / theirs.p99,
    );
    Ok(())
}

/// loadlab running `spec` and oha at `rate` (None: closed loop) with
/// `concurrency`, against `url`, `options.runs` times each, alternating
/// who goes first so neither always meets a warm server: the best of each.
fn compare(
    options: &FidelityOptions,
    spec: &str,
    url: &str,
    rate: Option<u32>,
    concurrency: u32,
) -> anyhow::Result<(Best, Best)> {
    let target = format!("{url}/delay-me?ms=1");
    let (mut ours, mut theirs) = (Best::new(), Best::new());
    for run in 0..options.runs {
        for ours_now in [run % 2 == 0, run % 2 == 1] {
            if ours_now {
                let mode = loadlab(spec, url)?;
                ours.add(
                    percentiles(&mode["histogram"]),
                    mode["schedule_lag"]["p99_ms"].as_f64().unwrap_or(f64::NAN),
                    mode["achieved_rate"].as_f64().unwrap_or(0.0),
                );
            } else {
                let report = oha_run(options, rate, concurrency, &target)?;
                theirs.add(oha_percentiles(&report), f64::NAN, rps(&report));
            }
        }
    }
    Ok((ours, theirs))
}

fn oha_run(
    options: &FidelityOptions,
    rate: Option<u32>,
    concurrency: u32,
    url: &str,
) -> anyhow::Result<Value> {
    let duration = humantime::format_duration(options.duration).to_string();
    let concurrency = concurrency.to_string();
    let mut args = vec!["-z", &duration, "-c", &concurrency];
    let rate = rate.map(|r| r.to_string());
    if let Some(rate) = &rate {
        args.extend(["-q", rate, "--latency-correction"]);
    }
    crate::process::oha(&args, url)
}

fn rps(report: &Value) -> f64 {
    report["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0)
}
