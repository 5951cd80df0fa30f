//! Test fixtures of the report model: a mode from latencies, a record, a
//! report of modes (for the renderers' and analysis' tests).

use std::collections::BTreeMap;

use loadlab_proto::Mode;
use loadlab_proto::tally::{Finished, Tally};

use super::analysis::*;
use super::model::*;

/// A mode whose requests ran back to back (`sequential`) or all from 0.
pub fn mode(mode: Mode, latencies_ms: &[f64], sequential: bool) -> ModeReport {
    let mut tally = Tally::new();
    let mut at = 0u64;
    for &l in latencies_ms {
        let us = (l * 1e3) as u64;
        tally.record(Finished {
            intended_us: at,
            start_us: at,
            end_us: at + us,
            error: None,
        });
        if sequential {
            at += us;
        }
    }
    mode_report(ModeResults {
        mode,
        load: Load::Closed { cap: 0 },
        tally,
        by_request: BTreeMap::new(),
        skipped: BTreeMap::new(),
        by_scenario: BTreeMap::new(),
        agents: Vec::new(),
        records: Vec::new(),
        not_started: 0,
        interrupted: 0,
        graceful_stop: std::time::Duration::ZERO,
        max_backlog: 0,
        max_in_flight: if sequential {
            1
        } else {
            latencies_ms.len() as u64
        },
        stalls: Vec::new(),
        database: None,
        tracking: None,
        failures: Vec::new(),
        notes: Vec::new(),
        elapsed_ms: 0.0,
    })
}

/// A successful request of `id` from `start_ms` to `end_ms`, on agent `a`.
pub fn record(id: &str, start_ms: f64, end_ms: f64) -> RequestRecord {
    RequestRecord {
        id: id.into(),
        kind: crate::spec::request::ABOUT.kind.clone(),
        round: 0,
        agent: "a".into(),
        ok: true,
        status: 200,
        intended_ms: start_ms,
        start_ms,
        end_ms,
        service_ms: end_ms - start_ms,
        bytes: 0,
        body: String::new(),
        error: None,
        rows: 0,
        span_id: None,
        user: None,
    }
}

/// A report of `modes` from a one-request spec, on agent `a`.
pub fn report_of(modes: Vec<ModeReport>) -> crate::report::Report {
    let spec = crate::spec::Spec::parse(
        "name: x\nmodes: [sync]\nrequests: [{id: R1, path: /}]\n",
        "x",
    )
    .unwrap();
    crate::report::Report::new(spec, Default::default(), vec!["a".into()], modes, false)
}
