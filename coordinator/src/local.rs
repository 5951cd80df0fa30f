//! A whole experiment on this machine: the coordinator's gRPC server on
//! 127.0.0.1:0, in-process agents that dial it through the same client code
//! as the `agent` binary, and an embedded delay server when the spec names no
//! target.

use std::time::Duration;

use anyhow::{Context, bail};
use loadlab_agent::session::{self, Identity};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::experiment;
use crate::hub::{self, AgentHandle, Hub};
use crate::live::Live;
use crate::report::Report;
use crate::spec::Spec;

/// How to run locally.
#[derive(Debug, Clone)]
pub struct LocalRun {
    /// In-process agents to start.
    pub agents: u32,
    /// Print only the summary.
    pub quiet: bool,
    /// How long the agents have to join before the run is abandoned.
    pub join_timeout: Duration,
}

/// Runs `spec` with everything it needs started in this process. Returns
/// the report (partial if `interrupt` fired), or an error if the run could
/// not start at all.
pub async fn run(
    spec: &Spec,
    options: &LocalRun,
    interrupt: &CancellationToken,
) -> anyhow::Result<Report> {
    let stop = CancellationToken::new();
    let _stop_on_exit = stop.clone().drop_guard();

    let target = match &spec.target {
        Some(target) => target.0.clone(),
        None => {
            let (listener, addr) = delay_server::bind(([127, 0, 0, 1], 0).into())
                .await
                .context("cannot start the embedded delay server")?;
            let config = delay_server::Config {
                grace: Duration::from_millis(100),
                ..Default::default()
            };
            tokio::spawn(delay_server::run(
                listener,
                config,
                stop.clone().cancelled_owned(),
            ));
            format!("http://{addr}")
        }
    };

    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot start the coordinator's gRPC server")?;
    let grpc = format!("http://{}", listener.local_addr()?);
    let (mut hub, service) = hub::hub();
    let server = tokio::spawn(hub::serve(
        listener,
        service,
        stop.clone().cancelled_owned(),
    ));

    for n in 1..=options.agents {
        let endpoint = tonic::transport::Endpoint::from_shared(grpc.clone())?;
        let shutdown = stop.child_token();
        tokio::spawn(async move {
            if let Err(error) =
                session::run(endpoint, Identity::new(format!("local-{n}")), shutdown).await
            {
                warn!(%error, "in-process agent stopped");
            }
        });
    }
    let agents = wait_for_agents(&mut hub, options.agents as usize, options.join_timeout).await?;

    let mut live = Live::new(options.agents > 1, options.quiet);
    let report = experiment::run(spec, &target, &mut hub, agents, &mut live, interrupt).await;
    stop.cancel();
    let _ = server.await;
    Ok(report)
}

/// Waits until `count` agents have joined, or `timeout`.
async fn wait_for_agents(
    hub: &mut Hub,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<AgentHandle>> {
    let mut agents = Vec::with_capacity(count);
    let deadline = tokio::time::Instant::now() + timeout;
    while agents.len() < count {
        match tokio::time::timeout_at(deadline, hub.joined.recv()).await {
            Ok(Some(agent)) => agents.push(agent),
            Ok(None) => bail!("the coordinator's gRPC server stopped"),
            Err(_) => bail!(
                "only {}/{count} agents connected within {}",
                agents.len(),
                humantime::format_duration(timeout)
            ),
        }
    }
    Ok(agents)
}
