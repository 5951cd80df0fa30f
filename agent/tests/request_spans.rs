//! Request spans with tracing on, through a whole assignment against a real
//! delay server (in this process, tracing through the same provider): which
//! requests are traced, what their `traceparent` tells the server, and that
//! exporting a span is not part of the latency measured.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loadlab_proto::Mode;
use loadlab_proto::v1::{self, agent_message};
use loadlab_telemetry::TraceConfig;
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};
use tokio_util::sync::CancellationToken;

/// Every span ended in this process.
static SPANS: Mutex<Vec<SpanData>> = Mutex::new(Vec::new());

/// Keeps every span; takes 200 ms over each client span of a `ms=20`
/// request (a slow exporter, to show it is not measured).
#[derive(Debug)]
struct Recorder;

impl SpanProcessor for Recorder {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        let slow = span.span_kind == SpanKind::Client
            && span
                .attributes
                .iter()
                .any(|kv| kv.key.as_str() == "url.full" && kv.value.as_str().contains("ms=20"));
        if slow {
            std::thread::sleep(Duration::from_millis(200));
        }
        SPANS.lock().unwrap().push(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn tracing_on() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let config = TraceConfig {
            service: "test",
            endpoint: None,
            attributes: Vec::new(),
            sends_load: true,
        };
        let telemetry = loadlab_telemetry::install(
            "warn",
            &config,
            Resource::builder().build(),
            Arc::new(Recorder),
        );
        std::mem::forget(telemetry);
    });
}

/// The spans of trace `trace`, once they stop arriving.
async fn spans_of(trace: TraceId) -> Vec<SpanData> {
    let count = || {
        SPANS
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.span_context.trace_id() == trace)
            .count()
    };
    let mut last = usize::MAX;
    while count() != last {
        last = count();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    SPANS
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .cloned()
        .collect()
}

/// Runs `rounds` of one request to `url` as an assignment whose parent is
/// a span of a new trace; returns the trace and the records sent.
async fn run(url: &str, rounds: u64, concurrency: u32) -> (TraceId, Vec<v1::RequestRecord>) {
    let trace = TraceId::from(rand::random::<u128>());
    let parent = format!("00-{trace}-{}-01", SpanId::from(7));
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let assignment =
        loadlab_testkit::assignment::closed("spans", v1::Mode::from(Mode::Async).into(), rounds)
            .request(loadlab_testkit::assignment::http("R1", url))
            .concurrency(concurrency)
            .timeout_ms(10_000)
            .with(|a| {
                a.trace_context = HashMap::from([("traceparent".to_owned(), parent)]);
                a.mode_started_unix_us = now_us;
            })
            .build();
    let (outbound, mut received) = tokio::sync::mpsc::channel(64);
    let running = tokio::spawn(loadlab_agent::assignment::run(
        assignment,
        outbound,
        CancellationToken::new(),
    ));
    let (mut records, mut done) = (Vec::new(), None);
    while let Some(message) = received.recv().await {
        match message.kind {
            Some(agent_message::Kind::Progress(p)) => records.extend(p.records),
            Some(agent_message::Kind::Done(d)) => done = Some(d),
            Some(agent_message::Kind::Error(e)) => panic!("assignment refused: {}", e.message),
            _ => {}
        }
    }
    running.await.unwrap();
    let done = done.expect("the assignment ends with Done");
    assert_eq!((done.completed, done.errors), (rounds, 0));
    (trace, records)
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn micros(span: &SpanData) -> u64 {
    span.end_time
        .duration_since(span.start_time)
        .unwrap()
        .as_micros() as u64
}

/// 3,000 requests: about 1,000 are sampled (their `traceparent` says so,
/// and only they get a server span, under their client span); the records
/// the agent sends are traced too, with their measured times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_assignment_traces_about_a_thousand_requests_and_its_records() {
    tracing_on();
    let (base, _server) = loadlab_testkit::servers::delay_server(Default::default()).await;
    let (trace, records) = run(&format!("{base}/delay-me?ms=0"), 3_000, 20).await;
    let spans = spans_of(trace).await;
    let clients: HashMap<SpanId, &SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let servers: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Server)
        .collect();

    // Sampled at the head: about a third, each with its server span.
    assert!(
        (850..1_150).contains(&servers.len()),
        "{} server spans for 3,000 requests",
        servers.len()
    );
    for server in &servers {
        assert!(
            clients.contains_key(&server.parent_span_id),
            "a server span's parent {} is an exported client span",
            server.parent_span_id
        );
    }
    // Traced: the sampled ones and the records' requests, not all.
    assert!(
        clients.len() >= servers.len() && clients.len() < 3_000,
        "{} client spans",
        clients.len()
    );
    let assignment = spans
        .iter()
        .find(|s| s.parent_span_id == SpanId::from(7))
        .expect("the assignment's span, under the coordinator's");
    assert!(
        assignment.name.starts_with("run async"),
        "{}",
        assignment.name
    );
    // Every record sent names its span, whose times are the record's.
    assert!(
        records.len() >= 1_000 && records.len() < 3_000,
        "{}",
        records.len()
    );
    let mut named = HashSet::new();
    for record in &records {
        let id = SpanId::from_hex(&record.span_id)
            .unwrap_or_else(|_| panic!("record {} has no span id", record.index));
        let span = clients[&id];
        assert_eq!(micros(span), record.end_us - record.start_us);
        assert_eq!(attribute(span, "loadlab.request.id").as_deref(), Some("R1"));
        assert_eq!(
            attribute(span, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert_eq!(span.parent_span_id, assignment.span_context.span_id());
        named.insert(id);
    }
    assert_eq!(named.len(), records.len(), "one span per record");
}

/// A span processor that takes 200 ms a span leaves 20 ms requests measured
/// well under 220 ms: spans are built and exported after the request, off
/// the runner. (The bound leaves room for a loaded machine's connects.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporting_a_span_is_not_measured() {
    tracing_on();
    let (base, _server) = loadlab_testkit::servers::delay_server(Default::default()).await;
    let started = std::time::Instant::now();
    let (trace, records) = run(&format!("{base}/delay-me?ms=20"), 5, 5).await;
    // The slow processor was paid (5 × 200 ms)...
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "{:?}",
        started.elapsed()
    );
    let spans = spans_of(trace).await;
    let clients = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .count();
    assert_eq!(clients, 5, "a small assignment is traced whole");
    // ...but not measured.
    assert_eq!(records.len(), 5);
    for record in &records {
        let measured = record.end_us - record.start_us;
        assert!(
            (20_000..150_000).contains(&measured),
            "measured {measured} µs for a 20 ms request"
        );
    }
}
