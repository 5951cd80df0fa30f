//! One round of the experiment: as the agents receive it (wire requests,
//! with the resolved targets filled in) and as the terminal announces it.
//! The one place where a spec's work of each kind becomes a wire request.

use loadlab_proto::v1;

use crate::report::{Kind, Targets};
use crate::spec::scenario::{ExtractSpec, StepSpec};
use crate::spec::{Destination, RequestBody, Spec, Work};
use loadlab_agent::scenario::template::is_template;

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
    pub kind: Kind,
    /// The URL requested, or the SQL run.
    pub what: String,
}

impl Round {
    pub fn new(spec: &Spec, targets: &Resolved) -> Round {
        let http = targets.http.as_deref().unwrap_or_default();
        let search_path = spec
            .dataset
            .as_ref()
            .map(|d| format!("{},public", d.schema))
            .unwrap_or_default();
        // Order ids unique to this run, so runs and tests sharing a Redis
        // never hear each other's updates.
        let order_prefix = format!(
            "loadlab-{}-",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let (requests, entries) = spec
            .round()
            .into_iter()
            .map(|work| match work {
                Work::Http(r) => {
                    let url = match &r.to {
                        Destination::Path(path) => format!("{http}{}", path.0),
                        Destination::Url(url) => url.0.clone(),
                    };
                    let method = r.method.as_ref().map(|m| m.0.clone()).unwrap_or_default();
                    let what = match method.as_str() {
                        "" | "GET" => url.clone(),
                        method => format!("{method} {url}"),
                    };
                    let headers_sent = r.headers_sent();
                    let body = r.body.as_ref().map(RequestBody::bytes).unwrap_or_default();
                    let templated = spec.scenarios.is_some()
                        && (is_template(&url)
                            || headers_sent.iter().any(|(_, v)| is_template(v))
                            || is_template(&String::from_utf8_lossy(&body)));
                    let kind = v1::request::Kind::Http(v1::HttpRequest {
                        templated,
                        url,
                        method,
                        headers: headers_sent
                            .into_iter()
                            .map(|(name, value)| v1::HttpHeader { name, value })
                            .collect(),
                        body,
                        expect_status: r
                            .expect
                            .as_ref()
                            .map(|e| e.status.iter().map(|&s| u32::from(s)).collect())
                            .unwrap_or_default(),
                        tls_ca_pem: targets.tls_ca_pem.clone().unwrap_or_default(),
                        insecure: spec.insecure,
                    });
                    (wire(&r.id.0, kind), entry(&r.id.0, Kind::Http, what))
                }
                Work::Sql(q) => {
                    let kind = v1::request::Kind::Sql(v1::SqlQuery {
                        database_url: targets.postgres.clone().unwrap_or_default(),
                        sql: q.sql.clone(),
                        search_path: search_path.clone(),
                        statement_timeout_ms: spec.query_timeout().as_millis() as u64,
                    });
                    (
                        wire(&q.id.0, kind),
                        entry(&q.id.0, Kind::Sql, q.sql.clone()),
                    )
                }
                Work::Track(t) => {
                    let tracker = targets.tracker.clone().unwrap_or_default();
                    let kind = v1::request::Kind::Track(v1::TrackUpdate {
                        tracker_url: tracker.clone(),
                        redis_url: targets.redis.clone().unwrap_or_default(),
                        customers: u64::from(t.customers.get()),
                        order_prefix: order_prefix.clone(),
                    });
                    let what = format!(
                        "{} customers on {tracker}, {}/s updates each for {}",
                        t.customers,
                        t.updates.0,
                        humantime::format_duration(t.duration.0)
                    );
                    (wire("update", kind), entry("update", Kind::Track, what))
                }
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

fn wire(id: &str, kind: v1::request::Kind) -> v1::Request {
    v1::Request {
        id: id.to_owned(),
        kind: Some(kind),
    }
}

fn entry(id: &str, kind: Kind, what: String) -> Entry {
    Entry {
        id: id.to_owned(),
        kind,
        what,
    }
}
