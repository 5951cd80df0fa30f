//! The report as JUnit XML (`--junit PATH`), for CI systems that show test
//! results (GitLab's `artifacts:reports:junit`, Jenkins, GitHub's test
//! reporters): a test suite per mode, holding a test case per threshold
//! judged on it and one per request id, failed when that id's requests
//! failed (with the reasons), plus one for the mode itself when it did not
//! run as asked (an agent lost, requests that never ran).
//!
//! The dialect is the one those systems read, Jenkins xUnit's
//! `junit-10.xsd` (the test suite validates a run's file against it): only
//! the attributes it allows, times in seconds with at most 3 decimals, and
//! text that XML 1.0 can hold (a server's error page quoted in a reason may
//! carry terminal colours or control characters: they are left out).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::model::{ModeReport, Report};

/// A test case: its name, its time in seconds when it has one, and when it
/// failed, the failure's type and its problems (the first is the message).
struct Case {
    name: String,
    time_s: Option<f64>,
    failure: Option<(&'static str, Vec<String>)>,
}

struct Suite {
    name: String,
    classname: String,
    time_s: f64,
    cases: Vec<Case>,
}

impl Suite {
    fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }
}

/// The report's JUnit XML document.
pub fn junit(report: &Report) -> String {
    let suites: Vec<Suite> = report.modes.iter().map(|m| suite(report, m)).collect();
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 4);
    write(
        &mut writer,
        &xml_text(&format!("loadlab {}", report.spec.name)),
        &suites,
    )
    .expect("writing XML into memory cannot fail");
    let mut xml = String::from_utf8(writer.into_inner()).expect("XML written from strings");
    xml.push('\n');
    xml
}

fn write(writer: &mut Writer<Vec<u8>>, name: &str, suites: &[Suite]) -> std::io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(Suite::failures).sum();
    let time: f64 = suites.iter().map(|s| s.time_s).sum();
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", name),
            ("tests", &tests.to_string()),
            ("failures", &failures.to_string()),
            ("errors", "0"),
            ("time", &seconds(time)),
        ])
        .write_inner_content(|writer| {
            for suite in suites {
                write_suite(writer, suite)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_suite(writer: &mut Writer<Vec<u8>>, suite: &Suite) -> std::io::Result<()> {
    writer
        .create_element("testsuite")
        .with_attributes([
            ("name", suite.name.as_str()),
            ("tests", &suite.cases.len().to_string()),
            ("failures", &suite.failures().to_string()),
            ("errors", "0"),
            ("skipped", "0"),
            ("time", &seconds(suite.time_s)),
        ])
        .write_inner_content(|writer| {
            for case in &suite.cases {
                let mut element = writer.create_element("testcase").with_attributes([
                    ("name", case.name.as_str()),
                    ("classname", &suite.classname),
                ]);
                if let Some(time) = case.time_s {
                    element = element.with_attribute(("time", seconds(time).as_str()));
                }
                match &case.failure {
                    None => {
                        element.write_empty()?;
                    }
                    Some((kind, problems)) => {
                        element.write_inner_content(|writer| {
                            writer
                                .create_element("failure")
                                .with_attributes([
                                    ("message", problems[0].as_str()),
                                    ("type", kind),
                                ])
                                .write_text_content(BytesText::new(&problems.join("\n")))?;
                            Ok(())
                        })?;
                    }
                }
            }
            Ok(())
        })?;
    Ok(())
}

fn suite(report: &Report, mode: &ModeReport) -> Suite {
    let name = mode.mode.to_string();
    let spec = xml_text(&report.spec.name);
    let mut cases = vec![Case {
        name: "ran as asked".to_owned(),
        time_s: None,
        failure: failure("run", mode.failures.clone()),
    }];
    for verdict in report.thresholds.iter().filter(|v| v.mode == name) {
        let why = format!(
            "{}: measured {} (threshold failed)",
            verdict.expr,
            trim(verdict.value)
        );
        cases.push(Case {
            name: format!("threshold {}", verdict.expr),
            time_s: None,
            failure: failure("threshold", if verdict.ok { vec![] } else { vec![why] }),
        });
    }
    for (id, figures) in &mode.by_request {
        let why = format!(
            "{} of {} requests failed{}",
            figures.errors,
            figures.count,
            reasons(mode, figures.errors)
        );
        cases.push(Case {
            name: format!("request {id}"),
            time_s: Some(figures.histogram.mean_ms.max(0.0) / 1000.0),
            failure: failure(
                "requests",
                if figures.errors > 0 {
                    vec![why]
                } else {
                    vec![]
                },
            ),
        });
    }
    for case in &mut cases {
        case.name = xml_text(&case.name);
    }
    Suite {
        name: format!("{spec} {name}"),
        classname: format!("loadlab.{spec}.{name}"),
        time_s: mode.wall_ms.max(0.0) / 1000.0,
        cases,
    }
}

/// `text` as XML 1.0 can hold it: without terminal escape sequences
/// (`ESC [ ... letter`) and the control characters XML forbids (all but
/// tab, newline and carriage return).
fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
            continue;
        }
        let allowed = matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{d7ff}').contains(&c)
            || ('\u{e000}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}';
        if allowed {
            out.push(c);
        }
    }
    out
}

/// A failure of type `kind` when there are problems.
/// A case's failure, its problems made XML text (they quote servers'
/// replies and users' specs).
fn failure(kind: &'static str, problems: Vec<String>) -> Option<(&'static str, Vec<String>)> {
    (!problems.is_empty()).then(|| (kind, problems.iter().map(|p| xml_text(p)).collect()))
}

/// Seconds as the schema's time type has them: no exponent, at most 3
/// decimals.
fn seconds(s: f64) -> String {
    format!("{:.3}", s.max(0.0))
}

/// The mode's failure reasons, when some requests failed.
fn reasons(mode: &ModeReport, errors: u64) -> String {
    if errors == 0 || mode.errors_by_reason.is_empty() {
        return String::new();
    }
    let list: Vec<String> = mode
        .errors_by_reason
        .iter()
        .map(|(reason, n)| format!("{n}× {reason}"))
        .collect();
    format!(" (in this mode: {})", list.join("; "))
}

fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use loadlab_proto::Mode;

    /// A reason that quotes a coloured or binary error page still makes a
    /// document XML parsers read, saying the rest of the reason.
    #[test]
    fn control_characters_and_colours_are_left_out() {
        assert_eq!(
            xml_text("\u{1b}[31mred\u{1b}[0m\0 ok\ttab\u{7}"),
            "red ok\ttab"
        );
        let mut mode = fixtures::mode(Mode::Sync, &[5.0], true);
        mode.failures = vec!["agent lost: \u{1b}[1;31mgone\u{1b}[0m\u{0}\u{b}".to_owned()];
        let xml = junit(&fixtures::report_of(vec![mode]));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .expect("the mode's failure");
        assert_eq!(failure.attribute("message"), Some("agent lost: gone"));
    }
}
