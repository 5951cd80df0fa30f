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

/// A workspace binary next to the coordinator's, rebuilt once per test
/// binary so `cargo test -p loadlab-coordinator` never runs a stale one.
pub fn workspace_binary(package: &str, name: &str) -> std::path::PathBuf {
    use std::sync::Mutex;
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", package, "--bin", name])
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "cargo build -p {package} --bin {name} failed"
        );
        built.push(name.to_owned());
    }
    std::path::Path::new(env!("CARGO_BIN_EXE_coordinator")).with_file_name(name)
}

/// A process under test whose stdout and stderr are collected as they come.
pub struct Running {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    pub fn spawn(mut command: Command) -> Running {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        use std::sync::{Arc, Mutex};
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the process starts");
        let (tx, lines) = std::sync::mpsc::channel();
        let (stdout, stderr) = (
            Arc::new(Mutex::new(String::new())),
            Arc::new(Mutex::new(String::new())),
        );
        type Pipe = (Box<dyn std::io::Read + Send>, Arc<Mutex<String>>);
        let pipes: [Pipe; 2] = [
            (Box::new(child.stdout.take().unwrap()), stdout.clone()),
            (Box::new(child.stderr.take().unwrap()), stderr.clone()),
        ];
        for (pipe, sink) in pipes {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push_str(&(line.clone() + "\n"));
                    let _ = tx.send(line);
                }
            });
        }
        Running {
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// Waits up to `timeout` for a line (of either stream) containing
    /// `needle`, and returns it.
    pub fn wait_for_line(&self, needle: &str, timeout: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no line with {needle:?} within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                ),
            }
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for the process to exit; kills it and fails
    /// the test if it does not (a hang is a bug).
    pub fn exit_code(&mut self, timeout: std::time::Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader threads drain the pipes.
                std::thread::sleep(std::time::Duration::from_millis(50));
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "still running after {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends a signal by name (`KILL`, `STOP`, `CONT`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let line = running.wait_for_line(
        "listening for agents on ",
        std::time::Duration::from_secs(60),
    );
    let url = line
        .split("listening for agents on ")
        .nth(1)
        .and_then(|rest| rest.split([' ', ';']).next())
        .expect("an address")
        .to_owned();
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
