//! Admission: which connections a server keeps when it is full.
//!
//! A plain connection cap lets a slowloris win: connections that send half a
//! request line and stop hold every slot until a header timeout, and a real
//! client waits behind them. Here a connection holds a slot from accept to
//! close, but when every slot is taken the oldest connection that is *not
//! serving a request* (idle between keep-alive requests, or still waiting for
//! its first request header) and has been so for at least [`MIN_IDLE`] is
//! evicted to make room. A connection serving a request is never evicted, nor
//! one just accepted whose request is still on its way in; when no
//! connection can give way, the next client waits for a slot as before.
//!
//! A server accepts a connection, then calls [`Admission::admit`] (which
//! evicts for it, or waits for a slot while every connection is serving;
//! later clients wait in the accept backlog meanwhile), holds the
//! [`Ticket`] for the connection's life by serving the connection through
//! [`Ticket::serving`] (which drops it, closing its socket, when it is
//! evicted), and holds a [`Busy`] guard from the moment
//! a request header is complete until its reply is sent: [`InService`]
//! carries it inside the reply's body, so it drops with the body's last byte.
//!
//! To shut down, the server stops accepting, calls [`Admission::drain`]
//! (every connection is told to finish the request it serves and close,
//! through the same wake-up as an eviction: no watcher per connection),
//! and waits for [`Admission::closed`].

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use tokio::sync::Notify;

mod busy;
mod serving;

pub use busy::{Busy, InService};
pub use serving::Serving;

/// How long a connection must have been idle before it may be evicted: a
/// connection accepted a moment ago has not had its request read yet.
pub const MIN_IDLE: Duration = Duration::from_millis(200);

/// A connection cap shared by a server's accept loop and its connections.
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cap: usize,
    /// Idle times are counted from here, in nanoseconds.
    epoch: Instant,
    state: Mutex<State>,
    /// Woken when a slot frees or a connection stops serving a request,
    /// while anyone waits for a slot (a wake-up takes the `Notify`'s lock:
    /// not one for every request and every closed connection).
    changed: Notify,
    /// Callers of [`Admission::admit`] that found no slot at once, and of
    /// [`Admission::closed`].
    waiting: AtomicUsize,
    /// Set by [`Admission::drain`]: every connection finishes what it
    /// serves and closes.
    draining: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    /// Open connections by age (ids grow): what each is doing, and its
    /// eviction signal.
    open: BTreeMap<u64, Arc<Activity>>,
    evicted: u64,
}

/// What a connection is doing, shared by its ticket, its busy guards and the
/// admission's table.
#[derive(Debug)]
struct Activity {
    /// Requests in service now.
    serving: AtomicUsize,
    /// When it last became idle (accepted, or its last request served), in
    /// nanoseconds since the admission's epoch.
    idle_since: AtomicU64,
    /// Set when it is evicted; its [`Serving`] is woken then. (A flag and a
    /// waker, not a cancellation token: the connection's future checks it
    /// at every poll, and a token's check takes a lock.)
    evicted: AtomicBool,
    waker: AtomicWaker,
}

impl Activity {
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }
}

impl Admission {
    /// At most `cap` connections at once (at least one).
    pub fn new(cap: usize) -> Admission {
        Admission {
            inner: Arc::new(Inner {
                cap: cap.max(1),
                epoch: Instant::now(),
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                waiting: AtomicUsize::new(0),
                draining: AtomicBool::new(false),
            }),
        }
    }

    /// Waits until the connection just accepted may be served: at once
    /// while there is a free slot or an idle connection to evict, else
    /// until one of those appears. Its idle time counts from then.
    pub async fn admit(&self) -> Ticket {
        // A free slot (the usual case) needs no registration for wake-ups.
        if let Ok(ticket) = self.attempt() {
            return ticket;
        }
        // Counted before it registers and reads the state, so whoever frees
        // a slot or ends a request after that read sees it and wakes it.
        let _waiting = Waiting::count(&self.inner);
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            // Registered before the state is read, so no wake-up is missed.
            changed.as_mut().enable();
            match self.attempt() {
                Ok(ticket) => return ticket,
                // An idle connection that is too young to give way yet.
                Err(Some(eligible)) => {
                    let eligible = tokio::time::Instant::from_std(eligible);
                    tokio::select! {
                        () = changed => {}
                        () = tokio::time::sleep_until(eligible) => {}
                    }
                }
                Err(None) => changed.await,
            }
        }
    }

    /// A ticket now, evicting the oldest connection idle for [`MIN_IDLE`]
    /// if the cap is reached; `None` when no connection can give way.
    pub fn try_admit(&self) -> Option<Ticket> {
        self.attempt().ok()
    }

    /// A ticket, or when the first idle connection becomes old enough to
    /// give way (`None`: every connection is serving).
    fn attempt(&self) -> Result<Ticket, Option<Instant>> {
        let now = self.inner.nanos();
        let mut state = self.inner.lock();
        if state.open.len() >= self.inner.cap {
            let min_idle = MIN_IDLE.as_nanos() as u64;
            let mut soonest: Option<u64> = None;
            let mut victim = None;
            for (id, activity) in &state.open {
                // (SeqCst, as the count of waiters and a request's end:
                // either this sees the request ended, or its end sees a
                // waiter to wake.)
                if activity.serving.load(Ordering::SeqCst) > 0 {
                    continue;
                }
                let since = activity.idle_since.load(Ordering::Acquire);
                if now.saturating_sub(since) >= min_idle {
                    victim = Some(*id);
                    break;
                }
                soonest = Some(soonest.map_or(since, |s| s.min(since)));
            }
            let Some(victim) = victim else {
                return Err(
                    soonest.map(|since| self.inner.epoch + Duration::from_nanos(since) + MIN_IDLE)
                );
            };
            if let Some(activity) = state.open.remove(&victim) {
                activity.evict();
                state.evicted += 1;
            }
        }
        let id = state.next;
        state.next += 1;
        let activity = Arc::new(Activity {
            serving: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            evicted: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        state.open.insert(id, activity.clone());
        Ok(Ticket {
            id,
            activity,
            inner: self.inner.clone(),
        })
    }

    /// Connections open now (evicted ones no longer count).
    pub fn open(&self) -> usize {
        self.inner.lock().open.len()
    }

    /// Connections evicted since the start.
    pub fn evicted(&self) -> u64 {
        self.inner.lock().evicted
    }

    /// Tells every connection, open now or admitted later, to finish the
    /// request it is serving and close (those served with
    /// [`Serving::on_drain`]).
    pub fn drain(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
        // Each wakes and reads the flag; one admitted meanwhile reads it
        // at its first poll.
        for activity in self.inner.lock().open.values() {
            activity.waker.wake();
        }
    }

    /// Completes when no connection is open.
    pub async fn closed(&self) {
        // Counted, so that a connection's close wakes it (see `Waiting`).
        let _waiting = Waiting::count(&self.inner);
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            // Registered before the table is read, so no close is missed.
            changed.as_mut().enable();
            if self.inner.lock().open.is_empty() {
                return;
            }
            changed.await;
        }
    }
}

/// A caller of [`Admission::admit`] waiting for a slot (or of
/// [`Admission::closed`]), counted while it lives.
struct Waiting<'a>(&'a Inner);

impl Waiting<'_> {
    fn count(inner: &Inner) -> Waiting<'_> {
        inner.waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(inner)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Inner {
    /// Wakes the callers of [`Admission::admit`] waiting for a slot, if
    /// any (read after the change they wait for: see [`Waiting::count`]).
    fn wake_waiting(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    fn nanos(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step; a panic
        // elsewhere while it was held does not make it wrong.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One admitted connection's slot, given back when dropped.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    activity: Arc<Activity>,
    inner: Arc<Inner>,
}

impl Ticket {
    /// Serves `connection` until it ends (`Some` of what it returned) or
    /// this connection is evicted to make room (`None`: the connection is
    /// dropped then, which closes its socket), holding the ticket
    /// meanwhile. One future no larger than the connection's and the
    /// eviction's: a server of thousands of waiting connections spawns it
    /// as it is (an `async` block around it would hold the connection
    /// twice). See [`Serving::on_drain`] for shutting down.
    pub fn serving<F: Future>(self: Arc<Self>, connection: F) -> Serving<F> {
        Serving::new(connection, self)
    }

    /// Marks the connection as serving a request until the guard drops; a
    /// serving connection is never evicted.
    pub fn busy(&self) -> Busy {
        // Under the table's lock, so that an eviction decided on this
        // connection's idleness is never undone by a request it then drops.
        let _table = self.inner.lock();
        self.activity.serving.fetch_add(1, Ordering::AcqRel);
        Busy::new(self.activity.clone(), self.inner.clone())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.inner.lock().open.remove(&self.id);
        self.inner.wake_waiting();
    }
}

#[cfg(test)]
mod tests;
