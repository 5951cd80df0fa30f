//! The lab the namespace tests run in: five network namespaces (four hosts
//! and the switch that links them), the processes started on each host,
//! and their removal, even when a test panics.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Running, workspace_binary};

pub const TOKEN: &str = "netns-test-token";
pub const LONG: Duration = Duration::from_secs(60);
/// Each namespace is a host of its own: fixed ports cannot collide.
pub const COORDINATOR_PORT: u16 = 7000;
pub const DELAY_PORT: u16 = 8000;

/// The lab's hosts; the n-th (from 1) is 10.231.SUBNET.n.
pub const HOSTS: [&str; 4] = ["coord", "agent1", "agent2", "delay"];

/// Runs `ip ARGS`; the error says what failed and what `ip` printed.
pub fn ip(args: &[&str]) -> Result<String, String> {
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
pub fn skip(test: &str, why: &str) {
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
pub struct Lab {
    /// `loadlab-netns-PID-TAG`; each namespace is `PREFIX-HOST`.
    pub prefix: String,
    pub subnet: u8,
    /// The namespaces created so far, the switch first.
    pub namespaces: Vec<String>,
}

impl Lab {
    /// The lab, or `None` (having said why) when this machine cannot make
    /// network namespaces. Fails the test when it can but the rest of the
    /// set-up fails.
    pub fn new(test: &str, tag: &str, subnet: u8) -> Option<Lab> {
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

    pub fn build(&mut self, switch: &str) -> Result<(), String> {
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

    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    pub fn switch(&self) -> String {
        self.ns("switch")
    }

    /// The host's address, 10.231.SUBNET.n.
    pub fn addr(&self, host: &str) -> String {
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
    pub fn spawn(
        &self,
        host: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Running {
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
    pub fn assert_runs_on(&self, running: &Running, host: &str, program: &Path) {
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
    pub fn cut(&self, host: &str) {
        ip(&["-n", &self.switch(), "link", "set", &port(host), "down"]).expect("link down");
    }

    pub fn heal(&self, host: &str) {
        ip(&["-n", &self.switch(), "link", "set", &port(host), "up"]).expect("link up");
    }

    /// Packets the switch received from `host` (its port's rx counter).
    pub fn packets_from(&self, host: &str) -> u64 {
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
pub fn port(host: &str) -> String {
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
pub struct Hosts {
    /// Dropped (killed) before the lab that holds it.
    pub _delay: Running,
    pub lab: Lab,
    pub dir: tempfile::TempDir,
}

impl Hosts {
    pub fn start(test: &str, tag: &str, subnet: u8) -> Option<Hosts> {
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
    pub fn target(&self) -> String {
        format!("http://{}:{DELAY_PORT}", self.lab.addr("delay"))
    }

    pub fn listen(&self) -> String {
        format!("{}:{COORDINATOR_PORT}", self.lab.addr("coord"))
    }

    /// `coordinator run SPEC --listen COORD:7000 --token T --json FILE`
    /// on the coordinator's host for `yaml` (written as `FILE_NAME.yaml`),
    /// once it waits for agents; and where its report will be.
    pub fn coordinator(&self, name: &str, yaml: &str) -> (Running, PathBuf) {
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
    pub fn agent(&self, host: &str) -> Running {
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
