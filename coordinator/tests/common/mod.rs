//! Helpers shared by the coordinator's integration tests: run the real
//! binary, read its output, write a spec to a temporary directory.

#![allow(dead_code)] // each test file uses its own subset

use std::process::{Command, Output};

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

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `yaml` as `spec.yaml` in `dir` and returns its path.
pub fn write_spec(dir: &tempfile::TempDir, yaml: &str) -> String {
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, yaml).expect("spec written");
    path.to_string_lossy().into_owned()
}
