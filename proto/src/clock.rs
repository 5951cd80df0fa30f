//! A mode's one time axis, on both sides: microseconds since the
//! coordinator's zero (sent to agents as a wall-clock time, its
//! `mode_started_unix_us`), read from each process's monotonic clock.

use std::time::{Duration, Instant, SystemTime};

/// A mode's clock: microseconds on the mode's time axis.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The axis' zero as an instant of this process...
    pub zero: Instant,
    /// ...and on the wall clock.
    zero_unix: SystemTime,
}

impl Clock {
    /// A clock whose zero is `mode_started_unix_us` (the coordinator's), or
    /// now when that lies in the future (another host's clock running
    /// ahead).
    pub fn new(mode_started_unix_us: u64) -> Clock {
        let now = Instant::now();
        let now_unix = SystemTime::now();
        let now_unix_us = crate::unix::micros(now_unix);
        let since = Duration::from_micros(now_unix_us.saturating_sub(mode_started_unix_us));
        let zero = now.checked_sub(since).unwrap_or(now);
        Clock {
            zero,
            zero_unix: now_unix - now.duration_since(zero),
        }
    }

    /// A clock whose zero is now (the coordinator's, as a mode starts).
    pub fn starting_now() -> Clock {
        Clock {
            zero: Instant::now(),
            zero_unix: SystemTime::now(),
        }
    }

    /// Where the axis is now, in µs.
    pub fn now_us(&self) -> u64 {
        self.zero.elapsed().as_micros() as u64
    }

    /// Where the axis is now.
    pub fn now(&self) -> Duration {
        self.zero.elapsed()
    }

    /// The zero on the wall clock, in µs since the Unix epoch (what agents
    /// are sent).
    pub fn zero_unix_us(&self) -> u64 {
        crate::unix::micros(self.zero_unix)
    }

    /// A time on the axis as a wall-clock time.
    pub fn unix(&self, us: u64) -> SystemTime {
        self.zero_unix + Duration::from_micros(us)
    }
}
