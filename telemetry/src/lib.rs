//! What every loadlab binary shares: its runtime and signals ([`process`]),
//! log lines on stderr, and, when an OTLP endpoint is given, OpenTelemetry
//! traces exported over gRPC with W3C trace-context propagation between the
//! services.
//!
//! Tracing is off unless `--otlp-endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`
//! names a collector; off, no OpenTelemetry layer is installed and spans
//! cost what a disabled `tracing` span costs.

pub mod process;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The crates whose spans become trace spans; the libraries underneath
/// (h2, hyper, tonic — the exporter's own traffic among them) never do.
const TRACED_CRATES: [&str; 3] = ["loadlab_coordinator", "loadlab_agent", "delay_server"];

/// Set once trace export is installed; spans are only built when it is.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// True when spans are exported: callers skip building request spans
/// otherwise, so tracing costs nothing when it is off.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Spans buffered for export before new ones are dropped.
const QUEUE_SIZE: usize = 1 << 18;

/// Spans sent in one export request.
const EXPORT_BATCH: usize = 4096;

/// `make()` when spans are exported, else `Span::none()`: a span's name
/// and fields are only computed when someone will see them.
pub fn span(make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    if exporting() {
        make()
    } else {
        tracing::Span::none()
    }
}

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// Installs the global `tracing` subscriber with logging only: lines on
/// stderr filtered by `RUST_LOG` (else `default_directives`).
pub fn init_logging(default_directives: &str) {
    let _ = tracing_subscriber::registry()
        .with(log_layer(default_directives))
        .try_init();
}

fn log_layer<S>(default_directives: &str) -> impl Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_directives));
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter)
}

/// What to trace, and where to.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// `service.name`, unless `OTEL_SERVICE_NAME` says otherwise.
    pub service: &'static str,
    /// The OTLP/gRPC collector, e.g. `http://127.0.0.1:4317`; `None` = off.
    pub endpoint: Option<String>,
    /// Extra resource attributes (`host.name`, the agent's name...).
    pub attributes: Vec<KeyValue>,
}

/// The installed telemetry; [`Telemetry::shutdown`] flushes every span.
#[must_use = "call shutdown() before exiting, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Installs logging and, when `config.endpoint` is set, trace export.
/// Must be called inside a tokio runtime (the exporter's gRPC channel lives
/// on it) that stays up until [`Telemetry::shutdown`] returns.
pub fn init(default_directives: &str, config: TraceConfig) -> Telemetry {
    let Some(endpoint) = config.endpoint.filter(|e| !e.is_empty()) else {
        init_logging(default_directives);
        return Telemetry { provider: None };
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build();
    let exporter = match exporter {
        Ok(exporter) => exporter,
        Err(error) => {
            init_logging(default_directives);
            eprintln!("warning: tracing is off: cannot export to {endpoint}: {error}");
            return Telemetry { provider: None };
        }
    };
    let host = host_name().map(|h| KeyValue::new("host.name", h));
    let mut resource =
        Resource::builder().with_attributes(config.attributes.into_iter().chain(host));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(config.service);
    }
    // The sampler comes from OTEL_TRACES_SAMPLER when set (the SDK reads it).
    // A load run ends tens of thousands of spans a second: the queue is
    // sized so that they are exported, not dropped (OTEL_BSP_* still rule).
    let mut batch = BatchConfigBuilder::default();
    if std::env::var_os("OTEL_BSP_MAX_QUEUE_SIZE").is_none() {
        batch = batch.with_max_queue_size(QUEUE_SIZE);
    }
    if std::env::var_os("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_none() {
        batch = batch.with_max_export_batch_size(EXPORT_BATCH);
    }
    let processor = BatchSpanProcessor::builder(WarnOnce::new(exporter, endpoint))
        .with_batch_config(batch.build())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource.build())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let traced = TRACED_CRATES.iter().fold(Targets::new(), |t, name| {
        t.with_target(*name, LevelFilter::INFO)
    });
    let trace_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(config.service))
        .with_filter(traced);
    let installed = tracing_subscriber::registry()
        .with(log_layer(default_directives))
        .with(trace_layer)
        .try_init();
    EXPORTING.store(installed.is_ok(), Ordering::Relaxed);
    Telemetry {
        provider: Some(provider),
    }
}

impl Telemetry {
    /// True when spans are exported.
    pub fn enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports every span still buffered and stops the exporter. Call it
    /// from outside the runtime's worker threads (e.g. after `block_on`),
    /// while the runtime is still alive.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        }
    }
}

/// The exporter, saying once (not on every batch) that the collector cannot
/// be reached; the run never waits on it.
#[derive(Debug)]
struct WarnOnce<E> {
    inner: E,
    endpoint: String,
    warned: AtomicBool,
}

impl<E> WarnOnce<E> {
    fn new(inner: E, endpoint: String) -> WarnOnce<E> {
        WarnOnce {
            inner,
            endpoint,
            warned: AtomicBool::new(false),
        }
    }
}

impl<E: SpanExporter> SpanExporter for WarnOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        if let Err(error) = &result
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "warning: cannot export traces to {}: {error}; the run goes on without them",
                self.endpoint
            );
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// This machine's host name (the container's, in a container).
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Writes the W3C `traceparent` (and `tracestate`) of `span` into
/// `headers`; nothing when tracing is off.
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    let context = span.context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// The W3C trace context of `span` as key/value pairs, for carrying inside
/// a message; empty when tracing is off.
pub fn context_map(span: &tracing::Span) -> std::collections::HashMap<String, String> {
    let mut map = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut map);
    map
}

/// Makes `span` a child of the remote span named in `headers`, if any.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    if span.is_none() {
        return; // not tracing: no header is read
    }
    set_parent(
        span,
        TraceContextPropagator::new().extract(&HeaderExtractor(headers)),
    );
}

/// Makes `span` a child of the remote span named in `map`, if any.
pub fn set_parent_from_map(span: &tracing::Span, map: &std::collections::HashMap<String, String>) {
    if span.is_none() {
        return;
    }
    set_parent(span, TraceContextPropagator::new().extract(map));
}

fn set_parent(span: &tracing::Span, context: Context) {
    if context.span().span_context().is_valid() {
        // Fails only when tracing is off or the span already started.
        let _ = span.set_parent(context);
    }
}

/// The trace id of `span` (32 hex digits), when it is being traced.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Where to look at a trace: Jaeger's UI when the collector looks like a
/// Jaeger (a `jaeger` host, a loopback one, or the OTLP port 4317 that
/// Jaeger's all-in-one listens on).
pub fn jaeger_url(endpoint: &str, trace_id: &str) -> Option<String> {
    let rest = endpoint.split("://").nth(1).unwrap_or(endpoint);
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port),
        None => (authority, ""),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ui_host = if host.contains("jaeger") || host == "localhost" || host.starts_with("127.") {
        // Compose and a port-forward publish the UI on the user's own host.
        "localhost"
    } else if port == "4317" {
        host
    } else {
        return None;
    };
    Some(format!("http://{ui_host}:16686/trace/{trace_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaeger_urls() {
        let id = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(
            jaeger_url("http://jaeger:4317", id).as_deref(),
            Some("http://localhost:16686/trace/0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(
            jaeger_url("http://10.0.0.7:4317", id).as_deref(),
            Some("http://10.0.0.7:16686/trace/0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(jaeger_url("https://otel.example.com:443", id), None);
    }
}
