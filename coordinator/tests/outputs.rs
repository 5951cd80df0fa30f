//! Outputs that other tools read: JUnit XML for CI (`--junit`) and
//! Prometheus remote write for Grafana (`--prometheus-rw`), the latter
//! against a real Prometheus (Debian's package; `scripts/ensure-prometheus`
//! installs it) started by the test on a free loopback port.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod common;
use common::{Running, run_spec, text};

/// Two request ids against the embedded delay server, one of which always
/// fails with a 503; one threshold that holds and one that cannot.
const FAILING: &str = r#"
name: junit-check
modes: [sync, async]
requests:
  - { id: Good, path: "/delay-me?ms=5" }
  - { id: Bad, path: "/delay-me?ms=5&fail=1&status=503" }
thresholds: ["p99 < 10s", "p50 < 1us"]
"#;

#[test]
fn junit_names_each_threshold_and_each_failing_request_per_mode() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (out, report) = run_spec(&dir, FAILING, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(99), "{}", text(&out.stderr));
    assert!(report.is_some());
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file");
    validate_junit(&junit);
    // `coordinator report RUN.json --junit` writes the same from the JSON.
    let again = dir.path().join("again.xml");
    let json = dir.path().join("run.json");
    let out = common::coordinator(&[
        "report",
        json.to_str().unwrap(),
        "--junit",
        again.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        xml,
        "report --junit"
    );
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2, "a suite per mode:\n{xml}");
    for (suite, mode) in suites.iter().zip(["sync", "async"]) {
        assert_eq!(
            suite.attribute("name"),
            Some(&*format!("junit-check {mode}"))
        );
        let cases: BTreeMap<String, Option<String>> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|case| {
                let failure = case
                    .children()
                    .find(|n| n.has_tag_name("failure"))
                    .map(|f| f.attribute("message").unwrap_or_default().to_owned());
                (case.attribute("name").unwrap().to_owned(), failure)
            })
            .collect();
        assert_eq!(cases["threshold p99 < 10s"], None, "{mode}: {cases:?}");
        let failed = cases["threshold p50 < 1us"].as_deref().unwrap_or_default();
        assert!(
            failed.starts_with("p50 < 1us: measured"),
            "{mode}: {failed:?}"
        );
        assert_eq!(cases["request Good"], None, "{mode}");
        let bad = cases["request Bad"].as_deref().unwrap_or_default();
        assert!(bad.starts_with("1 of 1 requests failed"), "{mode}: {bad:?}");
        assert!(bad.contains("503"), "{mode}: the reason: {bad:?}");
        assert_eq!(
            suite.attribute("failures"),
            Some("2"),
            "{mode}: the threshold and the request"
        );
    }
}

/// Validates `file` against the JUnit XSD (Jenkins xUnit's junit-10.xsd,
/// which CI systems read) with Debian's xmllint; both come from
/// `scripts/ensure-junit-xsd`, which `scripts/test` runs first.
fn validate_junit(file: &std::path::Path) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let xsd = std::env::var_os("LOADLAB_JUNIT_XSD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/junit-xsd/junit-10.xsd"));
    let how = "run scripts/ensure-junit-xsd (it installs xmllint and fetches the XSD; \
               scripts/test does)";
    assert!(xsd.is_file(), "no JUnit XSD at {}: {how}", xsd.display());
    let xmllint = which("xmllint").unwrap_or_else(|| panic!("xmllint is not installed: {how}"));
    let out = std::process::Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(file)
        .output()
        .expect("xmllint runs");
    assert!(
        out.status.success(),
        "{} does not validate against {}:\n{}",
        file.display(),
        xsd.display(),
        text(&out.stderr)
    );
}

/// A Prometheus of the test's own, accepting remote write (killed when
/// dropped, with its process).
struct Prometheus {
    _process: Running,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start() -> Prometheus {
        let binary = which("prometheus").unwrap_or_else(|| {
            panic!(
                "Prometheus is not installed: run scripts/ensure-prometheus \
                 (apt-get install prometheus); scripts/test does"
            )
        });
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
        // Prometheus cannot listen on port 0 and say which it got: take a
        // free port and hand it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let mut command = std::process::Command::new(binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver");
        let process = Running::spawn(command);
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&format!("{url}/-/ready")).is_none() {
            assert!(
                Instant::now() < deadline,
                "Prometheus did not get ready:\n{}",
                process.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Prometheus {
            _process: process,
            url,
            _dir: dir,
        }
    }

    /// An instant query's result, as JSON.
    fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let body = ureq::get(format!("{}/api/v1/query", self.url))
            .query("query", promql)
            .call()
            .expect("the query API answers")
            .into_body()
            .read_to_string()
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], "success", "{body}");
        json["data"]["result"].as_array().unwrap().clone()
    }
}

fn get(url: &str) -> Option<String> {
    ureq::get(url)
        .call()
        .ok()
        .and_then(|r| r.into_body().read_to_string().ok())
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| p.is_file())
}

#[test]
fn prometheus_receives_each_second_per_mode_and_request_as_the_json_says() {
    let prometheus = Prometheus::start();
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"
name: prometheus-check
modes: [async, threads]
users: 4
duration: 3s
requests:
  - { id: Fast, path: "/delay-me?ms=5" }
  - { id: Slow, path: "/delay-me?ms=40" }
"#;
    let write = format!("{}/api/v1/write", prometheus.url);
    let (out, report) = run_spec(&dir, spec, &["--prometheus-rw", &write]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("WARNING"),
        "{}",
        text(&out.stderr)
    );
    let report = report.unwrap();
    for mode in report["modes"].as_array().unwrap() {
        let name = mode["mode"].as_str().unwrap();
        let select = |metric: &str, request: &str, extra: &str| {
            format!(
                r#"{metric}{{experiment="prometheus-check",mode="{name}",request="{request}"{extra}}}"#
            )
        };
        // Counters: the last sample is the mode's (or the request's) count.
        let total = prometheus.query(&select("loadlab_requests_total", "", ""));
        assert_eq!(total.len(), 1, "{name}: one series: {total:?}");
        assert_eq!(
            total[0]["value"][1],
            mode["histogram"]["count"].to_string(),
            "{name}: requests"
        );
        assert_eq!(total[0]["metric"]["run"].as_str().map(str::len), Some(20));
        for id in ["Fast", "Slow"] {
            let series = prometheus.query(&select("loadlab_requests_total", id, ""));
            assert_eq!(
                series[0]["value"][1],
                mode["by_request"][id]["count"].to_string(),
                "{name} {id}: requests"
            );
            let errors = prometheus.query(&select("loadlab_errors_total", id, ""));
            assert_eq!(errors[0]["value"][1], "0", "{name} {id}: errors");
        }
        // Gauges: every second's p99, as in the JSON's intervals.
        let seconds = mode["by_request"]["Slow"]["intervals"].as_array().unwrap();
        assert!(seconds.len() >= 3, "{name}: {seconds:?}");
        let range = prometheus.query(&format!(
            "{}[5m]",
            select("loadlab_response_seconds", "Slow", r#",quantile="0.99""#)
        ));
        let got: Vec<f64> = range[0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[1].as_str().unwrap().parse().unwrap())
            .collect();
        let want: Vec<f64> = seconds
            .iter()
            .filter(|s| s["count"].as_u64() > Some(0))
            .map(|s| s["p99_ms"].as_f64().unwrap() / 1000.0)
            .collect();
        assert_eq!(got.len(), want.len(), "{name}: a p99 per second");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-9, "{name}: p99 {g} vs {w}");
        }
        assert!(want.iter().all(|&p99| p99 >= 0.040), "{name}: Slow is slow");
    }
}

#[test]
fn an_unreachable_prometheus_is_a_warning_not_a_lost_run() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "name: gone\nmodes: [async]\nrequests:\n  - { id: A, path: \"/delay-me?ms=1\" }\n";
    let (out, report) = run_spec(
        &dir,
        spec,
        &["--prometheus-rw", "http://127.0.0.1:1/api/v1/write"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(report.is_some(), "the report is written all the same");
    assert!(
        stderr.contains("WARNING: --prometheus-rw http://127.0.0.1:1/api/v1/write: async:"),
        "{stderr}"
    );
}
