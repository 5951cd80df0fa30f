//! The report as JUnit XML (`--junit PATH`), for CI systems that show test
//! results (GitLab's `artifacts:reports:junit`, Jenkins, GitHub's test
//! reporters): a test suite per mode, holding a test case per threshold
//! judged on it and one per request id, failed when that id's requests
//! failed (with the reasons), plus one for the mode itself when it did not
//! run as asked (an agent lost, requests that never ran).

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report as Junit, TestCase, TestCaseStatus, TestSuite};

use super::model::{ModeReport, Report};

/// The report's JUnit XML document.
pub fn junit(report: &Report) -> String {
    let mut junit = Junit::new(format!("loadlab {}", report.spec.name));
    for mode in &report.modes {
        junit.add_test_suite(suite(report, mode));
    }
    junit
        .to_string()
        .expect("a JUnit report of strings and numbers serializes")
}

fn suite(report: &Report, mode: &ModeReport) -> TestSuite {
    let name = mode.mode.to_string();
    let mut suite = TestSuite::new(format!("{} {name}", report.spec.name));
    suite.set_time(Duration::from_secs_f64(mode.wall_ms.max(0.0) / 1000.0));
    let classname = format!("loadlab.{}.{name}", report.spec.name);

    let problems: Vec<&String> = mode.failures.iter().collect();
    let mut ran = TestCase::new("ran as asked", status(&problems, "run"));
    ran.set_classname(&classname);
    suite.add_test_case(ran);

    for verdict in report.thresholds.iter().filter(|v| v.mode == name) {
        let why = format!(
            "{}: measured {} (threshold failed)",
            verdict.expr,
            trim(verdict.value)
        );
        let failed = if verdict.ok { vec![] } else { vec![&why] };
        let mut case = TestCase::new(
            format!("threshold {}", verdict.expr),
            status(&failed, "threshold"),
        );
        case.set_classname(&classname);
        suite.add_test_case(case);
    }

    for (id, figures) in &mode.by_request {
        let why = format!(
            "{} of {} requests failed{}",
            figures.errors,
            figures.count,
            reasons(mode, figures.errors)
        );
        let failed = if figures.errors > 0 {
            vec![&why]
        } else {
            vec![]
        };
        let mut case = TestCase::new(format!("request {id}"), status(&failed, "requests"));
        case.set_classname(&classname);
        case.set_time(Duration::from_secs_f64(
            figures.histogram.mean_ms.max(0.0) / 1000.0,
        ));
        suite.add_test_case(case);
    }
    suite
}

/// Success, or a failure whose message is the first problem and whose
/// text is all of them.
fn status(problems: &[&String], kind: &str) -> TestCaseStatus {
    match problems.first() {
        None => TestCaseStatus::success(),
        Some(first) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(first.as_str());
            status.set_type(kind);
            status.set_description(
                problems
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            status
        }
    }
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
