//! `async`: requests on the tokio runtime, at most `cap` in flight. Workers
//! — tasks, each with its own HTTP connections — take turns: the worker
//! whose turn it is takes the next request from the pacer, waits until it
//! is due, passes the turn on and runs it; whenever every worker is busy
//! running a request, another starts (the cap permitting), so an open loop
//! without a cap keeps up with its rate. While one request waits, the
//! others proceed. Only one wait is in progress at a time, so it is always
//! a precise one (`loadlab_wait`'s timerfd tail): workers that each held a
//! future request and waited for it at once were past its limit of precise
//! waits and woke on tokio's millisecond timer, ~1 ms late on average.
//! No task or permit per request: the hot loop is a worker's loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::task::TaskTracker;

use super::{Context, Next, Pacer};
use crate::kind::{AsyncClients, AsyncSession};
use crate::probe::Canary;
use crate::schedule::Due;

/// Closer than this to its due time, a request is not waited for: a timer
/// would cost more than it corrects.
const NEAR: Duration = Duration::from_micros(20);

/// Most workers an open loop without a cap starts.
const MAX_WORKERS: usize = 100_000;

/// What the workers share.
struct Pool {
    context: Arc<Context>,
    clients: AsyncClients,
    /// Never held across an await.
    pacer: Mutex<Pacer>,
    /// Whose turn it is to take the next request and wait until it is due
    /// (open loops only: a closed loop's requests are due at once, and a
    /// turn per request would cost throughput).
    turn: Option<tokio::sync::Mutex<()>>,
    /// Workers not running a request (waiting for their turn, or for the
    /// request they took to be due).
    idle: AtomicUsize,
    workers: AtomicUsize,
    cap: usize,
    tracker: TaskTracker,
}

impl Pool {
    /// Starts one more worker, unless the cap is reached.
    fn grow(self: &Arc<Self>) {
        let started = self
            .workers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cap).then_some(n + 1)
            });
        if let Ok(user) = started {
            self.idle.fetch_add(1, Ordering::AcqRel);
            self.tracker.spawn(work(self.clone(), user as u64));
        }
    }
}

pub(super) async fn run(context: Arc<Context>, canary: Option<Canary>) {
    if let Some(canary) = canary {
        tokio::spawn(canary);
    }
    let workload = context.workload.clone();
    let cap = workload.cap.min(MAX_WORKERS);
    let pool_size = usize::try_from(workload.len())
        .unwrap_or(usize::MAX)
        .min(cap)
        .min(10_000);
    let pool = Arc::new(Pool {
        clients: AsyncClients::new(
            workload.timeout,
            pool_size,
            context.queries.clone(),
            context.track.clone(),
        ),
        pacer: Mutex::new(Pacer::new(&context)),
        turn: matches!(workload.schedule, crate::schedule::Schedule::Open(_))
            .then(|| tokio::sync::Mutex::new(())),
        context,
        idle: AtomicUsize::new(0),
        workers: AtomicUsize::new(0),
        cap,
        tracker: TaskTracker::new(),
    });
    pool.grow();
    pool.tracker.close();
    pool.tracker.wait().await;
}

/// One worker (with scenarios, user number `user`): the next request, when
/// it is due, until none is left.
async fn work(pool: Arc<Pool>, user: u64) {
    let context = &pool.context;
    let mut session = pool.clients.session();
    loop {
        let turn = match &pool.turn {
            Some(turn) => tokio::select! {
                turn = turn.lock() => Some(turn),
                () = context.cancel.cancelled() => return,
            },
            None => None,
        };
        let next = pool.pacer.lock().unwrap_or_else(|e| e.into_inner()).next();
        let Some((due, when)) = next else {
            return;
        };
        if let Some(when) = when.filter(|w| w.saturating_duration_since(Instant::now()) > NEAR) {
            tokio::select! {
                () = loadlab_wait::wait_until(when.into()) => {}
                () = context.cancel.cancelled() => return,
            }
        }
        let now = Instant::now();
        if !pool
            .pacer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .start(now)
        {
            return;
        }
        drop(turn);
        // This worker is busy now; if it was the last idle one, another
        // starts to take the next request.
        if pool.idle.fetch_sub(1, Ordering::AcqRel) == 1 {
            pool.grow();
        }
        if context.workload.scenarios.is_some() {
            iterate(context, &mut session, &due, user).await;
        } else {
            let mut started = context.start(&due);
            let headers = std::mem::take(&mut started.headers);
            let outcome = session
                .call(context.target(&started), started.round, headers, None)
                .await;
            context.finish(started, outcome);
        }
        pool.idle.fetch_add(1, Ordering::AcqRel);
    }
}

/// One iteration of a scenario on this worker's clients.
async fn iterate(context: &Context, session: &mut AsyncSession, due: &Due, user: u64) {
    let Some(mut iteration) = context.begin(due, user) else {
        return;
    };
    loop {
        match iteration.next(context) {
            Next::Send(started, headers) => {
                let (target, rendered) = iteration.request();
                let outcome = session.call(target, started.round, headers, rendered).await;
                iteration.finished(context, started, outcome);
            }
            Next::Think(pause) => tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = context.cancel.cancelled() => {}
            },
            Next::Done => break,
        }
    }
    iteration.end(context);
}
