//! What a big fleet costs the coordinator at the end of a mode: N stand-in
//! agents (in-process, each on its own gRPC connection to the real hub)
//! answer their assignments at once with a `Progress` carrying the tally
//! of M requests (three histograms), for the mode and for its request; the
//! coordinator's own run loop (`experiment::run`, as in any run) hands out
//! the assignments, receives, checks, decodes and merges what comes back,
//! and the report is rendered. Target: under 1 s for 100 agents × 100,000
//! samples.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use loadlab_agent::workload::Workload;
use loadlab_coordinator::experiment;
use loadlab_coordinator::hub;
use loadlab_coordinator::observer::Quiet;
use loadlab_coordinator::report::text;
use loadlab_coordinator::round::Resolved;
use loadlab_coordinator::spec::Spec;
use loadlab_proto::ranges::RangeSet;
use loadlab_proto::tally::{Finished, Tally};
use loadlab_proto::v1::{
    self, agent_message, coordinator_client::CoordinatorClient, coordinator_message,
};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Agents.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Samples in each agent's histogram (its requests: a spec's `repeat`).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX)))]
    samples: u64,
}

const TARGET: Duration = Duration::from_secs(1);

/// How long the stand-in agents have to join the hub.
const JOIN_WITHIN: Duration = Duration::from_secs(30);

pub fn run(options: Options) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(measure(options))
}

/// A tally like a real agent's: latencies spread from 1 ms to ~10 s.
fn tally_of(samples: u64) -> anyhow::Result<v1::Tally> {
    let mut tally = Tally::new();
    for i in 0..samples {
        let micros = (1_000.0 * 10f64.powf(4.0 * rand::random::<f64>())) as u64;
        tally.record(Finished {
            intended_us: i,
            start_us: i,
            end_us: i + micros,
            error: None,
        });
    }
    Ok(tally.to_wire()?)
}

async fn measure(options: Options) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (mut hub, service) = hub::hub(None);
    // The server lives until the bench exits.
    tokio::spawn(hub::serve(listener, service, None, std::future::pending()));

    // Each agent's tally is encoded before the clock starts: that is the
    // agents' work, not the coordinator's.
    eprintln!(
        "encoding {} tallies of {} samples...",
        options.agents, options.samples
    );
    // All encoded before any agent joins: a joined agent silent for
    // longer than the heartbeat timeout would be taken for lost.
    let mut encoded_bytes = 0;
    let mut tallies = Vec::with_capacity(options.agents);
    for _ in 0..options.agents {
        let encoded = tally_of(options.samples)?;
        encoded_bytes += encoded.response.len() + encoded.service.len() + encoded.lag.len();
        tallies.push(encoded);
    }
    let agents: Vec<_> = tallies
        .into_iter()
        .enumerate()
        .map(|(n, encoded)| tokio::spawn(agent(url.clone(), n, options.samples, encoded)))
        .collect();
    let mut joined = Vec::new();
    while joined.len() < options.agents {
        match tokio::time::timeout(JOIN_WITHIN, hub.joined.recv()).await {
            Ok(Some(agent)) => joined.push(agent),
            Ok(None) => bail!("the hub stopped"),
            Err(_) => {
                // Say why, when an agent failed to join.
                for agent in agents.into_iter().filter(|a| a.is_finished()) {
                    agent.await??;
                }
                bail!(
                    "{} of {} agents joined within {JOIN_WITHIN:?}",
                    joined.len(),
                    options.agents
                );
            }
        }
    }

    // The coordinator's own run loop: it hands each agent its share
    // (`repeat` rounds each) and takes, checks, decodes and merges what
    // comes back, as in any run.
    let total = options.agents as u64 * options.samples;
    let spec = Spec::parse(
        &format!(
            "name: bench-merge\nmodes: [async]\nrequests: [{{ id: A, path: /delay-me?ms=1 }}]\n\
             repeat: {}\n",
            options.samples
        ),
        "bench",
    )?;
    let targets = Resolved {
        http: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    };
    let started = Instant::now();
    let report = experiment::run(
        &spec,
        &targets,
        &mut hub,
        joined,
        &mut Quiet,
        &CancellationToken::new(),
    )
    .await;
    let rendered = text::summary(&report);
    let took = started.elapsed();

    // An agent that failed says why; the others wait, connected, and go.
    for agent in agents {
        if agent.is_finished() {
            agent.await??;
        } else {
            agent.abort();
        }
    }
    let mode = report.modes.first().context("no mode reported")?;
    if mode.histogram.count != total || !mode.failures.is_empty() {
        bail!(
            "merged {} samples, expected {total}; failures: {:?}",
            mode.histogram.count,
            mode.failures
        );
    }
    println!(
        "merge: {} agents × {} samples ({} KiB of encoded tallies, each sent twice: the mode's and request A's) \
         handed out, received, checked, decoded, merged and reported by the coordinator's run loop in {:.0} ms \
         (target < {} ms): {}",
        options.agents,
        options.samples,
        encoded_bytes / 1024,
        took.as_secs_f64() * 1e3,
        TARGET.as_millis(),
        if took < TARGET { "met" } else { "MISSED" }
    );
    println!("report is {} lines", rendered.lines().count());
    Ok(())
}

/// A stand-in agent: joins, and answers its assignment at once with one
/// `Progress` carrying `encoded` for every request it was given (as many
/// as the tally holds), then `AssignmentDone`.
async fn agent(url: String, n: usize, samples: u64, encoded: v1::Tally) -> anyhow::Result<()> {
    let mut client = CoordinatorClient::connect(url).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let hello = v1::Hello {
        agent_id: format!("bench-{n}"),
        name: format!("agent-{n}"),
        version: "bench".into(),
        protocol_version: loadlab_proto::PROTOCOL_VERSION,
    };
    tx.send(message(agent_message::Kind::Hello(hello))).await?;
    let mut inbound = client.join(ReceiverStream::new(rx)).await?.into_inner();
    while let Some(received) = inbound.message().await? {
        let Some(coordinator_message::Kind::Assignment(assignment)) = received.kind else {
            continue;
        };
        let run_id = assignment.run_id.clone();
        let len = Workload::try_from(*assignment)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .len();
        if len != samples {
            bail!("agent {n} was given {len} requests, its tally holds {samples}");
        }
        let progress = v1::Progress {
            run_id: run_id.clone(),
            completed: RangeSet::of(0..len).to_wire(),
            tally: Some(encoded.clone()),
            started: len,
            records: Vec::new(),
            by_request: vec![v1::RequestTally {
                id: "A".into(),
                tally: Some(encoded.clone()),
                skipped: 0,
            }],
            by_scenario: Vec::new(),
        };
        tx.send(message(agent_message::Kind::Progress(progress)))
            .await?;
        let done = v1::AssignmentDone {
            run_id,
            completed: len,
            ..Default::default()
        };
        tx.send(message(agent_message::Kind::Done(done))).await?;
        // Connected until the bench ends (a dropped stream would take
        // what is still buffered with it).
        std::future::pending::<()>().await;
    }
    bail!("agent {n}: the coordinator closed the stream before its assignment")
}

fn message(kind: agent_message::Kind) -> v1::AgentMessage {
    v1::AgentMessage { kind: Some(kind) }
}
