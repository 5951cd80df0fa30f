//! Where a run's work goes, made ready before its first mode: the spec's
//! HTTP target or an embedded delay server, the database (waited for,
//! checked, seeded with a progress bar), the tracker; and a warning when
//! the process may not open the files the run needs.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use super::RunOptions;
use crate::dataset::{self, Seeded};
use crate::kind::Need;
use crate::round::Resolved;
use crate::spec::{SchemaName, Spec};

/// Where the work goes: the spec's HTTP target or an embedded delay server
/// (when there are HTTP requests), and the spec's database or
/// `DATABASE_URL` (when there are queries) — checked, and seeded when the
/// spec asks for a dataset.
pub(super) async fn resolve_targets(
    spec: &Spec,
    options: &RunOptions,
    embedded_ok: bool,
    stop: &CancellationToken,
    interrupt: &CancellationToken,
) -> anyhow::Result<Resolved> {
    let mut targets = Resolved {
        tls_ca_pem: options.tls_ca_pem.clone(),
        ..Resolved::default()
    };
    let needs: Vec<Need> = spec.round().iter().filter_map(|w| w.needs()).collect();
    // Requests with an absolute `url` need no target.
    if needs.contains(&Need::Http) {
        let given = options.http_target.as_deref().or(spec
            .target
            .http
            .as_ref()
            .map(|h| h.0.as_str()));
        targets.http = Some(match given {
            Some(http) => http.trim_end_matches('/').to_owned(),
            None if !embedded_ok => bail!(
                "the spec has no HTTP target, and agents on other hosts could not reach an embedded \
                 delay server: pass --http-target URL (a delay-server they can reach) or set `target:` in the spec"
            ),
            None => {
                let (listener, addr) = delay_server::bind(([127, 0, 0, 1], 0).into())
                    .await
                    .context("cannot start the embedded delay server")?;
                let hiccups = spec.delay_server.as_ref().and_then(|d| {
                    delay_server::hiccup::Hiccups::new(d.hiccup_every.0, d.hiccup_for.0).ok()
                });
                let config = delay_server::Config {
                    grace: Duration::from_millis(100),
                    hiccups,
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
    if needs.contains(&Need::Tracker) {
        let customers = spec.track.as_ref().map_or(0, |t| t.customers.get());
        let redis = spec
            .target
            .redis
            .clone()
            .or_else(|| std::env::var("REDIS_URL").ok())
            .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
        targets.tracker = Some(match &spec.target.tracker {
            Some(tracker) => tracker.clone(),
            None if !embedded_ok => bail!(
                "the spec has no tracker, and agents on other hosts could not reach an embedded one: \
                 set `target: {{ tracker: ws://HOST:PORT, redis: redis://HOST:PORT }}` (a `tracker` they can reach)"
            ),
            None => {
                // Both ends of every customer's socket are in this process.
                warn_if_too_few_files(2 * u64::from(customers));
                let config = tracker::Config {
                    redis_url: redis.clone(),
                    mode: tracker::Mode::Async,
                    grace: Duration::from_secs(1),
                    ..tracker::Config::default()
                };
                let embedded = tracker::Tracker::connect(config).await.with_context(|| {
                    "the tracking workload needs Redis: start it (redis-server --daemonize yes), \
                     or set `target: { redis: URL }` or REDIS_URL"
                })?;
                let (listener, addr) = tracker::bind(([127, 0, 0, 1], 0).into())
                    .await
                    .context("cannot start the embedded tracker")?;
                tokio::spawn(embedded.serve(listener, stop.clone().cancelled_owned()));
                format!("ws://{addr}")
            }
        });
        targets.redis = Some(redis);
    }
    if needs.contains(&Need::Postgres) {
        let Some(url) = spec
            .target
            .postgres
            .clone()
            .or_else(|| options.database_url.clone())
        else {
            bail!(
                "the spec has queries but no database: set `target: {{ postgres: URL }}`, --database-url or DATABASE_URL"
            );
        };
        let server = wait_for_database(&url, options.wait_for_database, interrupt).await?;
        if let Some(wanted) = &spec.dataset {
            seed_with_progress(&url, &wanted.schema, wanted.scale.get(), interrupt).await?;
        }
        targets.database = Some(server);
        targets.postgres = Some(url);
    }
    Ok(targets)
}

/// Connects once to the database, to fail early with one clear line when it
/// cannot be reached; while it refuses (a server still starting), tries
/// again every half second for up to `wait`, saying so once.
async fn wait_for_database(
    url: &str,
    wait: std::time::Duration,
    interrupt: &CancellationToken,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut said = false;
    loop {
        match dataset::check_connection(url).await {
            Ok(server) => return Ok(server),
            Err(error) if error.may_pass() && tokio::time::Instant::now() < deadline => {
                if !said {
                    eprintln!(
                        "waiting up to {} for the database: {error}",
                        humantime::format_duration(wait)
                    );
                    said = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                    _ = interrupt.cancelled() => return Err(error.into()),
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Says, before the run, when this process may not open `needed` more
/// files (sockets): the run would then fail part way with "too many open
/// files".
fn warn_if_too_few_files(needed: u64) {
    let Some(limit) = open_files_limit() else {
        return;
    };
    // Room for what the process already holds: gRPC, logs, Redis.
    let wanted = needed + 256;
    if wanted > limit {
        eprintln!(
            "warning: this run needs about {wanted} open files in this process (each customer's \
             socket, on both ends when the tracker is embedded) but may open {limit}: raise the \
             limit (ulimit -n), use fewer customers, or run the tracker and agents as processes \
             of their own"
        );
    }
}

/// The soft limit on open files (`None`: unlimited).
fn open_files_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Seeds (or finds) the dataset, with a progress bar on a terminal.
pub async fn seed_with_progress(
    url: &str,
    schema: &SchemaName,
    scale: u32,
    interrupt: &CancellationToken,
) -> Result<Seeded, dataset::SeedError> {
    let bar = indicatif::ProgressBar::new(u64::from(scale) * dataset::CITIES_PER_SCALE);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "seeding [{bar:40}] {pos}/{len} cities  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let seeded = dataset::seed(
        url,
        schema,
        scale,
        |done, _| bar.set_position(done),
        interrupt,
    )
    .await;
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
