//! Padded reply bodies (`bytes=N`): the reply text padded, or cut, to the
//! size asked for, streamed in chunks so a large body costs no memory.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Padding is sent in chunks of this size, from one static buffer.
const CHUNK: usize = 64 * 1024;
static PADDING: [u8; CHUNK] = [b'.'; CHUNK];

/// A body of `len` bytes: `head` (cut to `len`), then dots.
#[derive(Debug)]
pub struct Reply {
    head: Option<Bytes>,
    /// Padding still to send.
    padding: u64,
}

impl Reply {
    /// `text` padded with dots, or cut, to exactly `len` bytes.
    pub fn sized(text: String, len: u64) -> Reply {
        let mut head = Bytes::from(text);
        let padding = len.saturating_sub(head.len() as u64);
        head.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Reply {
            head: Some(head),
            padding,
        }
    }
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(head) = self.head.take().filter(|h| !h.is_empty()) {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if self.padding == 0 {
            return Poll::Ready(None);
        }
        let n = self.padding.min(CHUNK as u64) as usize;
        self.padding -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&PADDING[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.as_ref().is_none_or(Bytes::is_empty) && self.padding == 0
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        SizeHint::with_exact(head + self.padding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn collect(reply: Reply) -> Vec<u8> {
        reply.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn sized_bodies_are_exactly_their_size() {
        let body = collect(Reply::sized("Done".into(), 200_000)).await;
        assert_eq!(body.len(), 200_000);
        assert!(body.starts_with(b"Done..."));
        assert_eq!(collect(Reply::sized("Done".into(), 2)).await, b"Do");
        assert_eq!(collect(Reply::sized("Done".into(), 0)).await, b"");
    }
}
