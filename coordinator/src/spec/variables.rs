//! Variables in a spec: `${VAR}` and `${VAR:-default}` anywhere in its
//! values, as Docker Compose writes them, from `-e KEY=VALUE` or else the
//! environment; `$$` is a literal `$`, and a `$` before anything else is
//! left as it is (SQL's `$1`). Resolved once, when the spec is read, into
//! its text; a variable unset and without a default is an error at its
//! line and column. Comments are left alone.
//!
//! The values of variables whose names say they are secret (`TOKEN`,
//! `SECRET`, `PASSWORD`, `KEY`) are remembered as [`Secrets`], so that
//! every output can write `${NAME}` in their place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where variables' values come from: `-e KEY=VALUE` first, then (unless
/// told not to, in tests) the process's environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    overrides: BTreeMap<String, String>,
    isolated: bool,
}

impl Environment {
    /// The process's environment, with `overrides` (`-e`) winning.
    pub fn process(overrides: BTreeMap<String, String>) -> Environment {
        Environment {
            overrides,
            isolated: false,
        }
    }

    /// Only `values`: nothing from the process (for tests).
    pub fn only(values: &[(&str, &str)]) -> Environment {
        Environment {
            overrides: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            isolated: true,
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        match self.overrides.get(name) {
            Some(value) => Some(value.clone()),
            None if self.isolated => None,
            None => std::env::var(name).ok(),
        }
    }
}

/// `KEY=VALUE`, as `-e` takes it.
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    if !valid_name(key) {
        return Err(format!(
            "{key:?} is not a variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a variable's name says its value is a secret.
pub fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "KEY"]
        .iter()
        .any(|word| upper.contains(word))
}

/// A variable the spec uses, as `validate` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    /// Set in the environment or by `-e` (else its default was used).
    pub set: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    pub secret: bool,
}

/// The values of secret variables, each with its name, longest first (so
/// that a value containing another is replaced whole).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<(String, String)>);

impl Secrets {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values, to hand to agents (which redact their spans).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(_, value)| value.as_str())
    }

    /// `text` with every secret value written `${NAME}` instead.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, value) in &self.0 {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("${{{name}}}"));
            }
        }
        out
    }

    /// Every string in `value` redacted (a report's JSON before it is
    /// written: the saved spec, bodies, reasons, URLs).
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                let redacted = self.redact(s);
                if redacted != *s {
                    *s = redacted;
                }
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|v| self.redact_json(v));
            }
            serde_json::Value::Object(map) => {
                map.values_mut().for_each(|v| self.redact_json(v));
            }
            _ => {}
        }
    }

    fn add(&mut self, name: &str, value: &str) {
        if value.is_empty() || self.0.iter().any(|(_, v)| v == value) {
            return;
        }
        self.0.push((name.to_owned(), value.to_owned()));
        self.0
            .sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
    }
}

/// A spec's text with its variables resolved.
#[derive(Debug, Clone, Default)]
pub struct Interpolated {
    pub text: String,
    /// Each variable used, once, in order of first use.
    pub variables: Vec<Variable>,
    pub secrets: Secrets,
}

/// Resolves the variables of `text` from `env`. Err: the line and column
/// (1-based) of the `$` at fault, and why.
pub fn interpolate(
    text: &str,
    env: &Environment,
) -> Result<Interpolated, ((usize, usize), String)> {
    let mut out = Interpolated {
        text: String::with_capacity(text.len()),
        ..Interpolated::default()
    };
    for (index, line) in text.split_inclusive('\n').enumerate() {
        interpolate_line(line, index + 1, env, &mut out)?;
    }
    Ok(out)
}

fn interpolate_line(
    line: &str,
    number: usize,
    env: &Environment,
    out: &mut Interpolated,
) -> Result<(), ((usize, usize), String)> {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let column = line[..at].chars().count() + 1;
        match c {
            // A comment: the rest of the line is not a value.
            '#' if quote.is_none() && previous.is_whitespace() => {
                out.text.push_str(&line[at..]);
                return Ok(());
            }
            '"' | '\'' if quote.is_none() => quote = Some(c),
            '"' | '\'' if quote == Some(c) => quote = None,
            '$' => match chars.peek() {
                Some((_, '$')) => {
                    chars.next();
                    out.text.push('$');
                    previous = '$';
                    continue;
                }
                Some((_, '{')) => {
                    let start = at + 2;
                    let Some(length) = line[start..].find('}') else {
                        return Err((
                            (number, column),
                            "`${` without its closing `}` on the same line".to_owned(),
                        ));
                    };
                    let inner = &line[start..start + length];
                    let value = resolve(inner, env, out).map_err(|why| ((number, column), why))?;
                    out.text.push_str(&value);
                    // Skip past the closing brace.
                    while let Some((i, _)) = chars.peek() {
                        if *i > start + length {
                            break;
                        }
                        chars.next();
                    }
                    previous = '}';
                    continue;
                }
                _ => {}
            },
            _ => {}
        }
        out.text.push(c);
        previous = c;
    }
    Ok(())
}

/// The value of `NAME` or `NAME:-default`, noting the variable.
fn resolve(inner: &str, env: &Environment, out: &mut Interpolated) -> Result<String, String> {
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    if !valid_name(name) {
        return Err(format!(
            "`${{{inner}}}`: {name:?} is not a variable name (write `${{NAME}}` or \
             `${{NAME:-default}}`; `$$` for a literal `$`)"
        ));
    }
    let found = env.get(name);
    let value = match (&found, default) {
        // As Compose: the default also stands for an empty value.
        (Some(v), Some(d)) if v.is_empty() => d.to_owned(),
        (Some(v), _) => v.clone(),
        (None, Some(d)) => d.to_owned(),
        (None, None) => {
            return Err(format!(
                "variable `{name}` is not set: export it, pass `-e {name}=VALUE`, or give a \
                 default with `${{{name}:-default}}`"
            ));
        }
    };
    let secret = is_secret(name);
    if !out.variables.iter().any(|v| v.name == name) {
        out.variables.push(Variable {
            name: name.to_owned(),
            set: found.is_some(),
            default: default.map(|d| {
                if secret {
                    "***".to_owned()
                } else {
                    d.to_owned()
                }
            }),
            secret,
        });
    }
    if secret {
        out.secrets.add(name, &value);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, env: &[(&str, &str)]) -> Result<Interpolated, ((usize, usize), String)> {
        interpolate(text, &Environment::only(env))
    }

    #[test]
    fn variables_defaults_and_literal_dollars() {
        let out = run(
            "target: ${URL:-http://127.0.0.1:8080}\nheaders: { Authorization: \"Bearer ${API_TOKEN}\" }\n\
             sql: SELECT $1, '$$x', $$\n",
            &[("API_TOKEN", "s3cr3t")],
        )
        .unwrap();
        assert_eq!(
            out.text,
            "target: http://127.0.0.1:8080\nheaders: { Authorization: \"Bearer s3cr3t\" }\n\
             sql: SELECT $1, '$x', $\n"
        );
        assert_eq!(
            out.variables,
            vec![
                Variable {
                    name: "URL".into(),
                    set: false,
                    default: Some("http://127.0.0.1:8080".into()),
                    secret: false
                },
                Variable {
                    name: "API_TOKEN".into(),
                    set: true,
                    default: None,
                    secret: true
                },
            ]
        );
        assert_eq!(
            out.secrets.redact("sent s3cr3t twice: s3cr3t"),
            "sent ${API_TOKEN} twice: ${API_TOKEN}"
        );
        // An empty value takes the default, as in Compose.
        let out = run("a: ${A:-x}\n", &[("A", "")]).unwrap();
        assert_eq!(out.text, "a: x\n");
    }

    #[test]
    fn an_unset_variable_or_a_bad_one_is_located() {
        let (at, why) = run("name: x\nurl: http://h/${PATHX}\n", &[]).unwrap_err();
        assert_eq!(at, (2, 15));
        assert!(why.contains("variable `PATHX` is not set"), "{why}");
        assert!(why.contains("-e PATHX=VALUE"), "{why}");
        let (at, why) = run("a: \"${1X}\"\n", &[]).unwrap_err();
        assert_eq!(at, (1, 5));
        assert!(why.contains("is not a variable name"), "{why}");
        let (at, why) = run("a: ${OPEN\n", &[]).unwrap_err();
        assert_eq!(at, (1, 4));
        assert!(why.contains("without its closing"), "{why}");
    }

    #[test]
    fn comments_are_left_alone() {
        let out = run(
            "a: 1 # set ${NOT_SET} to ...\n# ${ALSO}\nb: \"#${B:-2}\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            out.text,
            "a: 1 # set ${NOT_SET} to ...\n# ${ALSO}\nb: \"#2\"\n"
        );
    }

    #[test]
    fn secret_names_and_assignments() {
        for name in ["API_TOKEN", "db_password", "SECRET", "api_key", "KEYRING"] {
            assert!(is_secret(name), "{name}");
        }
        assert!(!is_secret("SHOP_URL"));
        assert_eq!(
            parse_assignment("A=b=c").unwrap(),
            ("A".into(), "b=c".into())
        );
        assert!(parse_assignment("nokey").is_err());
        assert!(parse_assignment("1A=x").is_err());
    }
}
