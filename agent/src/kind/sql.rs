//! The `sql` kind: a PostgreSQL query, with the async client (tokio-postgres
//! on a bb8 pool) and the blocking one (the synchronous `postgres` crate).
//! Each query fetches and counts every row, as the original demonstration's
//! clients did. Queries in flight are cancelled on the server when the
//! workload is cancelled; `statement_timeout` cancels them there on timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bb8_postgres::PostgresConnectionManager;
use futures::TryStreamExt;
use loadlab_proto::v1;
use opentelemetry::KeyValue;
use postgres::fallible_iterator::FallibleIterator;
use tokio_postgres::NoTls;

use crate::outcome::{BodyPrefix, Outcome};

/// One query, as the workload runs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SqlTarget {
    pub database_url: String,
    pub sql: String,
    pub search_path: Option<String>,
    pub statement_timeout: Option<Duration>,
}

impl SqlTarget {
    pub fn from_wire(wire: &v1::SqlQuery) -> Result<SqlTarget, String> {
        if wire.database_url.is_empty() || wire.sql.trim().is_empty() {
            return Err("has an empty database URL or statement".to_owned());
        }
        Ok(SqlTarget {
            database_url: wire.database_url.clone(),
            sql: wire.sql.clone(),
            search_path: (!wire.search_path.is_empty()).then(|| wire.search_path.clone()),
            statement_timeout: (wire.statement_timeout_ms > 0)
                .then(|| Duration::from_millis(wire.statement_timeout_ms)),
        })
    }

    /// The client span of one finished query, with the database semantic
    /// conventions; its name is the statement's first word.
    pub fn span_fields(&self, outcome: &Outcome, fields: &mut Vec<KeyValue>) -> String {
        fields.push(KeyValue::new("db.system.name", "postgresql"));
        fields.push(KeyValue::new("db.query.text", self.sql.clone()));
        fields.push(KeyValue::new(
            "db.response.returned_rows",
            outcome.rows as i64,
        ));
        if outcome.error.is_some() {
            fields.push(KeyValue::new("error.type", "query_failed"));
        }
        self.sql
            .split_whitespace()
            .next()
            .unwrap_or("query")
            .to_uppercase()
    }

    /// Connection settings: the URL plus our session options.
    pub fn config(&self) -> Result<tokio_postgres::Config, String> {
        let mut config: tokio_postgres::Config = self
            .database_url
            .parse()
            .map_err(|e| format!("bad database URL {:?}: {e}", redact(&self.database_url)))?;
        let mut options = String::new();
        if let Some(path) = &self.search_path {
            // libpq splits options at spaces; a backslash keeps one in a value.
            let path = path.replace('\\', "\\\\").replace(' ', "\\ ");
            options.push_str(&format!("-c search_path={path} "));
        }
        if let Some(timeout) = self.statement_timeout {
            options.push_str(&format!("-c statement_timeout={} ", timeout.as_millis()));
        }
        if !options.is_empty() {
            config.options(options.trim_end());
        }
        config.application_name("loadlab-agent");
        config.connect_timeout(Duration::from_secs(10));
        Ok(config)
    }

    /// Identifies the connection settings, so clients can be shared.
    fn connection_key(&self) -> ConnectionKey {
        (
            self.database_url.clone(),
            self.search_path.clone(),
            self.statement_timeout,
        )
    }
}

/// Queries with equal keys can share a connection.
type ConnectionKey = (String, Option<String>, Option<Duration>);

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `host:port/database` of a config, for messages.
pub fn describe_server(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{database}")
}

/// PostgreSQL's own words for an error: `SQLSTATE 42601: syntax error ...`
/// for a server error, the client's message otherwise.
pub fn describe_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("SQLSTATE {}: {}", db.code().code(), db.message()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    }
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    BadUrl(String),
    #[error("cannot connect to {server}: {message}")]
    Connect { server: String, message: String },
    #[error("cannot connect to {0}: timed out")]
    ConnectTimedOut(String),
    /// The server's or the client's words, e.g. `SQLSTATE 57014: canceling
    /// statement due to statement timeout`.
    #[error("{0}")]
    Query(String),
}

impl SqlError {
    fn connect(config: &tokio_postgres::Config, error: &tokio_postgres::Error) -> SqlError {
        SqlError::Connect {
            server: describe_server(config),
            message: describe_error(error),
        }
    }
}

fn rows(rows: u64) -> Outcome {
    Outcome {
        rows,
        body: BodyPrefix::text_of(format!("{rows} rows")),
        ..Outcome::default()
    }
}

/// How to cancel one query in flight.
enum Canceller {
    Async(tokio_postgres::CancelToken),
    Blocking(postgres::CancelToken),
}

/// The queries of a workload now in flight, so that cancelling the workload
/// can cancel them on the server too (no query left in `pg_stat_activity`).
#[derive(Clone, Default)]
pub struct InFlight {
    queries: Arc<Mutex<HashMap<u64, Canceller>>>,
    next: Arc<AtomicU64>,
}

impl InFlight {
    fn register(&self, canceller: Canceller) -> u64 {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut queries) = self.queries.lock() {
            queries.insert(key, canceller);
        }
        key
    }

    fn done(&self, key: u64) {
        if let Ok(mut queries) = self.queries.lock() {
            queries.remove(&key);
        }
    }

    /// Asks the server to cancel every query in flight.
    pub async fn cancel_all(&self) {
        let cancellers: Vec<Canceller> = match self.queries.lock() {
            Ok(mut queries) => queries.drain().map(|(_, c)| c).collect(),
            Err(_) => return,
        };
        for canceller in cancellers {
            match canceller {
                Canceller::Async(token) => {
                    let _ = token.cancel_query(NoTls).await;
                }
                // The synchronous client's cancel drives a runtime of its own:
                // run it on a plain thread, outside tokio's context.
                Canceller::Blocking(token) => {
                    let (done, finished) = tokio::sync::oneshot::channel();
                    let _ = std::thread::Builder::new()
                        .name("loadlab-pg-cancel".into())
                        .spawn(move || {
                            let _ = token.cancel_query(NoTls);
                            let _ = done.send(());
                        });
                    let _ = finished.await;
                }
            }
        }
    }
}

type Pool = bb8::Pool<PostgresConnectionManager<NoTls>>;

/// Async pools, one per distinct connection setting, each sized to the
/// workload's concurrency.
pub struct AsyncPools {
    pools: tokio::sync::Mutex<HashMap<ConnectionKey, Pool>>,
    size: u32,
    in_flight: InFlight,
}

impl AsyncPools {
    pub fn new(size: usize, in_flight: InFlight) -> AsyncPools {
        AsyncPools {
            pools: Default::default(),
            size: size.clamp(1, 10_000) as u32,
            in_flight,
        }
    }

    async fn pool(&self, target: &SqlTarget) -> Result<(Pool, tokio_postgres::Config), String> {
        let config = target.config()?;
        let mut pools = self.pools.lock().await;
        if let Some(pool) = pools.get(&target.connection_key()) {
            return Ok((pool.clone(), config));
        }
        let manager = PostgresConnectionManager::new(config.clone(), NoTls);
        let pool = bb8::Pool::builder()
            .max_size(self.size)
            .connection_timeout(Duration::from_secs(10))
            .build_unchecked(manager);
        pools.insert(target.connection_key(), pool.clone());
        Ok((pool, config))
    }

    /// Runs the query on a pooled connection and counts its rows.
    pub async fn query(&self, target: &SqlTarget) -> Outcome {
        let (pool, config) = match self.pool(target).await {
            Ok(pool) => pool,
            Err(error) => return Outcome::failed(SqlError::BadUrl(error)),
        };
        let client = match pool.get().await {
            Ok(client) => client,
            Err(bb8::RunError::User(error)) => {
                return Outcome::failed(SqlError::connect(&config, &error));
            }
            Err(bb8::RunError::TimedOut) => {
                return Outcome::failed(SqlError::ConnectTimedOut(describe_server(&config)));
            }
        };
        let key = self
            .in_flight
            .register(Canceller::Async(client.cancel_token()));
        let result = async {
            let rows = client
                .query_raw(target.sql.as_str(), Vec::<String>::new())
                .await?;
            let mut rows = std::pin::pin!(rows);
            let mut count = 0u64;
            while rows.try_next().await?.is_some() {
                count += 1;
            }
            Ok::<u64, tokio_postgres::Error>(count)
        }
        .await;
        self.in_flight.done(key);
        match result {
            Ok(count) => rows(count),
            Err(error) => Outcome::failed(SqlError::Query(describe_error(&error))),
        }
    }
}

/// Synchronous connections, one per distinct connection setting, owned by
/// the thread that uses them.
pub struct BlockingSessions {
    clients: HashMap<ConnectionKey, postgres::Client>,
    in_flight: InFlight,
}

impl BlockingSessions {
    pub fn new(in_flight: InFlight) -> BlockingSessions {
        BlockingSessions {
            clients: HashMap::new(),
            in_flight,
        }
    }

    /// Runs the query, blocking this thread until every row has arrived.
    pub fn query(&mut self, target: &SqlTarget) -> Outcome {
        let config = match target.config() {
            Ok(config) => config,
            Err(error) => return Outcome::failed(SqlError::BadUrl(error)),
        };
        let key = target.connection_key();
        if !self.clients.contains_key(&key) {
            match postgres::Config::from(config.clone()).connect(NoTls) {
                Ok(client) => {
                    self.clients.insert(key.clone(), client);
                }
                Err(error) => return Outcome::failed(SqlError::connect(&config, &error)),
            }
        }
        let Some(client) = self.clients.get_mut(&key) else {
            return Outcome::failed(SqlError::Query("connection vanished".to_owned()));
        };
        let registered = self
            .in_flight
            .register(Canceller::Blocking(client.cancel_token()));
        let result = (|| {
            let mut rows = client.query_raw(target.sql.as_str(), Vec::<String>::new())?;
            let mut count = 0u64;
            while rows.next()?.is_some() {
                count += 1;
            }
            Ok::<u64, postgres::Error>(count)
        })();
        self.in_flight.done(registered);
        match result {
            Ok(count) => rows(count),
            Err(error) => {
                if client.is_closed() {
                    self.clients.remove(&key);
                }
                Outcome::failed(SqlError::Query(describe_error(&error)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn server_is_described_as_host_port_database() {
        let config: tokio_postgres::Config =
            "postgres://postgres@127.0.0.1:5433/cities".parse().unwrap();
        assert_eq!(describe_server(&config), "127.0.0.1:5433/cities");
    }

    #[test]
    fn session_options_carry_search_path_and_timeout() {
        let target = SqlTarget {
            database_url: "postgres://postgres@127.0.0.1/postgres".into(),
            sql: "SELECT 1".into(),
            search_path: Some("loadlab, public".into()),
            statement_timeout: Some(Duration::from_millis(1500)),
        };
        let config = target.config().unwrap();
        assert_eq!(
            config.get_options(),
            Some("-c search_path=loadlab,\\ public -c statement_timeout=1500")
        );
    }
}
