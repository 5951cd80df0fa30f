//! A connection's future while it holds its slot: it ends with the
//! connection, on an eviction, or — told once through `on_drain` — when the
//! admission drains.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use crate::Ticket;

pin_project_lite::pin_project! {
    /// A connection served until it ends (`Some` of its output) or is
    /// evicted (`None`; it is dropped then, which closes its socket), its
    /// slot held meanwhile. See [`Ticket::serving`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Serving<F> {
        #[pin]
        connection: F,
        ticket: Arc<Ticket>,
        // Called on the connection when the admission drains (`None`
        // without `on_drain`, and once called).
        drain: Option<fn(Pin<&mut F>)>,
    }
}

impl<F> Serving<F> {
    pub(crate) fn new(connection: F, ticket: Arc<Ticket>) -> Serving<F> {
        Serving {
            connection,
            ticket,
            drain: None,
        }
    }

    /// Once the admission drains
    /// ([`Admission::drain`](crate::Admission::drain)), `drain` is called on
    /// the connection, once (for hyper's, its `graceful_shutdown`: the
    /// request in service is finished, then the connection closes).
    pub fn on_drain(mut self, drain: fn(Pin<&mut F>)) -> Serving<F> {
        self.drain = Some(drain);
        self
    }
}

impl<F: Future> Future for Serving<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let draining = &this.ticket.inner.draining;
        if this.drain.is_some()
            && draining.load(Ordering::SeqCst)
            && let Some(drain) = this.drain.take()
        {
            drain(this.connection.as_mut());
        }
        if let Poll::Ready(ended) = this.connection.as_mut().poll(cx) {
            return Poll::Ready(Some(ended));
        }
        let activity = &this.ticket.activity;
        // Registered before the flags are read, so an eviction or a drain
        // in between still wakes this future.
        activity.waker.register(cx.waker());
        if activity.is_evicted() {
            return Poll::Ready(None);
        }
        if this.drain.is_some() && draining.load(Ordering::SeqCst) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
