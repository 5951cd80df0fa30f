//! Templates in a scenario's requests (`{{ row.user }}`, `{{ token }}`,
//! `{{ random(1, 1000) }}`), with minijinja: compiled once per workload,
//! rendered before each request. The coordinator checks them with the same
//! environment before a run ([`check`]), so what it accepts the agents can
//! render.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value};

/// Names every template may use besides the variables its scenario's
/// earlier steps extract.
pub const BUILTINS: [&str; 5] = ["row", "user", "iteration", "random", "uuid"];

/// The environment templates are compiled in: strict about undefined
/// values (an unknown name fails the render instead of sending an empty
/// string), with the functions `random(a, b)` and `uuid()`.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Values go into URLs, headers and JSON bodies as they are.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_function("random", random);
    env.add_function("uuid", || uuid::Uuid::new_v4().to_string());
    env
}

/// A whole number drawn uniformly from `a..=b`.
fn random(a: i64, b: i64) -> Result<i64, minijinja::Error> {
    if a > b {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("random({a}, {b}): the first bound is above the second"),
        ));
    }
    Ok(rand::random_range(a..=b))
}

/// Whether `text` holds a template expression or tag.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// `text` with every `{{ ... }}` replaced by `with`: what a templated URL
/// or path looks like for checks that need a concrete one.
pub fn blank(text: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        match rest[open..].find("}}") {
            Some(close) => {
                out.push_str(with);
                rest = &rest[open + close + 2..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Checks `source` before a run: it compiles, and every name it reads is
/// a builtin or one of `known` (variables extracted earlier). Returns the
/// names it reads; the error says what is wrong, in words.
pub fn check(source: &str, known: &[&str]) -> Result<std::collections::HashSet<String>, String> {
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|e| format!("template {source:?}: {}", describe(&e)))?;
    let reads = template.undeclared_variables(false);
    let mut unknown: Vec<&String> = reads
        .iter()
        .filter(|name| !BUILTINS.contains(&name.as_str()) && !known.contains(&name.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(reads),
        Some(name) => {
            let mut names: Vec<&str> = BUILTINS.to_vec();
            names.extend(known);
            Err(format!(
                "template {source:?} uses `{name}`, which is neither extracted by an earlier \
                 step nor one of {}",
                names.join(", ")
            ))
        }
    }
}

/// A minijinja error in one line, without its debug dump.
pub fn describe(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{} ({detail})", error.kind()),
        None => error.to_string(),
    }
}

/// The templates of one workload, compiled once.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates { env: environment() }
    }
}

impl Templates {
    /// Compiles `source` under `name`.
    pub fn add(&mut self, name: String, source: String) -> Result<(), String> {
        self.env
            .add_template_owned(name, source.clone())
            .map_err(|e| format!("template {source:?}: {}", describe(&e)))
    }

    /// Renders the template `name` in `scope` (a [`Scope::value`]); the
    /// error says why not.
    pub fn render(&self, name: &str, scope: &Value) -> Result<String, String> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| format!("template {name}: {}", describe(&e)))?;
        template
            .render(scope)
            .map_err(|e| format!("template {:?}: {}", template.source(), describe(&e)))
    }
}

/// What an iteration's templates see: its row, the user's number, the
/// iteration's, and the variables its steps extracted so far.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub row: Option<Value>,
    pub user: u64,
    pub iteration: u64,
    pub vars: BTreeMap<String, Value>,
}

impl Scope {
    /// What templates see, made once per request: an object that answers
    /// each name as it is looked up (nothing serialized).
    pub fn value(&self) -> Value {
        Value::from_object(self.clone())
    }
}

impl minijinja::value::Object for Scope {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "row" => self.row.clone(),
            "user" => Some(Value::from(self.user)),
            "iteration" => Some(Value::from(self.iteration)),
            name => self.vars.get(name).cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rows_variables_and_functions() {
        let mut templates = Templates::default();
        templates
            .add(
                "t".into(),
                "/u/{{ row.user }}/{{ token }}/{{ user }}-{{ iteration }}".into(),
            )
            .unwrap();
        templates
            .add(
                "r".into(),
                "{{ random(3, 3) }} {{ uuid() | length }}".into(),
            )
            .unwrap();
        let mut row = BTreeMap::new();
        row.insert("user", "ana");
        let scope = Scope {
            row: Some(Value::from_serialize(&row)),
            user: 4,
            iteration: 9,
            vars: [("token".to_owned(), Value::from("t0k"))].into(),
        };
        assert_eq!(
            templates.render("t", &scope.value()).unwrap(),
            "/u/ana/t0k/4-9"
        );
        assert_eq!(templates.render("r", &scope.value()).unwrap(), "3 36");
    }

    #[test]
    fn an_unknown_name_fails_the_check_and_the_render_with_its_name() {
        let error = check("/x/{{ tokn }}", &["token"]).unwrap_err();
        assert!(error.contains("uses `tokn`"), "{error}");
        assert!(error.contains("token"), "{error}");
        assert!(check("/x/{{ token }}/{{ row.id }}/{{ random(1, 2) }}", &["token"]).is_ok());
        let error = check("/x/{{ oops(", &[]).unwrap_err();
        assert!(error.contains("syntax error"), "{error}");
        let mut templates = Templates::default();
        templates
            .add("t".into(), "{{ row.missing }}".into())
            .unwrap();
        let scope = Scope {
            row: Some(Value::from_serialize(BTreeMap::from([("user", "a")]))),
            ..Scope::default()
        };
        let error = templates.render("t", &scope.value()).unwrap_err();
        assert!(error.contains("undefined"), "{error}");
    }

    #[test]
    fn blank_replaces_expressions() {
        assert_eq!(
            blank("/items/{{ random(1, 9) }}?u={{ user }}", "0"),
            "/items/0?u=0"
        );
        assert_eq!(blank("/plain", "0"), "/plain");
    }
}
