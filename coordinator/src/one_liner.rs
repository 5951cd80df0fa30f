//! `coordinator run --url URL ...`: load one URL without writing a spec, as
//! `oha`, `hey` or `vegeta attack` users expect. The flags become the YAML
//! of an equivalent spec (what `--print-spec` writes, for the user to grow),
//! which is then read like any other: one path, the same checks, report,
//! thresholds and outputs.

use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

/// What the one-liner's flags say.
#[derive(Debug, Clone, Default)]
pub struct OneLiner {
    pub url: String,
    /// `-n`: requests (rounds of one request), in a closed loop.
    pub requests: Option<u32>,
    /// `-z`: for this long (users for a time, or with `rate` an open loop).
    pub duration: Option<Duration>,
    /// `-c`: in flight at once (users, with `-z`).
    pub concurrency: Option<u32>,
    /// `--rate`: an open loop at this rate (`200/s`), with `-z`.
    pub rate: Option<String>,
    pub method: Option<String>,
    /// `-H 'Name: value'`, in order.
    pub headers: Vec<String>,
    pub body: Option<String>,
    /// `--mode`, in order; none: async.
    pub modes: Vec<String>,
}

/// oha's defaults: 200 requests, 50 at once.
const DEFAULT_REQUESTS: u32 = 200;
const DEFAULT_CONCURRENCY: u32 = 50;

impl OneLiner {
    /// The YAML of the equivalent spec, or why the flags do not make one.
    pub fn spec_yaml(&self) -> Result<String, String> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| format!("--url {:?}: not a URL ({e})", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "--url {:?}: give an http:// or https:// URL",
                self.url
            ));
        }
        let mut spec = Mapping::new();
        let host = url.host_str().unwrap_or("url");
        let name = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        spec.insert("name".into(), text(&name));
        spec.insert(
            "description".into(),
            text(&format!("coordinator run --url {}", self.url)),
        );
        let modes = if self.modes.is_empty() {
            vec!["async".to_owned()]
        } else {
            self.modes.clone()
        };
        spec.insert(
            "modes".into(),
            Value::Sequence(modes.iter().map(|m| Value::String(m.clone())).collect()),
        );
        let concurrency = self.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        match (&self.rate, self.duration, self.requests) {
            (Some(_), _, Some(_)) => {
                return Err("-n and --rate exclude each other: --rate runs for -z".into());
            }
            (Some(rate), Some(duration), None) => {
                spec.insert("rate".into(), text(rate));
                spec.insert("duration".into(), text(&humantime(duration)));
                if let Some(c) = self.concurrency {
                    spec.insert("concurrency".into(), Value::from(c));
                }
            }
            (Some(_), None, None) => {
                return Err("--rate needs -z DURATION: how long requests keep arriving".into());
            }
            (None, Some(_), Some(_)) => {
                return Err("-n and -z exclude each other: give a number or a time".into());
            }
            (None, Some(duration), None) => {
                spec.insert("users".into(), Value::from(concurrency));
                spec.insert("duration".into(), text(&humantime(duration)));
            }
            (None, None, requests) => {
                spec.insert(
                    "repeat".into(),
                    Value::from(requests.unwrap_or(DEFAULT_REQUESTS)),
                );
                spec.insert("concurrency".into(), Value::from(concurrency));
            }
        }
        let method = self.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let mut request = Mapping::new();
        request.insert("id".into(), text(&method));
        request.insert("url".into(), text(&self.url));
        if method != "GET" {
            request.insert("method".into(), text(&method));
        }
        if !self.headers.is_empty() {
            let mut headers = Mapping::new();
            for header in &self.headers {
                let (name, value) = header
                    .split_once(':')
                    .ok_or_else(|| format!("-H {header:?}: write it 'Name: value'"))?;
                headers.insert(text(name.trim()), text(value.trim()));
            }
            request.insert("headers".into(), Value::Mapping(headers));
        }
        if let Some(body) = &self.body {
            request.insert("body".into(), text(body));
        }
        spec.insert(
            "requests".into(),
            Value::Sequence(vec![Value::Mapping(request)]),
        );
        serde_yaml_ng::to_string(&Value::Mapping(spec)).map_err(|e| e.to_string())
    }
}

/// A string value, its `$` doubled: the one-liner's text is sent as
/// written, never read as a `${VAR}`.
fn text(value: &str) -> Value {
    Value::String(value.replace('$', "$$"))
}

/// `30s`, `1m 30s`: as specs write durations.
fn humantime(duration: Duration) -> String {
    humantime::format_duration(duration)
        .to_string()
        .replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;

    fn one(url: &str) -> OneLiner {
        OneLiner {
            url: url.into(),
            ..OneLiner::default()
        }
    }

    /// Each form of the flags is a spec that reads back as the loop it
    /// says, with the request as written.
    #[test]
    fn flags_make_a_spec_that_reads_back() {
        let spec = |o: &OneLiner| Spec::parse(&o.spec_yaml().unwrap(), "--url").unwrap();
        let plain = spec(&one("http://127.0.0.1:9/x?a=$1"));
        assert_eq!(plain.repeat.map(|r| r.get()), Some(200));
        assert_eq!(plain.concurrency, 50);
        assert_eq!(plain.requests[0].id.0, "GET");
        let timed = spec(&OneLiner {
            duration: Some(Duration::from_secs(90)),
            concurrency: Some(8),
            method: Some("post".into()),
            headers: vec!["Content-Type: application/json".into()],
            body: Some("{\"a\": 1}".into()),
            modes: vec!["threads".into(), "async".into()],
            ..one("https://example.invalid/orders")
        });
        assert_eq!(timed.users.map(|u| u.get()), Some(8));
        assert_eq!(
            timed.duration.as_ref().map(|d| d.0),
            Some(Duration::from_secs(90))
        );
        assert_eq!(timed.modes.len(), 2);
        assert_eq!(timed.requests[0].id.0, "POST");
        let open = spec(&OneLiner {
            rate: Some("200/s".into()),
            duration: Some(Duration::from_secs(5)),
            ..one("http://127.0.0.1:9/")
        });
        assert!(open.rate.is_some());
    }

    #[test]
    fn contradictory_or_bad_flags_say_why() {
        for (o, why) in [
            (one("ftp://x/"), "http:// or https://"),
            (one("not a url"), "not a URL"),
            (
                OneLiner {
                    rate: Some("10/s".into()),
                    ..one("http://h/")
                },
                "--rate needs -z",
            ),
            (
                OneLiner {
                    requests: Some(5),
                    duration: Some(Duration::from_secs(1)),
                    ..one("http://h/")
                },
                "-n and -z exclude each other",
            ),
            (
                OneLiner {
                    headers: vec!["NoColon".into()],
                    ..one("http://h/")
                },
                "'Name: value'",
            ),
        ] {
            let error = o.spec_yaml().unwrap_err();
            assert!(error.contains(why), "{error}");
        }
    }
}
