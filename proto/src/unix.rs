//! Wall-clock time as it goes on the wire and into reports: microseconds
//! since the Unix epoch (0 for a clock set before 1970). One definition for
//! every "now" the agents and the coordinator exchange.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` in microseconds since the epoch.
pub fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Now, in microseconds since the epoch.
pub fn now_us() -> u64 {
    micros(SystemTime::now())
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> u64 {
    now_us() / 1_000
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn before_the_epoch_is_zero_and_after_it_counts_microseconds() {
        assert_eq!(super::micros(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(
            super::micros(UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456)),
            1_700_000_000_123_456
        );
        assert!(super::now_ms() > 1_700_000_000_000);
    }
}
