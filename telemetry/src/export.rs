//! Trace export: an OpenTelemetry provider batching spans to an OTLP/gRPC
//! collector, behind `tracing-opentelemetry`, installed beside logging.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
    SpanProcessor,
};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::requests::{self, Sampling};
use crate::{TARGET, host_name, logging};

/// Set once trace export is installed; spans are only built when it is.
pub(crate) static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Spans buffered for export before new ones are dropped. The SDK makes
/// every slot when the processor starts (~370 bytes each, written once):
/// 2^18 of them cost each traced process 93 MB and ~4 % of an async load
/// run's CPU before the first span. 2^15 (~12 MB) holds a traced run's
/// ~9,000 spans even if none were exported meanwhile, and about a second of
/// `always_on` at 30,000 requests/s while the exporter drains it.
const QUEUE_SIZE: usize = 1 << 15;

/// Spans sent in one export request.
const EXPORT_BATCH: usize = 4096;

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// What to trace, and where to.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// `service.name`, unless `OTEL_SERVICE_NAME` says otherwise.
    pub service: &'static str,
    /// The OTLP/gRPC collector, e.g. `http://127.0.0.1:4317`; `None` = off.
    pub endpoint: Option<String>,
    /// Extra resource attributes (`host.name`, the agent's name...).
    pub attributes: Vec<KeyValue>,
    /// True in the binaries that send load (coordinator, agent):
    /// `OTEL_TRACES_SAMPLER` then chooses which requests are traced (see
    /// [`requests`]) and the few spans of the run itself are always kept.
    /// False in a service (the delay server), where the SDK applies it to
    /// every span as usual.
    pub sends_load: bool,
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
    let Some(endpoint) = config.endpoint.clone().filter(|e| !e.is_empty()) else {
        logging::init_logging(default_directives);
        return Telemetry { provider: None };
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build();
    let mut exporter = match exporter {
        Ok(exporter) => WarnOnce::new(exporter, endpoint),
        Err(error) => {
            logging::init_logging(default_directives);
            eprintln!("warning: tracing is off: cannot export to {endpoint}: {error}");
            return Telemetry { provider: None };
        }
    };
    let host = host_name().map(|h| KeyValue::new("host.name", h));
    let attributes = config.attributes.iter().cloned().chain(host);
    let mut resource = Resource::builder().with_attributes(attributes);
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(config.service);
    }
    // A load run ends tens of thousands of spans a second: the queue is
    // sized so that they are exported, not dropped (OTEL_BSP_* still rule).
    let mut batch = BatchConfigBuilder::default();
    if std::env::var_os("OTEL_BSP_MAX_QUEUE_SIZE").is_none() {
        batch = batch.with_max_queue_size(QUEUE_SIZE);
    }
    if std::env::var_os("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_none() {
        batch = batch.with_max_export_batch_size(EXPORT_BATCH);
    }
    let resource = resource.build();
    // Request spans reach the processor without the provider (see
    // `requests`), so the exporter learns the resource here.
    exporter.set_resource(&resource);
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch.build())
        .build();
    install(default_directives, &config, resource, Arc::new(processor))
}

/// Installs logging and trace export through `processor` (which must know
/// the resource already): what [`init`] does once it has made its batch
/// processor. Tests give their own processor, to see every span.
pub fn install(
    default_directives: &str,
    config: &TraceConfig,
    resource: Resource,
    processor: Arc<dyn SpanProcessor>,
) -> Telemetry {
    let mut provider = SdkTracerProvider::builder()
        .with_span_processor(Shared(processor.clone()))
        .with_resource(resource);
    if config.sends_load {
        match Sampling::from_env() {
            Ok(sampling) => requests::set_sampling(sampling),
            Err(error) => eprintln!("warning: {error}; requests are sampled by default"),
        }
        provider = provider.with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    }
    let provider = provider.build();
    requests::set_sink(processor);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let ours = Targets::new().with_target(TARGET, LevelFilter::INFO);
    let trace_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(config.service))
        .with_filter(ours);
    let installed = tracing_subscriber::registry()
        .with(logging::layer(default_directives))
        .with(trace_layer)
        .try_init();
    EXPORTING.store(installed.is_ok(), Ordering::Relaxed);
    Telemetry {
        provider: Some(provider),
    }
}

impl Telemetry {
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

/// The batch processor, shared by the provider (the run's own spans) and
/// the request spans handed to it directly.
#[derive(Debug)]
struct Shared(Arc<dyn SpanProcessor>);

impl SpanProcessor for Shared {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    // The exporter was given the resource before the processor was built.
    fn set_resource(&mut self, _: &Resource) {}
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
