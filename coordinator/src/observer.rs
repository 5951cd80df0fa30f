//! What the run loop tells whoever watches a run as it goes: the terminal
//! ([`crate::live::Live`]), or nobody ([`Quiet`]). The run loop knows only
//! this trait, not how anything is shown.

use loadlab_proto::Mode;

use crate::report::{ModeReport, RequestRecord};
use crate::round::Entry;

/// Every method does nothing unless an observer says otherwise: each
/// watches what it needs.
pub trait Observer {
    /// A mode begins: `total` requests, shown one by one when `live`.
    fn mode_started(&mut self, _mode: Mode, _total: u64, _live: bool) {}
    /// A request of `entry` started on `agent` (live modes only).
    fn request_started(&mut self, _agent: &str, _entry: &Entry) {}
    /// A request finished (live modes only).
    fn request_finished(&mut self, _entry: &Entry, _record: &RequestRecord) {}
    /// A request's record arrived: every one when the run asked for all
    /// (`--requests`), else a sample.
    fn record(&mut self, _mode: Mode, _record: &RequestRecord) {}
    /// Whether this observer wants every request's record.
    fn wants_every_record(&self) -> bool {
        false
    }
    /// So many requests of the mode have finished, so many of them failed.
    fn progress(&mut self, _completed: u64, _errors: u64) {}
    fn mode_finished(&mut self, _report: &ModeReport) {}
    /// Something worth saying: an agent lost, work handed over.
    fn note(&mut self, _text: &str) {}
}

/// Watches nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// Two observers, both told everything.
pub struct Both<A, B>(pub A, pub B);

impl<A: Observer, B: Observer> Observer for Both<A, B> {
    fn mode_started(&mut self, mode: Mode, total: u64, live: bool) {
        self.0.mode_started(mode, total, live);
        self.1.mode_started(mode, total, live);
    }
    fn request_started(&mut self, agent: &str, entry: &Entry) {
        self.0.request_started(agent, entry);
        self.1.request_started(agent, entry);
    }
    fn request_finished(&mut self, entry: &Entry, record: &RequestRecord) {
        self.0.request_finished(entry, record);
        self.1.request_finished(entry, record);
    }
    fn record(&mut self, mode: Mode, record: &RequestRecord) {
        self.0.record(mode, record);
        self.1.record(mode, record);
    }
    fn wants_every_record(&self) -> bool {
        self.0.wants_every_record() || self.1.wants_every_record()
    }
    fn progress(&mut self, completed: u64, errors: u64) {
        self.0.progress(completed, errors);
        self.1.progress(completed, errors);
    }
    fn mode_finished(&mut self, report: &ModeReport) {
        self.0.mode_finished(report);
        self.1.mode_finished(report);
    }
    fn note(&mut self, text: &str) {
        self.0.note(text);
        self.1.note(text);
    }
}

/// An observer that may not be there (an output not asked for).
impl<T: Observer> Observer for Option<T> {
    fn mode_started(&mut self, mode: Mode, total: u64, live: bool) {
        if let Some(o) = self {
            o.mode_started(mode, total, live);
        }
    }
    fn request_started(&mut self, agent: &str, entry: &Entry) {
        if let Some(o) = self {
            o.request_started(agent, entry);
        }
    }
    fn request_finished(&mut self, entry: &Entry, record: &RequestRecord) {
        if let Some(o) = self {
            o.request_finished(entry, record);
        }
    }
    fn record(&mut self, mode: Mode, record: &RequestRecord) {
        if let Some(o) = self {
            o.record(mode, record);
        }
    }
    fn wants_every_record(&self) -> bool {
        self.as_ref().is_some_and(|o| o.wants_every_record())
    }
    fn progress(&mut self, completed: u64, errors: u64) {
        if let Some(o) = self {
            o.progress(completed, errors);
        }
    }
    fn mode_finished(&mut self, report: &ModeReport) {
        if let Some(o) = self {
            o.mode_finished(report);
        }
    }
    fn note(&mut self, text: &str) {
        if let Some(o) = self {
            o.note(text);
        }
    }
}
