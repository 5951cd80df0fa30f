//! What every loadlab binary shares: its runtime and signals ([`process`]),
//! log lines on stderr ([`logging`]), and, when an OTLP endpoint is given,
//! OpenTelemetry traces exported over gRPC ([`export`]) with W3C
//! trace-context propagation between the services ([`propagation`]), and
//! where to look at a trace ([`trace_ui`]).
//!
//! Tracing is off unless `--otlp-endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`
//! names a collector; off, no OpenTelemetry layer is installed and spans
//! are not even built (see [`span`]).

pub mod export;
pub mod logging;
pub mod process;
pub mod propagation;
pub mod requests;
pub mod trace_ui;

pub use export::{Telemetry, TraceConfig, init, install};
pub use logging::init_logging;

/// The `tracing` target of every span loadlab exports. Only spans with this
/// target become trace spans; the libraries underneath (h2, hyper, tonic —
/// the exporter's own traffic among them) never do.
pub const TARGET: &str = "loadlab";

/// True when spans are exported: callers skip building request spans
/// otherwise, so tracing costs nothing when it is off.
pub fn exporting() -> bool {
    export::EXPORTING.load(std::sync::atomic::Ordering::Relaxed)
}

/// `make()` when spans are exported, else `Span::none()`: a span's name
/// and fields are only computed when someone will see them.
pub fn span(make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    if exporting() {
        make()
    } else {
        tracing::Span::none()
    }
}

/// This machine's host name (the container's, in a container).
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}
