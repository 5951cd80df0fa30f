//! An HTTP request: its YAML type is `spec::RequestSpec` (shared with
//! scenarios' request steps); here, what it becomes on the wire.

use loadlab_agent::scenario::template::is_template;
use loadlab_proto::v1;

use super::{About, Kind, Need, Wiring, Work};
use crate::spec::{Destination, RequestBody, RequestSpec};

pub static ABOUT: About = About {
    kind: Kind::named("http"),
    started: "Requesting",
    done: |record| format!("Request done! Server replied '{}'", record.body),
};

impl Work for RequestSpec {
    fn id(&self) -> &str {
        &self.id.0
    }

    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn needs(&self) -> Option<Need> {
        matches!(self.to, Destination::Path(_)).then_some(Need::Http)
    }

    fn to_wire(&self, wiring: &Wiring<'_>) -> (v1::request::Kind, String) {
        let url = match &self.to {
            Destination::Path(path) => {
                let base = wiring.targets.http.as_deref().unwrap_or_default();
                format!("{base}{}", path.0)
            }
            Destination::Url(url) => url.0.clone(),
        };
        let method = self
            .method
            .as_ref()
            .map(|m| m.0.clone())
            .unwrap_or_default();
        let what = match method.as_str() {
            "" | "GET" => url.clone(),
            method => format!("{method} {url}"),
        };
        let headers = self.headers_sent();
        let body = self
            .body
            .as_ref()
            .map(RequestBody::bytes)
            .unwrap_or_default();
        // Only a scenario's requests are rendered per iteration.
        let templated = wiring.spec.scenarios.is_some()
            && (is_template(&url)
                || headers.iter().any(|(_, v)| is_template(v))
                || is_template(&String::from_utf8_lossy(&body)));
        let wire = v1::HttpRequest {
            templated,
            url,
            method,
            headers: headers
                .into_iter()
                .map(|(name, value)| v1::HttpHeader { name, value })
                .collect(),
            body,
            expect_status: self
                .expect
                .as_ref()
                .map(|e| e.status.iter().map(|&s| u32::from(s)).collect())
                .unwrap_or_default(),
            tls_ca_pem: wiring.targets.tls_ca_pem.clone().unwrap_or_default(),
            insecure: wiring.spec.insecure,
        };
        (v1::request::Kind::Http(wire), what)
    }
}
