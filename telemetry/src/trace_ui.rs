//! Where to look at a trace: the page of a trace UI (`--trace-ui`), or of
//! Jaeger's UI when the collector looks like a Jaeger.

/// The Jaeger UI's page for `trace_id` when the OTLP `endpoint` looks like a
/// Jaeger (a `jaeger` host, a loopback one, or the OTLP port 4317 that
/// Jaeger's all-in-one listens on); `None` otherwise.
pub fn trace_url(endpoint: &str, trace_id: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    let host = url.host()?;
    let loopback = match &host {
        url::Host::Domain(name) => *name == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    let ui_host = if loopback || matches!(&host, url::Host::Domain(name) if name.contains("jaeger"))
    {
        // Compose and a port-forward publish the UI on the user's own host.
        "localhost".to_owned()
    } else if url.port() == Some(4317) {
        // `Host`'s Display brackets an IPv6 address, as a URL needs.
        host.to_string()
    } else {
        return None;
    };
    Some(trace_page(&format!("http://{ui_host}:16686"), trace_id))
}

/// The page for `trace_id` in the trace UI at `ui`: `{trace_id}` in it
/// replaced, else Jaeger's `/trace/ID` under its path (its query and
/// fragment kept).
pub fn trace_page(ui: &str, trace_id: &str) -> String {
    if ui.contains("{trace_id}") {
        return ui.replace("{trace_id}", trace_id);
    }
    let Ok(mut url) = url::Url::parse(ui) else {
        return format!("{}/trace/{trace_id}", ui.trim_end_matches('/'));
    };
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(["trace", trace_id]);
    }
    url.to_string()
}

/// A span within a trace's page: Jaeger's `uiFind` query highlights it
/// (added to the page's own query, before any fragment).
pub fn span_page(trace_page: &str, span_id: &str) -> String {
    match url::Url::parse(trace_page) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("uiFind", span_id);
            url.to_string()
        }
        Err(_) => format!("{trace_page}?uiFind={span_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_ui_given_is_used_as_written() {
        assert_eq!(
            trace_page("https://jaeger.internal:16686/", ID),
            "https://jaeger.internal:16686/trace/0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(
            trace_page("https://grafana.internal/explore?trace={trace_id}", ID),
            "https://grafana.internal/explore?trace=0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(
            trace_page("http://jaeger:16686/ui/?x=1#top", ID),
            "http://jaeger:16686/ui/trace/0af7651916cd43dd8448eb211c80319c?x=1#top"
        );
    }

    #[test]
    fn a_span_is_found_within_its_trace_s_page() {
        assert_eq!(
            span_page("http://localhost:16686/trace/ab", "cd"),
            "http://localhost:16686/trace/ab?uiFind=cd"
        );
        assert_eq!(
            span_page("https://ui.example/t/ab?tab=spans#top", "cd"),
            "https://ui.example/t/ab?tab=spans&uiFind=cd#top"
        );
    }

    const ID: &str = "0af7651916cd43dd8448eb211c80319c";

    #[test]
    fn jaeger_hosts_and_port_4317_get_a_link() {
        assert_eq!(
            trace_url("http://jaeger:4317", ID).as_deref(),
            Some("http://localhost:16686/trace/0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(
            trace_url("http://10.0.0.7:4317", ID).as_deref(),
            Some("http://10.0.0.7:16686/trace/0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(trace_url("https://otel.example.com:443", ID), None);
    }

    /// An IPv6 collector's UI address keeps its brackets.
    #[test]
    fn ipv6_hosts_stay_bracketed() {
        assert_eq!(
            trace_url("http://[::1]:4317", ID).as_deref(),
            Some("http://localhost:16686/trace/0af7651916cd43dd8448eb211c80319c")
        );
        assert_eq!(
            trace_url("http://[fd00::7]:4317", ID).as_deref(),
            Some("http://[fd00::7]:16686/trace/0af7651916cd43dd8448eb211c80319c")
        );
    }
}
