//! Hiccups: at a fixed period the server stops answering for a while — it
//! reads nothing and writes nothing, as a garbage-collection pause or a
//! blocking call on its event loop would make it. A load generator that
//! only sends when a reply came back (a closed loop) sends nothing during a
//! hiccup, so the hiccup barely shows in its figures; one that sends on
//! schedule (an open loop) shows what users arriving then waited.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Every `every`, the last `pause` of it is a hiccup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hiccups {
    pub every: Duration,
    pub pause: Duration,
}

impl Hiccups {
    /// Refuses a pause that is zero or not shorter than the period.
    pub fn new(every: Duration, pause: Duration) -> Result<Hiccups, String> {
        if pause.is_zero() {
            return Err("--hiccup-for must be more than 0".into());
        }
        if pause >= every {
            return Err(format!(
                "--hiccup-for ({}) must be shorter than --hiccup-every ({}): the server must answer between hiccups",
                humantime::format_duration(pause),
                humantime::format_duration(every)
            ));
        }
        Ok(Hiccups { every, pause })
    }

    /// When the server, started at `origin`, is in a hiccup at `now`: until
    /// when.
    pub fn frozen_until(&self, origin: Instant, now: Instant) -> Option<Instant> {
        let every = self.every.as_nanos();
        let phase = now.saturating_duration_since(origin).as_nanos() % every;
        let serving = (self.every - self.pause).as_nanos();
        (phase >= serving).then(|| now + Duration::from_nanos((every - phase) as u64))
    }
}

/// A connection's I/O that stands still during hiccups.
pub struct Frozen<T> {
    io: T,
    hiccups: Option<(Hiccups, Instant)>,
    thaw: Option<Pin<Box<Sleep>>>,
}

impl<T> Frozen<T> {
    /// `io` as it is when `hiccups` is `None`; else frozen during the
    /// hiccups of a server started at `origin`.
    pub fn new(io: T, hiccups: Option<Hiccups>, origin: Instant) -> Frozen<T> {
        Frozen {
            io,
            hiccups: hiccups.map(|h| (h, origin)),
            thaw: None,
        }
    }

    /// Ready when the server is not in a hiccup.
    fn poll_thawed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some((hiccups, origin)) = self.hiccups else {
            return Poll::Ready(());
        };
        loop {
            if let Some(thaw) = &mut self.thaw {
                ready!(thaw.as_mut().poll(cx));
                self.thaw = None;
            }
            match hiccups.frozen_until(origin, Instant::now()) {
                None => return Poll::Ready(()),
                Some(until) => self.thaw = Some(Box::pin(tokio::time::sleep_until(until))),
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Frozen<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_thawed(cx));
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Frozen<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_thawed(cx));
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    /// Passed through, so that hyper writes a reply's head and body with
    /// one `writev` as it does on a bare socket, instead of copying the
    /// body behind the head first.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_thawed(cx));
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_thawed(cx));
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_part_of_each_period_is_a_hiccup() {
        let h = Hiccups::new(Duration::from_secs(4), Duration::from_secs(1)).unwrap();
        let origin = Instant::now();
        let at = |ms| origin + Duration::from_millis(ms);
        assert_eq!(h.frozen_until(origin, at(0)), None);
        assert_eq!(h.frozen_until(origin, at(2_999)), None);
        assert_eq!(h.frozen_until(origin, at(3_000)), Some(at(4_000)));
        assert_eq!(h.frozen_until(origin, at(3_500)), Some(at(4_000)));
        assert_eq!(h.frozen_until(origin, at(4_000)), None);
        assert_eq!(h.frozen_until(origin, at(7_250)), Some(at(8_000)));
    }

    #[tokio::test]
    async fn vectored_writes_pass_through_to_the_socket_and_wait_out_a_hiccup() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        let (server, mut client) = (accepted.unwrap().0, client.unwrap());
        // Frozen from the start of a 1 s period's last 200 ms.
        let hiccups = Hiccups::new(Duration::from_secs(1), Duration::from_millis(200)).unwrap();
        let origin = Instant::now() - Duration::from_millis(800);
        let mut frozen = Frozen::new(server, Some(hiccups), origin);
        assert!(
            frozen.is_write_vectored(),
            "a socket's vectored writes are offered"
        );
        let started = Instant::now();
        let bufs = [io::IoSlice::new(b"head "), io::IoSlice::new(b"body")];
        let written = frozen.write_vectored(&bufs).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "the write waited out the hiccup ({:?})",
            started.elapsed()
        );
        assert_eq!(written, 9, "both slices in one write");
        frozen.shutdown().await.unwrap();
        let mut received = String::new();
        client.read_to_string(&mut received).await.unwrap();
        assert_eq!(received, "head body");
    }

    #[test]
    fn a_pause_as_long_as_the_period_is_refused() {
        let error = Hiccups::new(Duration::from_secs(1), Duration::from_secs(1)).unwrap_err();
        assert!(
            error.contains("must be shorter than --hiccup-every"),
            "{error}"
        );
        assert!(Hiccups::new(Duration::from_secs(1), Duration::ZERO).is_err());
    }
}
