//! W3C trace context across services: out of HTTP headers (requests'
//! own headers are made in [`crate::requests`]), and into and out of the
//! key/value map an `Assignment` carries.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C trace context of `span` as key/value pairs, for carrying inside
/// a message; empty when tracing is off.
pub fn context_map(span: &tracing::Span) -> HashMap<String, String> {
    let mut map = HashMap::new();
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
pub fn set_parent_from_map(span: &tracing::Span, map: &HashMap<String, String>) {
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
