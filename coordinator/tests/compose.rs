//! Docker Compose for real: the README's Compose commands, run against the
//! project's `docker-compose.yml` with three agents, on a machine with no
//! registry. `scripts/compose/images` builds a base image from Debian's
//! packages (debootstrap + docker import, cached by a content tag), stand-ins
//! for the postgres and redis images on it, and loadlab's image from the
//! Dockerfile's `host` target with the binaries this test run built;
//! `scripts/compose/stand-ins.yml` substitutes them (and the tests' own OTLP
//! receiver for Jaeger) without touching `docker-compose.yml`.
//!
//! One test, in steps, because each step needs the one before: `http.yaml`
//! with one agent container killed mid-run, the spans of one trace from the
//! three services, `down -v` leaving nothing behind, then a second project
//! start from nothing for `postgres-quick.yaml`. About 2 minutes here once
//! the base image exists (the first build of it adds about 2 minutes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use loadlab_testkit::process::{Running, workspace_binary};

mod common;
use common::{mode, read_json, text};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `docker compose` (the plugin) when there is one, else `docker-compose`.
fn compose_program() -> Vec<String> {
    let works = |program: &[&str]| {
        Command::new(program[0])
            .args(&program[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&["docker", "compose"]) {
        vec!["docker".into(), "compose".into()]
    } else if works(&["docker-compose"]) {
        vec!["docker-compose".into()]
    } else {
        panic!(
            "this test needs Docker Engine with Compose (`docker compose` or `docker-compose`): \
             install Docker and start its daemon (systemctl start docker)"
        )
    }
}

/// A Compose project of this test's own; `down -v` when dropped, so a failed
/// step leaves nothing running.
struct Project {
    name: String,
    program: Vec<String>,
    env: Vec<(String, String)>,
}

impl Project {
    fn new(base_tag: &str) -> Project {
        Project {
            name: format!("loadlab-compose-test-{}", std::process::id()),
            program: compose_program(),
            env: vec![
                ("LOADLAB_BASE_TAG".into(), base_tag.into()),
                // Jaeger's UI port on a free loopback port, not 16686.
                ("JAEGER_UI_PORT".into(), "0".into()),
                ("COMPOSE_HTTP_TIMEOUT".into(), "300".into()),
            ],
        }
    }

    /// `docker compose -p NAME -f docker-compose.yml -f stand-ins.yml ARGS`,
    /// with `env` on top of the project's.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(&self.program[0]);
        command
            .current_dir(root())
            .args(&self.program[1..])
            .args(["-p", &self.name])
            .args(["-f", "docker-compose.yml"])
            .args(["-f", "scripts/compose/stand-ins.yml"])
            .args(args);
        // The host's settings must not leak into the project (scripts/test
        // exports DATABASE_URL for the host's PostgreSQL).
        for key in [
            "DATABASE_URL",
            "LOADLAB_DATABASE_URL",
            "AGENTS",
            "EXPERIMENT",
        ] {
            command.env_remove(key);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args, &[]).output().expect("compose runs");
        assert!(
            output.status.success(),
            "compose {args:?} failed:\n{}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        output
    }

    /// The README's command: `up --exit-code-from coordinator coordinator`
    /// (with `extra` services), the JSON report asked for by LOADLAB_JSON.
    fn up(&self, experiment: &str, extra: &[&str]) -> Running {
        let mut args = vec!["up", "--no-build", "--exit-code-from", "coordinator"];
        args.extend_from_slice(extra);
        args.push("coordinator");
        Running::spawn(self.command(
            &args,
            &[
                ("EXPERIMENT", experiment),
                ("AGENTS", "3"),
                ("LOADLAB_JSON", "/home/loadlab/report.json"),
            ],
        ))
    }

    /// The ids of a service's containers, running or not.
    fn containers(&self, service: &str) -> Vec<String> {
        text(&self.run(&["ps", "-q", service]).stdout)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The coordinator's JSON report, copied out of its stopped container.
    fn report(&self, dir: &Path) -> serde_json::Value {
        let coordinator = self.containers("coordinator");
        assert_eq!(coordinator.len(), 1, "one coordinator: {coordinator:?}");
        let path = dir.join("report.json");
        let copied = Command::new("docker")
            .args([
                "cp",
                &format!("{}:/home/loadlab/report.json", coordinator[0]),
            ])
            .arg(&path)
            .output()
            .expect("docker cp runs");
        assert!(copied.status.success(), "{}", text(&copied.stderr));
        read_json(&path)
    }

    /// Everything Docker still holds of the project, by its label.
    fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let mut left = Vec::new();
        for what in [
            &["ps", "-a", "-q"][..],
            &["network", "ls", "-q"],
            &["volume", "ls", "-q"],
        ] {
            let output = Command::new("docker")
                .args(what)
                .args(["--filter", &label])
                .output()
                .expect("docker runs");
            left.extend(
                text(&output.stdout)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| format!("{} {l}", what[0])),
            );
        }
        left
    }

    fn down(&self) {
        self.run(&["down", "-v", "--remove-orphans", "-t", "5"]);
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self
            .command(&["down", "-v", "--remove-orphans", "-t", "1"], &[])
            .output();
    }
}

/// Builds the images; returns the base image's tag.
fn images() -> String {
    let binary = workspace_binary("loadlab-coordinator", "coordinator");
    for (package, name) in [
        ("loadlab-agent", "agent"),
        ("delay-server", "delay-server"),
        ("tracker", "tracker"),
        ("loadlab-testkit", "otlp-sink"),
    ] {
        workspace_binary(package, name);
    }
    let output = Command::new(root().join("scripts/compose/images"))
        .arg(binary.parent().unwrap())
        .output()
        .expect("scripts/compose/images runs");
    assert!(
        output.status.success(),
        "scripts/compose/images failed:\n{}",
        text(&output.stderr)
    );
    text(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("LOADLAB_BASE_TAG="))
        .expect("the base image's tag")
        .to_owned()
}

/// Each request id of a mode, with how many records it has.
fn records(mode: &serde_json::Value) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for record in mode["requests"].as_array().unwrap() {
        *seen
            .entry(record["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    seen
}

fn agents_of(mode: &serde_json::Value) -> BTreeSet<String> {
    mode["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["agent"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_readme_compose_run_with_three_agents_one_killed_traced_and_cleaned_up() {
    let base_tag = images();
    let dir = tempfile::tempdir().unwrap();
    let project = Project::new(&base_tag);

    // 1. http.yaml with three agents; one is killed 5 s into sync's run.
    let started = Instant::now();
    let mut up = project.up("http.yaml", &[]);
    // The agents' count goes to stderr and sync's first line to stdout:
    // they may arrive in either order. Sync's line by its own words, not
    // "sync —" alone, which async's first line contains too: had sync's
    // line come before the count, that wait matched async's, and the kill
    // landed in async (a likely cause of the one run that saw no loss in
    // sync).
    let sync_started = format!("sync — {}", loadlab_proto::mode::Mode::Sync.describe());
    up.wait_for_lines(
        &["3/3 agents connected", &sync_started],
        Duration::from_secs(150),
    );
    std::thread::sleep(Duration::from_secs(5));
    let agents = project.containers("agent");
    assert_eq!(agents.len(), 3, "AGENTS=3 started three agents: {agents:?}");
    let killed = Command::new("docker")
        .args(["kill", &agents[1]])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{}", text(&killed.stderr));
    let code = up.exit_code(Duration::from_secs(240));
    let out = up.stdout();
    assert_eq!(
        code,
        Some(0),
        "up exits with the coordinator's code:\n{out}"
    );
    let report = project.report(dir.path());
    eprintln!("http.yaml under Compose: {:?}", started.elapsed());

    // Every request merged once: each agent's share is R1, R2 and R3, so 3
    // of each in every mode, the killed agent's run by the others, none
    // lost and none twice.
    let sync = mode(&report, "sync");
    // `notes` is left out of the JSON when there are none.
    let lost: Vec<&str> = sync["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(sync["failures"].as_array().into_iter().flatten())
        .filter_map(|n| n.as_str())
        .filter(|n| n.contains("lost"))
        .collect();
    assert!(
        !lost.is_empty(),
        "the killed agent ({}) is noticed: {sync}\n{out}",
        agents[1]
    );
    // Sync lost an agent mid-run: its share ran on the two left (3 shares,
    // 9 requests); the later modes ran on the agents there then (2, or 3 if
    // the killed one was restarted and joined), one share each.
    for name in ["sync", "async", "blocking", "threads"] {
        let m = mode(&report, name);
        let shares = if name == "sync" {
            3
        } else {
            agents_of(m).len()
        };
        assert!(shares >= 2, "{name}: ran on {:?}", agents_of(m));
        let expected: BTreeMap<String, usize> =
            ["R1", "R2", "R3"].map(|id| (id.to_owned(), shares)).into();
        assert_eq!(
            records(m),
            expected,
            "{name}: each request of each share once"
        );
        assert_eq!(m["histogram"]["count"], 3 * shares, "{name}: all merged");
        for id in ["R1", "R2", "R3"] {
            assert_eq!(m["by_request"][id]["count"], shares, "{name}: {id} merged");
        }
        assert_eq!(m["errors"], 0, "{name}: no errors: {}", m["failures"]);
    }
    assert_eq!(
        sync["agents"].as_array().unwrap().len(),
        3,
        "sync started on all three agents: {}",
        sync["agents"]
    );
    // The staircase, on the two agents left after sync: one after another
    // ~17 s, concurrently ~10 s (the slowest request).
    let wall = |name: &str| mode(&report, name)["wall_ms"].as_f64().unwrap() / 1000.0;
    for (name, low, high) in [
        ("async", 9.9, 12.5),
        ("blocking", 16.9, 20.0),
        ("threads", 9.9, 12.5),
    ] {
        let seconds = wall(name);
        assert!(
            (low..high).contains(&seconds),
            "{name} took {seconds:.1} s, expected {low}..{high}"
        );
    }

    // 2. Spans from the three services in the run's trace, at the receiver
    // standing in for Jaeger (agents export in batches: give them time).
    let trace = report["trace_id"].as_str().expect("a trace id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let services = loop {
        let logs = text(&project.run(&["logs", "--no-color", "jaeger"]).stdout);
        let services: BTreeSet<String> = logs
            .lines()
            .filter(|l| l.contains(&format!("trace={trace}")))
            .filter_map(|l| l.split("service=").nth(1))
            .filter_map(|s| s.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        if services.len() >= 3 || Instant::now() > deadline {
            break services;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(
        services,
        BTreeSet::from([
            "loadlab-agent".to_owned(),
            "loadlab-coordinator".to_owned(),
            "loadlab-delay-server".to_owned()
        ]),
        "one trace across the three services"
    );

    // 3. `down -v` leaves no container, network or volume.
    project.down();
    let left = project.leftovers();
    assert!(left.is_empty(), "left after down -v: {left:?}");

    // 4. A second `up` starts clean (new secrets, new agents), for a
    // PostgreSQL experiment: the postgres service named, waited for.
    let mut up = project.up("postgres-quick.yaml", &["postgres"]);
    let code = up.exit_code(Duration::from_secs(240));
    let out = up.stdout();
    assert_eq!(code, Some(0), "postgres-quick.yaml under Compose:\n{out}");
    let report = project.report(dir.path());
    let secrets = text(&project.run(&["logs", "--no-color", "secrets"]).stdout);
    assert!(
        secrets.contains("made a new token"),
        "the second start made new secrets:\n{secrets}"
    );
    assert_eq!(
        report["agents"].as_array().unwrap().len(),
        3,
        "three fresh agents: {}",
        report["agents"]
    );
    for m in report["modes"].as_array().unwrap() {
        assert!(m["histogram"]["count"].as_u64().unwrap() > 0, "{m}");
        assert_eq!(m["errors"], 0, "{}: {}", m["mode"], m["failures"]);
        assert_eq!(agents_of(m).len(), 3, "{}: on the three agents", m["mode"]);
    }
    project.down();
    let left = project.leftovers();
    assert!(left.is_empty(), "left after down -v: {left:?}");
}
