//! Running a workload in each of the four modes.
//!
//! Every mode reports the same `Event`s on a channel; only how the requests
//! wait differs. The blocking mode is slow for the real reason: its tasks run
//! on one single-threaded executor, and each task's blocking call holds that
//! thread, so the other tasks cannot start until it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::task::LocalSpawnExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Span, field};

use crate::Mode;
use crate::http::{AsyncClient, BlockingClient, Reply};
use crate::outcome::{Event, Outcome};
use crate::sql::{AsyncPools, BlockingSessions, InFlight};
use crate::workload::{Target, Workload};

/// Most OS threads the threads mode starts for one workload.
pub const MAX_THREADS: usize = 2_000;

/// Where events go, with the workload's clock and the assignment's span.
#[derive(Clone)]
struct Reporter {
    events: mpsc::UnboundedSender<Event>,
    started: Instant,
    workload: Arc<Workload>,
    /// Parent of the request spans; `Span::none()` when not tracing.
    span: Span,
}

/// One request under way: its start and its span.
struct Started {
    index: usize,
    start_us: u64,
    span: Span,
}

impl Started {
    /// The headers that carry this request's trace context.
    fn headers(&self) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if !self.span.is_none() {
            loadlab_telemetry::inject(&self.span, &mut headers);
        }
        headers
    }
}

impl Reporter {
    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn start(&self, index: usize) -> Started {
        let start_us = self.now_us();
        let _ = self.events.send(Event::Started { index, start_us });
        Started {
            index,
            start_us,
            span: self.request_span(index),
        }
    }

    /// A client span per request, with the semantic conventions' attributes.
    fn request_span(&self, index: usize) -> Span {
        if self.span.is_none() {
            return Span::none();
        }
        let item = &self.workload.items[index];
        match &item.target {
            Target::Http { url } => tracing::info_span!(
                parent: &self.span,
                "request",
                otel.name = "GET",
                otel.kind = "client",
                http.request.method = "GET",
                url.full = url.as_str(),
                loadlab.request.id = &*item.id,
                loadlab.round = item.round,
                http.response.status_code = field::Empty,
                http.response.body.size = field::Empty,
                error.type = field::Empty,
                otel.status_code = field::Empty,
                otel.status_description = field::Empty,
            ),
            Target::Sql(query) => tracing::info_span!(
                parent: &self.span,
                "query",
                otel.name = query.sql.split_whitespace().next().unwrap_or("query").to_uppercase(),
                otel.kind = "client",
                db.system = "postgresql",
                db.system.name = "postgresql",
                db.query.text = query.sql.as_str(),
                loadlab.request.id = &*item.id,
                loadlab.round = item.round,
                db.response.returned_rows = field::Empty,
                error.type = field::Empty,
                otel.status_code = field::Empty,
                otel.status_description = field::Empty,
            ),
        }
    }

    fn finish(&self, started: Started, reply: Reply) {
        let Started {
            index,
            start_us,
            span,
        } = started;
        if !span.is_none() {
            match &self.workload.items[index].target {
                Target::Http { .. } => {
                    if reply.status > 0 {
                        span.record("http.response.status_code", reply.status);
                    }
                    span.record("http.response.body.size", reply.bytes);
                }
                Target::Sql(_) => {
                    span.record("db.response.returned_rows", reply.rows);
                }
            }
            if let Some(error) = &reply.error {
                let kind = if reply.status > 0 {
                    "http_status"
                } else {
                    "request_failed"
                };
                span.record("error.type", kind);
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", error.as_str());
            }
        }
        drop(span);
        let end_us = self.now_us();
        let _ = self.events.send(Event::Finished(Outcome {
            index,
            start_us,
            end_us,
            status: reply.status,
            bytes: reply.bytes,
            body: reply.body,
            error: reply.error,
            rows: reply.rows,
        }));
    }
}

/// Runs `workload` in its mode, reporting every request on `events`. Returns
/// when every request has finished or, after `cancel`, when the ones already
/// started have. Requests not started before `cancel` are not run.
pub async fn execute(
    workload: Arc<Workload>,
    events: mpsc::UnboundedSender<Event>,
    cancel: CancellationToken,
    span: Span,
) {
    let reporter = Reporter {
        events,
        started: Instant::now(),
        workload: workload.clone(),
        span,
    };
    // Cancelling the workload also cancels its queries on the server.
    let in_flight = InFlight::default();
    let watcher = {
        let (in_flight, cancel) = (in_flight.clone(), cancel.clone());
        tokio::spawn(async move {
            cancel.cancelled().await;
            in_flight.cancel_all().await;
        })
    };
    match workload.mode {
        Mode::Sync => {
            on_thread("loadlab-sync", move || {
                run_sync(&workload, &reporter, &cancel, in_flight)
            })
            .await
        }
        Mode::Async => run_async(workload, reporter, cancel, in_flight).await,
        Mode::Blocking => {
            on_thread("loadlab-blocking", move || {
                run_blocking(&workload, &reporter, &cancel, in_flight)
            })
            .await
        }
        Mode::Threads => {
            on_thread("loadlab-threads", move || {
                run_threads(&workload, &reporter, &cancel, in_flight)
            })
            .await
        }
    }
    watcher.abort();
}

/// Runs `f` on a plain OS thread (not a tokio blocking thread: blocking
/// clients that drive a runtime of their own refuse to run inside tokio's
/// context) and waits for it without blocking the runtime.
async fn on_thread(name: &str, f: impl FnOnce() + Send + 'static) {
    let (done, finished) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            f();
            let _ = done.send(());
        });
    match spawned {
        Ok(_) => {
            let _ = finished.await;
        }
        Err(error) => tracing::error!(%error, "cannot start a thread"),
    }
}

/// The blocking clients of one thread: HTTP, and its own PostgreSQL
/// connections.
struct BlockingClients {
    http: BlockingClient,
    sql: BlockingSessions,
}

impl BlockingClients {
    fn new(workload: &Workload, in_flight: &InFlight) -> BlockingClients {
        BlockingClients {
            http: BlockingClient::new(workload.timeout),
            sql: BlockingSessions::new(in_flight.clone()),
        }
    }

    fn fetch(&mut self, target: &Target, headers: &http::HeaderMap) -> Reply {
        match target {
            Target::Http { url } => self.http.get(url, headers),
            Target::Sql(query) => self.sql.query(query),
        }
    }
}

async fn fetch_async(
    http: &AsyncClient,
    sql: &AsyncPools,
    target: &Target,
    headers: http::HeaderMap,
) -> Reply {
    match target {
        Target::Http { url } => http.get(url, headers).await,
        Target::Sql(query) => sql.query(query).await,
    }
}

/// One request after the other, each waiting for the one before.
fn run_sync(
    workload: &Workload,
    reporter: &Reporter,
    cancel: &CancellationToken,
    in_flight: InFlight,
) {
    let mut clients = BlockingClients::new(workload, &in_flight);
    for (index, item) in workload.items.iter().enumerate() {
        if cancel.is_cancelled() {
            return;
        }
        let start = reporter.start(index);
        let reply = clients.fetch(&item.target, &start.headers());
        reporter.finish(start, reply);
    }
}

/// Every request as a task on the tokio runtime, at most `concurrency` in
/// flight; while one waits, the others proceed.
async fn run_async(
    workload: Arc<Workload>,
    reporter: Reporter,
    cancel: CancellationToken,
    in_flight: InFlight,
) {
    let pools = Arc::new(AsyncPools::new(
        workload.concurrency.min(workload.items.len()),
        in_flight,
    ));
    let client = match AsyncClient::new(workload.timeout) {
        Ok(client) => client,
        Err(error) => {
            for index in 0..workload.items.len() {
                let start = reporter.start(index);
                reporter.finish(start, Reply::failed(error.clone()));
            }
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(workload.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..workload.items.len() {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = cancel.cancelled() => break,
        };
        let (client, pools, reporter, workload) = (
            client.clone(),
            pools.clone(),
            reporter.clone(),
            workload.clone(),
        );
        tasks.spawn(async move {
            let start = reporter.start(index);
            let reply = fetch_async(
                &client,
                &pools,
                &workload.items[index].target,
                start.headers(),
            )
            .await;
            reporter.finish(start, reply);
            drop(permit);
        });
        // Reap finished tasks as we go so a long run does not pile them up.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// The pitfall: each request is an `async` task, but the client it calls
/// blocks. All tasks share one single-threaded executor, so a task's blocking
/// call holds the only thread and the next task cannot even start.
fn run_blocking(
    workload: &Workload,
    reporter: &Reporter,
    cancel: &CancellationToken,
    in_flight: InFlight,
) {
    let mut executor = futures::executor::LocalPool::new();
    let spawner = executor.spawner();
    for index in 0..workload.items.len() {
        // Each task has its own blocking client (and database connection),
        // as `async` code written this way would.
        let mut clients = BlockingClients::new(workload, &in_flight);
        let (reporter, cancel) = (reporter.clone(), cancel.clone());
        let target = workload.items[index].target.clone();
        let task = async move {
            if cancel.is_cancelled() {
                return;
            }
            let start = reporter.start(index);
            // Looks asynchronous, is not: nothing here yields to the executor.
            let reply = clients.fetch(&target, &start.headers());
            reporter.finish(start, reply);
        };
        if let Err(error) = spawner.spawn_local(task) {
            tracing::error!(%error, "cannot spawn on the local executor");
            return;
        }
    }
    executor.run();
}

/// One OS thread per in-flight request (at most `concurrency`, at most
/// `MAX_THREADS`), each with the blocking client. The calling thread is one
/// of them, so the work gets done even if no further thread can be started.
fn run_threads(
    workload: &Workload,
    reporter: &Reporter,
    cancel: &CancellationToken,
    in_flight: InFlight,
) {
    let next = AtomicUsize::new(0);
    let threads = workload
        .concurrency
        .min(workload.items.len())
        .clamp(1, MAX_THREADS);
    let work = || {
        // One client (and database connection) per thread.
        let mut clients = BlockingClients::new(workload, &in_flight);
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= workload.items.len() || cancel.is_cancelled() {
                return;
            }
            let start = reporter.start(index);
            let reply = clients.fetch(&workload.items[index].target, &start.headers());
            reporter.finish(start, reply);
        }
    };
    std::thread::scope(|scope| {
        for n in 1..threads {
            let spawned = std::thread::Builder::new()
                .name(format!("loadlab-thread-{n}"))
                .spawn_scoped(scope, work);
            if let Err(error) = spawned {
                // Fewer threads than asked: the ones started carry the rest.
                tracing::warn!(%error, started = n, "cannot start more threads");
                break;
            }
        }
        work();
    });
}
