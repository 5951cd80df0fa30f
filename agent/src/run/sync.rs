//! `sync`: one request after the other, each waiting for the one before. In
//! an open loop the next one is still due on time, and its lag grows.

use std::sync::Arc;
use std::time::Instant;

use super::{Context, Pacer};
use crate::kind::BlockingClients;

pub(super) fn run(context: &Arc<Context>) {
    let workload = &context.workload;
    let mut clients = BlockingClients::new(workload.timeout, context.queries.clone());
    let mut pacer = Pacer::new(context);
    while let Some(due) = pacer.next_on_thread() {
        pacer.handed(Instant::now());
        context.run_blocking(&mut clients, &due, 0);
    }
}
