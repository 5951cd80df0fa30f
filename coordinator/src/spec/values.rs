//! The values a spec is made of, each validated as it is read: ids, paths,
//! targets, durations, schema names.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::de::checked_str;

/// A request's name (`R1`, `R2`, ...). Unique within the spec: the spec
/// checks that once it is read (see `diagnostic::duplicate_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(pub String);

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "a request id", |id| {
            if id.trim().is_empty() {
                return Err("request id is empty".to_owned());
            }
            Ok(RequestId(id.to_owned()))
        })
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
        // A template's expressions (`{{ random(1, 9) }}`) may hold spaces.
        let blank = loadlab_agent::scenario::template::blank(&path, "0");
        if blank.chars().any(char::is_whitespace) {
            return Err(de::Error::custom(format!(
                "path {path:?} contains whitespace; encode it as %20"
            )));
        }
        Ok(RequestPath(path))
    }
}

/// The base URL of an HTTP server, e.g. `http://127.0.0.1:8000` (or
/// `https://...`).
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
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "target {text:?}: only http:// and https:// targets are supported"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "target {text:?}: credentials in a URL are not sent; give them as a request header"
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

/// The one duration grammar of specs and thresholds: humantime's (`60s`,
/// `1m`, `1h 30m`, `250ms`, `800us`) and a decimal with one unit (`1.5s`,
/// `0.25ms`, `2.5m`), to the microsecond. Errors say what is wrong
/// without the examples, which each caller gives.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(format!("duration {text:?} is negative"));
    }
    let humantime_error = match humantime::parse_duration(text) {
        Ok(duration) => return Ok(duration),
        Err(error) => error,
    };
    let unit_at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let micros_per_unit = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" | "sec" => 1e6,
        "m" | "min" => 60e6,
        "h" => 3_600e6,
        _ => return Err(format!("bad duration {text:?} ({humantime_error})")),
    };
    let micros = number
        .parse::<f64>()
        .ok()
        .map(|n| (n * micros_per_unit).round())
        .filter(|us| us.is_finite() && *us <= u64::MAX as f64)
        .ok_or_else(|| format!("bad duration {text:?} ({humantime_error})"))?;
    Ok(Duration::from_micros(micros as u64))
}

impl<'de> Deserialize<'de> for SpecDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = SpecDuration;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. 60s, 1m or 250ms")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<SpecDuration, E> {
                parse_duration(text).map(SpecDuration).map_err(|error| {
                    if error.ends_with("is negative") {
                        E::custom(error)
                    } else {
                        E::custom(format!("{error}; write e.g. 60s, 1m, 1.5s or 250ms"))
                    }
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

/// Where the work goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Targets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTarget>,
    /// A libpq-style URL, e.g. postgres://postgres@127.0.0.1:5432/postgres
    /// (written back with its password as `***`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "without_password"
    )]
    pub postgres: Option<String>,
    /// The tracker's base URL, e.g. ws://127.0.0.1:8001 (the tracking
    /// workload; absent: an embedded tracker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracker: Option<String>,
    /// Redis, e.g. redis://127.0.0.1:6379 (the tracking workload; absent:
    /// `REDIS_URL`, else 127.0.0.1:6379).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
}

/// A database URL as reports write it: its password, if any, as `***`.
fn without_password<S: Serializer>(url: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    let shown = url.as_deref().map(|text| match url::Url::parse(text) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => text.to_owned(),
    });
    shown.serialize(serializer)
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
                    ..Targets::default()
                })
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Targets, A::Error> {
                let mut targets = Targets::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "http" => targets.http = Some(map.next_value()?),
                        "postgres" => targets.postgres = Some(map.next_value::<PostgresUrl>()?.0),
                        "tracker" => {
                            let url: String = map.next_value()?;
                            if !url.starts_with("ws://") {
                                return Err(de::Error::custom(format!(
                                    "`tracker` is the tracker's ws:// URL, e.g. ws://127.0.0.1:8001, not {url:?}"
                                )));
                            }
                            targets.tracker = Some(url.trim_end_matches('/').to_owned());
                        }
                        "redis" => {
                            let url: String = map.next_value()?;
                            if !url.starts_with("redis://") {
                                return Err(de::Error::custom(format!(
                                    "`redis` is a redis:// URL, e.g. redis://127.0.0.1:6379, not {url:?}"
                                )));
                            }
                            targets.redis = Some(url);
                        }
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["http", "postgres", "tracker", "redis"],
                            ));
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
pub(crate) struct PostgresUrl(String);

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

/// A rate with its unit: `200/s`, `12000/m`. Kept per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl Rate {
    pub fn parse(text: &str) -> Result<Rate, String> {
        let (number, unit) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("rate {text:?} has no unit; write e.g. 200/s or 12000/m"))?;
        let per = match unit.trim() {
            "s" => 1.0,
            "m" => 60.0,
            other => {
                return Err(format!(
                    "rate {text:?}: unknown unit `/{other}`; write /s (per second) or /m (per minute)"
                ));
            }
        };
        let n: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("rate {text:?}: {:?} is not a number", number.trim()))?;
        if !n.is_finite() || n <= 0.0 {
            return Err(format!("rate {text:?} must be more than 0"));
        }
        Ok(Rate(n / per))
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RateVisitor;
        impl Visitor<'_> for RateVisitor {
            type Value = Rate;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate with its unit, e.g. 200/s or 12000/m")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Rate, E> {
                Rate::parse(text).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Rate, E> {
                Err(E::custom(format!(
                    "rate {n} has no unit; write e.g. {n}/s or {n}/m"
                )))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Rate, E> {
                Err(E::custom(format!(
                    "rate {n} has no unit; write e.g. {n}/s or {n}/m"
                )))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Rate, E> {
                Err(E::custom(format!("rate {n} has no unit; write e.g. {n}/s")))
            }
        }
        deserializer.deserialize_any(RateVisitor)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}/s", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database password never goes back out with the spec.
    #[test]
    fn a_database_password_is_written_back_as_stars() {
        let targets = Targets {
            postgres: Some("postgres://app:hunter2@db:5432/shop".into()),
            ..Targets::default()
        };
        let json = serde_json::to_string(&targets).unwrap();
        assert_eq!(json, r#"{"postgres":"postgres://app:***@db:5432/shop"}"#);
    }
}
