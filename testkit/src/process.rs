//! Processes under test: run a workspace binary, collect its output as it
//! comes, wait for a line, signal it, and never hang on it.

use std::process::Command;
use std::sync::Mutex;

/// A workspace binary in the target directory of the running test, built
/// once per test binary (`cargo build -p PACKAGE --bin NAME`) so a test
/// never runs a stale one.
pub fn workspace_binary(package: &str, name: &str) -> std::path::PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package, "--bin", name])
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "cargo build -p {package} --bin {name} failed"
        );
        built.push(name.to_owned());
    }
    // The test runs as target/<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    profile.join(name)
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
            let line = self.next_line(deadline, timeout, &needle);
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Waits up to `timeout` until a line containing each of `needles` has
    /// come, in any order: a line of stderr and a line of stdout need not
    /// arrive in the order they were written (two pipes, two readers).
    pub fn wait_for_lines(&self, needles: &[&str], timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        let mut missing = needles.to_vec();
        while !missing.is_empty() {
            let line = self.next_line(deadline, timeout, &missing);
            missing.retain(|needle| !line.contains(needle));
        }
    }

    /// The next line of either stream; panics, with both streams, when none
    /// comes by `deadline` (the wait for `wanted`, `timeout` long).
    fn next_line(
        &self,
        deadline: std::time::Instant,
        timeout: std::time::Duration,
        wanted: &dyn std::fmt::Debug,
    ) -> String {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        self.lines.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "no line with {wanted:?} within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Waits up to `timeout` for the line `PREFIX URL` a server prints when
    /// it is ready (`listening on http://...`), and returns the URL.
    pub fn url_after(&self, prefix: &str, timeout: std::time::Duration) -> String {
        let line = self.wait_for_line(prefix, timeout);
        line.split(prefix)
            .nth(1)
            .and_then(|rest| rest.split([' ', ';']).next())
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Waits up to `timeout` for the line `listening on http://HOST:PORT`
    /// our servers print when ready, and returns that address.
    pub fn address_after_listening(&self, timeout: std::time::Duration) -> std::net::SocketAddr {
        let url = self.url_after("listening on http://", timeout);
        url.trim_end_matches('/')
            .parse()
            .unwrap_or_else(|_| panic!("{url:?} is not the host:port a server listens on"))
    }

    /// Peak resident memory of the process so far, in bytes.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        peak_rss_bytes(self.child.id())
    }

    /// CPU time (user + system) the process has used so far.
    pub fn cpu_time(&self) -> Option<std::time::Duration> {
        cpu_time(self.child.id())
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

    /// Waits up to `timeout` for the process to exit, watching its memory
    /// as it runs; returns its exit code, its CPU time (user + system) to
    /// the end, read once it has ended and before it is reaped, and its
    /// peak RSS in bytes (the kernel's high-water mark, read every 20 ms
    /// while it runs: an ended process has none).
    pub fn exit_measured(
        &mut self,
        timeout: std::time::Duration,
    ) -> (Option<i32>, Option<std::time::Duration>, Option<u64>) {
        use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
        let pid = self.child.id();
        let deadline = std::time::Instant::now() + timeout;
        let mut peak = None;
        let ended = || {
            let Some(pid) = Pid::from_raw(pid as i32) else {
                return true;
            };
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
            // Some: it has ended (a zombie until reaped); Err: not ours.
            !matches!(waitid(WaitId::Pid(pid), options), Ok(None))
        };
        while !ended() && std::time::Instant::now() < deadline {
            if let Some(now) = peak_rss_bytes(pid) {
                peak = Some(peak.map_or(now, |p: u64| p.max(now)));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let cpu = cpu_time(pid);
        (self.exit_code(std::time::Duration::ZERO), cpu, peak)
    }

    /// Waits up to `timeout` for the process to exit with `expected`; on
    /// any other outcome, fails the test with everything it printed.
    pub fn expect_exit(&mut self, expected: i32, timeout: std::time::Duration) {
        let code = self.exit_code(timeout);
        assert_eq!(
            code,
            Some(expected),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
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

/// Peak resident memory (`VmHWM`) of process `pid`, in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) process `pid` has used so far.
pub fn cpu_time(pid: u32) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th overall, in clock ticks (100 a second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}
