//! The tracking workload end to end: the real coordinator binary, its
//! in-process agent and embedded tracker, the machine's Redis, real
//! websockets.

use serde_json::Value;

mod common;
use common::{coordinator_with_env, text, write_spec};

const QUICK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../experiments/tracking-quick.yaml"
);

/// `experiments/tracking-quick.yaml` (20 customers, 2 updates a second
/// each, for 3 s): served async, every update reaches its customer within
/// milliseconds; served blocking, the tracker's one executor thread waits
/// on each quiet customer's blocking Redis read in turn, and updates arrive
/// hundreds of milliseconds late or not at all — and the report says so.
#[test]
fn the_tracking_workload_delivers_in_async_and_breaks_in_blocking() {
    let redis = loadlab_testkit::redis::url();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = coordinator_with_env(
        &["run", QUICK, "--quiet", "--json", json.to_str().unwrap()],
        &[("REDIS_URL", &redis)],
    );
    let output = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(json).expect(&output)).unwrap();
    let (fast, slow) = (&report["modes"][0], &report["modes"][1]);
    assert_eq!(fast["mode"], "async");
    assert_eq!(fast["published"], 120, "{fast}");
    assert_eq!(fast["delivered"], 120, "{fast}");
    assert_eq!(fast["connect"]["count"], 20);
    assert_eq!(fast["connect_failures"], 0);
    assert!(
        fast["threads"].as_u64().unwrap() > 0,
        "the tracker's /stats was sampled"
    );
    let fast_p99 = fast["histogram"]["p99_ms"].as_f64().unwrap();
    assert!(fast_p99 < 100.0, "async delivery p99 {fast_p99} ms");
    assert!(
        fast["explanation"]
            .as_str()
            .unwrap()
            .starts_with("120 of 120 updates delivered (100%)"),
        "{}",
        fast["explanation"]
    );

    assert_eq!(slow["mode"], "blocking");
    assert_eq!(slow["published"], 120, "{slow}");
    let delivered = slow["delivered"].as_u64().unwrap();
    let slow_p99 = slow["histogram"]["p99_ms"].as_f64().unwrap();
    assert!(
        delivered < 120 || slow_p99 > 10.0 * fast_p99.max(5.0),
        "blocking delivered {delivered} of 120 with p99 {slow_p99} ms (async {fast_p99} ms)"
    );
    // Lost updates are failed requests: the run says so in its exit code.
    let expected = if delivered < 120 { 1 } else { 0 };
    assert_eq!(out.status.code(), Some(expected), "{output}");
    let explanation = slow["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with(&format!("{delivered} of 120 updates delivered"))
            && explanation.contains("one executor thread"),
        "{explanation}"
    );
}

/// Without Redis the run stops before it starts, naming where it looked.
#[test]
fn an_unreachable_redis_is_named_before_the_run() {
    let closed = loadlab_testkit::closed_port();
    let out = coordinator_with_env(
        &["run", QUICK, "--quiet"],
        &[("REDIS_URL", &format!("redis://{closed}"))],
    );
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach Redis at {closed}")),
        "{stderr}"
    );
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}

/// `track` runs alone and paces itself: the mistakes are located.
#[test]
fn tracking_spec_mistakes_are_located() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, expected) in [
        (
            "name: t\nmodes: [async]\nrate: 10/s\ntrack:\n  customers: 5\n  updates: 1/s\n  duration: 2s\n",
            ":5:3: `track` has its own pace",
        ),
        (
            "name: t\nmodes: [async]\ntrack:\n  customers: 5\n  updates: 1/s\n  duration: 2s\n  rooms: 3\n",
            "unknown field `rooms`",
        ),
        (
            "name: t\nmodes: [async]\ntarget: { tracker: http://x:1 }\ntrack:\n  customers: 5\n  updates: 1/s\n  duration: 2s\n",
            "is the tracker's ws:// URL",
        ),
    ] {
        let spec = write_spec(&dir, yaml);
        let out = coordinator_with_env(&["validate", &spec], &[]);
        let stderr = text(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{yaml}");
        assert!(stderr.contains(expected), "{yaml}\n{stderr}");
    }
}

/// Tracking is a timed workload too: with a minute's timeout, a blocking
/// tracker's run still ends within `graceful_stop` of its schedule, and
/// every update is counted once — delivered, failed, or (when still
/// undelivered at the graceful stop) interrupted. (That in-flight requests
/// are abandoned then is shown in every mode by `by_request.rs`.)
#[test]
fn undelivered_updates_wait_the_graceful_stop_not_their_timeout() {
    let redis = loadlab_testkit::redis::url();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: stop\nmodes: [blocking]\ntrack: { customers: 20, updates: 2/s, duration: 3s }\n\
         timeout: 60s\ngraceful_stop: 1s\n",
    );
    let json = dir.path().join("run.json");
    let started = std::time::Instant::now();
    let out = coordinator_with_env(
        &["run", &spec, "--quiet", "--json", json.to_str().unwrap()],
        &[("REDIS_URL", &redis)],
    );
    let took = started.elapsed();
    let output = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(
        took < std::time::Duration::from_secs(20),
        "took {took:?}: {output}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(json).expect(&output)).unwrap();
    let mode = &report["modes"][0];
    let published = mode["published"].as_u64().unwrap_or(0);
    let interrupted = mode["interrupted"].as_u64().unwrap_or(0);
    assert_eq!(
        published + interrupted,
        120,
        "each update counted once: {mode}"
    );
}
