//! Waiting precisely without holding a thread.
//!
//! tokio's timer has millisecond resolution and rounds deadlines up, so a
//! 300 ms sleep answers after 301–302 ms. That error would show up in every
//! figure loadlab reports, so the server sleeps through most of the wait on
//! tokio's timer and the last stretch on a Linux `timerfd`, which fires at the
//! nanosecond it was set for. The timerfd is held only for that last stretch,
//! so thousands of concurrent waits still cost timers, not file descriptors.
//!
//! A timerfd costs a handful of system calls, and the split wait a second
//! timer. When thousands of waits are in progress (sleeping requests under
//! load, where a millisecond is lost in the noise anyway), that would delay
//! every reply: past [`PRECISE_AT_ONCE`] waits in progress, a wait is one
//! tokio timer.

pub mod backoff;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Below this remaining time, the precise timer takes over.
const PRECISE_TAIL: Duration = Duration::from_millis(3);

/// Most waits in progress at once for which the precise tail is used.
pub const PRECISE_AT_ONCE: usize = 64;

static WAITING: AtomicUsize = AtomicUsize::new(0);

/// A wait in progress, counted while it lives.
struct Waiting;

impl Waiting {
    /// Counts this wait in; says whether few enough are in progress for
    /// a precise one.
    fn begin() -> (Waiting, bool) {
        let before = WAITING.fetch_add(1, Ordering::AcqRel);
        (Waiting, before < PRECISE_AT_ONCE)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Completes as close as the system allows to `duration` from now (from
/// this call), and never before it. Not an `async fn` of its own: a server
/// holds thousands of these at once, and a wrapper would double each.
pub fn wait(duration: Duration) -> impl Future<Output = ()> {
    wait_until(Instant::now() + duration)
}

/// Completes as close as the system allows to `deadline`, and never before
/// it.
pub async fn wait_until(deadline: Instant) {
    let (_counted, precise) = Waiting::begin();
    if !precise {
        tokio::time::sleep_until(deadline).await;
        return;
    }
    if deadline.saturating_duration_since(Instant::now()) > PRECISE_TAIL {
        tokio::time::sleep_until(deadline - PRECISE_TAIL).await;
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return;
    }
    if precise::sleep(remaining).await.is_err() {
        // No timerfd (e.g. out of file descriptors): the coarse timer still
        // never wakes early.
        tokio::time::sleep_until(deadline).await;
    }
}

#[cfg(target_os = "linux")]
mod precise {
    use std::time::Duration;

    use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    /// Sleeps `duration` on a one-shot monotonic timerfd.
    pub async fn sleep(duration: Duration) -> std::io::Result<()> {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let value = Timespec {
            tv_sec: duration.as_secs() as _,
            // A zero it_value would disarm the timer: wait at least 1 ns.
            tv_nsec: duration.subsec_nanos().max(1) as _,
        };
        rustix::time::timerfd_settime(
            &fd,
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: zero,
                it_value: value,
            },
        )?;
        // SAFETY: the OwnedFd moves into the AsyncFd, which owns it until it
        // is dropped, so the descriptor stays open and unchanged meanwhile.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        loop {
            let mut ready = fd.readable().await?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(fd.get_ref(), &mut expirations) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(error) => return Err(error.into()),
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod precise {
    use std::time::Duration;

    pub async fn sleep(duration: Duration) -> std::io::Result<()> {
        tokio::time::sleep(duration).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The median overshoot of `runs` waits of `asked`.
    async fn median_overshoot(asked: Duration, runs: usize) -> Duration {
        let mut overshoots = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = std::time::Instant::now();
            wait(asked).await;
            overshoots.push(started.elapsed().saturating_sub(asked));
        }
        overshoots.sort();
        overshoots[runs / 2]
    }

    /// Precise: tokio's millisecond timer alone overshoots by up to a
    /// millisecond (about half of one in the median); the timerfd tail
    /// brings the median within a few tenths of one.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn waits_end_within_a_fraction_of_a_millisecond() {
        let overshoot = median_overshoot(Duration::from_micros(7_300), 25).await;
        eprintln!("median overshoot: {overshoot:?}");
        assert!(
            overshoot < Duration::from_micros(400),
            "median overshoot {overshoot:?}"
        );
    }

    /// Never early, and far closer than tokio's millisecond timer alone.
    #[tokio::test]
    async fn waits_at_least_the_duration_and_not_much_more() {
        for ms in [0, 1, 5, 50] {
            let asked = Duration::from_millis(ms);
            let started = std::time::Instant::now();
            wait(asked).await;
            let took = started.elapsed();
            assert!(took >= asked, "{ms} ms: woke early after {took:?}");
            // Generous (a loaded CI machine): protects against the timer
            // being skipped or doubled, not a precision target.
            assert!(
                took < asked + Duration::from_millis(20),
                "{ms} ms: took {took:?}"
            );
        }
    }
}
