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

use std::path::PathBuf;
use std::time::{Duration, Instant};

use loadlab_proto::HEARTBEAT_TIMEOUT;
use serde_json::Value;

mod common;
use common::{Running, read_json};

#[path = "netns/lab.rs"]
mod lab;
use lab::{HOSTS, Hosts, LONG};

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
    // ms) before the cut, plus a loaded machine's delays, so it cannot have
    // noticed much sooner.
    let earliest = HEARTBEAT_TIMEOUT - Duration::from_secs(1);
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
