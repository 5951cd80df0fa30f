//! What a big fleet costs the coordinator at the end of a mode: N agents
//! (in-process, each on its own gRPC connection to the real hub) send their
//! `AssignmentDone` with a histogram of M samples; the coordinator receives,
//! decodes and merges them and renders the report. Target: under 1 s for
//! 100 agents × 100,000 samples.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use loadlab_agent::Mode;
use loadlab_coordinator::hub::{self, Inbound};
use loadlab_coordinator::report::{
    AgentFigures, LatencySummary, ModeReport, Report, render_summary,
};
use loadlab_coordinator::spec::Spec;
use loadlab_proto::histogram::{self, new_latency_histogram, record_latency};
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

/// A histogram like a real agent's: latencies spread from 1 ms to ~10 s.
fn histogram_of(samples: u64) -> anyhow::Result<Vec<u8>> {
    let mut h = new_latency_histogram();
    for _ in 0..samples {
        let micros = 1_000.0 * 10f64.powf(4.0 * rand::random::<f64>());
        record_latency(&mut h, micros as u64);
    }
    Ok(histogram::encode(&h)?)
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
        "encoding {} histograms of {} samples...",
        options.agents, options.samples
    );
    let mut senders = Vec::new();
    let mut encoded_bytes = 0;
    for n in 0..options.agents {
        let encoded = histogram_of(options.samples)?;
        encoded_bytes += encoded.len();
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
        let done = v1::AssignmentDone {
            run_id: "bench".into(),
            histogram: encoded.clone(),
            wall_us: 1,
            completed: options.samples,
            errors: 0,
            cancelled: false,
        };
        tx.send(message(agent_message::Kind::Done(done))).await?;
    }
    let mut merged = new_latency_histogram();
    let mut figures = Vec::new();
    while figures.len() < options.agents {
        let (key, inbound) = hub.inbound.recv().await.context("hub stopped")?;
        let Inbound::Message(agent_message::Kind::Done(done)) = inbound else {
            continue;
        };
        let h = histogram::decode(&done.histogram)?;
        histogram::merge_into(&mut merged, &h)?;
        figures.push(AgentFigures {
            name: format!("agent-{key}"),
            errors: 0,
            wall_ms: 0.0,
            latency: LatencySummary::of(&h),
        });
    }
    let mode = ModeReport::new(Mode::Async, 1.0, &merged, figures, Vec::new(), Vec::new());
    let spec = Spec::parse(
        "name: bench\nmodes: [async]\nrequests: [{ id: A, path: /delay-me?ms=1 }]\n",
        "bench",
    )?;
    let report = Report {
        spec,
        targets: Default::default(),
        agents: agents.iter().map(|a| a.name.clone()).collect(),
        modes: vec![mode],
        interrupted: false,
        trace_id: None,
    };
    let rendered = render_summary(&report);
    let took = started.elapsed();

    let expected = options.agents as u64 * options.samples;
    if merged.len() != expected {
        bail!("merged {} samples, expected {expected}", merged.len());
    }
    println!(
        "merge: {} agents × {} samples ({} KiB of encoded histograms) received, decoded, merged and reported in {:.0} ms (target < {} ms): {}",
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
