//! Which request records an agent sends. Its tally counts every request;
//! records are for the report's timeline and for exemplars, so unless the
//! coordinator asks for every one (live runs, `--requests`), an agent sends
//! a bounded sample: the first [`FIRST`], failures up to [`FAILURES`], the
//! slowest [`SLOWEST`] so far, and a uniform [`RESERVOIR`]. Memory and
//! bandwidth stay the same however long the run. The requests of the sample
//! are also the ones traced after the fact (see the assignment).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::RngExt;

/// Records kept from the start of a mode.
pub const FIRST: usize = 1_000;
/// Failed requests' records kept, beyond the first.
pub const FAILURES: usize = 100;
/// The slowest requests' records kept.
pub const SLOWEST: usize = 100;
/// Records drawn uniformly from the whole run (exemplars near any
/// percentile come from these).
pub const RESERVOIR: usize = 200;

/// Decides, request by request, whether its record goes to the coordinator.
#[derive(Debug)]
pub struct RecordSampler {
    seen: u64,
    failures: usize,
    /// The response times of the slowest so far (a min-heap of [`SLOWEST`]).
    slowest: BinaryHeap<Reverse<u64>>,
}

impl RecordSampler {
    pub fn new() -> RecordSampler {
        RecordSampler {
            seen: 0,
            failures: 0,
            slowest: BinaryHeap::with_capacity(SLOWEST + 1),
        }
    }

    /// The chance the last request offered had to be in the uniform part
    /// of the sample: one in this many (1 among the first [`FIRST`]).
    pub fn one_in(&self) -> u64 {
        if self.seen <= FIRST as u64 {
            1
        } else {
            self.seen.div_ceil(RESERVOIR as u64)
        }
    }

    /// Whether the record of a request that took `response_us` is in the
    /// sample.
    pub fn keep(&mut self, response_us: u64, failed: bool) -> bool {
        self.seen += 1;
        if self.seen <= FIRST as u64 {
            return true;
        }
        let mut keep = false;
        if failed && self.failures < FAILURES {
            self.failures += 1;
            keep = true;
        }
        if self.slowest.len() < SLOWEST || self.slowest.peek().is_some_and(|m| response_us > m.0) {
            self.slowest.push(Reverse(response_us));
            if self.slowest.len() > SLOWEST {
                self.slowest.pop();
            }
            keep = true;
        }
        // Algorithm R's chance for the n-th request: RESERVOIR / n.
        keep || rand::rng().random_range(0..self.seen) < RESERVOIR as u64
    }
}

impl Default for RecordSampler {
    fn default() -> RecordSampler {
        RecordSampler::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over a million requests, a few thousand records: the first, the
    /// failures, the slowest (all of the 100 slowest among them), and some
    /// from everywhere.
    #[test]
    fn a_long_run_sends_a_bounded_sample() {
        let mut sampler = RecordSampler::new();
        let mut kept = Vec::new();
        for i in 0..1_000_000u64 {
            let response = (i * 7919) % 1_000_003;
            if sampler.keep(response, i % 5_000 == 0) {
                kept.push(response);
            }
        }
        assert!(kept.len() < 5_000, "{} kept", kept.len());
        let mut all: Vec<u64> = (0..1_000_000u64).map(|i| (i * 7919) % 1_000_003).collect();
        all.sort_unstable();
        for slow in &all[all.len() - SLOWEST..] {
            assert!(kept.contains(slow), "{slow} is among the slowest");
        }
    }
}
