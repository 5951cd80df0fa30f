//! Scenarios: users that log in, carry a token and cookies, read data,
//! think, and choose what to do by weight. With scenarios, each index of an
//! assignment's schedule is one *iteration*: it picks a scenario by weight,
//! takes a data row, and runs the scenario's steps in order — requests
//! whose templates see the row and what earlier steps extracted, and
//! pauses. A failed step (its request, its check, its extraction) fails
//! the iteration; its later requests are skipped and counted as such.
//!
//! - [`template`]: the templates (minijinja), compiled once per workload;
//! - [`data`]: the rows, in their order;
//! - [`extract`]: values taken from a response.
//!
//! The runners drive an [`Iteration`] the same way in every mode (see
//! `run::scenario`); only how they send and how they pause differ.

pub mod data;
mod direct;
pub mod extract;
pub mod template;

use std::time::Duration;

use loadlab_proto::v1;

use crate::kind::Target;
use crate::kind::http::{HttpTarget, Keep, Rendered};
use crate::workload::Request;
use data::Data;
use extract::Extract;
use template::{Scope, TemplateId, Templates};

/// The scenarios of a workload, ready to run.
#[derive(Debug)]
pub struct Scenarios {
    pub list: Vec<Scenario>,
    /// Running sums of the weights, to pick by.
    cumulative: Vec<u64>,
    templates: Templates,
    /// By the round's requests: how to render each templated one.
    http: Vec<Option<HttpTemplate>>,
    pub data: Option<Data>,
    pub cookies: bool,
}

#[derive(Debug)]
pub struct Scenario {
    pub name: String,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Step {
    pub kind: StepKind,
    pub extract: Vec<Extract>,
    /// The body must contain this.
    pub contains: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum StepKind {
    /// The round's request at this place.
    Request(usize),
    /// A pause, uniform between the two.
    Think { min: Duration, max: Duration },
}

/// A templated HTTP request: the wire request, and its templated parts
/// compiled (`None`: sent as written).
#[derive(Debug)]
struct HttpTemplate {
    wire: v1::HttpRequest,
    /// Rendered onto the stand-in target, not parsed again: no header it
    /// templates is given twice (else the wire request is rendered whole).
    onto_stand_in: bool,
    url: Option<TemplateId>,
    /// When the URL's scheme and host are literal and its templates come
    /// after them: the template of its path and query alone (rendered and
    /// parsed without the part that never changes).
    path: Option<TemplateId>,
    /// By the wire request's headers: their names, parsed once, and
    /// their templates.
    headers: Vec<Option<TemplateId>>,
    names: Vec<http::HeaderName>,
    body: Option<TemplateId>,
    keep: Keep,
}

impl Scenarios {
    /// The assignment's scenarios, checked against its round (whose
    /// templated requests get a stand-in target, and whose steps that read
    /// their response keep it); `None` when it has none.
    pub fn from_wire(
        assignment: &v1::Assignment,
        round: &mut [Request],
    ) -> Result<Option<Scenarios>, String> {
        if assignment.scenarios.is_empty() {
            return Ok(None);
        }
        let mut list = Vec::with_capacity(assignment.scenarios.len());
        let mut cumulative = Vec::with_capacity(assignment.scenarios.len());
        // Cookies are read from every response's headers.
        let mut keep = vec![
            Keep {
                cookies: assignment.cookies,
                ..Keep::default()
            };
            round.len()
        ];
        let mut total = 0u64;
        for wire in &assignment.scenarios {
            let mut steps = Vec::with_capacity(wire.steps.len());
            for step in &wire.steps {
                let kind = match &step.kind {
                    Some(v1::step::Kind::Request(r)) => {
                        let r = *r as usize;
                        if r >= round.len() {
                            return Err(format!(
                                "scenario {}: step request {r} is not in the round",
                                wire.name
                            ));
                        }
                        keep[r].body |= !step.contains.is_empty();
                        for extract in &step.extract {
                            match extract.from {
                                Some(v1::extract::From::Header(_)) => keep[r].headers = true,
                                _ => keep[r].body = true,
                            }
                        }
                        StepKind::Request(r)
                    }
                    Some(v1::step::Kind::Think(think)) if think.min_us <= think.max_us => {
                        StepKind::Think {
                            min: Duration::from_micros(think.min_us),
                            max: Duration::from_micros(think.max_us),
                        }
                    }
                    Some(v1::step::Kind::Think(_)) => {
                        return Err(format!("scenario {}: a think range reversed", wire.name));
                    }
                    None => return Err(format!("scenario {}: a step of no kind", wire.name)),
                };
                steps.push(Step {
                    kind,
                    extract: step
                        .extract
                        .iter()
                        .map(Extract::from_wire)
                        .collect::<Result<_, _>>()?,
                    contains: (!step.contains.is_empty()).then(|| step.contains.clone()),
                });
            }
            total += u64::from(wire.weight);
            cumulative.push(total);
            list.push(Scenario {
                name: wire.name.clone(),
                steps,
            });
        }
        if total == 0 {
            return Err("scenarios whose weights add up to 0".to_owned());
        }
        let data = assignment.data.as_ref().map(Data::from_wire).transpose()?;
        let mut templates = Templates::new(data.as_ref().map_or(&[][..], |d| &d.columns[..]));
        let mut http = Vec::with_capacity(round.len());
        for (r, request) in assignment.requests.iter().enumerate() {
            let Some(v1::request::Kind::Http(wire)) = &request.kind else {
                http.push(None);
                continue;
            };
            if let Target::Http(target) = &mut round[r].target {
                let target = std::sync::Arc::make_mut(target);
                target.keep = keep[r];
            }
            if !wire.templated {
                http.push(None);
                continue;
            }
            let mut add = |source: &str| -> Result<Option<TemplateId>, String> {
                if !template::is_template(source) {
                    return Ok(None);
                }
                templates.add(source.to_owned()).map(Some)
            };
            let url = add(&wire.url)?;
            let headers = wire
                .headers
                .iter()
                .map(|h| add(&h.value))
                .collect::<Result<Vec<_>, _>>()?;
            let body = add(&String::from_utf8_lossy(&wire.body))?;
            let mut target = HttpTarget::from_wire(&stand_in(wire))
                .map_err(|why| format!("request {:?} {why}", request.id))?;
            let origin = target.origin_text();
            let path = match wire.url.strip_prefix(origin.as_str()) {
                Some(rest) if !origin.is_empty() && rest.starts_with('/') && url.is_some() => {
                    add(rest)?
                }
                _ => None,
            };
            target.url = wire.url.clone();
            target.keep = keep[r];
            round[r].target = Target::Http(std::sync::Arc::new(target));
            let names = wire
                .headers
                .iter()
                .map(|h| {
                    http::HeaderName::from_bytes(h.name.as_bytes())
                        .map_err(|_| format!("{:?} is not an HTTP header name", h.name))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let templated_twice = headers.iter().zip(&wire.headers).any(|(name, h)| {
                name.is_some()
                    && wire
                        .headers
                        .iter()
                        .filter(|o| o.name.eq_ignore_ascii_case(&h.name))
                        .count()
                        > 1
            });
            http.push(Some(HttpTemplate {
                onto_stand_in: !templated_twice,
                wire: wire.clone(),
                url,
                path,
                headers,
                names,
                body,
                keep: keep[r],
            }));
        }
        Ok(Some(Scenarios {
            list,
            cumulative,
            templates,
            http,
            data,
            cookies: assignment.cookies,
        }))
    }

    /// The scenario iteration `iteration` runs: picked by weight, from a
    /// hash of its number (so any agent picks the same for it).
    pub fn pick(&self, iteration: u64) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1);
        let point = splitmix(iteration) % total.max(1);
        self.cumulative.partition_point(|&sum| sum <= point)
    }

    /// The target request `r` is sent to in `scope`: `round`'s own, with
    /// what its templates rendered (their headers put in `headers`,
    /// replacing the target's own), or — when a template changes the host
    /// or a header given twice — a target made anew.
    pub fn target(
        &self,
        r: usize,
        round: &[Request],
        scope: &Scope,
        headers: &mut http::HeaderMap,
    ) -> Result<(Target, Option<Rendered>), String> {
        let Some(Some(template)) = self.http.get(r) else {
            return Ok((round[r].target.clone(), None));
        };
        let render =
            |id: &Option<TemplateId>| id.map(|id| self.templates.render(id, scope)).transpose();
        // Most templates change a path, a query, a header's value or the
        // body: those go with the stand-in target as they rendered, the
        // target itself neither copied nor parsed again.
        let mut url = None;
        if let (true, Target::Http(stand_in)) = (template.onto_stand_in, &round[r].target) {
            // A URL whose host is templated may still render onto the
            // stand-in's host; when it does not, it is rendered whole below.
            let path = match template.path {
                Some(path) => Some(HttpTarget::path_from(self.templates.render(path, scope)?)?),
                None => {
                    url = render(&template.url)?;
                    url.as_deref()
                        .and_then(|url| stand_in.rendered_path(url).ok())
                }
            };
            if path.is_some() || url.is_none() {
                for (name, id) in template.names.iter().zip(&template.headers) {
                    let Some(id) = id else { continue };
                    let value = bytes::Bytes::from(self.templates.render(*id, scope)?);
                    let value =
                        http::HeaderValue::from_maybe_shared(value.clone()).map_err(|_| {
                            format!(
                                "header {name}: {:?} is not a header value",
                                String::from_utf8_lossy(&value)
                            )
                        })?;
                    headers.insert(name.clone(), value);
                }
                let rendered = Rendered {
                    path,
                    body: render(&template.body)?.map(|body| bytes::Bytes::from(body.into_bytes())),
                };
                return Ok((round[r].target.clone(), Some(rendered)));
            }
        }
        // Else (a templated host) the wire request is rendered whole.
        let url = match url {
            Some(url) => Some(url),
            None => render(&template.url)?,
        };
        let values = template
            .headers
            .iter()
            .map(render)
            .collect::<Result<Vec<_>, _>>()?;
        let body = render(&template.body)?;
        let mut wire = template.wire.clone();
        if let Some(url) = url {
            wire.url = url;
        }
        for (header, value) in wire.headers.iter_mut().zip(values) {
            if let Some(value) = value {
                header.value = value;
            }
        }
        if let Some(body) = body {
            wire.body = body.into_bytes();
        }
        let mut target = HttpTarget::from_wire(&wire)?;
        target.keep = template.keep;
        Ok((Target::Http(std::sync::Arc::new(target)), None))
    }
}

/// What a templated request's target is before its templates render:
/// its kind and its span's fields (the URL's expressions stand as `0`).
pub fn stand_in(wire: &v1::HttpRequest) -> v1::HttpRequest {
    let mut stand_in = wire.clone();
    stand_in.url = template::blank(&wire.url, "0");
    for header in &mut stand_in.headers {
        header.value = template::blank(&header.value, "");
    }
    if template::is_template(&String::from_utf8_lossy(&wire.body)) {
        stand_in.body = Vec::new();
    }
    stand_in
}

/// A well-mixed hash of `n` (splitmix64's finaliser).
fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How long a think step pauses this time.
pub fn think_for(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    let span = (max - min).as_micros() as u64;
    min + Duration::from_micros(rand::random_range(0..=span))
}

#[cfg(test)]
mod tests;
