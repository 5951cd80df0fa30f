//! `sync`: one request after the other, each waiting for the one before.

use super::Context;
use crate::kind::BlockingClients;

pub(super) fn run(context: &Context) {
    let workload = &context.workload;
    let mut clients = BlockingClients::new(workload.timeout, context.queries.clone());
    for due in workload.dues() {
        if context.cancel.is_cancelled() {
            return;
        }
        let started = context.start(&due);
        let outcome = clients.call(context.target(&started), &started.headers);
        context.finish(started, outcome);
    }
}
