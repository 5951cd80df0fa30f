//! Real targets: a user's own HTTPS service (an echo server with a
//! certificate made for the test), loaded with methods, headers, JSON
//! bodies, absolute URLs and expected statuses — the same in every mode.

use serde_json::Value;

mod common;
use common::{mode, run_spec, runtime, text};
use loadlab_testkit::echo::{self, Certificates};

const MODES: [&str; 4] = ["sync", "async", "blocking", "threads"];

/// Three requests to `base`: a POST with headers and a JSON body that
/// expects 201 (and gets it), a GET of a 200 that expects 201 (a failure),
/// and a GET of a redirect that expects the redirect itself (no client
/// follows it).
fn spec(base: &str, extra: &str) -> String {
    format!(
        "name: real\nmodes: [sync, async, blocking, threads]\n{extra}requests:\n\
         \x20 - id: create\n    method: POST\n    url: {base}/status/201/orders\n\
         \x20   headers: {{ Authorization: Bearer t0k, X-Order: \"7\" }}\n\
         \x20   body: {{ json: {{ item: 42, note: ok }} }}\n\
         \x20   expect: {{ status: [201] }}\n\
         \x20 - {{ id: read, url: {base}/orders/7, expect: {{ status: [201] }} }}\n\
         \x20 - {{ id: moved, url: {base}/status/302, expect: {{ status: [302] }} }}\n"
    )
}

/// Trusting the test's CA with --tls-ca, every mode sends the POST with its
/// method, headers and JSON body over TLS; the expected 201 is a success,
/// the unexpected 200 an error that says what was expected.
#[test]
fn https_requests_with_methods_headers_bodies_and_expected_statuses_in_every_mode() {
    let runtime = runtime();
    let certificates = Certificates::generate();
    let (base, received, _stop) = runtime.block_on(echo::start(Some(&certificates)));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &certificates.ca).unwrap();

    let (out, report) = run_spec(&dir, &spec(&base, ""), &["--tls-ca", ca.to_str().unwrap()]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", text(&out.stderr)));
    // One request of each round failed its expectation.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    for name in MODES {
        let m = mode(&report, name);
        assert_eq!(m["histogram"]["count"], 3, "{name}: {m}");
        assert_eq!(m["errors"], 1, "{name}: {m}");
        let reasons = m["errors_by_reason"].to_string();
        assert!(
            reasons.contains("HTTP 200 OK, expected 201"),
            "{name}: {reasons}"
        );
    }

    let received = received.lock().unwrap();
    let posts: Vec<_> = received.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 4, "one POST per mode: {received:?}");
    let host = base.trim_start_matches("https://");
    for request in received.iter() {
        // Origin form, one Host, and the same identity from every client.
        assert!(request.target.starts_with('/'), "{request:?}");
        assert_eq!(request.header("host"), Some(host), "{request:?}");
        assert_eq!(request.header("accept"), Some("*/*"), "{request:?}");
        assert!(
            request
                .header("user-agent")
                .unwrap_or("")
                .starts_with("loadlab/"),
            "{request:?}"
        );
    }
    assert!(
        !received.iter().any(|r| r.path == "/moved-here"),
        "a client followed a redirect"
    );
    for post in posts {
        assert_eq!(post.target, "/status/201/orders");
        assert_eq!(post.header("authorization"), Some("Bearer t0k"));
        assert_eq!(post.header("x-order"), Some("7"));
        assert_eq!(post.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body, serde_json::json!({"item": 42, "note": "ok"}));
    }
    let gets = received.iter().filter(|r| r.method == "GET").count();
    assert_eq!(gets, 8, "two GETs per mode");
}

/// Without the CA, no mode's client trusts the server: every request fails
/// with a reason that says how to trust it, and the server serves nothing.
#[test]
fn an_untrusted_certificate_fails_every_request_saying_how_to_trust_it() {
    let runtime = runtime();
    let certificates = Certificates::generate();
    let (base, received, _stop) = runtime.block_on(echo::start(Some(&certificates)));
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = run_spec(&dir, &spec(&base, ""), &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", text(&out.stderr)));
    assert_eq!(out.status.code(), Some(1));
    for name in MODES {
        let m = mode(&report, name);
        assert_eq!(m["errors"], 3, "{name}: {m}");
        let reasons = m["errors_by_reason"].to_string();
        assert!(
            reasons.contains("not signed by a CA this agent trusts")
                && reasons.contains("--tls-ca"),
            "{name}: {reasons}"
        );
    }
    assert!(received.lock().unwrap().is_empty());
}

/// `insecure: true` accepts the self-signed server in every mode, and says
/// so loudly: a warning before the run and a line in the report.
#[test]
fn insecure_accepts_a_test_server_and_says_so_loudly() {
    let runtime = runtime();
    let certificates = Certificates::generate();
    let (base, received, _stop) = runtime.block_on(echo::start(Some(&certificates)));
    let dir = tempfile::tempdir().unwrap();
    let yaml = spec(&base, "insecure: true\n")
        .replace("expect: { status: [201] } }", "}")
        .replace("/status/302, expect: { status: [302] }", "/status/200");
    let (out, report) = run_spec(&dir, &yaml, &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", text(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("WARNING: `insecure: true`"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("WARNING: insecure: true"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(report["spec"]["insecure"], true);
    for name in MODES {
        assert_eq!(mode(&report, name)["errors"], 0, "{name}");
    }
    assert_eq!(received.lock().unwrap().len(), 12);
}

/// Plain http:// URLs work the same way without a `target`: no embedded
/// delay server is needed when every request names its URL.
#[test]
fn absolute_http_urls_need_no_target() {
    let runtime = runtime();
    let (base, received, _stop) = runtime.block_on(echo::start(None));
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: plain\nmodes: [async, blocking]\nrequests:\n\
         \x20 - {{ id: put, method: put, url: {base}/things/1, body: \"plain text\" }}\n"
    );
    let (out, report) = run_spec(&dir, &yaml, &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", text(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(report["targets"]["http"].is_null(), "{}", report["targets"]);
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2);
    assert!(
        received
            .iter()
            .all(|r| r.method == "PUT" && r.body == b"plain text")
    );
    let host = base.trim_start_matches("http://");
    assert!(received.iter().all(|r| r.header("host") == Some(host)));
}

/// A spec whose `headers` hold a secret writes a report that reads back
/// (`coordinator report`), with the secret redacted.
#[test]
fn a_report_with_headers_reads_back_with_its_secrets_redacted() {
    let runtime = runtime();
    let (base, _received, _stop) = runtime.block_on(echo::start(None));
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: secret\nmodes: [async]\nrequests:\n\
         \x20 - {{ id: a, url: {base}/x, headers: {{ Authorization: Bearer s3cr3t, X-Team: web }} }}\n"
    );
    let (out, report) = run_spec(&dir, &yaml, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = report.unwrap();
    let headers = &report["spec"]["requests"][0]["headers"];
    assert_eq!(headers["Authorization"], "(redacted)");
    assert_eq!(headers["X-Team"], "web");
    let json = dir.path().join("run.json");
    assert!(!std::fs::read_to_string(&json).unwrap().contains("s3cr3t"));
    let again = common::coordinator(&["report", json.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
}

/// A --tls-ca that is not a certificate is a usage error before anything runs.
#[test]
fn a_bad_tls_ca_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let (out, _) = run_spec(
        &dir,
        &spec("https://127.0.0.1:9", ""),
        &["--tls-ca", ca.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no PEM certificate"),
        "{}",
        text(&out.stderr)
    );
}
