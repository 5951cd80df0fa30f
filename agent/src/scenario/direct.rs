//! Templates of text and simple expressions — a name and its attributes,
//! `row.COLUMN`, `random(a, b)` with whole numbers, `uuid()` — rendered
//! without minijinja's VM, as minijinja renders them (`template.rs` checks
//! the two ways against each other); anything else is left to the engine.

use super::template::Scope;

/// A template's text, split at its `{{ ... }}`.
pub(super) enum Segment<'a> {
    Text(&'a str),
    /// Between `{{` and `}}`.
    Expression(&'a str),
    /// From a `{{` that no `}}` closes to the end.
    Unclosed(&'a str),
}

/// `text`'s segments, in order.
pub(super) fn segments(text: &str) -> impl Iterator<Item = Segment<'_>> {
    let mut rest = text;
    let mut expression = None;
    std::iter::from_fn(move || {
        if let Some(expression) = expression.take() {
            return Some(Segment::Expression(expression));
        }
        if rest.is_empty() {
            return None;
        }
        let Some(open) = rest.find("{{") else {
            return Some(Segment::Text(std::mem::take(&mut rest)));
        };
        let Some(close) = rest[open + 2..].find("}}") else {
            return Some(Segment::Unclosed(std::mem::take(&mut rest)));
        };
        let (text, inside) = (&rest[..open], &rest[open + 2..open + 2 + close]);
        rest = &rest[open + 2 + close + 2..];
        if text.is_empty() {
            Some(Segment::Expression(inside))
        } else {
            expression = Some(inside);
            Some(Segment::Text(text))
        }
    })
}

/// A piece of a template rendered without the engine.
pub(super) enum Part {
    Text(String),
    /// A scope's name, then attributes looked up on it.
    Lookup(Vec<String>),
    /// `row.X`: the row's value in this column (looked up by name, as
    /// `Lookup`, when the row is not a data file's).
    Column(usize, Vec<String>),
    Random(i64, i64),
    Uuid,
}

/// `source` as text and common expressions, when it is only that (and
/// renders as minijinja would: no tags, comments or whitespace control,
/// no trailing newline, which minijinja drops); `None` otherwise.
pub(super) fn parts(source: &str, reserved: &[String], columns: &[String]) -> Option<Vec<Part>> {
    if source.contains("{%") || source.contains("{#") || source.ends_with('\n') {
        return None;
    }
    let mut parts = Vec::new();
    for segment in segments(source) {
        parts.push(match segment {
            Segment::Text(text) => Part::Text(text.to_owned()),
            Segment::Expression(text) => expression(text, reserved, columns)?,
            Segment::Unclosed(_) => return None,
        });
    }
    Some(parts)
}

fn expression(text: &str, reserved: &[String], columns: &[String]) -> Option<Part> {
    // Whitespace control (`{{-`, `-}}`) and anything but plain spaces
    // around the expression are left to minijinja.
    if text.starts_with(['-', '+']) || text.ends_with(['-', '+']) {
        return None;
    }
    let text = text.trim_matches(' ');
    if let Some(args) = text
        .strip_prefix("random(")
        .and_then(|t| t.strip_suffix(')'))
    {
        let (a, b) = args.split_once(',')?;
        let (a, b) = (integer(a)?, integer(b)?);
        // A reversed range fails in minijinja, with its message.
        return (a <= b).then_some(Part::Random(a, b));
    }
    if text == "uuid()" {
        return Some(Part::Uuid);
    }
    let names: Vec<&str> = text.split('.').collect();
    let is_ident = |name: &&str| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !names.iter().all(is_ident) || reserved.iter().any(|r| r == names[0]) {
        return None;
    }
    if let ["row", column] = names[..]
        && let Some(at) = columns.iter().position(|c| c == column)
    {
        return Some(Part::Column(
            at,
            vec!["row".to_owned(), (*column).to_owned()],
        ));
    }
    Some(Part::Lookup(names.into_iter().map(str::to_owned).collect()))
}

/// A whole number as minijinja reads one: digits, perhaps after a minus.
fn integer(text: &str) -> Option<i64> {
    let text = text.trim_matches(' ');
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Appends the value of `names` (a scope's name, then attributes) as
/// minijinja prints it; the error is minijinja's for an undefined value.
fn lookup(source: &str, names: &[String], scope: &Scope, out: &mut String) -> Result<(), String> {
    use std::fmt::Write;
    let undefined = || {
        format!(
            "template {source:?}: undefined value ({} is not defined)",
            names.join(".")
        )
    };
    let mut value = scope.get(&names[0]).ok_or_else(undefined)?;
    for name in &names[1..] {
        value = value.get_attr(name).map_err(|_| undefined())?;
    }
    if value.is_undefined() {
        return Err(undefined());
    }
    match value.as_str() {
        Some(text) if value.kind() == minijinja::value::ValueKind::String => out.push_str(text),
        _ => {
            let _ = write!(out, "{value}");
        }
    }
    Ok(())
}

/// Renders `parts` (of the template `source`) in `scope`.
pub(super) fn render(source: &str, parts: &[Part], scope: &Scope) -> Result<String, String> {
    use std::fmt::Write;
    let mut out = String::with_capacity(source.len() + 16);
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Lookup(names) => lookup(source, names, scope, &mut out)?,
            Part::Column(at, names) => {
                let value = scope
                    .row
                    .as_ref()
                    .and_then(|row| row.downcast_object_ref::<super::data::Row>())
                    .and_then(|row| row.value(*at));
                match value {
                    Some(value) => out.push_str(value),
                    None => lookup(source, names, scope, &mut out)?,
                }
            }
            Part::Random(a, b) => {
                let _ = write!(out, "{}", rand::random_range(*a..=*b));
            }
            Part::Uuid => {
                let mut buffer = uuid::Uuid::encode_buffer();
                out.push_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer));
            }
        }
    }
    Ok(out)
}
