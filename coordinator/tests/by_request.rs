//! Figures per request id: a fast and a slow endpoint are two histograms,
//! in every mode, merged across agents, gated by thresholds that name a
//! request — with the real coordinator binary and its embedded delay server.

use serde_json::Value;

mod common;
use common::{coordinator, run_spec, text, write_spec};

/// Runs `yaml`; the exit code, stdout and the JSON.
fn run(yaml: &str, extra: &[&str]) -> (Option<i32>, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = run_spec(&dir, yaml, extra);
    let stdout = text(&out.stdout);
    let report = report.unwrap_or_else(|| panic!("no report: {stdout}\n{}", text(&out.stderr)));
    (out.status.code(), stdout, report)
}

/// The p50 of request `id` in `mode`.
fn p50(report: &Value, mode: &str, id: &str) -> f64 {
    let m = report["modes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mode"] == mode)
        .unwrap_or_else(|| panic!("no mode {mode}: {report}"));
    m["by_request"][id]["histogram"]["p50_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {id} in {mode}: {}", m["by_request"]))
}

/// Each endpoint's own percentiles, in every mode and from two agents,
/// within 10 % of what that endpoint measures alone in the same mode; counts and rates add
/// up to the mode's; the summary has p95, and the terminal a table per
/// mode; a threshold on the slow request gates the exit code.
#[test]
fn each_request_id_has_its_own_figures_in_every_mode() {
    let (code, stdout, report) = run(
        "name: two\nmodes: [sync, async, blocking, threads]\nrepeat: 6\nconcurrency: 4\n\
         requests:\n  - { id: Fast, path: /delay-me?ms=100 }\n  - { id: Slow, path: /delay-me?ms=300 }\n\
         thresholds: [\"Fast: p99 < 5s\", \"Slow: p(95) < 250ms\"]\n",
        &["--agents", "2", "--threshold", "Slow: errors < 1%"],
    );
    assert_eq!(code, Some(99), "the Slow p95 threshold fails: {stdout}");
    // Each endpoint alone, in the same modes with the same agents and
    // concurrency.
    let alone = |id: &str, ms: u32| {
        let (code, stdout, report) = run(
            &format!(
                "name: alone\nmodes: [sync, async, blocking, threads]\nrepeat: 6\nconcurrency: 4\n\
                 requests: [{{ id: {id}, path: /delay-me?ms={ms} }}]\n"
            ),
            &["--agents", "2"],
        );
        assert_eq!(code, Some(0), "{stdout}");
        report
    };
    let (fast_alone, slow_alone) = (alone("Fast", 100), alone("Slow", 300));
    for mode in report["modes"].as_array().unwrap() {
        let name = mode["mode"].as_str().unwrap();
        let by = &mode["by_request"];
        for (id, alone) in [("Fast", &fast_alone), ("Slow", &slow_alone)] {
            let here = p50(&report, name, id);
            let own = p50(alone, name, id);
            assert!(
                (here - own).abs() <= 0.1 * own,
                "{name} {id}: p50 {here} ms vs {own} ms alone"
            );
            let r = &by[id];
            assert_eq!(r["count"], 12, "{name} {id}: 6 rounds on each of 2 agents");
            assert_eq!(r["errors"], 0);
            assert!(r["rps"].as_f64().unwrap() > 0.0);
            for key in ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"] {
                assert!(
                    r["histogram"][key].as_f64().unwrap() > 0.0,
                    "{name} {id} {key}"
                );
            }
            assert!(r["service_time"]["p50_ms"].as_f64().unwrap() > 0.0);
        }
        assert_eq!(mode["histogram"]["count"], 24);
        assert!(
            mode["histogram"]["p95_ms"].as_f64().unwrap() >= 120.0,
            "{name}"
        );
        assert!(stdout.contains(&format!("{name} by request:")), "{stdout}");
    }
    let verdicts = report["thresholds"].as_array().unwrap();
    assert_eq!(verdicts.len(), 12, "3 thresholds × 4 modes: {verdicts:?}");
    for v in verdicts {
        let expected = v["expr"] != "Slow: p(95) < 250ms";
        assert_eq!(v["ok"].as_bool(), Some(expected), "{v}");
        if v["expr"] == "Slow: p(95) < 250ms" {
            assert!(v["value"].as_f64().unwrap() >= 300.0, "{v}");
        }
    }
    assert!(stdout.contains("p95"), "{stdout}");
}

/// A threshold naming a request the spec does not have is a spec error at
/// its place (exit 2, nothing run); on the command line, a usage error.
#[test]
fn a_threshold_on_an_unknown_request_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: t\nmodes: [async]\nrequests: [{ id: Fast, path: /delay-me?ms=1 }]\n\
         thresholds:\n  - \"Slwo: p99 < 1s\"\n",
    );
    let out = coordinator(&["run", &spec]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("spec.yaml:5:3"), "{stderr}");
    assert!(
        stderr.contains("names request `Slwo`, which the spec does not have (its ids: Fast)"),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("Requesting"));

    let spec = write_spec(
        &dir,
        "name: t\nmodes: [async]\nrequests: [{ id: Fast, path: /delay-me?ms=1 }]\n",
    );
    let out = coordinator(&["run", &spec, "--threshold", "Slow: p99 < 1s"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the spec has no request `Slow`"),
        "{stderr}"
    );
}
