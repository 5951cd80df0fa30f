//! A request in service on a connection: the guard that keeps the
//! connection from being evicted, carried in the reply's body until its
//! last frame.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use crate::{Activity, Inner};

/// A request in service on a connection (see [`Ticket::busy`](crate::Ticket::busy)).
#[derive(Debug)]
pub struct Busy {
    activity: Arc<Activity>,
    inner: Arc<Inner>,
}

impl Busy {
    pub(crate) fn new(activity: Arc<Activity>, inner: Arc<Inner>) -> Busy {
        Busy { activity, inner }
    }

    /// `response` with this guard carried in its body, so the connection
    /// counts as serving until the reply's last byte is sent.
    pub fn reply<B>(self, response: http::Response<B>) -> http::Response<InService<B>> {
        response.map(|body| InService::new(body, self))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Idle from now: stamped before the count says so, so the table
        // never sees an idle connection with an old stamp.
        self.activity
            .idle_since
            .store(self.inner.nanos(), Ordering::Release);
        if self.activity.serving.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.wake_waiting();
        }
    }
}

/// A reply body that keeps its connection marked as serving until its last
/// frame is sent (or the body is dropped).
#[derive(Debug)]
pub struct InService<B> {
    body: B,
    busy: Option<Busy>,
}

impl<B> InService<B> {
    pub fn new(body: B, busy: Busy) -> InService<B> {
        InService {
            body,
            busy: Some(busy),
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for InService<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.busy = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
