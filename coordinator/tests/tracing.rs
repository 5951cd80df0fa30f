//! One experiment is one trace: a real coordinator, an `agent` process and a
//! `delay-server` process export their spans over OTLP/gRPC to a collector
//! inside this test (a tonic server for the official TraceService).

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use loadlab_testkit::otlp::{Collector, Received};

mod common;
use common::{Running, agent_process, coordinator_listening, workspace_binary, write_spec};

const LONG: Duration = Duration::from_secs(60);

fn collector() -> (Collector, String, tokio::runtime::Runtime) {
    Collector::start()
}

fn delay_server(otlp: &str) -> (Running, String) {
    let mut command = Command::new(workspace_binary("delay-server", "delay-server"));
    command.args(["--listen", "127.0.0.1:0", "--otlp-endpoint", otlp]);
    let running = Running::spawn(command);
    let url = running.url_after("listening on ", LONG);
    (running, url)
}

/// Runs `spec` with a coordinator, one agent process and the delay server,
/// all exporting to `otlp`; stops the agent and the server (they flush at
/// exit) and returns the coordinator's stdout.
fn traced_run(spec: &str, otlp: &str, extra: &[&str]) -> (String, String) {
    let (mut server, server_url) = delay_server(otlp);
    let args = [
        "run",
        spec,
        "--listen",
        "127.0.0.1:0",
        "--http-target",
        &server_url,
        "--otlp-endpoint",
        otlp,
    ];
    let (mut coordinator, url) = coordinator_listening(&[&args[..], extra].concat());
    let mut agent = agent_process(&url, "traced", &["--otlp-endpoint", otlp]);
    let code = coordinator.exit_code(LONG);
    let (stdout, stderr) = (coordinator.stdout(), coordinator.stderr());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    for process in [&mut agent, &mut server] {
        process.signal("TERM");
        assert!(process.exit_code(LONG).is_some());
    }
    (stdout, stderr)
}

fn by_id(spans: &[Received]) -> HashMap<Vec<u8>, &Received> {
    spans.iter().map(|s| (s.span_id.clone(), s)).collect()
}

/// Names and services from `span` up to the root.
fn chain(span: &Received, index: &HashMap<Vec<u8>, &Received>) -> Vec<(String, String)> {
    let mut out = vec![(span.service.clone(), span.name.clone())];
    let mut parent = &span.parent;
    while let Some(up) = index.get(parent) {
        out.push((up.service.clone(), up.name.clone()));
        parent = &up.parent;
    }
    out
}

fn overlap(spans: &[&Received]) -> bool {
    let mut sorted: Vec<&&Received> = spans.iter().collect();
    sorted.sort_by_key(|s| s.start);
    sorted.windows(2).any(|w| w[1].start < w[0].end)
}

#[test]
fn one_experiment_is_one_trace_across_three_services() {
    let (collector, otlp, _runtime) = collector();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: traced\nmodes: [sync, async]\nrequests:\n\
         \x20 - { id: R1, path: /delay-me?ms=300 }\n\
         \x20 - { id: R2, path: /delay-me?ms=100 }\n\
         \x20 - { id: R3, path: /delay-me?ms=200 }\n",
    );
    let (json, html) = (dir.path().join("run.json"), dir.path().join("run.html"));
    let (stdout, _) = traced_run(
        &spec,
        &otlp,
        &[
            "--json",
            json.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    );
    let spans = collector.spans();

    // Nothing lost at exit: 1 experiment + 2 modes + 2 assignments on each
    // side + 6 requests + 6 delay-server spans.
    assert_eq!(spans.len(), 19, "{spans:#?}");
    let trace = &spans[0].trace_id;
    assert!(spans.iter().all(|s| &s.trace_id == trace), "one trace id");
    let trace_hex: String = trace.iter().map(|b| format!("{b:02x}")).collect();
    assert!(stdout.contains(&format!("trace {trace_hex}")), "{stdout}");
    assert!(
        stdout.contains(&format!("http://localhost:16686/trace/{trace_hex}")),
        "{stdout}"
    );

    let index = by_id(&spans);
    let delays: Vec<&Received> = spans
        .iter()
        .filter(|s| s.service == "loadlab-delay-server")
        .collect();
    assert_eq!(delays.len(), 6);
    for delay in &delays {
        // Span names up to the root, first word only ("mode sync" -> "mode").
        let names: Vec<(String, String)> = chain(delay, &index)
            .into_iter()
            .map(|(service, name)| (service, name.split(' ').next().unwrap().to_owned()))
            .collect();
        let names: Vec<(&str, &str)> = names
            .iter()
            .map(|(s, n)| (s.as_str(), n.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("loadlab-delay-server", "GET"),
                ("loadlab-agent", "GET"),
                ("loadlab-agent", "run"),
                ("loadlab-coordinator", "assignment"),
                ("loadlab-coordinator", "mode"),
                ("loadlab-coordinator", "experiment"),
            ],
            "{delay:#?}"
        );
        assert!(
            delay.attributes["delay.requested_ms"]
                .parse::<u64>()
                .unwrap()
                >= 100
        );
    }

    // One request span per request, with the HTTP conventions' attributes;
    // sync's do not overlap, async's do.
    let requests: Vec<&Received> = spans
        .iter()
        .filter(|s| s.service == "loadlab-agent" && s.name == "GET")
        .collect();
    assert_eq!(requests.len(), 6);
    for r in &requests {
        assert_eq!(r.attributes["http.request.method"], "GET");
        assert_eq!(r.attributes["http.response.status_code"], "200");
        assert!(r.attributes["url.full"].contains("/delay-me?ms="));
        assert!(!r.error);
    }
    let in_mode = |mode: &str| -> Vec<&Received> {
        requests
            .iter()
            .copied()
            .filter(|r| {
                chain(r, &index)
                    .iter()
                    .any(|(_, name)| name == &format!("mode {mode}"))
            })
            .collect()
    };
    let (sync, asynchronous) = (in_mode("sync"), in_mode("async"));
    assert_eq!((sync.len(), asynchronous.len()), (3, 3));
    assert!(!overlap(&sync), "sync requests run one after the other");
    assert!(overlap(&asynchronous), "async requests wait together");

    // Each request of the report names its span, and the page links each
    // bar to it in Jaeger.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let span_ids: Vec<String> = requests
        .iter()
        .map(|r| r.span_id.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let page = std::fs::read_to_string(&html).unwrap();
    for mode in report["modes"].as_array().unwrap() {
        for r in mode["requests"].as_array().unwrap() {
            let span = r["span_id"].as_str().expect("a span id per request");
            assert!(
                span_ids.iter().any(|s| s == span),
                "{span} is not a request span"
            );
            let link = format!("http://localhost:16686/trace/{trace_hex}?uiFind={span}");
            assert!(page.contains(&link), "no link {link}");
        }
        // The terminal names each mode's slowest request and its span.
        let max = &mode["exemplars"]["max"];
        let slowest = format!(
            "{} slowest: {} round {} (",
            mode["mode"].as_str().unwrap(),
            max["id"].as_str().unwrap(),
            max["round"]
        );
        let line = stdout
            .lines()
            .find(|l| l.contains(&slowest))
            .unwrap_or_else(|| panic!("no {slowest:?} line: {stdout}"));
        assert!(
            line.ends_with(&format!("span {}", max["span_id"].as_str().unwrap())),
            "{line}"
        );
        // The percentile cells link to their exemplars' spans.
        for name in ["p50", "p90", "p99", "max"] {
            let span = mode["exemplars"][name]["span_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} exemplar: {mode}"));
            assert!(span_ids.iter().any(|s| s == span), "{name}: {span}");
            let cell = format!(
                "class=\"exemplar\" href=\"http://localhost:16686/trace/{trace_hex}?uiFind={span}\""
            );
            assert!(page.contains(&cell), "no {name} cell linking {span}");
        }
    }
}

#[test]
fn query_spans_carry_the_database_conventions() {
    let Ok(database) = std::env::var("DATABASE_URL") else {
        panic!("DATABASE_URL is not set: run scripts/test, which starts PostgreSQL and sets it");
    };
    let (collector, otlp, _runtime) = collector();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: traced-sql\nmodes: [async]\nqueries:\n\
         \x20 - { id: Q1, sql: 'SELECT pg_sleep(0.1), 1 AS one' }\n\
         \x20 - { id: Q2, sql: 'SELECT * FROM generate_series(1, 5)' }\n",
    );
    traced_run(&spec, &otlp, &["--database-url", &database]);
    let spans = collector.spans();
    let queries: Vec<&Received> = spans
        .iter()
        .filter(|s| {
            s.attributes
                .get("db.system.name")
                .is_some_and(|v| v == "postgresql")
        })
        .collect();
    assert_eq!(queries.len(), 2, "{spans:#?}");
    for q in &queries {
        assert_eq!(q.name, "SELECT");
        assert!(q.attributes["db.query.text"].starts_with("SELECT"));
    }
    let rows: Vec<&str> = queries
        .iter()
        .map(|q| q.attributes["db.response.returned_rows"].as_str())
        .collect();
    assert!(rows.contains(&"1") && rows.contains(&"5"), "{rows:?}");
    // A run without HTTP requests: experiment, mode, two assignments, two queries.
    assert_eq!(spans.len(), 6, "{spans:#?}");
}

/// Runs `spec` in-process against a delay-server process, both exporting
/// to `otlp`, with `env` set for the coordinator; returns the JSON report.
fn local_traced_run(spec: &str, otlp: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let (mut server, server_url) = delay_server(otlp);
    let json = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_coordinator"));
    command
        .args(["run", spec, "--quiet", "--http-target", &server_url])
        .args(["--otlp-endpoint", otlp, "--json"])
        .arg(json.path())
        .envs(env.iter().copied());
    let mut coordinator = Running::spawn(command);
    let code = coordinator.exit_code(LONG);
    assert_eq!(code, Some(0), "{}", coordinator.stderr());
    server.signal("TERM");
    assert!(server.exit_code(LONG).is_some());
    serde_json::from_str(&std::fs::read_to_string(json.path()).unwrap()).unwrap()
}

/// A load run of 3,000 requests traces about 1,000 of them by default (the
/// server only those: their traceparent said so) plus the requests whose
/// records the report keeps, each linked from its record — so the slowest
/// are traced wherever in the run they came, and the exemplars are they;
/// `OTEL_TRACES_SAMPLER=always_on` traces every one, `always_off` none.
#[test]
fn a_load_run_samples_its_requests_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    // 0..20 ms of jitter: latencies spread, the slowest anywhere in the run.
    let spec = write_spec(
        &dir,
        "name: sampled\nmodes: [async]\nrepeat: 3000\nconcurrency: 20\n\
         requests:\n  - { id: R1, path: \"/delay-me?ms=0&jitter=20\" }\n",
    );
    let count = |spans: &[Received], service: &str, name: &str| {
        spans
            .iter()
            .filter(|s| s.service == service && s.name == name)
            .count()
    };

    let (sink, otlp, _runtime) = collector();
    let report = local_traced_run(&spec, &otlp, &[]);
    let spans = sink.spans();
    let (clients, servers) = (
        count(&spans, "loadlab-coordinator", "GET"),
        count(&spans, "loadlab-delay-server", "GET /delay-me"),
    );
    assert!((850..1_150).contains(&servers), "{servers} server spans");
    assert!(
        clients >= servers && clients < 3_000,
        "{clients} client spans"
    );
    let index = by_id(&spans);
    let records = report["modes"][0]["requests"].as_array().unwrap();
    assert!(records.len() >= 1_000, "{}", records.len());
    for record in records {
        let id = record["span_id"]
            .as_str()
            .expect("every record kept is traced");
        let span = index[&hex_bytes(id)];
        assert_eq!(span.name, "GET");
        let traced_ms = (span.end - span.start) as f64 / 1e6;
        let measured_ms = record["end_ms"].as_f64().unwrap() - record["start_ms"].as_f64().unwrap();
        assert!(
            (traced_ms - measured_ms).abs() < 0.01,
            "{traced_ms} vs {measured_ms}"
        );
    }
    // Exemplars: real spans of the run's trace, the slowest request the
    // histogram's max, the others near their percentile.
    let mode = &report["modes"][0];
    let trace_id = report["trace_id"].as_str().unwrap();
    let histogram = &mode["histogram"];
    for (name, percentile) in [
        ("p50", "p50_ms"),
        ("p90", "p90_ms"),
        ("p99", "p99_ms"),
        ("max", "max_ms"),
    ] {
        let exemplar = &mode["exemplars"][name];
        assert_eq!(exemplar["trace_id"], trace_id, "{name}");
        let span = index[&hex_bytes(exemplar["span_id"].as_str().unwrap())];
        assert_eq!(span.name, "GET", "{name}");
        let latency = exemplar["latency_ms"].as_f64().unwrap();
        let wanted = histogram[percentile].as_f64().unwrap();
        // HdrHistogram keeps 3 significant digits. The records kept hold
        // the 100 slowest (p99 is the 30th) and ~1,300 others spread over
        // 0..20 ms, so a record lies within a few hundredths of each.
        let near = 0.01 * wanted + 0.1;
        assert!(
            (latency - wanted).abs() <= near,
            "{name}: {latency} vs {wanted}"
        );
    }
    // Requests past the first 1,000 (those are traced whole) at or above
    // p99 were traced, though ~1 in 3 past them is sampled.
    let p99 = histogram["p99_ms"].as_f64().unwrap();
    let late_and_slow = records
        .iter()
        .filter(|r| r["round"].as_u64().unwrap() >= 1_000)
        .filter(|r| r["end_ms"].as_f64().unwrap() - r["start_ms"].as_f64().unwrap() >= p99 * 0.99)
        .count();
    assert!(
        late_and_slow >= 5,
        "{late_and_slow} slow records past the first 1,000"
    );

    // A trace UI named (here one with its own query), linked as written.
    let (sink, otlp, _runtime) = collector();
    let report = local_traced_run(
        &spec,
        &otlp,
        &[
            ("OTEL_TRACES_SAMPLER", "always_on"),
            (
                "LOADLAB_TRACE_UI",
                "https://ui.example/t/{trace_id}?tab=spans",
            ),
        ],
    );
    assert_eq!(
        report["trace_url"].as_str(),
        Some(
            format!(
                "https://ui.example/t/{}?tab=spans",
                report["trace_id"].as_str().unwrap()
            )
            .as_str()
        )
    );
    let spans = sink.spans();
    assert_eq!(count(&spans, "loadlab-coordinator", "GET"), 3_000);
    assert_eq!(
        count(&spans, "loadlab-delay-server", "GET /delay-me"),
        3_000
    );

    let (sink, otlp, _runtime) = collector();
    local_traced_run(&spec, &otlp, &[("OTEL_TRACES_SAMPLER", "always_off")]);
    let spans = sink.spans();
    assert_eq!(count(&spans, "loadlab-coordinator", "GET"), 0);
    assert_eq!(count(&spans, "loadlab-delay-server", "GET /delay-me"), 0);
    assert!(
        count(&spans, "loadlab-coordinator", "mode async") == 1,
        "{spans:#?}"
    );
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn an_unreachable_collector_warns_once_and_the_run_goes_on() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: dark\nmodes: [sync, async]\nrequests:\n  - { id: A, path: /delay-me?ms=50 }\n",
    );
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .args(["run", &spec, "--otlp-endpoint", &closed])
        .env_remove("LOADLAB_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("cannot export traces to").count(),
        1,
        "{stderr}"
    );
    // Generous: two 50 ms modes, plus at most one bounded export attempt.
    assert!(started.elapsed() < Duration::from_secs(20));
}
