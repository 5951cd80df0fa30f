//! Everything a run needs before its first mode: where the work goes (the
//! spec's targets, an embedded delay server, the database, checked and
//! seeded), the coordinator's gRPC server, and its agents — in-process ones
//! that dial it through the same client code as the `agent` binary, or
//! remote ones awaited on `--listen`. Where the work goes is made ready in
//! [`targets`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use loadlab_agent::session::{self, Connection, Identity};
use loadlab_proto::auth::Token;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::ServerTlsConfig;
use tracing::warn;

use crate::experiment;
use crate::hub::{self, AgentHandle, Hub, Inbound};
use crate::live::Live;
use crate::observer::Both;
use crate::prometheus::{RemoteWrite, RunLabels};
use crate::report::Report;
use crate::requests_file::RequestsFile;
use crate::spec::Spec;

mod targets;

use targets::resolve_targets;
pub use targets::seed_with_progress;

/// Where the agents come from.
#[derive(Debug, Clone)]
pub enum Agents {
    /// Started in this process, joining over gRPC on 127.0.0.1.
    InProcess { count: u32 },
    /// `agent` processes joining from elsewhere.
    Remote(Remote),
}

/// Where remote agents join and what they must hold. Built only by
/// [`Remote::new`], which refuses an address other hosts can reach without
/// a token.
#[derive(Debug, Clone)]
pub struct Remote {
    listen: SocketAddr,
    expect: u32,
    wait: Duration,
    tls: Option<ServerTlsConfig>,
    token: Option<Token>,
}

impl Remote {
    /// Agents join on `listen` (over TLS when given), proving they hold
    /// `token`; the run starts when `expect` have joined, or fails after
    /// `wait`.
    pub fn new(
        listen: SocketAddr,
        expect: u32,
        wait: Duration,
        tls: Option<ServerTlsConfig>,
        token: Option<Token>,
    ) -> anyhow::Result<Remote> {
        if !listen.ip().is_loopback() && token.is_none() {
            bail!(
                "--listen {listen} accepts agents from other hosts, and agents run whatever the coordinator sends: \
                 give a shared secret with --token SECRET (or LOADLAB_TOKEN) here and on every agent, \
                 or listen on 127.0.0.1"
            );
        }
        Ok(Remote {
            listen,
            expect,
            wait,
            tls,
            token,
        })
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub agents: Agents,
    /// Base URL of the HTTP server, instead of the spec's.
    pub http_target: Option<String>,
    /// A CA (PEM) that https:// targets may be signed by (`--tls-ca`).
    pub tls_ca_pem: Option<String>,
    /// The database when the spec names none.
    pub database_url: Option<String>,
    /// How long to keep trying a database that refuses connections.
    pub wait_for_database: std::time::Duration,
    /// Print only the summary.
    pub quiet: bool,
    /// Print the human report on stderr (the JSON goes to stdout).
    pub human_on_stderr: bool,
    /// Write every request's record here (JSON Lines).
    pub requests: Option<std::path::PathBuf>,
    /// Send the figures to this Prometheus remote-write URL.
    pub prometheus_rw: Option<String>,
}

/// Runs `spec`: resolves its targets, gathers its agents, runs its modes.
/// Returns the report (partial if `interrupt` fired), or an error if the run
/// could not start at all.
pub async fn run(
    spec: &Spec,
    options: &RunOptions,
    interrupt: &CancellationToken,
) -> anyhow::Result<Report> {
    let stop = CancellationToken::new();
    let _stop_on_exit = stop.clone().drop_guard();

    let (listen, tls, token, expect) = match &options.agents {
        Agents::InProcess { count } => {
            let token = Token::new(uuid::Uuid::new_v4().to_string())?;
            (
                SocketAddr::from(([127, 0, 0, 1], 0)),
                None,
                Some(token),
                *count,
            )
        }
        Agents::Remote(remote) => (
            remote.listen,
            remote.tls.clone(),
            remote.token.clone(),
            remote.expect,
        ),
    };
    let embedded_ok = listen.ip().is_loopback();
    let targets = resolve_targets(spec, options, embedded_ok, &stop, interrupt).await?;

    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen for agents on {listen}"))?;
    let address = listener.local_addr()?;
    let (mut hub, service) = hub::hub(token.clone());
    let server = tokio::spawn(hub::serve(
        listener,
        service,
        tls.clone(),
        stop.clone().cancelled_owned(),
    ));

    let agents = match &options.agents {
        Agents::InProcess { count } => {
            for n in 1..=*count {
                let connection = Connection {
                    url: format!("http://{address}"),
                    token: token.clone(),
                    tls_ca: None,
                };
                let shutdown = stop.child_token();
                tokio::spawn(async move {
                    let identity = Identity::new(format!("local-{n}"));
                    if let Err(error) = session::join(&connection, &identity, shutdown).await {
                        warn!(%error, "in-process agent stopped");
                    }
                });
            }
            let waiting = wait_for_agents(
                &mut hub,
                expect as usize,
                Duration::from_secs(10),
                false,
                interrupt,
            );
            waiting.await?
        }
        Agents::Remote(Remote { wait, .. }) => {
            let scheme = if tls.is_some() { "https" } else { "http" };
            eprintln!(
                "coordinator: listening for agents on {scheme}://{address}{}; waiting up to {} for {expect}",
                if token.is_some() {
                    " (token required)"
                } else {
                    ""
                },
                humantime::format_duration(*wait)
            );
            wait_for_agents(&mut hub, expect as usize, *wait, true, interrupt).await?
        }
    };
    if interrupt.is_cancelled() {
        return Ok(Report::new(
            spec.clone(),
            targets.for_report(),
            agents.iter().map(|a| a.name.clone()).collect(),
            Vec::new(),
            true,
        ));
    }

    let live = Live::new(
        agents.len() > 1,
        options.quiet,
        options.human_on_stderr,
        spec.secrets.clone(),
    );
    let file = match &options.requests {
        None => None,
        Some(path) => Some(
            RequestsFile::create(path, spec.secrets.clone())
                .with_context(|| format!("--requests {}", path.display()))?,
        ),
    };
    let remote = options.prometheus_rw.as_ref().map(|url| {
        RemoteWrite::new(
            url.clone(),
            RunLabels {
                experiment: spec.name.clone(),
                run: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            },
        )
    });
    let mut observer = Both(live, Both(file, remote));
    let mut report =
        experiment::run(spec, &targets, &mut hub, agents, &mut observer, interrupt).await;
    let Both(_, Both(file, remote)) = observer;
    if let Some(file) = file {
        report.requests_file = options.requests.as_ref().map(|p| p.display().to_string());
        if let Err(problem) = file.finish()
            && let Some(mode) = report.modes.last_mut()
        {
            mode.failures.push(problem);
        }
    }
    if let Some(remote) = remote {
        // Each write has a 10 s timeout: this cannot hang.
        let problems = tokio::task::spawn_blocking(move || remote.finish())
            .await
            .unwrap_or_else(|_| vec!["--prometheus-rw: the writer panicked".into()]);
        for problem in problems {
            eprintln!("coordinator: WARNING: {problem}");
        }
    }
    stop.cancel();
    // Agents that are stuck or cut off keep their connections open; the
    // report must not wait for them.
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
    Ok(report)
}

/// Waits until `count` agents have joined, or `timeout`; agents that leave
/// while others are awaited no longer count. With `announce`, says on
/// stderr how many have joined each time that changes.
async fn wait_for_agents(
    hub: &mut Hub,
    count: usize,
    timeout: Duration,
    announce: bool,
    interrupt: &CancellationToken,
) -> anyhow::Result<Vec<AgentHandle>> {
    let mut agents: Vec<AgentHandle> = Vec::with_capacity(count);
    let deadline = tokio::time::Instant::now() + timeout;
    while agents.len() < count {
        tokio::select! {
            joined = hub.joined.recv() => match joined {
                Some(mut agent) => {
                    // The same agent process again (it reconnected): the
                    // new connection replaces the old one.
                    agents.retain(|a| a.id.is_empty() || a.id != agent.id);
                    agent.name = unique_name(&agents, &agent.name);
                    agents.push(agent);
                    if announce {
                        let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
                        eprintln!("coordinator: {}/{count} agents connected ({})", agents.len(), names.join(", "));
                    }
                }
                None => bail!("the coordinator's gRPC server stopped"),
            },
            inbound = hub.inbound.recv() => {
                if let Some((key, Inbound::Gone(how))) = inbound
                    && let Some(i) = agents.iter().position(|a| a.key == key)
                {
                    let agent = agents.remove(i);
                    if announce {
                        eprintln!("coordinator: agent {} left ({how}); {}/{count} agents connected", agent.name, agents.len());
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => bail!(
                "only {}/{count} agents connected within {}{}",
                agents.len(),
                humantime::format_duration(timeout),
                if announce { "; start more with `agent --coordinator URL`, or lower --expect-agents" } else { "" }
            ),
            () = interrupt.cancelled() => return Ok(agents),
        }
    }
    Ok(agents)
}

/// `name`, or `name#2`, `name#3`... when agents already gathered use it
/// (two agents on one host both default to the host name).
fn unique_name(agents: &[AgentHandle], name: &str) -> String {
    let taken = |candidate: &str| agents.iter().any(|a| a.name == candidate);
    if !taken(name) {
        return name.to_owned();
    }
    (2..)
        .map(|n| format!("{name}#{n}"))
        .find(|candidate| !taken(candidate))
        .unwrap_or_else(|| name.to_owned())
}
