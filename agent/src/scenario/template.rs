//! Templates in a scenario's requests (`{{ row.user }}`, `{{ token }}`,
//! `{{ random(1, 1000) }}`), with minijinja: compiled once per workload,
//! rendered before each request. The coordinator checks them with the same
//! environment before a run ([`check`]), so what it accepts the agents can
//! render.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value};

use super::direct::{self, Part, Segment};

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
    for segment in direct::segments(text) {
        out.push_str(match segment {
            Segment::Text(text) | Segment::Unclosed(text) => text,
            Segment::Expression(_) => with,
        });
    }
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

/// A compiled template of a [`Templates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateId(usize);

/// The templates of one workload, compiled once. Each is compiled by
/// minijinja (which checks it); one made only of text and the common
/// expressions — a name (`{{ token }}`), a row's column (`{{ row.user }}`),
/// `{{ random(a, b) }}` with whole numbers, `{{ uuid() }}` — is then
/// rendered by writing its parts directly (the same values, formatted as
/// minijinja formats them), without starting minijinja's VM per request;
/// any other (filters, tags, operators, ...) is rendered by minijinja.
pub struct Templates {
    env: Environment<'static>,
    /// The data file's columns (`row.X` is read by its place).
    columns: Vec<String>,
    /// Names a template cannot read from its scope: the environment's
    /// globals (`range`, `random`, ...) and Jinja's literals.
    reserved: Vec<String>,
    list: Vec<Compiled>,
}

enum Compiled {
    Parts {
        source: String,
        parts: Vec<Part>,
    },
    /// Rendered by minijinja, under this name.
    Engine(String),
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({})", self.list.len())
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new(&[])
    }
}

impl Templates {
    /// Templates that read rows of these columns.
    pub fn new(columns: &[String]) -> Self {
        let env = environment();
        let mut reserved: Vec<String> = env.globals().map(|(name, _)| name.to_owned()).collect();
        reserved.extend(["true", "false", "none", "True", "False", "None"].map(str::to_owned));
        Templates {
            env,
            columns: columns.to_vec(),
            reserved,
            list: Vec::new(),
        }
    }

    /// Compiles `source`; the error says why it does not compile.
    pub fn add(&mut self, source: String) -> Result<TemplateId, String> {
        let name = format!("t{}", self.list.len());
        self.env
            .add_template_owned(name.clone(), source.clone())
            .map_err(|e| format!("template {source:?}: {}", describe(&e)))?;
        let compiled = match direct::parts(&source, &self.reserved, &self.columns) {
            Some(parts) => Compiled::Parts { source, parts },
            None => Compiled::Engine(name),
        };
        self.list.push(compiled);
        Ok(TemplateId(self.list.len() - 1))
    }

    /// Whether `id` is rendered without minijinja's VM.
    #[cfg(test)]
    fn is_direct(&self, id: TemplateId) -> bool {
        matches!(self.list.get(id.0), Some(Compiled::Parts { .. }))
    }

    /// Renders the template `id` in `scope`; the error says why not.
    pub fn render(&self, id: TemplateId, scope: &Scope) -> Result<String, String> {
        match self.list.get(id.0) {
            Some(Compiled::Parts { source, parts }) => direct::render(source, parts, scope),
            Some(Compiled::Engine(name)) => self.render_engine(name, scope),
            None => Err(format!("no template {}", id.0)),
        }
    }

    /// Renders `id` with minijinja's VM whatever its form (for tests that
    /// compare the two ways).
    #[cfg(test)]
    fn render_by_engine(&self, id: TemplateId, scope: &Scope) -> Result<String, String> {
        self.render_engine(&format!("t{}", id.0), scope)
    }

    fn render_engine(&self, name: &str, scope: &Scope) -> Result<String, String> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| format!("template {name}: {}", describe(&e)))?;
        template
            .render(scope.value())
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
    /// Shared, so that making the scope a value (for minijinja, once per
    /// template it renders) copies no map; written with `Arc::make_mut`.
    pub vars: std::sync::Arc<BTreeMap<String, Value>>,
}

impl Scope {
    /// The value of `name`, as templates see it.
    pub(super) fn get(&self, name: &str) -> Option<Value> {
        match name {
            "row" => self.row.clone(),
            "user" => Some(Value::from(self.user)),
            "iteration" => Some(Value::from(self.iteration)),
            name => self.vars.get(name).cloned(),
        }
    }

    /// What minijinja's templates see: an object that answers each name
    /// as it is looked up (nothing serialized).
    pub fn value(&self) -> Value {
        Value::from_object(self.clone())
    }
}

impl minijinja::value::Object for Scope {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        self.get(key.as_str()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [&str; 2] = ["user", "id"];

    /// A scope whose row is a data file's (`user: ana, id: 7`).
    fn scope() -> Scope {
        let data = super::super::data::Data::from_wire(&loadlab_proto::v1::DataRows {
            columns: COLUMNS.map(str::to_owned).to_vec(),
            rows: vec![loadlab_proto::v1::Row {
                values: vec!["ana".into(), "7".into()],
            }],
            file: "users.csv".into(),
            ..Default::default()
        })
        .unwrap();
        Scope {
            row: data.next(),
            user: 4,
            iteration: 9,
            vars: std::sync::Arc::new(BTreeMap::from([
                ("token".to_owned(), Value::from("t0k")),
                ("count".to_owned(), Value::from(3.5)),
                ("ids".to_owned(), Value::from(vec![1, 2])),
                ("nothing".to_owned(), Value::from(())),
                ("yes".to_owned(), Value::from(true)),
            ])),
        }
    }

    #[test]
    fn renders_rows_variables_and_functions() {
        let mut templates = Templates::new(&COLUMNS.map(str::to_owned));
        let t = templates
            .add("/u/{{ row.user }}/{{ token }}/{{ user }}-{{ iteration }}".into())
            .unwrap();
        let r = templates
            .add("{{ random(3, 3) }} {{ uuid() | length }}".into())
            .unwrap();
        assert!(templates.is_direct(t));
        assert!(!templates.is_direct(r), "a filter is minijinja's");
        assert_eq!(templates.render(t, &scope()).unwrap(), "/u/ana/t0k/4-9");
        assert_eq!(templates.render(r, &scope()).unwrap(), "3 36");
        let u = templates.add("{{uuid()}}".into()).unwrap();
        assert!(templates.is_direct(u));
        let uuid = templates.render(u, &scope()).unwrap();
        assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{uuid}");
        assert_ne!(uuid, templates.render(u, &scope()).unwrap());
    }

    /// The direct way renders what minijinja renders, value for value,
    /// and fails where it fails; what it cannot render the same way is
    /// left to minijinja.
    #[test]
    fn direct_rendering_matches_minijinja() {
        let direct = [
            "{{ row.id }}",
            "{{ row }}",
            "plain text, no expression",
            "",
            "{{ row.user }}",
            "/items/{{row.id}}?u={{ user }}&i={{  iteration  }}",
            r#"{"user":"{{ row.user }}","n":{{ count }},"ids":{{ ids }}}"#,
            "{{ nothing }}|{{ yes }}|{{ token }}}}",
            "}} {{ token }} {",
            "{{ random(-2, -2) }}/{{ random( 5 ,5 ) }}",
        ];
        let engine = [
            "{{ row.user | upper }}",
            "{{ row['user'] }}",
            "{% if token %}yes{% endif %}",
            "{# comment #}{{ token }}",
            "{{- token -}}",
            "{{ token }}\n",
            "{{ true }}/{{ none }}",
            "{{ range(2) }}",
            "{{ random(1_0, 1_0) }}",
            "{{ user + 1 }}",
            r#"{{ "}}" }}"#,
        ];
        let mut templates = Templates::new(&COLUMNS.map(str::to_owned));
        for (source, is_direct) in direct
            .iter()
            .map(|s| (s, true))
            .chain(engine.iter().map(|s| (s, false)))
        {
            let id = templates.add((*source).to_owned()).unwrap();
            assert_eq!(templates.is_direct(id), is_direct, "{source:?}");
            assert_eq!(
                templates.render(id, &scope()),
                templates.render_by_engine(id, &scope()),
                "{source:?}"
            );
        }
        for failing in [
            "{{ row.missing }}",
            "{{ row.user.x }}",
            "{{ missing }}",
            "{{ missing.x }}",
            "{{ token.x }}",
            "{{ nothing.x }}",
        ] {
            let id = templates.add(failing.to_owned()).unwrap();
            assert!(templates.is_direct(id), "{failing:?}");
            let direct = templates.render(id, &scope()).unwrap_err();
            assert!(direct.contains("undefined"), "{failing:?}: {direct}");
            let engine = templates.render_by_engine(id, &scope());
            assert!(engine.is_err(), "{failing:?}: minijinja gave {engine:?}");
        }
        let column = templates.add("{{ row.user }}".into()).unwrap();
        let error = templates.render(column, &Scope::default()).unwrap_err();
        assert!(error.contains("undefined"), "without a row: {error}");
        assert!(
            templates
                .render_by_engine(column, &Scope::default())
                .is_err()
        );
        let reversed = templates.add("{{ random(3, 1) }}".into()).unwrap();
        assert!(!templates.is_direct(reversed));
        let error = templates.render(reversed, &scope()).unwrap_err();
        assert!(error.contains("above the second"), "{error}");
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
        let id = templates.add("{{ row.missing }}".into()).unwrap();
        let error = templates.render(id, &scope()).unwrap_err();
        assert!(error.contains("undefined"), "{error}");
        assert!(error.contains("row.missing"), "{error}");
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
