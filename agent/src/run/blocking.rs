//! `blocking`, the pitfall: each request is an `async` task, but the client
//! it calls blocks. All tasks share one single-threaded executor (not
//! tokio: the blocking clients drive a runtime of their own and refuse to
//! run inside one), so a task's blocking call holds the only thread and the
//! next task cannot even start. The stall probe's canary lives on the same
//! executor and measures exactly that.

use std::sync::Arc;
use std::time::Instant;

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use tokio::sync::Semaphore;

use super::{Context, Next, Pacer};
use crate::kind::BlockingClients;
use crate::probe::{Stall, StallProbe};

/// Most tasks spawned and not yet finished: the executor holds this many
/// at once, whatever the length of the run.
const SPAWN_AHEAD: usize = 1024;

pub(super) fn run(context: &Arc<Context>) -> Option<Stall> {
    let mut executor = LocalPool::new();
    let spawner = executor.spawner();
    let (probe, canary) = StallProbe::start().unzip();
    if let Some(canary) = canary
        && spawner.spawn_local(canary).is_err()
    {
        tracing::warn!("cannot spawn the stall probe's canary");
    }
    let workload = context.workload.clone();
    let permits = workload.cap.min(SPAWN_AHEAD);
    let slots = Arc::new(Semaphore::new(permits));
    executor.run_until(async {
        let mut pacer = Pacer::new(context);
        while let Some((due, when)) = pacer.next() {
            // The pacer is a task on the same executor: while a blocking
            // call holds the thread, it cannot even see that a request is due.
            if let Some(when) = when {
                futures_timer::Delay::new(when.saturating_duration_since(Instant::now())).await;
            }
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            if !pacer.start(Instant::now()) {
                break;
            }
            let context = context.clone();
            let task = async move {
                if context.cancel.is_cancelled() {
                    return;
                }
                // Each task makes its own blocking client when it runs, as
                // `async` code written this way would.
                let mut clients =
                    BlockingClients::new(context.workload.timeout, context.queries.clone());
                if context.workload.scenarios.is_some() {
                    // Async code: its pauses are async too; its requests
                    // still block the executor.
                    let user = due.index % permits as u64;
                    if let Some(mut iteration) = context.begin(&due, user) {
                        loop {
                            match iteration.next(&context) {
                                Next::Send(started, headers) => {
                                    let (target, rendered) = iteration.request();
                                    let outcome = clients.call(target, headers, rendered);
                                    iteration.finished(&context, started, outcome);
                                }
                                Next::Think(pause) => futures_timer::Delay::new(pause).await,
                                Next::Done => break,
                            }
                        }
                        iteration.end(&context);
                    }
                } else {
                    // Looks asynchronous, is not: nothing here yields to the executor.
                    context.run_blocking(&mut clients, &due, 0);
                }
                drop(permit);
            };
            if let Err(error) = spawner.spawn_local(task) {
                tracing::error!(%error, "cannot spawn on the local executor");
                break;
            }
        }
        // Every permit back: every task spawned has finished.
        let _ = slots.acquire_many(permits as u32).await;
    });
    probe.map(StallProbe::finish)
}
