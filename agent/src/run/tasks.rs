//! `async`: every request a task on the tokio runtime, at most `cap` in
//! flight; while one waits, the others proceed.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use super::{Context, Pacer};
use crate::kind::AsyncClients;
use crate::probe::Canary;

/// Closer than this to its due time, a request is not waited for.
const NEAR: std::time::Duration = std::time::Duration::from_micros(20);

pub(super) async fn run(context: Arc<Context>, canary: Option<Canary>) {
    if let Some(canary) = canary {
        tokio::spawn(canary);
    }
    let workload = context.workload.clone();
    let cap = workload.cap.min(Semaphore::MAX_PERMITS);
    let pool_size = usize::try_from(workload.len())
        .unwrap_or(usize::MAX)
        .min(cap)
        .min(10_000);
    let clients = Arc::new(AsyncClients::new(
        workload.timeout,
        pool_size,
        context.queries.clone(),
    ));
    let slots = Arc::new(Semaphore::new(cap));
    let mut tasks = tokio::task::JoinSet::new();
    let mut pacer = Pacer::new(&context);
    while let Some((due, when)) = pacer.next() {
        // A request due within a few microseconds goes now: closer than
        // that, a timer would cost more than it corrects.
        if let Some(when) = when.filter(|w| w.saturating_duration_since(Instant::now()) > NEAR) {
            tokio::select! {
                () = loadlab_wait::wait_until(when.into()) => {}
                () = context.cancel.cancelled() => break,
            }
        }
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = context.cancel.cancelled() => break,
        };
        let now = Instant::now();
        if pacer.over(now) {
            break;
        }
        pacer.handed(now);
        let (context, clients) = (context.clone(), clients.clone());
        tasks.spawn(async move {
            let mut started = context.start(&due);
            let headers = std::mem::take(&mut started.headers);
            let outcome = clients.call(context.target(&started), headers).await;
            context.finish(started, outcome);
            drop(permit);
        });
        // Reap finished tasks as we go so a long run does not pile them up.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}
