//! Request spans: the many short client spans of a load run, cheap enough
//! to leave tracing on.
//!
//! A load run's requests are too many to trace each one the way the run's
//! own spans are (a `tracing` span, its OpenTelemetry data, a context per
//! request). So:
//!
//! - **Before** a request, [`RequestSpans::decide`] says whether it is
//!   sampled (head sampling: see [`Sampling`]) and gives it a span id; its
//!   `traceparent` carries the decision in its sampled flag, so the server
//!   builds its own span only for sampled requests.
//! - **After** it, [`RequestSpans::export`] builds its span from the times
//!   the runner measured, and hands it straight to the batch processor,
//!   whose own thread exports it. Nothing of this lies between the
//!   request's measured start and end.
//!
//! Requests that were not sampled may still be exported after the fact
//! (the report's exemplars and sampled records link to them); they have no
//! server span under them, since the server was told not to sample.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use http::HeaderValue;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks, SpanProcessor};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Requests per assignment traced by default: all of a smaller one, about
/// this many chosen at random from a larger one.
pub const DEFAULT_SAMPLED: u64 = 1_000;

/// Where request spans go: the batch processor the tracer provider exports
/// through (set when trace export is installed).
static SINK: OnceLock<Arc<dyn SpanProcessor>> = OnceLock::new();

/// How requests are sampled, as `OTEL_TRACES_SAMPLER` said at start.
static SAMPLING: OnceLock<Sampling> = OnceLock::new();

pub(crate) fn set_sink(sink: Arc<dyn SpanProcessor>) {
    let _ = SINK.set(sink);
}

pub(crate) fn set_sampling(sampling: Sampling) {
    let _ = SAMPLING.set(sampling);
}

/// How this process samples requests.
pub fn sampling() -> Sampling {
    SAMPLING.get().copied().unwrap_or(Sampling::Default)
}

/// Which requests are traced: `OTEL_TRACES_SAMPLER` (and `_ARG`) when set,
/// read for the requests (the run's own spans are few and always kept),
/// else [`Sampling::Default`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Every request of an assignment of up to [`DEFAULT_SAMPLED`]; in a
    /// larger one, each with the chance that makes about that many.
    Default,
    /// Each request with this chance (1 = every request, 0 = none).
    Ratio(f64),
}

impl Sampling {
    /// From `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    pub fn from_env() -> Result<Sampling, String> {
        let sampler = std::env::var("OTEL_TRACES_SAMPLER").ok();
        let arg = std::env::var("OTEL_TRACES_SAMPLER_ARG").ok();
        Sampling::parse(sampler.as_deref(), arg.as_deref())
    }

    /// A sampler's name and argument, as the environment variables give them.
    pub fn parse(sampler: Option<&str>, arg: Option<&str>) -> Result<Sampling, String> {
        let Some(sampler) = sampler.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Sampling::Default);
        };
        let ratio = || -> Result<f64, String> {
            let Some(arg) = arg else { return Ok(1.0) };
            match arg.trim().parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                _ => Err(format!(
                    "OTEL_TRACES_SAMPLER_ARG={arg:?} is not a ratio between 0 and 1"
                )),
            }
        };
        match sampler {
            "always_on" | "parentbased_always_on" => Ok(Sampling::Ratio(1.0)),
            "always_off" | "parentbased_always_off" => Ok(Sampling::Ratio(0.0)),
            "traceidratio" | "parentbased_traceidratio" => ratio().map(Sampling::Ratio),
            other => Err(format!(
                "OTEL_TRACES_SAMPLER={other:?} is not one loadlab knows (always_on, always_off, \
                 traceidratio, or their parentbased_ forms)"
            )),
        }
    }

    /// The chance of each request of an assignment of `requests`.
    fn chance(self, requests: u64) -> f64 {
        match self {
            Sampling::Ratio(p) => p,
            Sampling::Default if requests <= DEFAULT_SAMPLED => 1.0,
            Sampling::Default => DEFAULT_SAMPLED as f64 / requests as f64,
        }
    }
}

/// The request spans of one assignment: children of its span.
#[derive(Debug, Clone)]
pub struct RequestSpans {
    parent: SpanContext,
    /// A request is sampled when its hashed index is below this.
    threshold: u64,
    /// The salt of the index hash, so that runs sample different requests.
    salt: u64,
    /// The header of requests not sampled: the parent's context with the
    /// sampled flag off.
    not_sampled: HeaderValue,
    /// Whether requests not sampled may be exported after the fact.
    afterwards: bool,
    scope: InstrumentationScope,
    sink: Arc<dyn SpanProcessor>,
}

/// A request's span, as its kind describes it after the request.
#[derive(Debug, Clone)]
pub struct RequestSpan {
    pub name: Cow<'static, str>,
    pub kind: SpanKind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<KeyValue>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

impl RequestSpans {
    /// The request spans under `parent` (the assignment's span) for
    /// `requests` requests; `None` when spans are not exported or the
    /// parent is not sampled.
    pub fn new(parent: &tracing::Span, requests: u64, sampling: Sampling) -> Option<RequestSpans> {
        let sink = SINK.get()?.clone();
        if !crate::exporting() || parent.is_none() {
            return None;
        }
        let parent = parent.context().span().span_context().clone();
        RequestSpans::under(parent, requests, sampling, sink)
    }

    /// The request spans under `parent`, exported to `sink`.
    pub fn under(
        parent: SpanContext,
        requests: u64,
        sampling: Sampling,
        sink: Arc<dyn SpanProcessor>,
    ) -> Option<RequestSpans> {
        if !parent.is_valid() || !parent.is_sampled() {
            return None;
        }
        let chance = sampling.chance(requests);
        let threshold = if chance >= 1.0 {
            u64::MAX
        } else {
            (chance * u64::MAX as f64) as u64
        };
        let not_sampled = traceparent(&parent, parent.span_id(), false);
        Some(RequestSpans {
            parent,
            threshold,
            salt: rand::random(),
            not_sampled,
            afterwards: sampling != Sampling::Ratio(0.0),
            scope: InstrumentationScope::builder(crate::TARGET)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            sink,
        })
    }

    /// Whether the request at `index` is sampled: its span id if so. Cheap:
    /// a hash of the index.
    pub fn decide(&self, index: u64) -> Option<SpanId> {
        (self.threshold == u64::MAX || mix(index ^ self.salt) < self.threshold)
            .then(|| SpanId::from(mix(index ^ self.salt ^ 0x5bd1_e995).max(1)))
    }

    /// The `traceparent` to send with a request: its own span when sampled,
    /// else the parent's with the sampled flag off.
    pub fn traceparent(&self, sampled: Option<SpanId>) -> HeaderValue {
        match sampled {
            Some(id) => traceparent(&self.parent, id, true),
            None => self.not_sampled.clone(),
        }
    }

    /// Whether a request that was not sampled may still be exported (when
    /// the report keeps its record); not when sampling is off.
    pub fn exports_afterwards(&self) -> bool {
        self.afterwards
    }

    /// Exports a finished request's span, with the id it was sampled with
    /// (a new one if it was not); returns that id.
    pub fn export(&self, sampled: Option<SpanId>, span: RequestSpan) -> SpanId {
        let id = sampled.unwrap_or_else(|| SpanId::from(rand::random::<u64>().max(1)));
        let status = match span.error {
            Some(description) => Status::error(description),
            None => Status::Unset,
        };
        let context = SpanContext::new(
            self.parent.trace_id(),
            id,
            TraceFlags::SAMPLED,
            false,
            self.parent.trace_state().clone(),
        );
        self.sink.on_end(SpanData {
            span_context: context,
            parent_span_id: self.parent.span_id(),
            parent_span_is_remote: self.parent.is_remote(),
            span_kind: span.kind,
            name: span.name,
            start_time: span.start,
            end_time: span.end,
            attributes: span.attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        });
        id
    }

    /// The trace all these spans belong to (32 hex digits).
    pub fn trace_id(&self) -> String {
        self.parent.trace_id().to_string()
    }
}

/// A W3C `traceparent` naming span `id` of `parent`'s trace.
fn traceparent(parent: &SpanContext, id: SpanId, sampled: bool) -> HeaderValue {
    let flags = if sampled { "01" } else { "00" };
    let value = format!("00-{}-{id}-{flags}", parent.trace_id());
    HeaderValue::from_str(&value).expect("hex digits and dashes are a valid header value")
}

/// SplitMix64's finaliser: a well-spread 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Whether a request's `traceparent` asks for it to be traced: `None`
/// when it has none (or an unreadable one), else its sampled flag. Read
/// from the header's text, without building a context.
pub fn sampled_flag(headers: &http::HeaderMap) -> Option<bool> {
    let value = headers.get("traceparent")?.as_bytes();
    // 00-<32 hex>-<16 hex>-<2 hex flags>
    if value.len() < 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let flags = std::str::from_utf8(&value[53..55]).ok()?;
    u8::from_str_radix(flags, 16).ok().map(|f| f & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceId;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Keep(Mutex<Vec<SpanData>>);

    impl SpanProcessor for Keep {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(
            &self,
            _: std::time::Duration,
        ) -> opentelemetry_sdk::error::OTelSdkResult {
            Ok(())
        }
    }

    fn parent(sampled: bool) -> SpanContext {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            flags,
            true,
            Default::default(),
        )
    }

    fn sampled(spans: &RequestSpans, n: u64) -> u64 {
        (0..n).filter(|&i| spans.decide(i).is_some()).count() as u64
    }

    #[test]
    fn a_small_assignment_is_traced_whole_and_a_large_one_about_a_thousand() {
        let sink: Arc<dyn SpanProcessor> = Arc::new(Keep::default());
        let small =
            RequestSpans::under(parent(true), 800, Sampling::Default, sink.clone()).unwrap();
        assert_eq!(sampled(&small, 800), 800);
        let large =
            RequestSpans::under(parent(true), 200_000, Sampling::Default, sink.clone()).unwrap();
        let n = sampled(&large, 200_000);
        assert!((850..1_150).contains(&n), "{n} sampled of 200,000");
        let tenth =
            RequestSpans::under(parent(true), 50_000, Sampling::Ratio(0.1), sink.clone()).unwrap();
        let n = sampled(&tenth, 50_000);
        assert!((4_500..5_500).contains(&n), "{n} sampled of 50,000 at 0.1");
        let off =
            RequestSpans::under(parent(true), 10, Sampling::Ratio(0.0), sink.clone()).unwrap();
        assert_eq!(sampled(&off, 10_000), 0);
        assert!(!off.exports_afterwards());
        assert!(RequestSpans::under(parent(false), 10, Sampling::Default, sink).is_none());
    }

    #[test]
    fn the_header_carries_the_decision_and_the_exported_span_its_id() {
        let keep = Arc::new(Keep::default());
        let spans = RequestSpans::under(parent(true), 10, Sampling::Default, keep.clone()).unwrap();
        let id = spans.decide(3).expect("all of 10 are sampled");
        let header = spans.traceparent(Some(id));
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", header.clone());
        assert_eq!(sampled_flag(&headers), Some(true));
        assert_eq!(
            header.to_str().unwrap(),
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{id}-01")
        );
        headers.insert("traceparent", spans.traceparent(None));
        assert_eq!(sampled_flag(&headers), Some(false));
        assert!(
            headers["traceparent"]
                .to_str()
                .unwrap()
                .ends_with("-00f067aa0ba902b7-00")
        );
        headers.insert("traceparent", HeaderValue::from_static("garbage"));
        assert_eq!(sampled_flag(&headers), None);

        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let exported = spans.export(
            Some(id),
            RequestSpan {
                name: "GET".into(),
                kind: SpanKind::Client,
                start,
                end: start + std::time::Duration::from_millis(20),
                attributes: vec![KeyValue::new("http.request.method", "GET")],
                error: Some("HTTP 503".into()),
            },
        );
        assert_eq!(exported, id);
        let kept = keep.0.lock().unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].span_context.span_id(), id);
        assert_eq!(kept[0].parent_span_id, SpanId::from(0x00f0_67aa_0ba9_02b7));
        assert_eq!(kept[0].status, Status::error("HTTP 503"));
        assert_eq!(
            kept[0]
                .end_time
                .duration_since(kept[0].start_time)
                .unwrap()
                .as_millis(),
            20
        );
    }

    #[test]
    fn samplers_are_read_as_request_ratios() {
        assert_eq!(Sampling::parse(None, None), Ok(Sampling::Default));
        assert_eq!(
            Sampling::parse(Some("always_on"), None),
            Ok(Sampling::Ratio(1.0))
        );
        assert_eq!(
            Sampling::parse(Some("parentbased_always_off"), None),
            Ok(Sampling::Ratio(0.0))
        );
        assert_eq!(
            Sampling::parse(Some("traceidratio"), Some("0.25")),
            Ok(Sampling::Ratio(0.25))
        );
        let error = Sampling::parse(Some("traceidratio"), Some("2")).unwrap_err();
        assert!(error.contains("between 0 and 1"), "{error}");
        let error = Sampling::parse(Some("jaeger_remote"), None).unwrap_err();
        assert!(error.contains("always_on"), "{error}");
    }
}
