//! One round of the experiment: as the agents receive it (wire requests,
//! with the resolved targets filled in) and as the terminal announces it.
//! Each request's wire form is its kind's ([`crate::kind`]).

use loadlab_proto::v1;

use crate::kind::{About, Wiring};
use crate::report::Targets;
use crate::spec::Spec;
use crate::spec::scenario::{ExtractSpec, StepSpec};

/// Where the work goes, once resolved: the spec's targets, the flags, or
/// an embedded delay server.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// Base URL of the HTTP server.
    pub http: Option<String>,
    /// A CA certificate (PEM) that https:// targets may be signed by, beside
    /// the system's roots (`--tls-ca`).
    pub tls_ca_pem: Option<String>,
    /// The database URL (with its password, for the agents only).
    pub postgres: Option<String>,
    /// `host:port/database`, for the report.
    pub database: Option<String>,
    /// The tracker's ws:// base URL and its Redis (tracking workload).
    pub tracker: Option<String>,
    pub redis: Option<String>,
}

impl Resolved {
    /// What the report says of them (never a password).
    pub fn for_report(&self) -> Targets {
        Targets {
            http: self.http.clone(),
            database: self.database.clone(),
            tracker: self.tracker.clone(),
        }
    }
}

/// One round's requests, in order.
#[derive(Debug, Clone)]
pub struct Round {
    pub requests: Vec<v1::Request>,
    /// The same requests as the terminal and the report name them.
    pub entries: Vec<Entry>,
    /// The spec's scenarios, their steps naming `requests` by place.
    pub scenarios: Vec<v1::Scenario>,
    /// Iterations keep their cookies.
    pub cookies: bool,
}

/// One request of the round, as it is announced.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    /// Its kind: its name, and how the terminal speaks of it.
    pub about: &'static About,
    /// The URL requested, or the SQL run.
    pub what: String,
}

impl Round {
    pub fn new(spec: &Spec, targets: &Resolved) -> Round {
        let wiring = Wiring { spec, targets };
        let (requests, entries) = spec
            .round()
            .into_iter()
            .map(|work| {
                let (kind, what) = work.to_wire(&wiring);
                let id = work.id().to_owned();
                let entry = Entry {
                    id: id.clone(),
                    about: work.about(),
                    what,
                };
                (
                    v1::Request {
                        id,
                        kind: Some(kind),
                    },
                    entry,
                )
            })
            .unzip();
        Round {
            requests,
            entries,
            scenarios: scenarios(spec),
            cookies: spec.cookies.unwrap_or(true),
        }
    }

    /// Requests per item of a schedule: the round's, or with scenarios 1
    /// (an item is an iteration).
    pub fn per_item(&self) -> usize {
        if self.scenarios.is_empty() {
            self.len()
        } else {
            1
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The spec's scenarios on the wire: their request and query steps name
/// the round's requests by place (the round lists them in the same order).
fn scenarios(spec: &Spec) -> Vec<v1::Scenario> {
    let Some(scenarios) = &spec.scenarios else {
        return Vec::new();
    };
    let mut next = 0u32;
    scenarios
        .0
        .iter()
        .map(|(name, scenario)| v1::Scenario {
            name: name.clone(),
            weight: scenario.weight.get(),
            steps: scenario
                .steps
                .iter()
                .map(|step| {
                    let mut wire = v1::Step::default();
                    match step {
                        StepSpec::Think(think) => {
                            wire.kind = Some(v1::step::Kind::Think(v1::Think {
                                min_us: think.min.as_micros() as u64,
                                max_us: think.max.as_micros() as u64,
                            }));
                        }
                        StepSpec::Sql { .. } => {
                            wire.kind = Some(v1::step::Kind::Request(next));
                            next += 1;
                        }
                        StepSpec::Http {
                            extract, contains, ..
                        } => {
                            wire.kind = Some(v1::step::Kind::Request(next));
                            next += 1;
                            wire.contains = contains.clone().unwrap_or_default();
                            wire.extract = extract
                                .0
                                .iter()
                                .map(|(name, from)| v1::Extract {
                                    name: name.clone(),
                                    from: Some(match from {
                                        ExtractSpec::Json(p) => v1::extract::From::Json(p.clone()),
                                        ExtractSpec::Header(h) => {
                                            v1::extract::From::Header(h.clone())
                                        }
                                        ExtractSpec::Regex(r) => {
                                            v1::extract::From::Regex(r.clone())
                                        }
                                    }),
                                })
                                .collect();
                        }
                    }
                    wire
                })
                .collect(),
        })
        .collect()
}
