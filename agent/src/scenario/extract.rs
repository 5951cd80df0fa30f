//! Values a scenario step takes from its response for later steps:
//! `{ json: "$.token" }` (the first match of a JSONPath, serde_json_path),
//! `{ header: "Location" }`, `{ regex: "id=(\\d+)" }` (its first group, or
//! the whole match). A failure says what matched nothing.

use loadlab_proto::v1;
use minijinja::Value;
use serde_json_path::JsonPath;

use crate::outcome::Reply;

/// One value to extract, parsed once.
#[derive(Debug)]
pub struct Extract {
    pub name: String,
    from: Source,
}

#[derive(Debug)]
enum Source {
    Json(JsonPath, String),
    Header(http::HeaderName),
    Regex(regex::Regex),
}

impl Extract {
    pub fn from_wire(wire: &v1::Extract) -> Result<Extract, String> {
        use v1::extract::From as Wire;
        let from = match &wire.from {
            Some(Wire::Json(path)) => Source::Json(parse_json_path(path)?, path.clone()),
            Some(Wire::Header(name)) => Source::Header(
                http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("{name:?} is not an HTTP header name"))?,
            ),
            Some(Wire::Regex(pattern)) => Source::Regex(parse_regex(pattern)?),
            None => return Err(format!("extract {}: from nowhere", wire.name)),
        };
        Ok(Extract {
            name: wire.name.clone(),
            from,
        })
    }

    /// The value in `reply`, or why there is none.
    pub fn apply(&self, reply: Option<&Reply>) -> Result<Value, String> {
        let name = &self.name;
        let Some(reply) = reply else {
            return Err(format!("extract {name}: no response to read"));
        };
        match &self.from {
            Source::Json(path, text) => {
                let json: serde_json::Value = serde_json::from_slice(&reply.body)
                    .map_err(|e| format!("extract {name}: the body is not JSON ({e})"))?;
                let first = path.query(&json).first().cloned();
                match first {
                    Some(serde_json::Value::String(s)) => Ok(Value::from(s)),
                    Some(other) => Ok(Value::from_serialize(&other)),
                    None => Err(format!("extract {name}: {text} matched nothing")),
                }
            }
            Source::Header(header) => reply
                .headers
                .get(header)
                .and_then(|v| v.to_str().ok())
                .map(Value::from)
                .ok_or_else(|| format!("extract {name}: no {header} header in the response")),
            Source::Regex(regex) => {
                let body = String::from_utf8_lossy(&reply.body);
                let captures = regex.captures(&body).ok_or_else(|| {
                    format!("extract {name}: /{}/ matched nothing", regex.as_str())
                })?;
                let found = captures.get(1).or_else(|| captures.get(0));
                Ok(Value::from(found.map_or("", |m| m.as_str())))
            }
        }
    }
}

/// A JSONPath as serde_json_path reads it (RFC 9535).
pub fn parse_json_path(path: &str) -> Result<JsonPath, String> {
    JsonPath::parse(path).map_err(|e| format!("{path:?} is not a JSONPath: {e}"))
}

pub fn parse_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("{pattern:?} is not a regular expression: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str, headers: &[(&str, &str)]) -> Reply {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Reply {
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    fn extract(name: &str, from: v1::extract::From) -> Extract {
        Extract::from_wire(&v1::Extract {
            name: name.into(),
            from: Some(from),
        })
        .unwrap()
    }

    #[test]
    fn json_header_and_regex_find_their_value_or_say_what_matched_nothing() {
        use v1::extract::From as W;
        let r = reply(r#"{"token":"abc","n":[4,5]}"#, &[("location", "/orders/7")]);
        let token = extract("token", W::Json("$.token".into()));
        assert_eq!(token.apply(Some(&r)).unwrap().as_str(), Some("abc"));
        let n = extract("n", W::Json("$.n[1]".into()));
        assert_eq!(n.apply(Some(&r)).unwrap().to_string(), "5");
        let missing = extract("token", W::Json("$.tokn".into()));
        assert_eq!(
            missing.apply(Some(&r)).unwrap_err(),
            "extract token: $.tokn matched nothing"
        );
        let at = extract("at", W::Header("Location".into()));
        assert_eq!(at.apply(Some(&r)).unwrap().as_str(), Some("/orders/7"));
        let none = extract("etag", W::Header("ETag".into()));
        assert!(none.apply(Some(&r)).unwrap_err().contains("no etag header"));
        let id = extract("id", W::Regex(r#""n":\[(\d+)"#.into()));
        assert_eq!(id.apply(Some(&r)).unwrap().as_str(), Some("4"));
        let whole = extract("w", W::Regex(r"ab.".into()));
        assert_eq!(whole.apply(Some(&r)).unwrap().as_str(), Some("abc"));
        let not_json = extract("t", W::Json("$.t".into()));
        assert!(
            not_json
                .apply(Some(&reply("<html>", &[])))
                .unwrap_err()
                .contains("the body is not JSON")
        );
    }

    #[test]
    fn malformed_paths_and_patterns_are_refused() {
        let bad = |from| {
            Extract::from_wire(&v1::Extract {
                name: "x".into(),
                from: Some(from),
            })
            .unwrap_err()
        };
        assert!(bad(v1::extract::From::Json("token".into())).contains("not a JSONPath"));
        assert!(bad(v1::extract::From::Regex("(".into())).contains("not a regular expression"));
    }
}
