//! An OTLP/gRPC trace collector inside the test (a tonic server for the
//! official TraceService) that keeps every span it receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

/// A span as received, with the service that sent it.
#[derive(Debug, Clone)]
pub struct Received {
    pub service: String,
    pub name: String,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent: Vec<u8>,
    pub start: u64,
    pub end: u64,
    pub attributes: HashMap<String, String>,
    pub error: bool,
}

/// The collector: a handle on what it received so far.
#[derive(Default, Clone)]
pub struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    /// Keep only a count, not the spans (for benchmarks).
    count_only: bool,
    /// Also print each span as one line on stdout (the `otlp-sink` binary).
    print: bool,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl Collector {
    /// Starts a collector on 127.0.0.1:0 in a runtime of its own; returns
    /// it, its URL, and the runtime (keep it alive while it is used).
    pub fn start() -> (Collector, String, tokio::runtime::Runtime) {
        Collector::start_with(Collector::default())
    }

    /// A collector that only counts spans, for long runs.
    pub fn start_counting() -> (Collector, String, tokio::runtime::Runtime) {
        Collector::start_with(Collector {
            count_only: true,
            ..Collector::default()
        })
    }

    /// Serves on `listen` until the process ends, printing one line per span
    /// received (`span service=S trace=HEX name=N`) and keeping none: the
    /// `otlp-sink` binary, the stand-in for Jaeger in the Compose test.
    pub async fn serve_printing(listen: &str) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!("otlp-sink: listening on {}", listener.local_addr()?);
        let collector = Collector {
            count_only: true,
            print: true,
            ..Collector::default()
        };
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector).max_decoding_message_size(64 << 20))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .map_err(std::io::Error::other)
    }

    fn start_with(collector: Collector) -> (Collector, String, tokio::runtime::Runtime) {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the collector");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let service =
            TraceServiceServer::new(collector.clone()).max_decoding_message_size(64 << 20);
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (collector, url, runtime)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many spans arrived.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn service_name(spans: &opentelemetry_proto::tonic::trace::v1::ResourceSpans) -> String {
    spans
        .resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .map(|kv| text(&kv.value))
        .unwrap_or_default()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        let received: usize = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.count
            .fetch_add(received as u64, std::sync::atomic::Ordering::Relaxed);
        if self.print {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for resource_spans in &request.resource_spans {
                let service = service_name(resource_spans);
                for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
                    let trace: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    let _ = writeln!(
                        out,
                        "span service={service} trace={trace} name={}",
                        span.name
                    );
                }
            }
            let _ = out.flush();
        }
        if self.count_only {
            return Ok(tonic::Response::new(ExportTraceServiceResponse::default()));
        }
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        for resource_spans in request.resource_spans {
            let service = service_name(&resource_spans);
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                spans.push(Received {
                    service: service.clone(),
                    name: span.name,
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent: span.parent_span_id,
                    start: span.start_time_unix_nano,
                    end: span.end_time_unix_nano,
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(&kv.value)))
                        .collect(),
                    error: span.status.is_some_and(|s| s.code == 2),
                });
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}
