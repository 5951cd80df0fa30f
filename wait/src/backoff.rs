//! Waiting to try again: delays that grow after each failure, with jitter,
//! as the agent's reconnection and the tracker's Redis subscriber use them.

use std::time::Duration;

/// Reconnection delays: exponential from `first` to `cap`, each drawn at
/// random from its upper half so a fleet does not reconnect in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            next: first,
        }
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.next.min(self.cap);
        self.next = (self.next * 2).min(self.cap);
        let half = ceiling / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each delay is drawn from the upper half of a ceiling that doubles
    /// from 0.2 s up to 10 s, and starts over after a reset.
    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::default();
        let mut ceiling = Duration::from_millis(200);
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} outside {:?}..={ceiling:?}",
                ceiling / 2
            );
            ceiling = (ceiling * 2).min(Duration::from_secs(10));
        }
        assert_eq!(ceiling, Duration::from_secs(10));
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(200));
    }
}
