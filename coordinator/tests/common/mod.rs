//! Helpers shared by the coordinator's integration tests: run the real
//! binary, read its output, write a spec to a temporary directory.

#![allow(dead_code)] // each test file uses its own subset

use std::process::{Command, Output};

pub use loadlab_testkit::process::{Running, workspace_binary};

/// Runs the `coordinator` binary with `args` and extra environment.
pub fn coordinator_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coordinator"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the coordinator binary runs")
}

pub fn coordinator(args: &[&str]) -> Output {
    coordinator_with_env(args, &[])
}

/// Asserts that `out` exited with `code`, showing what it printed if not.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `yaml` as `spec.yaml` in `dir` and returns its path.
pub fn write_spec(dir: &tempfile::TempDir, yaml: &str) -> String {
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, yaml).expect("spec written");
    path.to_string_lossy().into_owned()
}

/// `coordinator run SPEC --quiet --json run.json EXTRA...` for `yaml`
/// written in `dir`: what it printed, and the report it wrote (`None` when
/// it wrote none).
pub fn run_spec(
    dir: &tempfile::TempDir,
    yaml: &str,
    extra: &[&str],
) -> (Output, Option<serde_json::Value>) {
    let spec = write_spec(dir, yaml);
    let json = dir.path().join("run.json");
    let args = [
        &["run", &spec, "--quiet", "--json", json.to_str().unwrap()][..],
        extra,
    ]
    .concat();
    let out = coordinator(&args);
    let report = json.exists().then(|| read_json(&json));
    (out, report)
}

/// The JSON report at `path`.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the JSON report exists"))
        .expect("valid JSON")
}

/// `coordinator ARGS` (a `run --listen ...`) once it waits for agents, and
/// the URL it printed for them to dial.
pub fn coordinator_listening(args: &[&str]) -> (Running, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coordinator"));
    command
        .args(args)
        .env_remove("LOADLAB_TOKEN")
        .env("NO_COLOR", "1");
    let running = Running::spawn(command);
    let url = running.url_after(
        "listening for agents on ",
        std::time::Duration::from_secs(60),
    );
    (running, url)
}

/// An `agent` process named `name` dialing `url`, with `extra` flags.
pub fn agent_process(url: &str, name: &str, extra: &[&str]) -> Running {
    let mut command = Command::new(workspace_binary("loadlab-agent", "agent"));
    command
        .args(["--coordinator", url, "--name", name])
        .args(extra)
        .env_remove("LOADLAB_TOKEN")
        .env("RUST_LOG", "info");
    Running::spawn(command)
}

/// Runs `yaml` (with `--quiet --json`) and `extra` flags in a directory of
/// its own: the exit code, stdout and the JSON report (a failure naming
/// what was printed when there is none).
pub fn run_report(yaml: &str, extra: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = run_spec(&dir, yaml, extra);
    let stdout = text(&out.stdout);
    let report = report.unwrap_or_else(|| panic!("no report: {stdout}\n{}", text(&out.stderr)));
    (out.status.code(), stdout, report)
}

/// The mode `name` of a JSON report (a failure naming the report when it
/// has none).
pub fn mode<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["modes"]
        .as_array()
        .expect("the report's modes")
        .iter()
        .find(|m| m["mode"] == name)
        .unwrap_or_else(|| panic!("no mode {name}: {report}"))
}

/// The rounds of a mode's request records, sorted (a round that ran twice
/// appears twice).
pub fn rounds(mode: &serde_json::Value) -> Vec<u64> {
    let mut rounds: Vec<u64> = mode["requests"]
        .as_array()
        .expect("the mode's request records")
        .iter()
        .map(|r| r["round"].as_u64().unwrap())
        .collect();
    rounds.sort_unstable();
    rounds
}

/// A runtime for the servers a test starts in its own process (two
/// workers, so they answer while the test's thread waits on a binary).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
