//! `bench`: loadlab's benchmarks. Build with `--release`; each benchmark runs
//! the component under test as a separate process and prints its figures next
//! to the target they are held to.

mod delay_server;
mod fidelity;
mod fleet;
mod merge;
mod minimal_server;
mod open_loop;
mod postgres;
mod precision;
mod process;
mod scale;
mod stats;
mod tracing_cost;
mod tracking;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    version,
    about = "loadlab benchmarks (run with --release)"
)]
struct Args {
    #[command(subcommand)]
    benchmark: Benchmark,
}

#[derive(Debug, Subcommand)]
enum Benchmark {
    /// N concurrent delayed requests against a `delay-server` process and
    /// against a minimal hyper server, alternated: latency percentiles,
    /// CPU and peak RSS side by side.
    DelayServer(delay_server::Options),
    /// The yardstick `delay-server` runs as a process: hyper and one
    /// `tokio::time::sleep` per request.
    #[command(hide = true)]
    MinimalServer(minimal_server::Options),
    /// Wall time of each mode against the requested delays (sum or slowest),
    /// median of several `coordinator run`s.
    Precision(precision::Options),
    /// The coordinator's run loop with N stand-in agents on its gRPC hub,
    /// each answering with tallies of M requests: hand out, receive, check,
    /// decode, merge and render the report.
    Merge(merge::Options),
    /// The same load run with span export off and on, as a throughput ratio.
    Tracing(tracing_cost::Options),
    /// The slow SQL queries in each mode next to psql running them
    /// concurrently, in the same run.
    Postgres(postgres::Options),
    /// A server that freezes now and then, loaded closed-loop, open-loop
    /// and by oha with latency correction, side by side.
    CoordinatedOmission(open_loop::OmissionOptions),
    /// How closely the open loop keeps to its rate, and the highest rate
    /// it keeps to.
    Schedule(open_loop::ScheduleOptions),
    /// Requests per second against oha and wrk on one delay server.
    Throughput(scale::ThroughputOptions),
    /// loadlab's latencies beside oha's against one server at fixed rates
    /// (open loop) and a fixed concurrency (closed loop): what loadlab adds.
    Fidelity(fidelity::FidelityOptions),
    /// One coordinator and N agent processes (8, 32, 64): its CPU, peak
    /// RSS and merge time per agent, every request accounted once.
    Fleet(fleet::Options),
    /// The coordinator's memory and JSON for 200,000 vs 2,000,000 requests.
    Memory(scale::MemoryOptions),
    /// The tracker as its own process under the tracking workload, mode by
    /// mode, beside a minimal Python aiohttp tracker.
    Tracking(tracking::Options),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Which build is measured: figures of `release` and `dist` differ.
    eprintln!("bench: binaries of the `{}` profile", process::profile());
    match args.benchmark {
        Benchmark::DelayServer(options) => delay_server::run(options),
        Benchmark::MinimalServer(options) => minimal_server::serve(options),
        Benchmark::Precision(options) => precision::run(options),
        Benchmark::Postgres(options) => postgres::run(options),
        Benchmark::Merge(options) => merge::run(options),
        Benchmark::Tracing(options) => tracing_cost::run(options),
        Benchmark::CoordinatedOmission(options) => open_loop::coordinated_omission(options),
        Benchmark::Schedule(options) => open_loop::schedule(options),
        Benchmark::Throughput(options) => scale::throughput(options),
        Benchmark::Fidelity(options) => fidelity::fidelity(options),
        Benchmark::Fleet(options) => fleet::run(options),
        Benchmark::Memory(options) => scale::memory(options),
        Benchmark::Tracking(options) => tracking::run(options),
    }
}
