//! The `coordinator` binary as a user runs it: real processes, a real
//! embedded delay server, real gRPC on loopback.

use std::path::{Path, PathBuf};

use loadlab_proto::histogram::{new_latency_histogram, record_latency};
use serde_json::Value;

mod common;
use common::{assert_exit, coordinator, run_spec, text, write_spec};

fn experiments(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../experiments")
        .join(name)
}

/// The quick reference experiment on a fresh machine: exit 0, the
/// demonstration's lines, and a JSON report whose figures show sync ≈ sum,
/// async ≈ max, blocking ≈ sum, threads ≈ max.
#[test]
fn quick_experiment_runs_end_to_end_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let out = coordinator(&[
        "run",
        experiments("http-quick.yaml").to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("R1: Requesting 'http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("R2: Request done! Server replied 'Done, I waited for 60 ms'"),
        "{stdout}"
    );
    assert!(stdout.contains("Time elapsed: "), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("mode ") && l.contains("vs sync") && l.contains("p99")),
        "{stdout}"
    );

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["spec"]["name"], "http-quick");
    let modes = report["modes"].as_array().unwrap();
    let names: Vec<&str> = modes.iter().map(|m| m["mode"].as_str().unwrap()).collect();
    assert_eq!(names, ["sync", "async", "blocking", "threads"]);
    for mode in modes {
        let name = mode["mode"].as_str().unwrap();
        let wall = mode["wall_ms"].as_f64().unwrap();
        let requests = mode["requests"].as_array().unwrap();
        assert_eq!(requests.len(), 3, "{name}");
        // Wall time runs from the first request's start to the last one's end.
        let first_start = requests
            .iter()
            .map(|r| r["start_ms"].as_f64().unwrap())
            .fold(f64::MAX, f64::min);
        for r in requests {
            assert_eq!(r["ok"], true, "{name}: {r}");
            assert_eq!(r["status"], 200);
            assert!(
                r["body"]
                    .as_str()
                    .unwrap()
                    .starts_with("Done, I waited for")
            );
            let (start, end, latency) = (
                r["start_ms"].as_f64().unwrap(),
                r["end_ms"].as_f64().unwrap(),
                r["latency_ms"].as_f64().unwrap(),
            );
            assert!(
                (end - start - latency).abs() < 0.01 && end - first_start <= wall + 0.01,
                "{name}: {r}"
            );
        }
        assert_eq!(mode["histogram"]["count"], 3);
        assert!(mode["histogram"]["max_ms"].as_f64().unwrap() >= 300.0);
        // Generous bounds: they tell "sum" (510 ms) from "max" (300 ms), with
        // room for a test beside this one on the same two cores.
        match name {
            "sync" | "blocking" => assert!((510.0..1_010.0).contains(&wall), "{name}: {wall}"),
            _ => assert!((300.0..510.0).contains(&wall), "{name}: {wall}"),
        }
    }
    let speedup = modes[1]["speedup_vs_sync"].as_f64().unwrap();
    assert!(speedup > 1.3, "async vs sync: {speedup}");
}

/// Three agents: the merged histogram holds every sample, and its
/// percentiles are those of one histogram of all the samples.
#[test]
fn merged_histogram_of_three_agents_equals_histogram_of_all_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = run_spec(
        &dir,
        "name: merge\nmodes: [async]\nrequests:\n  - { id: A, path: /delay-me?ms=5 }\n  - { id: B, path: /delay-me?ms=20 }\n\
         repeat: 40\nconcurrency: 10\nagents: { count: 3, split: partition }\n",
        &[],
    );
    assert_exit(&out, 0);
    let report: Value = report.expect("a report");
    let mode = &report["modes"][0];
    let agents = mode["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 3);
    let per_agent: u64 = agents.iter().map(|a| a["count"].as_u64().unwrap()).sum();
    assert_eq!(per_agent, 80);
    assert_eq!(mode["histogram"]["count"], 80);

    let mut all = new_latency_histogram();
    for r in mode["requests"].as_array().unwrap() {
        record_latency(
            &mut all,
            (r["latency_ms"].as_f64().unwrap() * 1e3).round() as u64,
        );
    }
    for (field, q) in [
        ("p50_ms", 0.5),
        ("p90_ms", 0.9),
        ("p99_ms", 0.99),
        ("max_ms", 1.0),
    ] {
        let merged = mode["histogram"][field].as_f64().unwrap();
        let expected = all.value_at_quantile(q) as f64 / 1e3;
        assert_eq!(merged, expected, "{field}");
    }
}

/// A target nobody listens on: exit 1, and the report names host:port.
#[test]
fn unreachable_target_exits_1_naming_host_and_port() {
    let addr = loadlab_testkit::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        &format!(
            "name: down\ntarget: http://{addr}\nmodes: [sync, async]\nrequests: [{{ id: R1, path: /delay-me?ms=1 }}]\n"
        ),
    );
    let out = coordinator(&["run", &spec]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("R1: Request failed! connection refused to {addr}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("sync: 1 × R1: connection refused to {addr}")),
        "{stdout}"
    );
}

/// A bad spec: exit 2, `file:line:column: message`, and nothing runs.
#[test]
fn bad_spec_exits_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: x\nmodes: [sync, asynk]\nrequests: [{ id: R1, path: /delay-me?ms=1 }]\n",
    );
    for command in ["run", "validate"] {
        let out = coordinator(&[command, &spec]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.starts_with(&format!("{spec}:2:15: modes[1]: unknown variant `asynk`")),
            "{command}: {stderr}"
        );
        assert!(stderr.contains("did you mean `async`?"), "{stderr}");
        assert!(
            !text(&out.stdout).contains("Requesting"),
            "{command} ran something"
        );
    }
    let missing = coordinator(&["validate", "/nonexistent/spec.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/spec.yaml: cannot read"));
}

/// Every shipped experiment is valid.
#[test]
fn shipped_experiments_validate() {
    for entry in std::fs::read_dir(experiments("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = coordinator(&["validate", path.to_str().unwrap()]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                path.display(),
                text(&out.stderr)
            );
        }
    }
}

/// Usage errors exit 2 with clap's message.
#[test]
fn usage_errors_exit_2() {
    // The exit codes are in --help, for every subcommand.
    for args in [&["--help"][..], &["run", "--help"]] {
        let help = text(&coordinator(args).stdout);
        for line in [
            "3    could not run",
            "99   a threshold failed",
            "143  stopped by SIGTERM",
        ] {
            assert!(help.contains(line), "{args:?}: {help}");
        }
    }
    assert_eq!(coordinator(&["run"]).status.code(), Some(2));
    assert_eq!(coordinator(&["frobnicate"]).status.code(), Some(2));
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../experiments/http.yaml");
    let bad_ui = coordinator(&["run", spec, "--trace-ui", "jaeger:16686"]);
    assert_eq!(bad_ui.status.code(), Some(2));
    assert!(
        text(&bad_ui.stderr).contains("is not an http(s) URL of a trace UI"),
        "{}",
        text(&bad_ui.stderr)
    );
    let help = coordinator(&["run", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("--json"));
}

/// `coordinator report` renders a saved run again (text, or a page), and
/// refuses clearly what is not one: a missing file, a file that is not
/// JSON, JSON from another tool. `--html` to a place that cannot be written
/// is refused before the run starts.
#[test]
fn saved_runs_render_again_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: again\nmodes: [sync, async]\nrequests:\n  - { id: R1, path: /delay-me?ms=20 }\n  - { id: R2, path: /delay-me?ms=10 }\n",
    );
    let json = dir.path().join("run.json");
    let out = coordinator(&["run", &spec, "--quiet", "--json", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = text(&out.stdout);

    let again = coordinator(&["report", json.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let again = text(&again.stdout);
    let table = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("sync "))
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        table(&again),
        table(&first),
        "the same figures, rendered again"
    );
    assert!(again.contains("Timeline"), "{again}");

    let page = dir.path().join("again.html");
    let out = coordinator(&[
        "report",
        json.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(r#"data-mode="async" data-id="R2""#));

    let missing = coordinator(&["report", dir.path().join("none.json").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("cannot read"),
        "{}",
        text(&missing.stderr)
    );
    std::fs::write(dir.path().join("bad.json"), "mode,wall\nsync,17\n").unwrap();
    let not_json = coordinator(&["report", dir.path().join("bad.json").to_str().unwrap()]);
    assert_eq!(not_json.status.code(), Some(2));
    assert!(
        text(&not_json.stderr).contains("not JSON"),
        "{}",
        text(&not_json.stderr)
    );
    std::fs::write(
        dir.path().join("k6.json"),
        r#"{"metrics": {"http_req_duration": {}}}"#,
    )
    .unwrap();
    let foreign = coordinator(&["report", dir.path().join("k6.json").to_str().unwrap()]);
    assert_eq!(foreign.status.code(), Some(2));
    assert!(
        text(&foreign.stderr).contains("not a loadlab report"),
        "{}",
        text(&foreign.stderr)
    );

    // A file that cannot be written: exit 3 (could not run), before the
    // run in `run`, and the same in `report`.
    let nowhere = coordinator(&["run", &spec, "--html", "/nonexistent-dir/report.html"]);
    assert_eq!(nowhere.status.code(), Some(3));
    let stderr = text(&nowhere.stderr);
    assert!(
        stderr.contains("--html /nonexistent-dir/report.html: cannot write there"),
        "{stderr}"
    );
    assert!(!text(&nowhere.stdout).contains("Requesting"), "nothing ran");
    let page = coordinator(&[
        "report",
        dir.path().join("run.json").to_str().unwrap(),
        "--html",
        "/nonexistent-dir/report.html",
    ]);
    assert_eq!(page.status.code(), Some(3), "{}", text(&page.stderr));
}

/// `--json -` writes the report to stdout, for `jq`, and the human report
/// (its lines, the summary) to stderr.
#[test]
fn json_to_stdout_leaves_the_human_report_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: piped
modes: [sync, async]
requests:
  - { id: R1, path: /delay-me?ms=2 }
  - { id: R2, path: /delay-me?ms=1 }
",
    );
    let out = coordinator(&["run", &spec, "--json", "-"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is the JSON alone");
    assert_eq!(report["format"], "loadlab-report/1");
    assert_eq!(report["modes"].as_array().unwrap().len(), 2);
    assert!(stderr.contains("R1: Requesting"), "{stderr}");
    assert!(stderr.contains("Time elapsed"), "{stderr}");
    assert!(stderr.contains("vs sync"), "the summary: {stderr}");
    assert!(!dir.path().join("-").exists(), "no file named -");
}

/// Past the first thousand requests of a mode the report keeps a sample of
/// records (and says so); `--requests` gets every one, as it arrives.
#[test]
fn a_long_mode_keeps_a_sample_and_streams_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let all = dir.path().join("all.jsonl");
    let (out, report) = run_spec(
        &dir,
        "name: many\nmodes: [async]\nrequests: [{ id: R1, path: /delay-me?ms=0 }, { id: R2, path: /delay-me?ms=0 }]\n\
         repeat: 2500\nconcurrency: 20\n",
        &["--requests", all.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = report.expect("a report");
    let mode = &report["modes"][0];
    assert_eq!(mode["histogram"]["count"], 5000);
    assert_eq!(mode["requests_sampled"], true);
    let kept = mode["requests"].as_array().unwrap().len();
    assert!((1000..1500).contains(&kept), "{kept} records kept");
    assert_eq!(report["requests_file"], all.to_str().unwrap());
    let mut seen = std::collections::HashSet::new();
    for line in std::fs::read_to_string(&all).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_eq!(r["mode"], "async");
        assert!(seen.insert((
            r["round"].as_u64().unwrap(),
            r["id"].as_str().unwrap().to_owned()
        )));
    }
    assert_eq!(seen.len(), 5000, "every request once");
}

/// Agents hanging up when a run is over is not a fault: twenty clean runs
/// with two in-process agents print no warning (a warning is kept for
/// streams that break mid-run, see `distributed.rs`).
#[test]
fn clean_runs_with_two_agents_print_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: quiet\nmodes: [sync, async]\nrequests:\n  - { id: R1, path: /delay-me?ms=3 }\n  - { id: R2, path: /delay-me?ms=1 }\n",
    );
    for run in 0..20 {
        let out = coordinator(&["run", &spec, "--quiet", "--agents", "2"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "run {run}: {stderr}");
        assert!(!stderr.contains("WARN"), "run {run} warned: {stderr}");
    }
}

/// Stopped by SIGTERM (`docker stop`, Kubernetes), a run prints its
/// partial report and exits 143 by the shell's convention (Ctrl-C: 130,
/// see `distributed.rs`).
#[test]
fn sigterm_prints_the_partial_report_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: long\nmodes: [async]\nrequests:\n  - { id: A, path: /delay-me?seconds=30 }\n",
    );
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_coordinator"));
    command.args(["run", &spec]);
    let mut running = common::Running::spawn(command);
    running.wait_for_line("Requesting", std::time::Duration::from_secs(30));
    running.signal("TERM");
    let code = running.exit_code(std::time::Duration::from_secs(15));
    assert_eq!(code, Some(143), "{}{}", running.stdout(), running.stderr());
    assert!(
        running.stdout().contains("Interrupted"),
        "{}",
        running.stdout()
    );
}
