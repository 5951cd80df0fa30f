//! Distributed runs across Linux network namespaces: the coordinator, two
//! agents and the delay server each on a host of its own (a namespace with
//! one veth), the hosts linked through a bridge in a fifth namespace, the
//! switch. Unlike loopback, a link can be cut there as a cable would be —
//! no process killed, no socket closed — and healed again.
//!
//! Every address is in 10.231.N.0/24, on the veth ends inside these
//! namespaces; no namespace has a route anywhere else, so no traffic leaves
//! them. Needs root (namespaces, veths, a bridge) and iproute2's `ip`;
//! without them each test prints why it is skipped and returns.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use loadlab_proto::HEARTBEAT_TIMEOUT;
use serde_json::Value;

mod common;
use common::{Running, workspace_binary};

const TOKEN: &str = "netns-test-token";
const LONG: Duration = Duration::from_secs(60);
/// Each namespace is a host of its own: fixed ports cannot collide.
const COORDINATOR_PORT: u16 = 7000;
const DELAY_PORT: u16 = 8000;

/// The lab's hosts; the n-th (from 1) is 10.231.SUBNET.n.
const HOSTS: [&str; 4] = ["coord", "agent1", "agent2", "delay"];

/// Runs `ip ARGS`; the error says what failed and what `ip` printed.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Says on the test's real stderr (not captured, so `cargo test` shows it)
/// that the test is skipped and why.
fn skip(test: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: cannot create network namespaces here ({why}); \
         these tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2"
    );
}

/// Five namespaces: four hosts, each with `eth0` at 10.231.SUBNET.n/24,
/// and the switch, whose bridge `br0` has one port `p-HOST` (the host's
/// veth peer) per host. Dropping it kills what still runs inside and
/// removes the veths and the namespaces, even when the test panicked.
struct Lab {
    /// `loadlab-netns-PID-TAG`; each namespace is `PREFIX-HOST`.
    prefix: String,
    subnet: u8,
    /// The namespaces created so far, the switch first.
    namespaces: Vec<String>,
}

impl Lab {
    /// The lab, or `None` (having said why) when this machine cannot make
    /// network namespaces. Fails the test when it can but the rest of the
    /// set-up fails.
    fn new(test: &str, tag: &str, subnet: u8) -> Option<Lab> {
        let mut lab = Lab {
            prefix: format!("loadlab-netns-{}-{tag}", std::process::id()),
            subnet,
            namespaces: Vec::new(),
        };
        let switch = lab.ns("switch");
        if let Err(why) = ip(&["netns", "add", &switch]) {
            // A leftover of our own name is a collision, not a lack of rights.
            assert!(
                !why.contains("File exists"),
                "namespace {switch} exists already: {why}"
            );
            skip(test, &why);
            return None;
        }
        lab.namespaces.push(switch.clone());
        if let Err(why) = lab.build(&switch) {
            panic!("network namespaces work here, but setting up the lab failed: {why}");
        }
        Some(lab)
    }

    fn build(&mut self, switch: &str) -> Result<(), String> {
        ip(&["-n", switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", switch, "link", "set", "br0", "up"])?;
        for host in HOSTS {
            let ns = self.ns(host);
            ip(&["netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            let port = port(host);
            // Made inside the switch with its peer born in the host: no
            // end of it is ever in this process's namespace.
            ip(&[
                "-n", switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ])?;
            ip(&["-n", switch, "link", "set", &port, "master", "br0", "up"])?;
            let cidr = format!("{}/24", self.addr(host));
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    fn switch(&self) -> String {
        self.ns("switch")
    }

    /// The host's address, 10.231.SUBNET.n.
    fn addr(&self, host: &str) -> String {
        let n = HOSTS
            .iter()
            .position(|h| *h == host)
            .expect("a host of the lab")
            + 1;
        format!("10.231.{}.{n}", self.subnet)
    }

    /// `program ARGS` run on `host` (`ip netns exec NS program ARGS`), with
    /// an environment of `PATH`, `NO_COLOR` and `env` only: no variable of
    /// ours (a collector, a token, a target, a proxy) points it elsewhere.
    fn spawn(&self, host: &str, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(host)])
            .arg(program)
            .args(args)
            .env_clear()
            .env("NO_COLOR", "1");
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        Running::spawn(command)
    }

    /// Checks that `running` is `program` itself (`ip netns exec` execs
    /// it, so signals and exit codes are the program's) and runs in
    /// `host`'s namespace.
    fn assert_runs_on(&self, running: &Running, host: &str, program: &Path) {
        let pid = running.child.id();
        let program = program.canonicalize().unwrap();
        // Until `ip` has exec'd, the pid is still `ip`'s.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the process lives");
            if exe == program {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "pid {pid} is {exe:?}, not {program:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .ino();
        let hosts = std::fs::metadata(format!("/run/netns/{}", self.ns(host)))
            .unwrap()
            .ino();
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        assert_eq!(theirs, hosts, "pid {pid} is not in {host}'s namespace");
        assert_ne!(theirs, ours);
    }

    /// Unplugs `host`'s cable at the switch: its port goes down, its
    /// `eth0` loses carrier; both processes and their sockets live on.
    fn cut(&self, host: &str) {
        ip(&["-n", &self.switch(), "link", "set", &port(host), "down"]).expect("link down");
    }

    fn heal(&self, host: &str) {
        ip(&["-n", &self.switch(), "link", "set", &port(host), "up"]).expect("link up");
    }

    /// Packets the switch received from `host` (its port's rx counter).
    fn packets_from(&self, host: &str) -> u64 {
        let json = ip(&[
            "-j",
            "-s",
            "-n",
            &self.switch(),
            "link",
            "show",
            &port(host),
        ])
        .expect("ip -s link show");
        let links: Value = serde_json::from_str(&json).expect("ip -j prints JSON");
        links[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .unwrap_or_else(|| panic!("no rx packets in {json}"))
    }
}

/// The switch's port for `host`.
fn port(host: &str) -> String {
    format!("p-{host}")
}

impl Drop for Lab {
    fn drop(&mut self) {
        // What still runs inside (processes of a test that panicked before
        // dropping them) would keep a namespace alive past `ip netns del`.
        for ns in &self.namespaces {
            let pids = ip(&["netns", "pids", ns]).unwrap_or_default();
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        // Deleting one end of a veth deletes its peer.
        if let Some(switch) = self.namespaces.first() {
            for host in HOSTS {
                let _ = ip(&["-n", switch, "link", "del", &port(host)]);
            }
        }
        for ns in self.namespaces.iter().rev() {
            if let Err(why) = ip(&["netns", "del", ns]) {
                let _ = writeln!(std::io::stderr(), "netns.rs: cleaning up: {why}");
            }
        }
    }
}

/// A lab with the delay server running on its host.
struct Hosts {
    /// Dropped (killed) before the lab that holds it.
    _delay: Running,
    lab: Lab,
    dir: tempfile::TempDir,
}

impl Hosts {
    fn start(test: &str, tag: &str, subnet: u8) -> Option<Hosts> {
        let lab = Lab::new(test, tag, subnet)?;
        let program = workspace_binary("delay-server", "delay-server");
        let listen = format!("{}:{DELAY_PORT}", lab.addr("delay"));
        let delay = lab.spawn("delay", &program, &["--listen", &listen], &[]);
        let url = delay.url_after("listening on ", LONG);
        assert_eq!(url, format!("http://{listen}"));
        lab.assert_runs_on(&delay, "delay", &program);
        Some(Hosts {
            _delay: delay,
            lab,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// The delay server's URL, for the spec's `target`.
    fn target(&self) -> String {
        format!("http://{}:{DELAY_PORT}", self.lab.addr("delay"))
    }

    fn listen(&self) -> String {
        format!("{}:{COORDINATOR_PORT}", self.lab.addr("coord"))
    }

    /// `coordinator run SPEC --listen COORD:7000 --token T --json FILE`
    /// on the coordinator's host for `yaml` (written as `FILE_NAME.yaml`),
    /// once it waits for agents; and where its report will be.
    fn coordinator(&self, name: &str, yaml: &str) -> (Running, PathBuf) {
        let spec = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&spec, yaml).unwrap();
        let json = self.dir.path().join(format!("{name}.json"));
        let program = PathBuf::from(env!("CARGO_BIN_EXE_coordinator"));
        let running = self.lab.spawn(
            "coord",
            &program,
            &[
                "run",
                spec.to_str().unwrap(),
                "--listen",
                &self.listen(),
                "--token",
                TOKEN,
                "--json",
                json.to_str().unwrap(),
                "--wait",
                "30s",
            ],
            &[],
        );
        let url = running.url_after("listening for agents on ", LONG);
        assert_eq!(url, format!("http://{}", self.listen()));
        self.lab.assert_runs_on(&running, "coord", &program);
        (running, json)
    }

    /// An `agent` named after its host, on its host, dialing the
    /// coordinator's namespace address.
    fn agent(&self, host: &str) -> Running {
        let program = workspace_binary("loadlab-agent", "agent");
        let url = format!("http://{}", self.listen());
        let running = self.lab.spawn(
            host,
            &program,
            &["--coordinator", &url, "--name", host, "--token", TOKEN],
            &[("RUST_LOG", "info")],
        );
        self.lab.assert_runs_on(&running, host, &program);
        running
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the JSON report exists"))
        .expect("valid JSON")
}

/// The first mode's `(round, id)` of every record, sorted.
fn rounds_and_ids(report: &Value) -> Vec<(u64, String)> {
    let mut pairs: Vec<(u64, String)> = report["modes"][0]["requests"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["round"].as_u64().unwrap(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

/// Each agent's name and count in the first mode, sorted by name.
fn per_agent(report: &Value) -> Vec<(String, u64)> {
    let mut agents: Vec<(String, u64)> = report["modes"][0]["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["count"].as_u64().unwrap(),
            )
        })
        .collect();
    agents.sort();
    agents
}

/// A closed loop of `rounds` × one `ms` request in `mode`, partitioned
/// between two agents.
fn partitioned(hosts: &Hosts, mode: &str, ms: u32, rounds: u32, on_loss: &str) -> String {
    format!(
        "name: netns\nmodes: [{mode}]\ntarget: {}\nrequests:\n  - {{ id: A, path: /delay-me?ms={ms} }}\n\
         repeat: {rounds}\nagents: {{ count: 2, split: partition }}\non_agent_loss: {on_loss}\ntimeout: 10s\n",
        hosts.target()
    )
}

/// Two agents on hosts of their own load a delay server on a third through
/// a coordinator on a fourth, over the bridge: each runs its half, and the
/// merged report counts every request exactly once, as on loopback.
#[test]
fn agents_on_their_own_hosts_merge_every_request_once() {
    let Some(hosts) = Hosts::start(
        "agents_on_their_own_hosts_merge_every_request_once",
        "merge",
        1,
    ) else {
        return;
    };
    let spec = format!(
        "name: netns-merge\nmodes: [async]\ntarget: {}\nrequests:\n\
         \x20 - {{ id: A, path: /delay-me?ms=5 }}\n\
         \x20 - {{ id: B, path: /delay-me?ms=10 }}\n\
         repeat: 40\nconcurrency: 8\nagents: {{ count: 2, split: partition }}\ntimeout: 10s\n",
        hosts.target()
    );
    let (mut coordinator, json) = hosts.coordinator("merge", &spec);
    let before: Vec<u64> = HOSTS.iter().map(|h| hosts.lab.packets_from(h)).collect();
    let _agents = [hosts.agent("agent1"), hosts.agent("agent2")];
    let code = coordinator.exit_code(LONG);
    let (stdout, stderr) = (coordinator.stdout(), coordinator.stderr());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("2/2 agents connected"), "{stderr}");

    let report = read_json(&json);
    let mode = &report["modes"][0];
    assert_eq!(mode["histogram"]["count"].as_u64(), Some(80), "{mode}");
    assert_eq!(mode["errors"].as_u64(), Some(0), "{mode}");
    let expected: Vec<(u64, String)> = (0..40)
        .flat_map(|round| [(round, "A".to_owned()), (round, "B".to_owned())])
        .collect();
    assert_eq!(rounds_and_ids(&report), expected, "each (round, id) once");
    assert_eq!(
        per_agent(&report),
        [("agent1".to_owned(), 40), ("agent2".to_owned(), 40)]
    );
    // Partitioned: no round ran on both agents.
    let rounds_of = |agent: &str| -> std::collections::BTreeSet<u64> {
        mode["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["agent"] == agent)
            .map(|r| r["round"].as_u64().unwrap())
            .collect()
    };
    assert!(rounds_of("agent1").is_disjoint(&rounds_of("agent2")));

    // The traffic crossed the switch: both agents and the delay server
    // sent it at least a packet per request.
    for (host, before) in HOSTS.iter().zip(before) {
        let sent = hosts.lab.packets_from(host) - before;
        let least = if *host == "coord" { 1 } else { 40 };
        assert!(sent >= least, "{host} sent {sent} packets to the switch");
    }
}

/// What a run did when the link of `agent2` was cut mid-run.
struct Cut {
    coordinator: Running,
    json: PathBuf,
    /// The coordinator's line saying `agent2` was lost.
    lost_line: String,
    /// From the cut to that line.
    noticed_after: Duration,
}

/// Starts a 100 × 60 ms sync run (50 per agent, about 3 s each) under
/// `on_loss`, and cuts `agent2`'s link once it has delivered a few
/// requests; returns when the coordinator says it lost `agent2`.
fn cut_agent2_mid_run(hosts: &Hosts, agents: &[Running; 2], on_loss: &str) -> Cut {
    let spec = partitioned(hosts, "sync", 60, 100, on_loss);
    let (coordinator, json) = hosts.coordinator("cut", &spec);
    // Each agent's log says it joined; the coordinator prints requests
    // as they finish (100 at most: the run prints every one).
    for agent in agents {
        agent.wait_for_line("joined the coordinator", LONG);
    }
    coordinator.wait_for_line("2/2 agents connected", LONG);
    for _ in 0..5 {
        coordinator.wait_for_line("[agent2] A: Request done!", LONG);
    }
    hosts.lab.cut("agent2");
    let cut = Instant::now();
    let lost_line = coordinator.wait_for_line("agent agent2 lost", LONG);
    let noticed_after = cut.elapsed();
    eprintln!("cut agent2's link; the coordinator noticed {noticed_after:?} later: {lost_line}");
    Cut {
        coordinator,
        json,
        lost_line,
        noticed_after,
    }
}

/// The coordinator noticed the cut by the heartbeat: not before the
/// timeout (nothing crossed the cut link) and not long after it.
fn assert_noticed_by_heartbeat(cut: &Cut) {
    assert!(
        cut.lost_line.contains(&format!(
            "agent agent2 lost (silent for {} s: no heartbeat)",
            HEARTBEAT_TIMEOUT.as_secs()
        )),
        "{}",
        cut.lost_line
    );
    // Its last message from agent2 came at most a progress period (200
    // ms) before the cut, so it cannot have noticed much sooner.
    let earliest = HEARTBEAT_TIMEOUT - Duration::from_millis(500);
    let latest = HEARTBEAT_TIMEOUT + Duration::from_secs(3);
    assert!(
        (earliest..latest).contains(&cut.noticed_after),
        "noticed {:?} after the cut, expected {earliest:?}..{latest:?}",
        cut.noticed_after
    );
}

/// A partition, not a crash: `agent2`'s cable is pulled at the switch mid-run.
/// The coordinator notices within its heartbeat timeout, hands the rest of
/// agent2's share to agent1, and counts every request exactly once even
/// though the link comes back while the run goes on (what agent2 sent into
/// the cut must not count twice); then agent2, which was never restarted,
/// reconnects on its own and takes part in the next run.
#[test]
fn a_cut_link_is_noticed_redistributed_and_the_agent_rejoins_the_next_run() {
    let Some(hosts) = Hosts::start(
        "a_cut_link_is_noticed_redistributed_and_the_agent_rejoins_the_next_run",
        "cut",
        2,
    ) else {
        return;
    };
    let mut agents = [hosts.agent("agent1"), hosts.agent("agent2")];
    let mut cut = cut_agent2_mid_run(&hosts, &agents, "redistribute");
    assert_noticed_by_heartbeat(&cut);
    // Heal while agent1 still runs agent2's leftovers.
    hosts.lab.heal("agent2");
    let code = cut.coordinator.exit_code(LONG);
    let (stdout, stderr) = (cut.coordinator.stdout(), cut.coordinator.stderr());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    let report = read_json(&cut.json);
    let mode = &report["modes"][0];
    let expected: Vec<(u64, String)> = (0..100).map(|round| (round, "A".to_owned())).collect();
    assert_eq!(
        rounds_and_ids(&report),
        expected,
        "every (round, request) exactly once\n{stdout}\n{stderr}"
    );
    assert_eq!(mode["histogram"]["count"].as_u64(), Some(100), "{mode}");
    assert_eq!(mode["not_started"].as_u64(), Some(0), "{mode}");
    let counts = per_agent(&report);
    assert_eq!(
        counts.iter().map(|(_, n)| n).sum::<u64>(),
        100,
        "{counts:?}"
    );
    let of = |name: &str| counts.iter().find(|(n, _)| n == name).map(|(_, c)| *c);
    let (from1, from2) = (of("agent1").unwrap_or(0), of("agent2").unwrap_or(0));
    assert!(from2 >= 5, "agent2 delivered before the cut: {counts:?}");
    assert!(
        from1 > 50,
        "agent1 took over agent2's leftovers: {counts:?}"
    );
    let notes = mode["notes"].to_string();
    assert!(
        notes.contains("agent agent2 lost (silent for 4 s: no heartbeat)")
            && notes.contains("went to agent1"),
        "{notes}"
    );

    // agent2 finds its way back, by itself, and is in the next run.
    let (mut next, json) = hosts.coordinator("next", &partitioned(&hosts, "async", 5, 20, "fail"));
    let code = next.exit_code(LONG);
    let (stdout, stderr) = (next.stdout(), next.stderr());
    let agent2_log = agents[1].stderr();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}\nagent2:\n{agent2_log}");
    let joined = stderr
        .lines()
        .find(|l| l.contains("2/2 agents connected"))
        .unwrap_or_else(|| panic!("both agents joined the next run: {stderr}\n{agent2_log}"));
    assert!(
        joined.contains("agent1") && joined.contains("agent2"),
        "{joined}"
    );
    let report = read_json(&json);
    assert_eq!(
        per_agent(&report),
        [("agent1".to_owned(), 10), ("agent2".to_owned(), 10)]
    );
    assert_eq!(rounds_and_ids(&report).len(), 20);
    // One agent2 process, never restarted, joined both runs (and, once
    // its link was back, maybe the first run's coordinator again, idle).
    let joins = agents[1].stderr().matches("joined the coordinator").count();
    assert!(joins >= 2, "{}", agents[1].stderr());
    for agent in &mut agents {
        assert_eq!(agent.child.try_wait().unwrap(), None, "{}", agent.stderr());
    }
}

/// With `on_agent_loss: fail`, a cut link fails the run (exit 1) within
/// the heartbeat timeout, naming the agent, and the report keeps what it
/// delivered before the cut.
#[test]
fn a_cut_link_fails_the_run_under_on_agent_loss_fail() {
    let Some(hosts) = Hosts::start(
        "a_cut_link_fails_the_run_under_on_agent_loss_fail",
        "fail",
        3,
    ) else {
        return;
    };
    let agents = [hosts.agent("agent1"), hosts.agent("agent2")];
    let mut cut = cut_agent2_mid_run(&hosts, &agents, "fail");
    assert_noticed_by_heartbeat(&cut);
    let code = cut.coordinator.exit_code(LONG);
    let (stdout, stderr) = (cut.coordinator.stdout(), cut.coordinator.stderr());
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("on_agent_loss: fail"), "{stdout}");
    let report = read_json(&cut.json);
    let failures = report["modes"][0]["failures"].to_string();
    assert!(
        failures.contains("agent agent2 lost (silent for 4 s: no heartbeat)"),
        "{failures}"
    );
    let from2 = report["modes"][0]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["agent"] == "agent2")
        .count();
    assert!(from2 >= 5, "{report}");
}
