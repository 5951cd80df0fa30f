//! Thresholds, the gate: judged per mode on every agent's merged figures,
//! printed with what was measured, in the JSON, and deciding the exit code
//! (99 when one fails) — with the real coordinator binary and its embedded
//! delay server.

use serde_json::Value;

mod common;
use common::{coordinator, run_report as run, text, write_spec};

fn verdict<'a>(report: &'a Value, expr: &str, mode: &str) -> &'a Value {
    report["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["expr"] == expr && v["mode"] == mode)
        .unwrap_or_else(|| panic!("no verdict for {expr} in {mode}: {report}"))
}

/// Every latency form, judged on each mode with its measured value; one
/// failed threshold exits 99 and the report marks it.
#[test]
fn each_threshold_is_judged_per_mode_and_a_failure_exits_99() {
    let (code, stdout, report) = run(
        "name: gate\nmodes: [sync, async]\n\
         requests:\n  - { id: A, path: /delay-me?ms=100 }\n  - { id: B, path: /delay-me?ms=20 }\n\
         thresholds:\n  - \"p99 < 1s\"\n  - \"max >= 90ms\"\n  - \"p50 <= 500ms\"\n  - \"mean < 5ms\"\n",
        &["--threshold", "p90 > 10ms", "--threshold", "p999 < 2s"],
    );
    assert_eq!(code, Some(99), "{stdout}");
    assert_eq!(
        report["thresholds"].as_array().unwrap().len(),
        12,
        "6 thresholds × 2 modes"
    );
    for mode in ["sync", "async"] {
        for passed in [
            "p99 < 1s",
            "max >= 90ms",
            "p50 <= 500ms",
            "p90 > 10ms",
            "p999 < 2s",
        ] {
            assert_eq!(
                verdict(&report, passed, mode)["ok"],
                true,
                "{passed} in {mode}"
            );
        }
        let mean = verdict(&report, "mean < 5ms", mode);
        assert_eq!(mean["ok"], false);
        let measured = mean["value"].as_f64().unwrap();
        assert!((55.0..120.0).contains(&measured), "mean {measured} ms");
        let max = verdict(&report, "max >= 90ms", mode)["value"]
            .as_f64()
            .unwrap();
        assert!((100.0..200.0).contains(&max), "max {max} ms");
    }
    assert!(
        stdout.contains("Thresholds (every agent merged): 2 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("✗ sync      mean < 5ms"), "{stdout}");
    assert!(stdout.contains("✓ async     p99 < 1s"), "{stdout}");
}

/// Failed requests alone exit 1; with thresholds set, `errors < X%`
/// decides: tolerated below it (exit 0), failed above it (exit 99).
#[test]
fn with_thresholds_the_errors_share_decides() {
    let spec = "name: errors\nmodes: [async]\nrepeat: 10\n\
         requests:\n  - { id: ok, path: /delay-me?ms=1 }\n  - { id: broken, path: /delay-me?ms=1&fail=1&status=503 }\n";
    let (code, stdout, report) = run(spec, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(report["modes"][0]["errors"], 10);
    assert!(report.get("thresholds").is_none());

    let (code, stdout, report) = run(spec, &["--threshold", "errors < 60%"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(verdict(&report, "errors < 60%", "async")["value"], 50.0);

    let (code, stdout, _) = run(spec, &["--threshold", "errors <= 10%"]);
    assert_eq!(code, Some(99), "{stdout}");
}

/// Faults the delay server injects are grouped by what they were, in every
/// mode's client: an injected status as `HTTP 503 (injected)`, a reset as a
/// connection reset — never mistaken for the server's own failures.
#[test]
fn injected_failures_and_resets_are_grouped_by_reason() {
    let spec = "name: faults\nmodes: [async, threads]\nrepeat: 4\nrequests:\n\
         \x20 - { id: ok, path: /delay-me?ms=1 }\n\
         \x20 - { id: failing, path: /delay-me?ms=1&fail=1&status=503 }\n\
         \x20 - { id: resetting, path: /delay-me?ms=1&reset=1 }\n";
    let (code, stdout, report) = run(spec, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    for mode in report["modes"].as_array().unwrap() {
        let reasons = mode["errors_by_reason"].as_object().unwrap();
        let name = &mode["mode"];
        assert_eq!(
            reasons["failing: HTTP 503 (injected)"], 4,
            "{name}: {reasons:?}"
        );
        let resets: u64 = reasons
            .iter()
            .filter(|(reason, _)| reason.starts_with("resetting: connection reset by"))
            .map(|(_, n)| n.as_u64().unwrap())
            .sum();
        assert_eq!(resets, 4, "{name}: {reasons:?}");
        assert_eq!(mode["errors"], 8, "{name}");
    }
}

/// Two agents at 300 requests a second each: `rps > 500` holds for the
/// run — the merged figures — though neither agent's share would pass it,
/// and `rps <= 550` fails the run (exit 99) though each agent's share
/// alone would pass it.
#[test]
fn a_threshold_is_judged_on_every_agent_merged() {
    let (code, stdout, report) = run(
        "name: merged\nmodes: [async]\nrate: 600/s\nduration: 2s\n\
         requests: [{ id: R1, path: /delay-me?ms=1 }]\nthresholds: [\"rps > 500\"]\n",
        &["--agents", "2", "--threshold", "rps <= 550"],
    );
    assert_eq!(code, Some(99), "{stdout}");
    assert_eq!(verdict(&report, "rps > 500", "async")["ok"], true);
    assert_eq!(verdict(&report, "rps <= 550", "async")["ok"], false);
    assert!(
        stdout.contains("Thresholds (every agent merged): 1 failed"),
        "{stdout}"
    );
    let rps = verdict(&report, "rps > 500", "async")["value"]
        .as_f64()
        .unwrap();
    assert!((560.0..640.0).contains(&rps), "merged {rps}/s");
    let agents = report["modes"][0]["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2);
    for agent in agents {
        let alone = agent["count"].as_f64().unwrap() / (agent["wall_ms"].as_f64().unwrap() / 1e3);
        assert!(alone < 400.0, "{} alone: {alone}/s", agent["name"]);
    }
}

/// A malformed threshold is a spec error at its line and column, naming
/// the valid forms (exit 2); on the command line, a usage error.
#[test]
fn malformed_thresholds_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: bad\nmodes: [async]\nrequests: [{ id: R1, path: /delay-me?ms=1 }]\n\
         thresholds:\n  - \"p99 < 250ms\"\n  - \"p101 < 1s\"\n",
    );
    let out = coordinator(&["validate", &spec]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("spec.yaml:6:5"), "{stderr}");
    assert!(stderr.contains("unknown measure \"p101\""), "{stderr}");
    assert!(stderr.contains("`errors <|<=|>|>= PERCENT`"), "{stderr}");

    let out = coordinator(&["run", &spec, "--threshold", "errors < lots"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("\"lots\" is not a percentage"), "{stderr}");
}
