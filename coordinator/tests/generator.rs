//! The load generator watching itself, with the real coordinator binary.
//! Alone in its own test binary: it loads a core on purpose, which would
//! slow the tests that run beside it in a shared binary.

mod common;

/// The generator watches itself: with its process pinned to one core that
/// two busy loops share, its executor and pacer run late, and the report
/// says by how much and that latencies below that are not the server's —
/// in the terminal, the JSON and the page.
#[test]
fn a_generator_loaded_on_purpose_says_it_was_late() {
    let burner = || {
        let mut command = std::process::Command::new("taskset");
        command.args(["-c", "0", "sh", "-c", "while :; do :; done"]);
        common::Running::spawn(command)
    };
    let _burners = [burner(), burner()];
    let dir = tempfile::tempdir().unwrap();
    let spec = common::write_spec(
        &dir,
        "name: loaded\nmodes: [async]\nrate: 400/s\nduration: 2s\n\
         requests: [{ id: R1, path: /delay-me?ms=5 }]\n",
    );
    let (json, html) = (dir.path().join("run.json"), dir.path().join("run.html"));
    let out = std::process::Command::new("taskset")
        .args(["-c", "0", env!("CARGO_BIN_EXE_coordinator"), "run", &spec])
        .args([
            "--json",
            json.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ])
        .output()
        .expect("taskset runs the coordinator");
    let stdout = common::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        common::text(&out.stderr)
    );
    let report = common::read_json(&json);
    let warning = report["modes"][0]["generator"]
        .as_str()
        .unwrap_or_else(|| panic!("no warning: {}", report["modes"][0]));
    assert!(
        warning.starts_with("the generator was late by p99 "),
        "{warning}"
    );
    assert!(
        warning.contains("latencies below that are not the server's"),
        "{warning}"
    );
    assert!(stdout.contains(warning), "{stdout}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("the generator was late by p99 "),
        "the page says it too"
    );
}
