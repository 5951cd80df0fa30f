//! What a scenario's templates change of an HTTP request — its path and
//! query, its body — carried beside the request's stand-in target, and
//! the URI and body a client sends from the two.

use std::borrow::Cow;

use bytes::Bytes;

use super::HttpTarget;

/// What a scenario's templates rendered of one request, sent with its
/// stand-in target: nothing of the target is copied per request (rendered
/// headers go with the request's added headers).
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The path and query (on the stand-in's scheme and host).
    pub path: Option<http::uri::PathAndQuery>,
    pub body: Option<Bytes>,
}

impl HttpTarget {
    /// The origin of this request's URL (`scheme://authority`), which a
    /// templated URL with a literal host begins with.
    pub fn origin_text(&self) -> String {
        match (self.uri.scheme_str(), self.uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => String::new(),
        }
    }

    /// `url` parsed, as a URL of this request's scheme and host, which
    /// differs from its own only after the host (a template rendered in
    /// the path or query): its path and query; `Err` when it is not such
    /// a URL.
    pub fn rendered_path(&self, url: &str) -> Result<http::uri::PathAndQuery, String> {
        let uri = http::Uri::try_from(url)
            .map_err(|_| format!("{url:?} is not an http:// or https:// URL"))?;
        if uri.scheme() != self.uri.scheme() || uri.authority() != self.uri.authority() {
            return Err(format!("{url:?} is not on {}", self.authority));
        }
        Ok(uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")))
    }

    /// A rendered path and query (`/...`), parsed without a copy.
    pub fn path_from(rendered: String) -> Result<http::uri::PathAndQuery, String> {
        if !rendered.starts_with('/') {
            return Err(format!("{rendered:?} is not a path"));
        }
        let text = Bytes::from(rendered);
        http::uri::PathAndQuery::from_maybe_shared(text.clone()).map_err(|_| {
            format!(
                "{:?} is not a valid path and query",
                String::from_utf8_lossy(&text)
            )
        })
    }

    /// The URI to send to: `rendered`'s path when a template rendered one,
    /// else this request's; origin-form (for hyper) or absolute (for ureq).
    pub fn uri(&self, rendered: Option<&Rendered>, origin_form: bool) -> http::Uri {
        match (rendered.and_then(|r| r.path.as_ref()), origin_form) {
            (None, true) => self.origin.clone(),
            (None, false) => self.uri.clone(),
            (Some(path), true) => http::Uri::from(path.clone()),
            (Some(path), false) => {
                let mut parts = http::uri::Parts::default();
                parts.scheme = self.uri.scheme().cloned();
                parts.authority = self.uri.authority().cloned();
                parts.path_and_query = Some(path.clone());
                http::Uri::from_parts(parts).expect("a scheme, a host and a parsed path make a URI")
            }
        }
    }

    /// The URL a cookie jar reads for this request: its scheme, host and
    /// path (a jar matches and stores cookies by those, never by the
    /// query): the target's own, parsed once without its query, or — when
    /// a rendered path differs from it — a copy with that path set in.
    /// `None` when it cannot be read as a URL.
    pub fn cookie_url(&self, rendered: Option<&Rendered>) -> Option<Cow<'_, url::Url>> {
        let url = self
            .cookie_url
            .get_or_init(|| {
                let mut url = url::Url::parse(&self.url).ok()?;
                url.set_query(None);
                url.set_fragment(None);
                Some(url)
            })
            .as_ref()?;
        match rendered.and_then(|r| r.path.as_ref()).map(|p| p.path()) {
            Some(path) if path != url.path() => {
                let mut url = url.clone();
                url.set_path(path);
                Some(Cow::Owned(url))
            }
            _ => Some(Cow::Borrowed(url)),
        }
    }

    /// The body to send: `rendered`'s when a template rendered one.
    pub(super) fn body<'a>(&'a self, rendered: Option<&'a Rendered>) -> &'a Bytes {
        rendered.and_then(|r| r.body.as_ref()).unwrap_or(&self.body)
    }
}
