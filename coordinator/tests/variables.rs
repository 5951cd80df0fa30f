//! Variables in specs: `${VAR}` and `${VAR:-default}` from `-e` or the
//! environment, sent as written to a real server of the test's own, and
//! the values of secret ones in no output — with the real coordinator
//! binary, a real OTLP receiver, and Chromium-free files read as text.

use loadlab_testkit::echo;
use loadlab_testkit::otlp::Collector;

mod common;
use common::{coordinator_with_env, text, write_spec};

const TOKEN: &str = "tok-7f3a9c2e1b55";

/// `${API_TOKEN}` in a header and in the URL, in every mode: the server
/// receives it as written, and its value is in no output — terminal lines
/// and summary, JSON (the saved spec too), HTML, the requests file, span
/// attributes — each showing `${API_TOKEN}` (spans `***`) instead.
#[test]
fn a_secret_variable_is_sent_as_written_and_shown_nowhere() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (base, received, _stop) = runtime.block_on(echo::start(None));
    let (collector, otlp, _collector_runtime) = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: secret\nmodes: [sync, async, blocking, threads]\nrequests:\n\
         \x20 - id: a\n\
         \x20   url: \"${BASE}/status/200?key=${API_TOKEN}\"\n\
         \x20   headers: { Authorization: \"Bearer ${API_TOKEN}\", X-Team: \"${TEAM:-web}\" }\n",
    );
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (json, html, requests) = (path("run.json"), path("run.html"), path("requests.jsonl"));
    let token = format!("API_TOKEN={TOKEN}");
    let out = coordinator_with_env(
        &[
            "run",
            &spec,
            "-e",
            &token,
            "--json",
            &json,
            "--html",
            &html,
            "--requests",
            &requests,
            "--otlp-endpoint",
            &otlp,
            "-e",
            "TEAM=from-the-flag",
        ],
        &[("BASE", &base), ("TEAM", "from-the-environment")],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");

    let received = received.lock().unwrap();
    assert_eq!(received.len(), 4, "one request per mode");
    for r in received.iter() {
        assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
        assert_eq!(r.header("x-team"), Some("from-the-flag"), "-e wins");
        assert_eq!(r.target, format!("/status/200?key={TOKEN}"));
    }

    for (what, shown) in [
        ("stdout", stdout.clone()),
        ("stderr", stderr),
        ("the JSON", std::fs::read_to_string(&json).unwrap()),
        ("the HTML", std::fs::read_to_string(&html).unwrap()),
        (
            "the requests file",
            std::fs::read_to_string(&requests).unwrap(),
        ),
    ] {
        assert!(!shown.contains(TOKEN), "{what} shows the token: {shown}");
    }
    assert!(stdout.contains("key=${API_TOKEN}"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let url = report["spec"]["requests"][0]["url"].as_str().unwrap();
    assert!(url.ends_with("/status/200?key=${API_TOKEN}"), "{url}");

    // Spans are exported as the coordinator exits.
    let spans = collector.spans();
    let requests: Vec<_> = spans
        .iter()
        .filter(|s| s.attributes.contains_key("url.full"))
        .collect();
    assert!(!requests.is_empty(), "request spans: {}", spans.len());
    for span in &spans {
        assert!(!span.name.contains(TOKEN), "{}", span.name);
        for (key, value) in &span.attributes {
            assert!(!value.contains(TOKEN), "span {} {key} = {value}", span.name);
        }
    }
    assert!(
        requests
            .iter()
            .all(|s| s.attributes["url.full"].ends_with("key=***")),
        "{:?}",
        requests[0].attributes
    );
}

/// `validate` names the variables a spec uses and whether each is set
/// (never a secret's value); an unset one without default is an error at
/// its line:column naming it, exit 2.
#[test]
fn validate_shows_the_variables_and_an_unset_one_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: v\nmodes: [async]\ntarget: ${SHOP_URL:-http://127.0.0.1:8080}\nrequests:\n\
         \x20 - { id: a, path: /x, headers: { Authorization: \"Bearer ${API_TOKEN}\" } }\n",
    );
    let out = coordinator_with_env(
        &["validate", &spec, "-e", &format!("API_TOKEN={TOKEN}")],
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("closed loop"), "{stdout}");
    assert!(
        stdout.contains("${SHOP_URL}: not set, default \"http://127.0.0.1:8080\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("${API_TOKEN}: set (secret: never shown)"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));

    let out = coordinator_with_env(&["validate", &spec], &[("API_TOKEN", "")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "set but empty is set: {}",
        text(&out.stderr)
    );
    let missing = write_spec(
        &dir,
        "name: v\nmodes: [async]\nrequests:\n  - { id: a, path: \"/x?k=${LOADLAB_TEST_UNSET}\" }\n",
    );
    let out = coordinator_with_env(&["run", &missing], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("spec.yaml:4:26"), "{stderr}");
    assert!(
        stderr.contains("variable `LOADLAB_TEST_UNSET` is not set"),
        "{stderr}"
    );
    let out = coordinator_with_env(&["run", &missing, "-e", "1BAD=x"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a variable name"));
}
