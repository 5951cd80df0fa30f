//! Scenarios in a spec: named sequences of steps — HTTP requests (with
//! `extract` and `expect.contains`), SQL queries (`query:`) and pauses
//! (`think:`) — chosen by `weight`; the `data` file their templates read
//! as `row`. Every value is checked as it is read; templates are checked
//! once the whole spec is ([`check_templates`], in `templates.rs`),
//! against what the steps before them extract.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use loadlab_agent::scenario::template;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::de::checked_str;
use super::request::{Expect, Headers, HttpMethod, RequestBody, RequestFields, RequestSpec};
use super::values::{RequestId, RequestPath, parse_duration};
use super::{QuerySpec, RequestUrl};

mod templates;

pub use templates::{TemplateError, check_templates, locate};

impl super::Spec {
    /// Scenarios replace `requests` and `queries`; `data` and `cookies`
    /// go with them; `expect.contains` is a scenario step's check.
    pub(super) fn check_scenarios(&self) -> Result<(), (&'static str, String)> {
        let Some(_) = &self.scenarios else {
            if self.data.is_some() {
                return Err((
                    "data",
                    "`data` rows are read by scenarios' templates: add `scenarios`".into(),
                ));
            }
            if self.cookies.is_some() {
                return Err(("cookies", "`cookies` is for `scenarios`".into()));
            }
            if self
                .requests
                .iter()
                .any(|r| r.expect.as_ref().is_some_and(|e| e.contains.is_some()))
            {
                return Err((
                    "requests",
                    "`expect: { contains: ... }` is checked in scenario steps: put the request                      in a scenario (see experiments/README.md)"
                        .into(),
                ));
            }
            return Ok(());
        };
        if !self.requests.is_empty() || !self.queries.is_empty() || self.track.is_some() {
            return Err((
                "scenarios",
                "`scenarios` replace `requests` and `queries` (a plain spec is one scenario):                  move them into a scenario's steps"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The spec's scenarios, in the order written.
#[derive(Debug, Clone, Default)]
pub struct Scenarios(pub Vec<(String, ScenarioSpec)>);

/// One scenario: how often it is chosen, and its steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Chosen in proportion to this among the scenarios; default 1.
    #[serde(default = "one")]
    pub weight: NonZeroU32,
    #[serde(deserialize_with = "steps")]
    pub steps: Vec<StepSpec>,
}

fn one() -> NonZeroU32 {
    NonZeroU32::MIN
}

/// One step of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "StepFields", into = "StepFields")]
pub enum StepSpec {
    Http {
        request: RequestSpec,
        extract: Extracts,
        /// The body must contain this (`expect: { contains: ... }`).
        contains: Option<String>,
    },
    Sql {
        query: QuerySpec,
    },
    Think(Think),
}

/// A step as written, before the checks that span its fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    think: Option<Think>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<RequestId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<RequestPath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<RequestUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<HttpMethod>,
    #[serde(default, skip_serializing_if = "Headers::is_empty")]
    headers: Headers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<RequestBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expect: Option<Expect>,
    #[serde(default, skip_serializing_if = "Extracts::is_empty")]
    extract: Extracts,
}

impl TryFrom<StepFields> for StepSpec {
    type Error = String;

    fn try_from(f: StepFields) -> Result<StepSpec, String> {
        const FORMS: &str = "a step is a request (`{ id, path }` or `{ id, url }`), a query \
                             (`{ id, query }`) or a pause (`{ think: 1s }`)";
        let http = f.path.is_some() || f.url.is_some();
        if let Some(think) = f.think {
            if f.id.is_some() || f.query.is_some() || http || !f.extract.is_empty() {
                return Err(format!("a `think` step only pauses: {FORMS}"));
            }
            return Ok(StepSpec::Think(think));
        }
        let Some(id) = f.id else {
            return Err(format!("a step without an `id`: {FORMS}"));
        };
        if let Some(sql) = f.query {
            if http || f.method.is_some() || f.body.is_some() || !f.headers.is_empty() {
                return Err(format!(
                    "step {id} has both `query` (SQL) and HTTP fields: {FORMS}"
                ));
            }
            if f.expect.is_some() || !f.extract.is_empty() {
                return Err(format!(
                    "step {id}: `expect` and `extract` read HTTP responses, not queries"
                ));
            }
            if sql.trim().is_empty() {
                return Err(format!("step {id} has an empty `query`"));
            }
            return Ok(StepSpec::Sql {
                query: QuerySpec { id, sql },
            });
        }
        let contains = f.expect.as_ref().and_then(|e| e.contains.clone());
        let request = RequestSpec::try_from(RequestFields {
            id,
            path: f.path,
            url: f.url,
            method: f.method,
            headers: f.headers,
            body: f.body,
            expect: f.expect,
        })?;
        Ok(StepSpec::Http {
            request,
            extract: f.extract,
            contains,
        })
    }
}

impl From<StepSpec> for StepFields {
    fn from(step: StepSpec) -> StepFields {
        match step {
            StepSpec::Think(think) => StepFields {
                think: Some(think),
                ..StepFields::default()
            },
            StepSpec::Sql { query } => StepFields {
                id: Some(query.id),
                query: Some(query.sql),
                ..StepFields::default()
            },
            StepSpec::Http {
                request, extract, ..
            } => {
                let (path, url) = match request.to {
                    super::Destination::Path(path) => (Some(path), None),
                    super::Destination::Url(url) => (None, Some(url)),
                };
                StepFields {
                    id: Some(request.id),
                    path,
                    url,
                    method: request.method,
                    headers: request.headers,
                    body: request.body,
                    expect: request.expect,
                    extract,
                    ..StepFields::default()
                }
            }
        }
    }
}

/// A pause: `1s`, or a range `500ms..2s` drawn uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Think {
    pub min: Duration,
    pub max: Duration,
}

impl<'de> Deserialize<'de> for Think {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a pause like 1s or 500ms..2s", |text| {
            let (min, max) = match text.split_once("..") {
                Some((min, max)) => (min.trim(), max.trim()),
                None => (text.trim(), text.trim()),
            };
            let read = |t: &str| {
                parse_duration(t)
                    .map_err(|e| format!("think {text:?}: {e}; write e.g. 1s or 500ms..2s"))
            };
            let (min, max) = (read(min)?, read(max)?);
            if min > max {
                return Err(format!(
                    "think {text:?}: the range's start is after its end"
                ));
            }
            Ok(Think { min, max })
        })
    }
}

impl Serialize for Think {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        if self.min == self.max {
            serializer.serialize_str(&show(self.min))
        } else {
            serializer.serialize_str(&format!("{}..{}", show(self.min), show(self.max)))
        }
    }
}

/// `extract: { token: { json: "$.token" } }`, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracts(pub Vec<(String, ExtractSpec)>);

impl Extracts {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where an extracted value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "ExtractFields")]
pub enum ExtractSpec {
    /// A JSONPath into a JSON body (its first match).
    Json(String),
    /// A response header.
    Header(String),
    /// A regular expression on the body: its first group, or the match.
    Regex(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtractFields {
    json: Option<String>,
    header: Option<String>,
    regex: Option<String>,
}

impl TryFrom<ExtractFields> for ExtractSpec {
    type Error = String;

    fn try_from(f: ExtractFields) -> Result<ExtractSpec, String> {
        use loadlab_agent::scenario::extract::{parse_json_path, parse_regex};
        match (f.json, f.header, f.regex) {
            (Some(path), None, None) => parse_json_path(&path).map(|_| ExtractSpec::Json(path)),
            (None, Some(name), None) => http::HeaderName::from_bytes(name.as_bytes())
                .map(|_| ExtractSpec::Header(name.clone()))
                .map_err(|_| format!("{name:?} is not an HTTP header name")),
            (None, None, Some(pattern)) => {
                parse_regex(&pattern).map(|_| ExtractSpec::Regex(pattern))
            }
            _ => Err(
                "extract each value from one place: { json: \"$.token\" }, { header: Location } \
                 or { regex: \"id=(\\\\d+)\" }"
                    .to_owned(),
            ),
        }
    }
}

impl Serialize for Extracts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, from) in &self.0 {
            map.serialize_entry(name, from)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Extracts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExtractsVisitor;
        impl<'de> Visitor<'de> for ExtractsVisitor {
            type Value = Extracts;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of names to sources, e.g. { token: { json: \"$.token\" } }")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extracts, A::Error> {
                let mut out: Vec<(String, ExtractSpec)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if !is_name(&name) {
                        return Err(de::Error::custom(format!(
                            "{name:?} cannot be a template variable: letters, digits and _, \
                             not starting with a digit"
                        )));
                    }
                    if template::BUILTINS.contains(&name.as_str()) {
                        return Err(de::Error::custom(format!(
                            "`{name}` is a name templates already have ({}): pick another",
                            template::BUILTINS.join(", ")
                        )));
                    }
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!("`{name}` is extracted twice")));
                    }
                    out.push((name, map.next_value()?));
                }
                Ok(Extracts(out))
            }
        }
        deserializer.deserialize_map(ExtractsVisitor)
    }
}

/// Whether a template can read `name` as a variable or an attribute
/// (`token`, `row.user_id`): letters, digits and `_`, not starting with a
/// digit. Extracted names and data columns are such names.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Serialize for Scenarios {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, scenario) in &self.0 {
            map.serialize_entry(name, scenario)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Scenarios {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScenariosVisitor;
        impl<'de> Visitor<'de> for ScenariosVisitor {
            type Value = Scenarios;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of scenario names to { weight, steps }")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scenarios, A::Error> {
                let mut out: Vec<(String, ScenarioSpec)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if name.trim().is_empty() {
                        return Err(de::Error::custom("a scenario's name is empty"));
                    }
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!(
                            "scenario `{name}` is given twice"
                        )));
                    }
                    out.push((name, map.next_value()?));
                }
                if out.is_empty() {
                    return Err(de::Error::custom(
                        "no scenarios: give at least one `name: { steps: [...] }`",
                    ));
                }
                Ok(Scenarios(out))
            }
        }
        deserializer.deserialize_map(ScenariosVisitor)
    }
}

/// A non-empty list of steps with at least one request or query.
fn steps<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<StepSpec>, D::Error> {
    super::de::checked_seq(deserializer, "a list of steps", |steps: Vec<StepSpec>| {
        if steps.iter().all(|s| matches!(s, StepSpec::Think(_))) {
            return Err(
                "a scenario needs at least one request or query step, e.g. { id: Home, path: / }"
                    .to_owned(),
            );
        }
        Ok(steps)
    })
}

/// The data file a scenario's templates read as `row`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// CSV with a header row (`.csv`) or JSON Lines (`.jsonl`), relative
    /// to the spec.
    pub file: String,
    #[serde(default)]
    pub order: DataOrder,
}

/// How rows are handed to iterations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataOrder {
    /// In file order from one sequence, wrapping around.
    #[default]
    Sequential,
    /// Drawn at random.
    Random,
    /// Each row once across all agents; the mode ends when they run out.
    Unique,
}
