//! When each request is due: the schedule handed out in order, with the
//! open loop's backlog counted — the one pacing rule of every runner
//! (next, wait until due, stop when over, note the start); how each waits
//! is its mode's own — and a cancellable sleep for the runners on threads.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Context;
use crate::schedule::Due;

/// Hands out a workload's requests in order, each when it is due, and
/// keeps count of the most that were due and not yet started at once.
pub(crate) struct Pacer {
    context: Arc<Context>,
    dues: Box<dyn Iterator<Item = Due> + Send>,
    /// Runs ahead of `dues` to count what is already due (open loop only).
    scout: Option<std::iter::Peekable<Box<dyn Iterator<Item = Due> + Send>>>,
    scouted: u64,
    handed: u64,
    stop: Option<Instant>,
}

impl Pacer {
    pub fn new(context: &Arc<Context>) -> Pacer {
        let workload = &context.workload;
        let open = matches!(workload.schedule, crate::schedule::Schedule::Open(_));
        Pacer {
            context: context.clone(),
            dues: Box::new(workload.dues()),
            scout: open.then(|| {
                let dues: Box<dyn Iterator<Item = Due> + Send> = Box::new(workload.dues());
                dues.peekable()
            }),
            scouted: 0,
            handed: 0,
            stop: workload.stop_after.map(|after| context.anchor + after),
        }
    }

    /// The next request, and the instant it is due (`None`: now).
    pub fn next(&mut self) -> Option<(Due, Option<Instant>)> {
        let due = self.dues.next()?;
        Some((due, due.at.map(|at| self.context.anchor + at)))
    }

    /// For the runners on threads: the next request once it is due, this
    /// thread sleeping until then; `None` when the schedule has run out or
    /// nothing more may start (the runner calls [`Pacer::handed`] when it
    /// starts what it got).
    pub fn next_on_thread(&mut self) -> Option<Due> {
        let (due, when) = self.next()?;
        if let Some(when) = when
            && !sleep_until(when, &self.context.cancel)
        {
            return None;
        }
        (!self.over(Instant::now())).then_some(due)
    }

    /// The request handed out last starts `now`, unless nothing more may
    /// start (false): [`Pacer::over`], then [`Pacer::handed`].
    pub fn start(&mut self, now: Instant) -> bool {
        if self.over(now) {
            return false;
        }
        self.handed(now);
        true
    }

    /// True once nothing more may start: past the open loop's end plus the
    /// timeout, or cancelled.
    pub fn over(&self, now: Instant) -> bool {
        self.context.cancel.is_cancelled()
            || self.context.rows_out.load(Ordering::Relaxed)
            || self.stop.is_some_and(|stop| now >= stop)
    }

    /// Notes that the next request starts now.
    pub fn handed(&mut self, now: Instant) {
        if let Some(scout) = &mut self.scout {
            let anchor = self.context.anchor;
            while scout
                .next_if(|d| d.at.is_some_and(|at| anchor + at <= now))
                .is_some()
            {
                self.scouted += 1;
            }
            let backlog = self.scouted.saturating_sub(self.handed);
            self.context
                .gauges
                .max_backlog
                .fetch_max(backlog, Ordering::Relaxed);
        }
        self.handed += 1;
    }
}

/// Sleeps this thread until `deadline`, waking to check for a cancel; false
/// when cancelled.
pub(crate) fn sleep_until(deadline: Instant, cancel: &CancellationToken) -> bool {
    const CHECK_EVERY: Duration = Duration::from_millis(50);
    loop {
        if cancel.is_cancelled() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(CHECK_EVERY));
    }
}
