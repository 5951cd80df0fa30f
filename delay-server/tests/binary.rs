//! The `delay-server` binary as a user runs it: flags, the printed address,
//! and a clean exit on SIGTERM.

use std::process::Command;
use std::time::Duration;

use loadlab_testkit::process::Running;

/// `--listen 127.0.0.1:0` prints the real address, serves on it, and SIGTERM
/// ends the process with status 0.
#[test]
fn prints_its_address_serves_and_exits_zero_on_sigterm() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_delay-server"));
    command.args(["--listen", "127.0.0.1:0", "--grace", "2s"]);
    let mut server = Running::spawn(command);
    let url = server.url_after("listening on ", Duration::from_secs(10));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let body = runtime.block_on(async {
        let client = loadlab_testkit::http::Client::new();
        let (status, body) =
            loadlab_testkit::http::get(&client, &format!("{url}/delay-me?ms=10")).await;
        assert_eq!(status, 200);
        body
    });
    assert_eq!(body, "Done, I waited for 10 ms");

    server.signal("TERM");
    assert_eq!(server.exit_code(Duration::from_secs(5)), Some(0));
}

/// A bad flag is a usage error: exit 2 and a message, no panic.
#[test]
fn bad_flag_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_delay-server"))
        .args(["--max-delay", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-delay"));
}

/// An address already in use is reported, with a non-zero exit.
#[test]
fn busy_port_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_delay-server"))
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot listen on {addr}")));
}

/// Hiccup flags go together, and a pause must leave time to answer.
#[test]
fn hiccup_flags_are_checked() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_delay-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap()
    };
    let alone = run(&["--hiccup-every", "4s"]);
    assert_eq!(alone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&alone.stderr).contains("--hiccup-for"));
    let too_long = run(&["--hiccup-every", "1s", "--hiccup-for", "1s"]);
    assert_eq!(too_long.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&too_long.stderr)
            .contains("--hiccup-for (1s) must be shorter than --hiccup-every (1s)")
    );
}
