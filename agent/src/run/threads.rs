//! `threads`: an OS thread per request in flight, each with the blocking
//! client. The calling thread hands each due request to an idle worker,
//! starting a new one when none is idle (at most `cap`, at most
//! [`MAX_THREADS`]); if no thread can be started at all, it runs the
//! request itself, so the work still gets done.

use std::sync::mpsc::{self, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Context, Pacer};
use crate::kind::BlockingClients;
use crate::schedule::Due;

/// Most OS threads the threads mode starts for one workload.
pub const MAX_THREADS: usize = 2_000;

pub(super) fn run(context: &Arc<Context>) {
    let workload = &context.workload;
    let limit = workload.cap.clamp(1, MAX_THREADS);
    let (handoff, inbox) = mpsc::sync_channel::<Due>(0);
    let inbox = Arc::new(Mutex::new(inbox));
    std::thread::scope(|scope| {
        let mut workers = 0usize;
        let mut own_clients = None;
        let mut spawn_failed = false;
        let mut pacer = Pacer::new(context);
        while let Some(due) = pacer.next_on_thread() {
            let due = match handoff.try_send(due) {
                Ok(()) => {
                    pacer.handed(Instant::now());
                    continue;
                }
                Err(TrySendError::Full(due)) => due,
                Err(TrySendError::Disconnected(_)) => break,
            };
            if workers < limit && !spawn_failed {
                let (context, inbox) = (context.clone(), inbox.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("loadlab-thread-{}", workers + 1))
                    .spawn_scoped(scope, move || work(&context, &inbox, workers as u64));
                match spawned {
                    Ok(_) => workers += 1,
                    Err(error) => {
                        // Fewer threads than asked: the ones started carry the rest.
                        tracing::warn!(%error, started = workers, "cannot start more threads");
                        spawn_failed = true;
                    }
                }
            }
            if workers == 0 {
                let clients = own_clients.get_or_insert_with(|| {
                    BlockingClients::new(workload.timeout, context.queries.clone())
                });
                pacer.handed(Instant::now());
                context.run_blocking(clients, &due, 0);
            } else if handoff.send(due).is_ok() {
                pacer.handed(Instant::now());
            } else {
                break;
            }
        }
        drop(handoff);
    });
}

/// A worker: one blocking client, requests one after the other as they are
/// handed over, until the hand-off closes.
fn work(context: &Context, inbox: &Mutex<Receiver<Due>>, user: u64) {
    let mut clients = BlockingClients::new(context.workload.timeout, context.queries.clone());
    loop {
        let next = inbox.lock().map(|inbox| inbox.recv());
        let Ok(Ok(due)) = next else { return };
        // Handed over while every worker was busy: not started past the
        // schedule's stop (a timed loop's end).
        if context.cancel.is_cancelled() || context.past_stop() {
            continue;
        }
        context.run_blocking(&mut clients, &due, user);
    }
}
