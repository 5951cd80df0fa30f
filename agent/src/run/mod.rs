//! Running a workload in its mode. One runner per mode, each taking the
//! work as a schedule of [`Due`]s; they differ only in how requests wait.
//!
//! - [`sync`]: one request after the other, on a thread of its own.
//! - [`tasks`]: the async mode, requests on tokio tasks (workers taking turns
//!   at the pacer), at most the cap in flight.
//! - [`blocking`]: the pitfall, async tasks calling a blocking client on one
//!   single-threaded executor.
//! - [`threads`]: an OS thread per request in flight.
//!
//! Every runner reports through the same [`Context`]: `start` before a
//! request (its trace header made first, so it is not measured), `finish`
//! after (end stamped first). Spans are built later, off the runners (see
//! the assignment). The async and blocking runners also host the stall
//! probe's canary on their executor.

mod blocking;
mod pacer;
mod scenario;
mod sync;
mod tasks;
mod threads;

pub use loadlab_proto::clock::Clock;
use pacer::{Pacer, sleep_until};
pub use scenario::IterationDone;
use scenario::Next;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loadlab_telemetry::requests::RequestSpans;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Mode;
use crate::kind::sql::InFlight;
use crate::outcome::Outcome;
use crate::probe::{Stall, StallProbe};
use crate::schedule::{Due, Schedule};
use crate::workload::Workload;

/// Something that happened to a request of the workload.
#[derive(Debug, Clone)]
pub enum Event {
    /// Sent only for live workloads.
    Started {
        index: u64,
        /// Which request of the round (a scenario's iteration has several).
        request: usize,
        start_us: u64,
    },
    Finished(Outcome),
    /// A scenario's iteration ended: its requests were `Finished` before,
    /// but for the last when it was its last step (sent with it: one event
    /// for both).
    Iteration(Box<(IterationDone, Option<Outcome>)>),
}

/// Counters the runners keep as they go, read by whoever reports progress.
#[derive(Debug, Default)]
pub struct Gauges {
    pub started: AtomicU64,
    in_flight: AtomicU64,
    pub max_in_flight: AtomicU64,
    /// Most requests due and not yet started at once (open loop).
    pub max_backlog: AtomicU64,
    /// With scenarios: iterations started, by scenario.
    pub iterations: Vec<AtomicU64>,
}

impl Gauges {
    /// Gauges for a workload with `scenarios` scenarios (0: none).
    pub fn new(scenarios: usize) -> Gauges {
        Gauges {
            iterations: (0..scenarios).map(|_| AtomicU64::new(0)).collect(),
            ..Gauges::default()
        }
    }
}

/// How an execution went, beyond its outcomes.
#[derive(Debug, Clone, Default)]
pub struct Execution {
    /// Why requests could not start, when it was not a cancel.
    pub not_started_reason: Option<String>,
    /// Executor stall, for the modes that have an executor.
    pub stall: Option<Stall>,
    /// The tracking workload: how its customers' websockets opened.
    pub connected: Option<crate::kind::track::Connected>,
    /// A unique data order used its last row, which stopped what was left.
    pub rows_ran_out: bool,
}

/// What every runner reports through.
pub(crate) struct Context {
    pub workload: Arc<Workload>,
    events: mpsc::UnboundedSender<Event>,
    clock: Clock,
    /// The assignment's start: an open loop's requests are due from it.
    anchor: Instant,
    anchor_us: u64,
    /// Which requests are traced; `None` when not tracing.
    spans: Option<RequestSpans>,
    pub cancel: CancellationToken,
    /// Queries in flight, cancelled on the server when the workload is.
    pub queries: InFlight,
    /// The tracking workload's customers, connected before its schedule.
    pub track: Option<Arc<crate::kind::track::Customers>>,
    gauges: Arc<Gauges>,
    /// A unique data order used its last row: nothing more starts.
    rows_out: AtomicBool,
}

/// One request under way.
pub(crate) struct Started {
    index: u64,
    intended_us: u64,
    start_us: u64,
    request: usize,
    pub round: u64,
    /// Its span id, when it is sampled.
    sampled: Option<opentelemetry::trace::SpanId>,
    /// The trace context to send with it.
    pub headers: http::HeaderMap,
}

impl Context {
    /// Starts the request `due`: decides whether it is traced and makes
    /// its headers, then stamps the start, so that is not measured.
    pub fn start(&self, due: &Due) -> Started {
        let mut headers = http::HeaderMap::new();
        let mut sampled = None;
        if let Some(spans) = &self.spans {
            sampled = spans.decide(due.index);
            headers.insert("traceparent", spans.traceparent(sampled));
        }
        let start_us = self.clock.now_us();
        let intended_us = self.intended_us(due, start_us);
        // With scenarios, what starts is counted by iteration (`begin`).
        if self.workload.scenarios.is_none() {
            self.gauges.started.fetch_add(1, Ordering::Relaxed);
        }
        let in_flight = self.gauges.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.gauges
            .max_in_flight
            .fetch_max(in_flight, Ordering::Relaxed);
        if self.workload.live_events {
            let _ = self.events.send(Event::Started {
                index: due.index,
                request: due.request,
                start_us,
            });
        }
        Started {
            index: due.index,
            intended_us,
            start_us,
            request: due.request,
            round: due.round,
            sampled,
            headers,
        }
    }

    /// When `due`, started at `start_us`, was wanted to start: its place on
    /// an open loop's schedule (never after its start), or its start.
    fn intended_us(&self, due: &Due, start_us: u64) -> u64 {
        due.at.map_or(start_us, |at| {
            (self.anchor_us + at.as_micros() as u64).min(start_us)
        })
    }

    /// Finishes a request: stamps the end first.
    pub fn finish(&self, started: Started, outcome: Outcome) {
        let _ = self
            .events
            .send(Event::Finished(self.complete(started, outcome)));
    }

    /// `outcome` of the request `started`, complete: its place and times.
    pub fn complete(&self, started: Started, mut outcome: Outcome) -> Outcome {
        let end_us = self.clock.now_us();
        self.gauges.in_flight.fetch_sub(1, Ordering::Relaxed);
        let Started {
            index,
            intended_us,
            start_us,
            request,
            round,
            sampled,
            headers: _,
        } = started;
        outcome.index = index;
        outcome.request = request;
        outcome.round = round;
        outcome.sampled = sampled;
        outcome.intended_us = intended_us;
        outcome.start_us = start_us;
        outcome.end_us = end_us;
        outcome
    }

    /// Runs one request (or, with scenarios, one iteration for user
    /// `user`) on blocking clients, holding the calling thread until it is
    /// done; its trace headers go to the request.
    pub fn run_blocking(&self, clients: &mut crate::kind::BlockingClients, due: &Due, user: u64) {
        if self.workload.scenarios.is_some() {
            return self.iterate_blocking(clients, due, user);
        }
        let mut started = self.start(due);
        let headers = std::mem::take(&mut started.headers);
        let outcome = clients.call(self.target(&started), headers, None);
        self.finish(started, outcome);
    }

    /// Past the point where nothing more may start (an open loop's end plus
    /// the timeout, a timed loop's end).
    pub fn past_stop(&self) -> bool {
        self.rows_out.load(Ordering::Relaxed)
            || self
                .workload
                .stop_after
                .is_some_and(|after| Instant::now() >= self.anchor + after)
    }

    /// The target of a started request.
    pub fn target(&self, started: &Started) -> &crate::kind::Target {
        &self.workload.round[started.request].target
    }
}

/// Runs `workload` in its mode, on `clock`'s axis, reporting every request
/// on `events`; `spans` says which requests are traced. Returns when every
/// request has finished or, after `cancel`, when the ones already started
/// have; requests not started by then are not run.
pub async fn execute(
    workload: Arc<Workload>,
    clock: Clock,
    events: mpsc::UnboundedSender<Event>,
    gauges: Arc<Gauges>,
    cancel: CancellationToken,
    spans: Option<RequestSpans>,
    hard_stop: CancellationToken,
) -> Execution {
    let mut execution = Execution::default();
    // The tracking workload's customers connect before its schedule starts.
    let mut track = None;
    if let Some(target) = workload.round.iter().find_map(|r| match &r.target {
        crate::kind::Target::Track(target) => Some(target.clone()),
        _ => None,
    }) {
        match connect_customers(&workload, &target).await {
            Ok((customers, connected)) => {
                track = Some(Arc::new(customers));
                execution.connected = Some(connected);
            }
            Err(why) => {
                execution.not_started_reason = Some(why);
                return execution;
            }
        }
    }
    // Customers connecting took part of the schedule's time: it starts now.
    let (anchor, anchor_us) = anchor(&workload, &clock, track.is_none());
    let context = Arc::new(Context {
        anchor,
        anchor_us,
        clock,
        workload: workload.clone(),
        events,
        spans,
        cancel: cancel.clone(),
        queries: InFlight::default(),
        track: track.clone(),
        gauges,
        rows_out: AtomicBool::new(false),
    });
    // The graceful stop runs out on the schedule's own axis: what is still
    // in flight then is abandoned (see the assignment).
    let deadline = workload.hard_stop.map(|after| {
        let hard_stop = hard_stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(anchor + after)).await;
            hard_stop.cancel();
        })
    });
    // Cancelling the workload also cancels its queries on the server.
    let watcher = {
        let (queries, cancel) = (context.queries.clone(), cancel.clone());
        tokio::spawn(async move {
            cancel.cancelled().await;
            queries.cancel_all().await;
        })
    };
    // Tracking's mode is the tracker's: this side always waits with tasks.
    let mode = if track.is_some() {
        Mode::Async
    } else {
        workload.mode
    };
    match mode {
        Mode::Sync => {
            let context = context.clone();
            execution.not_started_reason = on_thread("loadlab-sync", move || sync::run(&context))
                .await
                .err();
        }
        Mode::Async => {
            let probe = StallProbe::start();
            let (probe, canary) = probe.unzip();
            tasks::run(context.clone(), canary).await;
            execution.stall = probe.map(StallProbe::finish);
        }
        Mode::Blocking => {
            let context = context.clone();
            let measured = on_thread("loadlab-blocking", move || blocking::run(&context)).await;
            match measured {
                Ok(stall) => execution.stall = stall,
                Err(reason) => execution.not_started_reason = Some(reason),
            }
        }
        Mode::Threads => {
            let context = context.clone();
            let ran = on_thread("loadlab-threads", move || threads::run(&context)).await;
            execution.not_started_reason = ran.err();
        }
    }
    watcher.abort();
    if context.rows_out.load(Ordering::Relaxed)
        && let Some(data) = workload.scenarios.as_ref().and_then(|s| s.data.as_ref())
    {
        execution.rows_ran_out = true;
        execution
            .not_started_reason
            .get_or_insert_with(|| data.ran_out());
    }
    if let Some(deadline) = deadline {
        deadline.abort();
    }
    execution
}

/// Connects the customers of the orders this assignment updates.
async fn connect_customers(
    workload: &Workload,
    target: &crate::kind::track::TrackTarget,
) -> Result<(crate::kind::track::Customers, crate::kind::track::Connected), String> {
    /// Dues looked through for orders (a takeover's schedule starts
    /// mid-run, so its orders are those of its own dues).
    const LOOK_AT: usize = 10_000_000;
    let shares = match &workload.schedule {
        Schedule::Open(open) => open.shares,
        Schedule::Closed { .. } | Schedule::Timed { .. } => 1,
    };
    let orders = workload
        .dues()
        .take(LOOK_AT)
        .filter_map(|due| target.order_of(due.round, shares))
        .collect();
    let timeout = workload.timeout.unwrap_or(Duration::from_secs(10));
    crate::kind::track::Customers::connect(target, workload.mode, orders, shares, timeout).await
}

/// Where an open loop's schedule starts: at its place on the mode's axis
/// (the mode's zero plus its `from`), so every agent's rounds are due on
/// one schedule. When that place is implausible — in the future, or more
/// than [`MAX_SKEW`] past (clocks of two hosts that disagree, or set-up
/// that took that long: `on_time` false) — at this assignment's own start
/// instead. A closed loop has no schedule.
fn anchor(workload: &Workload, clock: &Clock, on_time: bool) -> (Instant, u64) {
    let now = Instant::now();
    let own = (now, clock.now_us());
    let Schedule::Open(open) = &workload.schedule else {
        return own;
    };
    let planned = clock.zero + open.from;
    match now.checked_duration_since(planned) {
        Some(late) if late <= MAX_SKEW => (planned, open.from.as_micros() as u64),
        _ if !on_time => own,
        _ => {
            tracing::warn!(
                "the mode's start and this host's clock disagree; its schedule starts now instead"
            );
            own
        }
    }
}

/// How far behind its place on the mode's axis an open loop may start and
/// still keep to the run's schedule.
const MAX_SKEW: Duration = Duration::from_secs(1);

/// Runs `f` on a plain OS thread (not a tokio blocking thread: blocking
/// clients that drive a runtime of their own refuse to run inside tokio's
/// context) and waits for it without blocking the runtime. An error says
/// why the thread could not start.
async fn on_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _ = done.send(f());
        })
        .map_err(|error| format!("cannot start a thread: {error}"))?;
    finished
        .await
        .map_err(|_| format!("the {name} thread panicked"))
}
