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

use crate::dataset::{self, Seeded};
use crate::experiment::{self, Resolved};
use crate::hub::{self, AgentHandle, Hub};
use crate::live::Live;
use crate::report::Report;
use crate::spec::{SchemaName, Spec};

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

    let targets = resolve_targets(spec, &stop).await?;

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
    let report = experiment::run(spec, &targets, &mut hub, agents, &mut live, interrupt).await;
    stop.cancel();
    let _ = server.await;
    Ok(report)
}

/// Where the work goes: the spec's HTTP target or an embedded delay server
/// (when there are HTTP requests), and the spec's database or
/// `DATABASE_URL` (when there are queries) — checked, and seeded when the
/// spec asks for a dataset.
async fn resolve_targets(spec: &Spec, stop: &CancellationToken) -> anyhow::Result<Resolved> {
    let mut targets = Resolved::default();
    if !spec.requests.is_empty() {
        targets.http = Some(match &spec.target.http {
            Some(http) => http.0.clone(),
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
        });
    }
    if !spec.queries.is_empty() {
        let Some(url) = spec
            .target
            .postgres
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok())
        else {
            bail!(
                "the spec has queries but no database: set `target: {{ postgres: URL }}` or DATABASE_URL"
            );
        };
        let server = dataset::check_connection(&url).await?;
        if let Some(wanted) = &spec.dataset {
            seed_with_progress(&url, &wanted.schema, wanted.scale.get()).await?;
        }
        targets.database = Some(server);
        targets.postgres = Some(url);
    }
    Ok(targets)
}

/// Seeds (or finds) the dataset, with a progress bar on a terminal.
pub async fn seed_with_progress(
    url: &str,
    schema: &SchemaName,
    scale: u32,
) -> anyhow::Result<Seeded> {
    let bar = indicatif::ProgressBar::new(u64::from(scale) * dataset::CITIES_PER_SCALE);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "seeding [{bar:40}] {pos}/{len} cities  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let seeded = dataset::seed(url, schema, scale, |done, _| bar.set_position(done)).await;
    bar.finish_and_clear();
    let seeded = seeded?;
    match &seeded {
        Seeded::AlreadyThere { rows } => {
            eprintln!(
                "dataset: {rows} cities at scale {scale} already in schema {schema}; nothing to do"
            )
        }
        Seeded::Built { rows, took } => {
            eprintln!(
                "dataset: seeded {rows} cities at scale {scale} into schema {schema} in {:.1} s",
                took.as_secs_f64()
            )
        }
    }
    Ok(seeded)
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
