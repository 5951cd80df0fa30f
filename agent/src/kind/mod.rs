//! Workload kinds: what one request of a round is. Each kind is one module
//! (its wire validation, its clients, its span's fields, its typed error);
//! this file registers them: the one enum the runners dispatch on.
//!
//! A new kind is a new module here, a variant of [`Target`], and a field in
//! each of [`AsyncSession`] (and [`AsyncClients`] for what its workers
//! share) and [`BlockingClients`].

pub mod http;
pub mod sql;
pub mod track;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use loadlab_proto::v1;
use opentelemetry::KeyValue;

use crate::outcome::Outcome;
use sql::InFlight;

/// One request of a round, ready to run.
#[derive(Debug, Clone)]
pub enum Target {
    Http(Arc<http::HttpTarget>),
    Sql(Arc<sql::SqlTarget>),
    /// A courier update to a customer (the tracking workload).
    Track(Arc<track::TrackTarget>),
}

impl Target {
    /// Validates a wire request's kind; the error says what is wrong with it.
    pub fn from_wire(kind: Option<&v1::request::Kind>) -> Result<Target, String> {
        match kind {
            Some(v1::request::Kind::Http(wire)) => {
                http::HttpTarget::from_wire(wire).map(|t| Target::Http(Arc::new(t)))
            }
            Some(v1::request::Kind::Sql(wire)) => {
                sql::SqlTarget::from_wire(wire).map(|t| Target::Sql(Arc::new(t)))
            }
            Some(v1::request::Kind::Track(wire)) => {
                track::TrackTarget::from_wire(wire).map(|t| Target::Track(Arc::new(t)))
            }
            None => Err("has no target".to_owned()),
        }
    }

    /// The client span of a finished request (`id` is its id in the
    /// spec): its name and attributes.
    pub fn span(&self, id: &str, outcome: &Outcome) -> (Cow<'static, str>, Vec<KeyValue>) {
        let mut fields = Vec::with_capacity(8);
        let name = match self {
            Target::Http(target) => Cow::Borrowed(target.span_fields(outcome, &mut fields)),
            Target::Sql(target) => Cow::Owned(target.span_fields(outcome, &mut fields)),
            Target::Track(target) => Cow::Borrowed(target.span_fields(outcome, &mut fields)),
        };
        fields.push(KeyValue::new("loadlab.request.id", id.to_owned()));
        fields.push(KeyValue::new("loadlab.round", outcome.round as i64));
        let lag_us = outcome.start_us.saturating_sub(outcome.intended_us);
        if lag_us > 0 {
            fields.push(KeyValue::new(
                "loadlab.schedule_lag_ms",
                lag_us as f64 / 1e3,
            ));
        }
        (name, fields)
    }
}

/// What the async workers of a workload share: its database pools, its
/// tracking customers.
pub struct AsyncClients {
    timeout: Option<Duration>,
    sql: Arc<sql::AsyncPools>,
    track: Option<Arc<track::Customers>>,
}

impl AsyncClients {
    /// Clients for up to `concurrency` requests in flight; `track`, the
    /// customers connected before the schedule started.
    pub fn new(
        timeout: Option<Duration>,
        concurrency: usize,
        in_flight: InFlight,
        track: Option<Arc<track::Customers>>,
    ) -> AsyncClients {
        AsyncClients {
            timeout,
            sql: Arc::new(sql::AsyncPools::new(concurrency, in_flight)),
            track,
        }
    }

    /// One worker's own clients (its HTTP connections), sharing the pools.
    pub fn session(&self) -> AsyncSession {
        AsyncSession {
            http: http::AsyncClient::new(self.timeout),
            sql: self.sql.clone(),
            track: self.track.clone(),
        }
    }
}

/// The async clients of one worker.
pub struct AsyncSession {
    http: http::AsyncClient,
    sql: Arc<sql::AsyncPools>,
    track: Option<Arc<track::Customers>>,
}

impl AsyncSession {
    /// Runs one request of round `round`; `headers` carry the trace
    /// context, when tracing (and a scenario's cookies and rendered
    /// headers); `rendered`, what else a scenario's templates rendered.
    pub async fn call(
        &mut self,
        target: &Target,
        round: u64,
        headers: ::http::HeaderMap,
        rendered: Option<&http::Rendered>,
    ) -> Outcome {
        // A query's and an update's futures are boxed: unboxed, the
        // largest kind's state sets the size of every call's future, which
        // is moved into place per request (an HTTP request's included).
        match target {
            Target::Http(target) => self.http.send(target, headers, rendered).await,
            Target::Sql(target) => Box::pin(self.sql.query(target)).await,
            Target::Track(target) => match &self.track {
                Some(customers) => Box::pin(customers.update(target, round)).await,
                None => Outcome::failed("no customers connected"),
            },
        }
    }
}

/// The blocking clients of one thread (or one task of the blocking mode):
/// HTTP, and its own PostgreSQL connections.
pub struct BlockingClients {
    http: http::BlockingClient,
    sql: sql::BlockingSessions,
}

impl BlockingClients {
    pub fn new(timeout: Option<Duration>, in_flight: InFlight) -> BlockingClients {
        BlockingClients {
            http: http::BlockingClient::new(timeout),
            sql: sql::BlockingSessions::new(in_flight),
        }
    }

    /// Runs one request, holding the calling thread until it is done (the
    /// arguments as [`AsyncSession::call`]'s).
    pub fn call(
        &mut self,
        target: &Target,
        headers: ::http::HeaderMap,
        rendered: Option<&http::Rendered>,
    ) -> Outcome {
        match target {
            Target::Http(target) => self.http.send(target, headers, rendered),
            Target::Sql(target) => self.sql.query(target),
            // Tracking always waits with async tasks (its mode is the
            // tracker's); the runners never give it to blocking clients.
            Target::Track(_) => Outcome::failed("tracking runs on async clients only"),
        }
    }
}
