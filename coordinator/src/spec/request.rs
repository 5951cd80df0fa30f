//! One HTTP request of a spec — where it goes (`path` on the target or an
//! absolute `url`), its `method`, `headers`, `body` and `expect` — and the
//! values its fields hold, each checked as it is read so that an error
//! points at it; and the HTTP kind ([`ABOUT`], its [`Work`] impl: what a
//! request becomes on the wire).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use loadlab_agent::scenario::template;
use loadlab_proto::v1;

use super::de::checked_str;
use super::values::{RequestId, RequestPath};
use crate::kind::{About, Kind, Need, Wiring, Work};

/// One HTTP request of a round.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RequestFields")]
pub struct RequestSpec {
    pub id: RequestId,
    /// Where it goes: a path on the target, or an absolute URL.
    #[serde(flatten)]
    pub to: Destination,
    /// Default GET.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    #[serde(skip_serializing_if = "Headers::is_empty")]
    pub headers: Headers,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<RequestBody>,
    /// Statuses that count as success; default any 2xx.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    /// Path and query on the target, e.g. `/delay-me?seconds=10`.
    Path(RequestPath),
    /// An absolute URL, e.g. `https://api.example.com/orders`.
    Url(RequestUrl),
}

/// A request as written, before the checks that span its fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestFields {
    pub id: RequestId,
    pub path: Option<RequestPath>,
    pub url: Option<RequestUrl>,
    pub method: Option<HttpMethod>,
    #[serde(default)]
    pub headers: Headers,
    pub body: Option<RequestBody>,
    pub expect: Option<Expect>,
}

impl TryFrom<RequestFields> for RequestSpec {
    type Error = String;

    fn try_from(fields: RequestFields) -> Result<RequestSpec, String> {
        let id = &fields.id;
        let to = match (fields.path, fields.url) {
            (Some(path), None) => Destination::Path(path),
            (None, Some(url)) => Destination::Url(url),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "request {id} has both `path` and `url`: give one (a path on `target`, or an absolute URL)"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "request {id} has neither `path` nor `url`: give one, e.g. path: /delay-me?seconds=2"
                ));
            }
        };
        let method = fields.method.as_ref().map_or("GET", |m| m.0.as_str());
        if fields.body.is_some() && matches!(method, "HEAD" | "CONNECT") {
            return Err(format!(
                "request {id}: a {method} request cannot have a body"
            ));
        }
        Ok(RequestSpec {
            id: fields.id,
            to,
            method: fields.method,
            headers: fields.headers,
            body: fields.body,
            expect: fields.expect,
        })
    }
}

impl RequestSpec {
    /// The headers sent: those written, and a JSON body's content type
    /// unless one was written.
    pub fn headers_sent(&self) -> Vec<(String, String)> {
        let mut headers = self.headers.0.clone();
        let typed = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if matches!(self.body, Some(RequestBody::Json(_))) && !typed {
            headers.push(("content-type".into(), "application/json".into()));
        }
        headers
    }
}

/// A request's absolute URL, instead of a path on the target, e.g.
/// `https://api.example.com/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RequestUrl(pub String);

impl<'de> Deserialize<'de> for RequestUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(
            deserializer,
            "an absolute URL like https://host/path",
            |text| {
                let url = url::Url::parse(&template::blank(text, "0"))
                    .map_err(|e| format!("url {text:?} is not an absolute URL: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(format!(
                        "url {text:?}: only http:// and https:// URLs with a host are supported"
                    ));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(format!(
                        "url {text:?}: credentials in a URL are not sent; give them as a header, \
                         e.g. headers: {{ Authorization: \"Basic ...\" }}"
                    ));
                }
                // `http::Uri` (what the agents send) is stricter than a
                // browser: check it here, where the error can be located
                // (a template's expressions stand for what they render).
                template::blank(text, "0")
                    .parse::<http::Uri>()
                    .map_err(|e| format!("url {text:?} cannot be sent: {e}; percent-encode it"))?;
                Ok(RequestUrl(text.to_owned()))
            },
        )
    }
}

/// An HTTP method, e.g. `POST` (written in any case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HttpMethod(pub String);

impl<'de> Deserialize<'de> for HttpMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked_str(deserializer, "an HTTP method like GET or POST", |text| {
            let upper = text.to_ascii_uppercase();
            match http::Method::from_bytes(upper.as_bytes()) {
                Ok(_) if !upper.is_empty() => Ok(HttpMethod(upper)),
                _ => Err(format!(
                    "method {text:?} is not an HTTP method (GET, POST, PUT, PATCH, DELETE, HEAD, ...)"
                )),
            }
        })
    }
}

/// Request headers, in the order written: names and values HTTP allows.
/// Written back (in a report's copy of the spec) as the same map, with the
/// values of credentials' headers redacted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

/// Headers whose values are secrets: never written into a report.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
];

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            let secret = SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str());
            map.serialize_entry(name, if secret { "(redacted)" } else { value })?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = Headers;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of header names to values, e.g. { Authorization: Bearer x }")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut headers = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(de::Error::custom(format!(
                            "{name:?} is not an HTTP header name (letters, digits and -)"
                        )));
                    }
                    if CLIENTS_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                        return Err(de::Error::custom(format!(
                            "header {name} is the HTTP client's own (how the body is framed and \
                             the connection kept): loadlab sets it, the same in every mode; remove it"
                        )));
                    }
                    let value: HeaderText = map.next_value()?;
                    if http::HeaderValue::from_str(&value.0).is_err() {
                        return Err(de::Error::custom(format!(
                            "header {name}: {:?} is not a header value (no line breaks or control characters)",
                            value.0
                        )));
                    }
                    headers.push((name, value.0));
                }
                Ok(Headers(headers))
            }
        }
        deserializer.deserialize_map(HeadersVisitor)
    }
}

impl Headers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Headers that frame the body or steer the connection: each mode's client
/// sets them from the request, and one written by hand would make the modes
/// disagree (a wrong `Content-Length` hangs one client and not another).
const CLIENTS_HEADERS: [&str; 7] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];

/// A header's value: text, or a number or boolean written as one.
struct HeaderText(String);

impl<'de> Deserialize<'de> for HeaderText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_yaml_ng::Value::deserialize(deserializer)? {
            serde_yaml_ng::Value::String(text) => Ok(HeaderText(text)),
            serde_yaml_ng::Value::Number(n) => Ok(HeaderText(n.to_string())),
            serde_yaml_ng::Value::Bool(b) => Ok(HeaderText(b.to_string())),
            _ => Err(de::Error::custom(
                "a header value is text (quote it), not a list or a map",
            )),
        }
    }
}

/// What a request sends: text as written, or YAML sent as JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    Text(String),
    Json(serde_json::Value),
}

impl RequestBody {
    /// The bytes sent.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            RequestBody::Text(text) => text.clone().into_bytes(),
            RequestBody::Json(value) => value.to_string().into_bytes(),
        }
    }
}

impl<'de> Deserialize<'de> for RequestBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const FORMS: &str = "a body is text (`body: \"...\"`) or `body: { json: ... }`";
        match serde_yaml_ng::Value::deserialize(deserializer)? {
            serde_yaml_ng::Value::String(text) => Ok(RequestBody::Text(text)),
            serde_yaml_ng::Value::Mapping(map) if map.len() == 1 => {
                let Some(json) = map.get("json") else {
                    return Err(de::Error::custom(FORMS));
                };
                serde_json::to_value(json)
                    .map(RequestBody::Json)
                    .map_err(|e| de::Error::custom(format!("`json` cannot be sent as JSON: {e}")))
            }
            _ => Err(de::Error::custom(FORMS)),
        }
    }
}

impl Serialize for RequestBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            RequestBody::Text(text) => serializer.serialize_str(text),
            RequestBody::Json(value) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("json", value)?;
                map.end()
            }
        }
    }
}

/// What a request's success is: `{ status: [200, 201] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Default: any 2xx.
    #[serde(
        default,
        deserialize_with = "statuses",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub status: Vec<u16>,
    /// Text the body must contain (scenario steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
}

fn statuses<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u16>, D::Error> {
    let statuses = super::de::checked_seq(
        deserializer,
        "a list of HTTP statuses, e.g. [200, 201]",
        |statuses: Vec<i64>| {
            if statuses.is_empty() {
                return Err("`status` lists no status: give e.g. [200, 201]".to_owned());
            }
            match statuses.iter().find(|s| !(100..=599).contains(*s)) {
                Some(status) => Err(format!("status {status} is not an HTTP status (100-599)")),
                None => Ok(statuses),
            }
        },
    )?;
    Ok(statuses.into_iter().map(|s| s as u16).collect())
}

/// The HTTP kind: its name, its terminal words, its wire form.
pub static ABOUT: About = About {
    kind: Kind::named("http"),
    started: "Requesting",
    done: |record| format!("Request done! Server replied '{}'", record.body),
};

impl Work for RequestSpec {
    fn id(&self) -> &str {
        &self.id.0
    }

    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn needs(&self) -> Option<Need> {
        matches!(self.to, Destination::Path(_)).then_some(Need::Http)
    }

    fn to_wire(&self, wiring: &Wiring<'_>) -> (v1::request::Kind, String) {
        let url = match &self.to {
            Destination::Path(path) => {
                let base = wiring.targets.http.as_deref().unwrap_or_default();
                format!("{base}{}", path.0)
            }
            Destination::Url(url) => url.0.clone(),
        };
        let method = self
            .method
            .as_ref()
            .map(|m| m.0.clone())
            .unwrap_or_default();
        let what = match method.as_str() {
            "" | "GET" => url.clone(),
            method => format!("{method} {url}"),
        };
        let headers = self.headers_sent();
        let body = self
            .body
            .as_ref()
            .map(RequestBody::bytes)
            .unwrap_or_default();
        // Only a scenario's requests are rendered per iteration.
        let templated = wiring.spec.scenarios.is_some()
            && (template::is_template(&url)
                || headers.iter().any(|(_, v)| template::is_template(v))
                || template::is_template(&String::from_utf8_lossy(&body)));
        let wire = v1::HttpRequest {
            templated,
            url,
            method,
            headers: headers
                .into_iter()
                .map(|(name, value)| v1::HttpHeader { name, value })
                .collect(),
            body,
            expect_status: self
                .expect
                .as_ref()
                .map(|e| e.status.iter().map(|&s| u32::from(s)).collect())
                .unwrap_or_default(),
            tls_ca_pem: wiring.targets.tls_ca_pem.clone().unwrap_or_default(),
            insecure: wiring.spec.insecure,
        };
        (v1::request::Kind::Http(wire), what)
    }
}

#[cfg(test)]
mod tests;
