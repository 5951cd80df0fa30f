//! What a big fleet costs the coordinator at the end of a mode: N agents
//! (in-process, each on its own gRPC connection to the real hub) send a
//! `Progress` carrying the tally of M requests (three histograms); the
//! coordinator receives, decodes and merges them and renders the report.
//! Target: under 1 s for 100 agents × 100,000 samples.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use loadlab_agent::Mode;
use loadlab_coordinator::hub::{self, Inbound};
use loadlab_coordinator::report::Report;
use loadlab_coordinator::report::analysis::{AgentResult, Load, ModeResults, mode_report};
use loadlab_coordinator::report::text;
use loadlab_coordinator::spec::Spec;
use loadlab_proto::ranges::RangeSet;
use loadlab_proto::tally::{Finished, Tally};
use loadlab_proto::v1::{self, agent_message, coordinator_client::CoordinatorClient};
use tokio_stream::wrappers::ReceiverStream;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Agents.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Samples in each agent's histogram.
    #[arg(long, default_value_t = 100_000)]
    samples: u64,
}

const TARGET: Duration = Duration::from_secs(1);

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

    // Each agent's histogram is encoded before the clock starts: that is
    // the agents' work, not the coordinator's.
    eprintln!(
        "encoding {} tallies of {} samples...",
        options.agents, options.samples
    );
    let mut senders = Vec::new();
    let mut encoded_bytes = 0;
    for n in 0..options.agents {
        let encoded = tally_of(options.samples)?;
        encoded_bytes += encoded.response.len() + encoded.service.len() + encoded.lag.len();
        let mut client = CoordinatorClient::connect(url.clone()).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let hello = v1::Hello {
            agent_id: format!("bench-{n}"),
            name: format!("agent-{n}"),
            version: "bench".into(),
            protocol_version: loadlab_proto::PROTOCOL_VERSION,
        };
        tx.send(message(agent_message::Kind::Hello(hello))).await?;
        let inbound = client.join(ReceiverStream::new(rx)).await?.into_inner();
        senders.push((tx, encoded, inbound));
    }
    let mut agents = Vec::new();
    while agents.len() < options.agents {
        agents.push(hub.joined.recv().await.context("hub stopped")?);
    }

    let started = Instant::now();
    for (tx, encoded, _) in &senders {
        let progress = v1::Progress {
            run_id: "bench".into(),
            completed: RangeSet::of(0..options.samples).to_wire(),
            tally: Some(encoded.clone()),
            started: options.samples,
            records: Vec::new(),
            by_request: Vec::new(),
            by_scenario: Vec::new(),
        };
        tx.send(message(agent_message::Kind::Progress(progress)))
            .await?;
    }
    let mut merged = Tally::new();
    let mut per_agent = Vec::new();
    while per_agent.len() < options.agents {
        let (key, inbound) = hub.inbound.recv().await.context("hub stopped")?;
        let Inbound::Message(message) = inbound else {
            continue;
        };
        let agent_message::Kind::Progress(progress) = *message else {
            continue;
        };
        let tally = Tally::from_wire(&progress.tally.unwrap_or_default())?;
        merged.merge(&tally)?;
        per_agent.push(AgentResult {
            name: format!("agent-{key}"),
            id: key.to_string(),
            tally,
        });
    }
    let merged_count = merged.count;
    let mode = mode_report(ModeResults {
        mode: Mode::Async,
        load: Load::Closed { cap: 0 },
        tally: merged,
        by_request: Default::default(),
        skipped: Default::default(),
        by_scenario: Default::default(),
        agents: per_agent,
        records: Vec::new(),
        not_started: 0,
        interrupted: 0,
        graceful_stop: Duration::ZERO,
        max_backlog: 0,
        max_in_flight: 0,
        stalls: Vec::new(),
        database: None,
        tracking: None,
        failures: Vec::new(),
        notes: Vec::new(),
        elapsed_ms: 0.0,
    });
    let spec = Spec::parse(
        "name: bench\nmodes: [async]\nrequests: [{ id: A, path: /delay-me?ms=1 }]\n",
        "bench",
    )?;
    let report = Report::new(
        spec,
        Default::default(),
        agents.iter().map(|a| a.name.clone()).collect(),
        vec![mode],
        false,
    );
    let rendered = text::summary(&report);
    let took = started.elapsed();

    let expected = options.agents as u64 * options.samples;
    if merged_count != expected {
        bail!("merged {merged_count} samples, expected {expected}");
    }
    println!(
        "merge: {} agents × {} samples ({} KiB of encoded tallies) received, decoded, merged and reported in {:.0} ms (target < {} ms): {}",
        options.agents,
        options.samples,
        encoded_bytes / 1024,
        took.as_secs_f64() * 1e3,
        TARGET.as_millis(),
        if took < TARGET { "met" } else { "MISSED" }
    );
    println!("report is {} lines", rendered.lines().count());
    drop(senders);
    Ok(())
}

fn message(kind: agent_message::Kind) -> v1::AgentMessage {
    v1::AgentMessage { kind: Some(kind) }
}
