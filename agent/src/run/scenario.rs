//! One iteration of a scenario, driven the same way by every runner: ask
//! [`Iteration::next`] what to do — send a request (already started, its
//! headers made; [`Iteration::request`] says what to send), pause, or
//! nothing more —, do it in the mode's own way, and hand a request's
//! outcome back to [`Iteration::finished`]. The
//! iteration renders templates, keeps the cookie jar, checks and extracts,
//! skips what follows a failed step, and reports itself at its end.

use std::sync::atomic::Ordering;
use std::time::Duration;

use cookie_store::CookieStore;

use super::{Context, Event, Started};
use crate::kind::Target;
use crate::kind::http::Rendered;
use crate::outcome::Outcome;
use crate::scenario::template::Scope;
use crate::scenario::{Scenarios, StepKind, think_for};
use crate::schedule::Due;

/// An iteration that ended: what the assignment tallies per scenario.
#[derive(Debug, Clone)]
pub struct IterationDone {
    pub index: u64,
    pub scenario: usize,
    pub intended_us: u64,
    pub start_us: u64,
    pub end_us: u64,
    /// Why it failed: its first failed step, `Id: reason`.
    pub error: Option<String>,
    /// The round's requests it skipped after a failed step.
    pub skipped: Vec<usize>,
    pub think_us: u64,
}

/// What a runner does next for an iteration. Returned and taken apart at
/// once, per step: boxing `Send` would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Next {
    /// Send [`Iteration::request`] with these headers added (the trace
    /// context, the cookies, rendered headers); the request is started.
    Send(Started, http::HeaderMap),
    /// Pause this long (cancellable).
    Think(Duration),
    /// The iteration is over: call [`Iteration::end`].
    Done,
}

/// One iteration under way.
pub(crate) struct Iteration {
    due: Due,
    scenario: usize,
    step: usize,
    scope: Scope,
    /// The cookies of this iteration (a fresh jar each iteration, as k6's).
    jar: Option<CookieStore>,
    /// The request of the step under way.
    sending: Option<Sending>,
    error: Option<String>,
    skipped: Vec<usize>,
    think_us: u64,
    intended_us: u64,
    start_us: u64,
    sent: bool,
    /// The outcome of the last step, when it is a request: sent with the
    /// iteration's end.
    last: Option<Outcome>,
}

impl Context {
    fn scenarios(&self) -> &Scenarios {
        self.workload
            .scenarios
            .as_deref()
            .expect("iterations run only in a workload with scenarios")
    }

    /// Begins the iteration `due` for user `user`; `None` when it cannot
    /// start because a unique data order has no row left (nothing more
    /// starts then).
    pub fn begin(&self, due: &Due, user: u64) -> Option<Iteration> {
        let scenarios = self.scenarios();
        let row = match &scenarios.data {
            Some(data) => match data.next() {
                Some(row) => Some(row),
                None => {
                    self.rows_out.store(true, Ordering::Relaxed);
                    return None;
                }
            },
            None => None,
        };
        let start_us = self.clock.now_us();
        let intended_us = self.intended_us(due, start_us);
        self.gauges.started.fetch_add(1, Ordering::Relaxed);
        let scenario = scenarios.pick(due.index);
        if let Some(started) = self.gauges.iterations.get(scenario) {
            started.fetch_add(1, Ordering::Relaxed);
        }
        Some(Iteration {
            due: *due,
            scenario,
            step: 0,
            scope: Scope {
                row,
                user,
                iteration: due.index,
                vars: Default::default(),
            },
            jar: scenarios.cookies.then(CookieStore::default),
            sending: None,
            error: None,
            skipped: Vec::new(),
            think_us: 0,
            intended_us,
            start_us,
            sent: false,
            last: None,
        })
    }
}

impl Iteration {
    /// What to do next.
    pub fn next(&mut self, context: &Context) -> Next {
        let scenarios = context.scenarios();
        let steps = &scenarios.list[self.scenario].steps;
        while let Some(step) = steps.get(self.step) {
            // Between steps (the runner checked before the first; a
            // token's check takes its lock).
            if self.step > 0 && context.cancel.is_cancelled() {
                return Next::Done;
            }
            self.step += 1;
            let r = match step.kind {
                StepKind::Think { .. } if self.error.is_some() => continue,
                StepKind::Think { min, max } => {
                    let pause = think_for(min, max);
                    self.think_us += pause.as_micros() as u64;
                    return Next::Think(pause);
                }
                StepKind::Request(r) if self.error.is_some() => {
                    self.skipped.push(r);
                    continue;
                }
                StepKind::Request(r) => r,
            };
            // The first request is due when the iteration is; the next
            // ones as soon as the step before them ends.
            let due = Due {
                at: if self.sent { None } else { self.due.at },
                request: r,
                ..self.due
            };
            self.sent = true;
            let mut rendered_headers = http::HeaderMap::new();
            let target = scenarios.target(
                r,
                &context.workload.round,
                &self.scope,
                &mut rendered_headers,
            );
            let mut started = context.start(&due);
            let (target, rendered) = match target {
                Ok(target) => target,
                Err(why) => {
                    self.failed(context, r, &why);
                    let mut outcome = Outcome::failed(why);
                    outcome.user = Some(self.scope.user);
                    context.finish(started, outcome);
                    continue;
                }
            };
            // The trace context (when tracing) and the rendered headers.
            let mut headers = std::mem::take(&mut started.headers);
            if headers.is_empty() {
                headers = rendered_headers;
            } else if !rendered_headers.is_empty() {
                headers.extend(rendered_headers);
            }
            let mut sending = Sending {
                target,
                rendered,
                url: None,
            };
            // An empty jar (most requests) costs nothing: no URL parsed.
            if let Some(jar) = &self.jar
                && jar.iter_any().next().is_some()
                && let Some(url) = sending.url()
            {
                let mut line = String::new();
                // What `get_request_values` keeps (unexpired, and matching
                // the URL's host, path and scheme), without its second pass
                // over the jar's domain and path tables or its list.
                for cookie in jar.iter_unexpired().filter(|c| c.matches(url)) {
                    let (name, value) = cookie.name_value();
                    if !line.is_empty() {
                        line.push_str("; ");
                    }
                    line.push_str(name);
                    line.push('=');
                    line.push_str(value);
                }
                if let (false, Ok(value)) = (line.is_empty(), http::HeaderValue::try_from(line)) {
                    headers.insert(http::header::COOKIE, value);
                }
            }
            self.sending = Some(sending);
            return Next::Send(started, headers);
        }
        Next::Done
    }

    /// The request to send after [`Next::Send`]: its target, and what its
    /// templates rendered.
    pub fn request(&self) -> (&Target, Option<&Rendered>) {
        let sending = self
            .sending
            .as_ref()
            .expect("a request is asked for only after Next::Send");
        (&sending.target, sending.rendered.as_ref())
    }

    /// The request of the step just sent finished with `outcome`: keep its
    /// cookies, check it, extract from it.
    pub fn finished(&mut self, context: &Context, started: Started, mut outcome: Outcome) {
        let scenarios = context.scenarios();
        let step = &scenarios.list[self.scenario].steps[self.step - 1];
        let r = started.request;
        let mut sending = self.sending.take();
        if let (Some(jar), Some(reply), Some(sending)) =
            (&mut self.jar, &outcome.reply, sending.as_mut())
        {
            let mut set = reply
                .headers
                .get_all(http::header::SET_COOKIE)
                .iter()
                .peekable();
            if set.peek().is_some()
                && let Some(url) = sending.url()
            {
                for value in set {
                    if let Ok(value) = value.to_str() {
                        let _ = jar.parse(value, url);
                    }
                }
            }
        }
        if outcome.ok() {
            let reply = outcome.reply.as_deref();
            if let Some(text) = &step.contains {
                let found = reply.is_some_and(|reply| {
                    String::from_utf8_lossy(&reply.body).contains(text.as_str())
                });
                if !found {
                    outcome.error = Some(format!("check: the body does not contain {text:?}"));
                }
            }
            if outcome.ok() {
                for extract in &step.extract {
                    match extract.apply(reply) {
                        Ok(value) => {
                            std::sync::Arc::make_mut(&mut self.scope.vars)
                                .insert(extract.name.clone(), value);
                        }
                        Err(why) => {
                            outcome.error = Some(why);
                            break;
                        }
                    }
                }
            }
        }
        outcome.reply = None;
        outcome.user = Some(self.scope.user);
        if let Some(error) = &outcome.error {
            self.failed(context, r, error);
        }
        if self.step == scenarios.list[self.scenario].steps.len() {
            self.last = Some(context.complete(started, outcome));
        } else {
            context.finish(started, outcome);
        }
    }

    fn failed(&mut self, context: &Context, r: usize, why: &str) {
        if self.error.is_none() {
            self.error = Some(format!("{}: {why}", context.workload.round[r].id));
        }
    }

    /// Ends the iteration and reports it (unless the workload was
    /// cancelled under it: then it is not finished).
    pub fn end(self, context: &Context) {
        // (A token's check takes its lock: only when steps were left.)
        if self.step < self.steps_len(context) && context.cancel.is_cancelled() {
            return;
        }
        let done = IterationDone {
            index: self.due.index,
            scenario: self.scenario,
            intended_us: self.intended_us,
            start_us: self.start_us,
            end_us: context.clock.now_us(),
            error: self.error,
            skipped: self.skipped,
            think_us: self.think_us,
        };
        let _ = context
            .events
            .send(Event::Iteration(Box::new((done, self.last))));
    }

    fn steps_len(&self, context: &Context) -> usize {
        context.scenarios().list[self.scenario].steps.len()
    }
}

/// The request of a step under way: its target, what its templates
/// rendered, and — once the cookie jar needed it, whether to send cookies
/// or to keep the reply's — its URL when a rendered path made one of its
/// own (made at most once a request; else the target's, parsed once, is
/// read in place).
struct Sending {
    target: Target,
    rendered: Option<Rendered>,
    url: Option<url::Url>,
}

impl Sending {
    /// The URL the request goes to, as the cookie jar reads it (HTTP
    /// requests only).
    fn url(&mut self) -> Option<&url::Url> {
        if self.url.is_some() {
            return self.url.as_ref();
        }
        let Target::Http(http) = &self.target else {
            return None;
        };
        match http.cookie_url(self.rendered.as_ref())? {
            std::borrow::Cow::Borrowed(url) => Some(url),
            std::borrow::Cow::Owned(url) => Some(self.url.insert(url)),
        }
    }
}

impl Context {
    /// Runs the iteration `due` on blocking clients, holding the calling
    /// thread: its requests and its pauses (a cancel cuts a pause short).
    pub(super) fn iterate_blocking(
        &self,
        clients: &mut crate::kind::BlockingClients,
        due: &Due,
        user: u64,
    ) {
        let Some(mut iteration) = self.begin(due, user) else {
            return;
        };
        loop {
            match iteration.next(self) {
                Next::Send(started, headers) => {
                    let (target, rendered) = iteration.request();
                    let outcome = clients.call(target, headers, rendered);
                    iteration.finished(self, started, outcome);
                }
                Next::Think(pause) => {
                    super::sleep_until(std::time::Instant::now() + pause, &self.cancel);
                }
                Next::Done => break,
            }
        }
        iteration.end(self);
    }
}
