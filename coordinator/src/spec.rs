//! Experiment specs: the YAML a user writes, parsed and validated before
//! anything runs. Every error names the file, line and column.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use loadlab_agent::Mode;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A parsed, valid experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where requests and queries go: a base URL (the HTTP server), or
    /// `{ http: URL, postgres: URL }`. Without an HTTP target, an embedded
    /// delay server answers; without a PostgreSQL one, `DATABASE_URL`.
    #[serde(default)]
    pub target: Targets,
    #[serde(deserialize_with = "modes")]
    pub modes: Vec<Mode>,
    /// HTTP requests of one round.
    #[serde(default, deserialize_with = "requests")]
    pub requests: Vec<RequestSpec>,
    /// SQL queries of one round (after the HTTP requests).
    #[serde(default, deserialize_with = "queries")]
    pub queries: Vec<QuerySpec>,
    /// Seed the cities dataset (idempotently) before running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetSpec>,
    /// Server-side limit per query (PostgreSQL's `statement_timeout`);
    /// default: `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_timeout: Option<SpecDuration>,
    /// Rounds per mode.
    #[serde(default = "one_round")]
    pub repeat: NonZeroU32,
    /// Cap on in-flight requests in async and threads modes; 0 = all at once.
    #[serde(default)]
    pub concurrency: u32,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout: SpecDuration,
    #[serde(default)]
    pub agents: AgentsSpec,
    /// What to do when an agent is lost mid-run.
    #[serde(default)]
    pub on_agent_loss: AgentLoss,
}

/// How many agents run the experiment, and how they share it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsSpec {
    #[serde(default = "one_agent")]
    pub count: NonZeroU32,
    #[serde(default)]
    pub split: Split,
}

impl Default for AgentsSpec {
    fn default() -> Self {
        AgentsSpec {
            count: one_agent(),
            split: Split::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Every agent runs every round: load from N hosts at once.
    #[default]
    Replicate,
    /// The rounds are divided between the agents.
    Partition,
}

/// What a run does when an agent dies or is cut off before finishing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentLoss {
    /// Stop the run, report what was delivered, exit 1.
    #[default]
    Fail,
    /// Hand the lost agent's unfinished requests to the agents left.
    Redistribute,
}

/// Where the work goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Targets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTarget>,
    /// A libpq-style URL, e.g. postgres://postgres@127.0.0.1:5432/postgres
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<String>,
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetsVisitor;
        impl<'de> Visitor<'de> for TargetsVisitor {
            type Value = Targets;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a base URL like http://127.0.0.1:8000, or { http: URL, postgres: URL }",
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Targets, E> {
                Ok(Targets {
                    http: Some(HttpTarget::parse(text).map_err(E::custom)?),
                    postgres: None,
                })
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Targets, A::Error> {
                let mut targets = Targets::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "http" => targets.http = Some(map.next_value()?),
                        "postgres" => targets.postgres = Some(map.next_value::<PostgresUrl>()?.0),
                        other => {
                            return Err(de::Error::unknown_field(other, &["http", "postgres"]));
                        }
                    }
                }
                Ok(targets)
            }
        }
        deserializer.deserialize_any(TargetsVisitor)
    }
}

/// A `postgres://` or `postgresql://` URL.
struct PostgresUrl(String);

impl<'de> Deserialize<'de> for PostgresUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a postgres:// URL", |text| {
            if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
                return Err(format!(
                    "target.postgres {text:?} must be a postgres:// URL, e.g. postgres://postgres@127.0.0.1:5432/postgres"
                ));
            }
            Ok(PostgresUrl(text.to_owned()))
        })
    }
}

/// One SQL query of a round.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    pub id: RequestId,
    pub sql: String,
}

/// The cities dataset the queries run against.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Scale 1 is 5,564 cities; scale 1400 gives the demonstration's 7.8 M.
    pub scale: NonZeroU32,
    /// The schema the dataset lives in (nothing outside it is touched).
    #[serde(default = "default_schema")]
    pub schema: SchemaName,
}

fn default_schema() -> SchemaName {
    SchemaName("loadlab".to_owned())
}

/// A plain SQL identifier: lowercase letters, digits and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SchemaName(pub String);

impl SchemaName {
    pub fn parse(text: &str) -> Result<SchemaName, String> {
        let valid = !text.is_empty()
            && text.len() <= 63
            && text.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(SchemaName(text.to_owned()))
        } else {
            Err(format!(
                "schema {text:?} must be lowercase letters, digits and _ (at most 63)"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for SchemaName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a schema name", SchemaName::parse)
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One request of a round.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    pub id: RequestId,
    /// Path and query on the target, e.g. `/delay-me?seconds=10`.
    pub path: RequestPath,
}

fn one_round() -> NonZeroU32 {
    NonZeroU32::MIN
}

fn one_agent() -> NonZeroU32 {
    NonZeroU32::MIN
}

fn default_timeout() -> SpecDuration {
    SpecDuration(Duration::from_secs(60))
}

/// Why a spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl Spec {
    /// Reads and validates the spec at `path`.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: shown.clone(),
            source,
        })?;
        Spec::parse(&text, &shown)
    }

    /// Validates `text`; `origin` names it in errors (usually the file path).
    pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
        SEEN_IDS.with(|seen| seen.borrow_mut().clear());
        let parsed = serde_yaml_ng::from_str::<Spec>(text);
        SEEN_IDS.with(|seen| seen.borrow_mut().clear());
        let spec = parsed.map_err(|error| {
            let (line, column) = error.location().map_or((1, 1), |l| (l.line(), l.column()));
            SpecError::Invalid {
                path: origin.to_owned(),
                line,
                column,
                message: explain(&error.to_string()),
            }
        })?;
        if spec.requests.is_empty() && spec.queries.is_empty() {
            return Err(SpecError::Invalid {
                path: origin.to_owned(),
                line: 1,
                column: 1,
                message: "nothing to run: give `requests` (HTTP) or `queries` (SQL), or both"
                    .to_owned(),
            });
        }
        Ok(spec)
    }

    /// The statement timeout queries run with.
    pub fn query_timeout(&self) -> Duration {
        self.statement_timeout.unwrap_or(self.timeout).0
    }

    /// Requests in one mode across all rounds and agents.
    pub fn total_requests(&self, agents: u32) -> u64 {
        let per_round = (self.requests.len() + self.queries.len()) as u64;
        let rounds = u64::from(self.repeat.get());
        match self.agents.split {
            Split::Replicate => per_round * rounds * u64::from(agents),
            Split::Partition => per_round * rounds,
        }
    }
}

/// The library's message without its trailing position (we print ours in
/// front), plus a suggestion when a name looks misspelt.
fn explain(message: &str) -> String {
    let mut text = strip_position(message);
    if let Some(suggestion) = did_you_mean(&text) {
        text.push_str(&format!(" (did you mean `{suggestion}`?)"));
    }
    text
}

fn strip_position(message: &str) -> String {
    let mut text = message.to_owned();
    while let Some(at) = text.find(" at line ") {
        let digits = |s: &str| {
            s.trim_start_matches(|c: char| c.is_ascii_digit())
                .to_owned()
        };
        let rest = digits(&text[at + " at line ".len()..]);
        let rest = digits(rest.strip_prefix(" column ").unwrap_or(&rest));
        text = format!("{}{rest}", &text[..at]);
    }
    text
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and the same
/// for variants), the closest valid name, if one is close.
fn did_you_mean(message: &str) -> Option<String> {
    let after = message
        .split_once("unknown field `")
        .or_else(|| message.split_once("unknown variant `"))?
        .1;
    let (given, choices) = after.split_once('`')?;
    let names = choices.split('`').skip(1).step_by(2);
    names
        .map(|name| (strsim::damerau_levenshtein(given, name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3) && *distance > 0)
        .min()
        .map(|(_, name)| name.to_owned())
}

/// A non-empty list of distinct modes.
fn modes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Mode>, D::Error> {
    checked_seq(deserializer, "a list of modes", |modes: Vec<Mode>| {
        if modes.is_empty() {
            return Err(format!(
                "no modes: list at least one of {}",
                Mode::ALL.map(|m| format!("`{m}`")).join(", ")
            ));
        }
        let mut seen = HashSet::new();
        match modes.iter().find(|m| !seen.insert(**m)) {
            Some(twice) => Err(format!("mode `{twice}` is listed twice")),
            None => Ok(modes),
        }
    })
}

/// A non-empty list of requests (when the field is given at all).
fn requests<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<RequestSpec>, D::Error> {
    checked_seq(
        deserializer,
        "a list of requests",
        |requests: Vec<RequestSpec>| {
            if requests.is_empty() {
                return Err("no requests: list at least one `{ id, path }`".to_owned());
            }
            Ok(requests)
        },
    )
}

/// A non-empty list of queries (when the field is given at all).
fn queries<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<QuerySpec>, D::Error> {
    checked_seq(
        deserializer,
        "a list of queries",
        |queries: Vec<QuerySpec>| {
            if queries.is_empty() {
                return Err("no queries: list at least one `{ id, sql }`".to_owned());
            }
            if let Some(blank) = queries.iter().find(|q| q.sql.trim().is_empty()) {
                return Err(format!("query `{}` has an empty `sql`", blank.id));
            }
            Ok(queries)
        },
    )
}

// The YAML deserializer stamps an error with the position of the value it is
// reading when the error is raised. Checks therefore run inside visitors,
// while the value is being read, so that a refusal points at the value
// itself rather than at the mapping around it.

/// Deserializes a sequence, then applies `check` to it.
fn checked_seq<'de, D, T, F>(
    deserializer: D,
    expecting: &'static str,
    check: F,
) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
    F: FnOnce(Vec<T>) -> Result<Vec<T>, String>,
{
    struct SeqVisitor<T, F>(&'static str, F, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>, F: FnOnce(Vec<T>) -> Result<Vec<T>, String>> Visitor<'de>
        for SeqVisitor<T, F>
    {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            (self.1)(items).map_err(de::Error::custom)
        }
    }
    deserializer.deserialize_seq(SeqVisitor(expecting, check, std::marker::PhantomData))
}

/// Deserializes a string, then turns it into a `T` with `check`.
fn checked_str<'de, D, T, F>(
    deserializer: D,
    expecting: &'static str,
    check: F,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    struct StrVisitor<T, F>(&'static str, F, std::marker::PhantomData<T>);
    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for StrVisitor<T, F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.1)(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(StrVisitor(expecting, check, std::marker::PhantomData))
}

thread_local! {
    /// Request ids seen so far in the spec being parsed on this thread. A
    /// duplicate is refused while its own scalar is being read, so the error
    /// points at the exact line and column of the second occurrence.
    static SEEN_IDS: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// A request's name, unique within the spec (`R1`, `R2`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        if id.trim().is_empty() {
            return Err(de::Error::custom("request id is empty"));
        }
        let fresh = SEEN_IDS.with(|seen| seen.borrow_mut().insert(id.clone()));
        if !fresh {
            return Err(de::Error::custom(format!(
                "duplicate request id `{id}`: ids must be unique"
            )));
        }
        Ok(RequestId(id))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A path and query starting with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RequestPath(pub String);

impl<'de> Deserialize<'de> for RequestPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let path = String::deserialize(deserializer)?;
        if !path.starts_with('/') {
            return Err(de::Error::custom(format!(
                "path {path:?} must start with `/` (e.g. /delay-me?seconds=2)"
            )));
        }
        if path.chars().any(char::is_whitespace) {
            return Err(de::Error::custom(format!(
                "path {path:?} contains whitespace; encode it as %20"
            )));
        }
        Ok(RequestPath(path))
    }
}

/// The base URL of an HTTP server, e.g. `http://127.0.0.1:8000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget(pub String);

impl<'de> Deserialize<'de> for HttpTarget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(
            deserializer,
            "a base URL like http://127.0.0.1:8000",
            HttpTarget::parse,
        )
    }
}

impl HttpTarget {
    pub fn parse(text: &str) -> Result<HttpTarget, String> {
        let url =
            url::Url::parse(text).map_err(|e| format!("target {text:?} is not a URL: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "target {text:?}: only http:// targets are supported"
            ));
        }
        if url.query().is_some() || url.path() != "/" {
            return Err(format!(
                "target {text:?} must be a base URL like http://host:port; put paths in requests"
            ));
        }
        Ok(HttpTarget(text.trim_end_matches('/').to_owned()))
    }
}

impl Serialize for HttpTarget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A duration written with its unit: `60s`, `1m`, `250ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecDuration(pub Duration);

impl<'de> Deserialize<'de> for SpecDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = SpecDuration;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. 60s, 1m or 250ms")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<SpecDuration, E> {
                if text.trim_start().starts_with('-') {
                    return Err(E::custom(format!("duration {text:?} is negative")));
                }
                humantime::parse_duration(text)
                    .map(SpecDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "bad duration {text:?} ({e}); write e.g. 60s, 1m or 250ms"
                        ))
                    })
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<SpecDuration, E> {
                Err(E::custom(format!(
                    "duration {n} has no unit; write e.g. {n}s or {n}ms"
                )))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<SpecDuration, E> {
                Err(E::custom(format!(
                    "duration {n} has no unit; write e.g. {n}s or {n}ms"
                )))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<SpecDuration, E> {
                Err(E::custom(format!(
                    "duration {n} has no unit; write e.g. {n}s"
                )))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

impl Serialize for SpecDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: http
description: the slow server
target: http://127.0.0.1:8000
modes: [sync, async, blocking, threads]
requests:
  - { id: R1, path: /delay-me?seconds=10 }
  - { id: R2, path: /delay-me?seconds=2 }
  - { id: R3, path: /delay-me?seconds=5 }
repeat: 1
concurrency: 0
timeout: 60s
";

    fn error(text: &str) -> (usize, usize, String) {
        match Spec::parse(text, "x.yaml").unwrap_err() {
            SpecError::Invalid {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_reference_spec_parses() {
        let spec = Spec::parse(GOOD, "x.yaml").unwrap();
        assert_eq!(spec.modes, Mode::ALL.to_vec());
        assert_eq!(spec.requests.len(), 3);
        assert_eq!(spec.requests[0].id.0, "R1");
        assert_eq!(spec.requests[0].path.0, "/delay-me?seconds=10");
        assert_eq!(
            spec.target.http,
            Some(HttpTarget("http://127.0.0.1:8000".into()))
        );
        assert_eq!(spec.target.postgres, None);
        assert_eq!(spec.timeout.0, Duration::from_secs(60));
        assert_eq!(spec.repeat.get(), 1);
    }

    #[test]
    fn optional_fields_have_defaults() {
        let spec = Spec::parse(
            "name: x\nmodes: [async]\nrequests: [{id: a, path: /}]\n",
            "x",
        )
        .unwrap();
        assert_eq!(spec.target, Targets::default());
        assert!(spec.queries.is_empty() && spec.dataset.is_none());
        assert_eq!((spec.repeat.get(), spec.concurrency), (1, 0));
        assert_eq!(spec.timeout.0, Duration::from_secs(60));
        assert_eq!(
            (spec.agents.count.get(), spec.agents.split),
            (1, Split::Replicate)
        );
    }

    #[test]
    fn unknown_field_names_the_place_and_suggests() {
        let text = GOOD.replace("repeat: 1", "reppeat: 1");
        let (line, column, message) = error(&text);
        assert_eq!((line, column), (9, 1));
        assert!(message.contains("unknown field `reppeat`"), "{message}");
        assert!(message.contains("expected one of"), "{message}");
        assert!(message.ends_with("(did you mean `repeat`?)"), "{message}");
    }

    #[test]
    fn unknown_mode_lists_the_valid_ones() {
        let text = GOOD.replace(
            "modes: [sync, async, blocking, threads]",
            "modes: [sync, asnyc]",
        );
        let (line, column, message) = error(&text);
        assert_eq!((line, column), (4, 15));
        assert!(message.contains("unknown variant `asnyc`"), "{message}");
        assert!(
            message.contains("`sync`, `async`, `blocking`, `threads`"),
            "{message}"
        );
        assert!(message.contains("did you mean `async`?"), "{message}");
    }

    #[test]
    fn duplicate_id_points_at_the_second_one() {
        let text = GOOD.replace("{ id: R3,", "{ id: R1,");
        let (line, column, message) = error(&text);
        // The third request's entry (the `{` of its flow mapping).
        assert_eq!((line, column), (8, 5));
        assert!(message.contains("duplicate request id `R1`"), "{message}");
    }

    #[test]
    fn wrong_type_is_reported_where_it_is() {
        let (line, column, message) = error(&GOOD.replace("repeat: 1", "repeat: many"));
        assert_eq!((line, column), (9, 9));
        assert!(message.contains("invalid type"), "{message}");
        let (line, _, message) = error(&GOOD.replace("concurrency: 0", "concurrency: -3"));
        assert_eq!(line, 10);
        assert!(message.contains("-3"), "{message}");
        let (line, _, message) = error(&GOOD.replace("repeat: 1", "repeat: 0"));
        assert_eq!(line, 9);
        assert!(message.contains("nonzero"), "{message}");
    }

    #[test]
    fn bad_durations_are_explained() {
        for (value, says) in [
            ("soon", "bad duration \"soon\""),
            ("-5s", "is negative"),
            ("60", "has no unit; write e.g. 60s"),
        ] {
            let (line, column, message) =
                error(&GOOD.replace("timeout: 60s", &format!("timeout: {value}")));
            assert_eq!((line, column), (11, 10), "{value}");
            assert!(message.contains(says), "{value}: {message}");
        }
    }

    #[test]
    fn empty_lists_are_refused() {
        let text = "name: x\nmodes: [sync]\nrequests: []\n";
        let (line, _, message) = error(text);
        assert_eq!(line, 3);
        assert!(message.contains("no requests"), "{message}");
        let (line, _, message) = error("name: x\nmodes: []\nrequests: [{id: a, path: /}]\n");
        assert_eq!(line, 2);
        assert!(message.contains("no modes"), "{message}");
    }

    #[test]
    fn missing_field_and_bad_paths_and_targets() {
        let (_, _, message) = error("name: x\nrequests: [{id: a, path: /}]\n");
        assert!(message.contains("missing field `modes`"), "{message}");
        let (line, _, message) =
            error(&GOOD.replace("path: /delay-me?seconds=2", "path: delay-me"));
        assert_eq!(line, 7);
        assert!(message.contains("must start with `/`"), "{message}");
        let (line, _, message) = error(&GOOD.replace("http://127.0.0.1:8000", "ftp://x"));
        assert_eq!(line, 3);
        assert!(message.contains("only http://"), "{message}");
        let (line, _, message) = error(&GOOD.replace(
            "modes: [sync, async, blocking, threads]",
            "modes: [sync, sync]",
        ));
        assert_eq!(line, 4);
        assert!(message.contains("listed twice"), "{message}");
    }

    #[test]
    fn postgres_spec_with_dataset_and_queries_parses() {
        let text = "name: pg\ntarget: { postgres: \"postgres://postgres@127.0.0.1:5432/postgres\" }\n\
                    dataset: { scale: 1400 }\nmodes: [sync]\nstatement_timeout: 120s\n\
                    queries:\n  - { id: R1, sql: SELECT 1 }\nrequests: [{ id: H1, path: /delay-me?ms=1 }]\n";
        let spec = Spec::parse(text, "x").unwrap();
        assert_eq!(
            spec.target.postgres.as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/postgres")
        );
        assert_eq!(spec.target.http, None);
        let dataset = spec.dataset.as_ref().unwrap();
        assert_eq!(
            (dataset.scale.get(), dataset.schema.0.as_str()),
            (1400, "loadlab")
        );
        assert_eq!(spec.query_timeout(), Duration::from_secs(120));
        assert_eq!(spec.total_requests(1), 2);
    }

    #[test]
    fn postgres_mistakes_are_located() {
        let (line, _, message) = error(
            "name: x\ntarget: { postgres: \"mysql://x\" }\nmodes: [sync]\nqueries: [{ id: Q, sql: SELECT 1 }]\n",
        );
        assert_eq!(line, 2);
        assert!(message.contains("must be a postgres:// URL"), "{message}");
        let (line, _, message) =
            error("name: x\ntarget: { postgre: \"postgres://x\" }\nmodes: [sync]\n");
        assert_eq!(line, 2);
        assert!(message.contains("did you mean `postgres`?"), "{message}");
        let (line, _, message) = error(
            "name: x\nmodes: [sync]\nqueries: [{ id: Q, sql: SELECT 1 }, { id: Q, sql: SELECT 2 }]\n",
        );
        assert_eq!(line, 3);
        assert!(message.contains("duplicate request id `Q`"), "{message}");
        let (line, _, message) = error(
            "name: x\ndataset: { scale: 1, schema: Bad-Name }\nmodes: [sync]\nqueries: [{ id: Q, sql: SELECT 1 }]\n",
        );
        assert_eq!(line, 2);
        assert!(message.contains("lowercase letters"), "{message}");
        let (_, _, message) = error("name: x\nmodes: [sync]\n");
        assert!(message.contains("nothing to run"), "{message}");
    }

    #[test]
    fn broken_yaml_is_located() {
        let (line, _, message) = error("name: x\nmodes: [sync\nrequests: []\n");
        assert!(line >= 2, "{line}: {message}");
        assert!(!message.contains(" at line "), "{message}");
    }
}
