//! What the run loop tells whoever watches a run as it goes: the terminal
//! ([`crate::live::Live`]), or nobody ([`Quiet`]). The run loop knows only
//! this trait, not how anything is shown.

use loadlab_agent::Mode;

use crate::report::{ModeReport, RequestRecord};
use crate::round::Entry;

pub trait Observer {
    /// A mode begins: `total` requests, shown one by one when `live`.
    fn mode_started(&mut self, mode: Mode, total: u64, live: bool);
    /// A request of `entry` started on `agent` (live modes only).
    fn request_started(&mut self, agent: &str, entry: &Entry);
    /// A request finished (live modes only).
    fn request_finished(&mut self, record: &RequestRecord);
    /// So many requests of the mode have finished, so many of them failed.
    fn progress(&mut self, completed: u64, errors: u64);
    fn mode_finished(&mut self, report: &ModeReport);
    /// Something worth saying: an agent lost, work handed over.
    fn note(&mut self, text: &str);
}

/// Watches nothing.
pub struct Quiet;

impl Observer for Quiet {
    fn mode_started(&mut self, _: Mode, _: u64, _: bool) {}
    fn request_started(&mut self, _: &str, _: &Entry) {}
    fn request_finished(&mut self, _: &RequestRecord) {}
    fn progress(&mut self, _: u64, _: u64) {}
    fn mode_finished(&mut self, _: &ModeReport) {}
    fn note(&mut self, _: &str) {}
}
