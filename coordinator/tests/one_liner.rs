//! `coordinator run --url URL ...`: a load without a spec file, against a
//! real server of the test's own — the same run as the spec it prints.

use loadlab_testkit::echo;
use serde_json::Value;

mod common;
use common::{assert_exit, coordinator, read_json, text};

/// The one-liner and the spec `--print-spec` writes for it run the same:
/// the same spec in the report, the same requests, thresholds and outputs.
#[test]
fn a_one_liner_runs_as_the_spec_it_prints() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (base, received, _stop) = runtime.block_on(echo::start(None));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{base}/orders?a=$1");
    let flags = [
        "--url",
        &url,
        "-n",
        "30",
        "-c",
        "5",
        "-m",
        "post",
        "-H",
        "Content-Type: text/plain",
        "-d",
        "hello",
        "--mode",
        "sync",
        "--mode",
        "async",
    ];
    let printed = coordinator(&[&["run"][..], &flags, &["--print-spec"]].concat());
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed.stderr));
    let spec = dir.path().join("from-flags.yaml");
    std::fs::write(&spec, &printed.stdout).unwrap();

    let one_liner = dir.path().join("one-liner.json");
    let out = coordinator(
        &[
            &["run"][..],
            &flags,
            &[
                "--quiet",
                "--threshold",
                "p99 < 5s",
                "--json",
                one_liner.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert_exit(&out, 0);
    let from_spec = dir.path().join("from-spec.json");
    let out = coordinator(&[
        "run",
        spec.to_str().unwrap(),
        "--quiet",
        "--threshold",
        "p99 < 5s",
        "--json",
        from_spec.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let (a, b) = (read_json(&one_liner), read_json(&from_spec));
    assert_eq!(a["spec"], b["spec"], "the same spec");
    let counts = |r: &Value| -> Vec<(String, u64, u64)> {
        r["modes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["mode"].as_str().unwrap().to_owned(),
                    m["by_request"]["POST"]["count"].as_u64().unwrap(),
                    m["errors"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        counts(&a),
        [("sync".into(), 30, 0), ("async".into(), 30, 0)]
    );
    assert_eq!(counts(&a), counts(&b));
    assert_eq!(a["thresholds"].as_array().unwrap().len(), 2);
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 120, "30 in each of 2 modes, twice");
    for r in received.iter() {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/orders?a=$1", "a `$` is sent as written");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.body, b"hello");
    }
}

/// `-z` runs users for that long; bad flags are usage errors (exit 2)
/// that say what to write.
#[test]
fn a_one_liner_for_a_time_and_bad_flags() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (base, received, _stop) = runtime.block_on(echo::start(None));
    let out = coordinator(&["run", "--url", &base, "-z", "1s", "-c", "3", "--json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let mode = &report["modes"][0];
    assert_eq!(report["spec"]["users"], 3);
    let wall = mode["wall_ms"].as_f64().unwrap();
    assert!((900.0..2_000.0).contains(&wall), "{wall}");
    assert_eq!(
        mode["histogram"]["count"].as_u64().unwrap(),
        received.lock().unwrap().len() as u64
    );

    for (args, why) in [
        (vec!["--url", "ftp://x/"], "http:// or https://"),
        (vec!["--url", &base, "--rate", "10/s"], "--rate needs -z"),
        (
            vec!["--url", &base, "-n", "3", "-z", "1s"],
            "-n and -z exclude each other",
        ),
        (vec!["-n", "3"], "--url"),
    ] {
        let out = coordinator(&[&["run"][..], &args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(why),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
