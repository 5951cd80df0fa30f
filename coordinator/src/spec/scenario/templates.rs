//! A spec's templates checked once it is read: each compiles, and reads
//! only builtins, the data row and what the steps before it extract; an
//! error is placed at the template's text in the file.

use loadlab_agent::scenario::template;

use super::{Scenarios, StepSpec};

/// A template of a step that names something it cannot have: the message,
/// and the text to point at.
pub struct TemplateError {
    pub message: String,
    pub needle: String,
}

/// Checks every template of every scenario: each compiles, and reads only
/// builtins and what the steps before it extract. `has_data`: whether
/// `row` has a file behind it.
pub fn check_templates(scenarios: &Scenarios, has_data: bool) -> Result<(), TemplateError> {
    for (name, scenario) in &scenarios.0 {
        let mut known: Vec<&str> = Vec::new();
        for step in &scenario.steps {
            let StepSpec::Http {
                request, extract, ..
            } = step
            else {
                continue;
            };
            let mut sources: Vec<String> = Vec::new();
            match &request.to {
                super::super::Destination::Path(path) => sources.push(path.0.clone()),
                super::super::Destination::Url(url) => sources.push(url.0.clone()),
            }
            sources.extend(request.headers.0.iter().map(|(_, v)| v.clone()));
            if let Some(body) = &request.body {
                sources.push(String::from_utf8_lossy(&body.bytes()).into_owned());
            }
            for source in sources.iter().filter(|s| template::is_template(s)) {
                let reads = template::check(source, &known).map_err(|message| TemplateError {
                    message: format!("scenario {name}, step {}: {message}", request.id),
                    needle: offending(source, &known),
                })?;
                if !has_data && reads.contains("row") {
                    return Err(TemplateError {
                        message: format!(
                            "scenario {name}, step {}: a template reads `row`, but the spec has \
                             no `data: {{ file: ... }}`",
                            request.id
                        ),
                        needle: first_expression(source),
                    });
                }
            }
            known.extend(extract.0.iter().map(|(n, _)| n.as_str()));
        }
    }
    Ok(())
}

/// The first `{{ ... }}` of a template that fails the check alone (else
/// the first), to find it in the spec's text.
fn offending(source: &str, known: &[&str]) -> String {
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        let expression = &rest[open..open + close + 2];
        if template::check(expression, known).is_err() {
            return expression.to_owned();
        }
        rest = &rest[open + close + 2..];
    }
    first_expression(source)
}

/// The first `{{ ... }}` of a template, to find it in the spec's text.
fn first_expression(source: &str) -> String {
    match (source.find("{{"), source.find("}}")) {
        (Some(open), Some(close)) if close > open => source[open..close + 2].to_owned(),
        _ => source.to_owned(),
    }
}

/// `needle`'s first place in `text`, as 1-based line and column.
pub fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    let at = text.find(needle)?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
    Some((line, column))
}
