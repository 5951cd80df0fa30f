//! The request records a mode keeps for its report, bounded however long
//! the run: the first, the failures, the slowest and a uniform reservoir —
//! the agents' rule (`loadlab_agent::sample`) applied again to what they
//! send. Every record still reaches `--requests` files as it arrives.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use loadlab_agent::sample::{FAILURES, FIRST, RESERVOIR, SLOWEST};
use rand::RngExt;

use crate::report::RequestRecord;

/// A record's place: which assignment of the mode, which of its requests.
pub type Key = (usize, u64);

/// Why a record is kept (it may be kept for several reasons).
const IN_FIRST: u8 = 1;
const IN_FAILURES: u8 = 2;
const IN_SLOWEST: u8 = 4;
const IN_RESERVOIR: u8 = 8;

#[derive(Default)]
pub struct Sample {
    kept: HashMap<Key, (RequestRecord, u8)>,
    first: usize,
    failures: usize,
    slowest: BinaryHeap<Reverse<(u64, Key)>>,
    reservoir: Vec<Key>,
    offered: u64,
}

impl Sample {
    pub fn new() -> Sample {
        Sample::default()
    }

    /// Offers the record of request `key`; kept or not by the rule.
    pub fn offer(&mut self, key: Key, record: RequestRecord) {
        self.offered += 1;
        let mut why = 0u8;
        if self.first < FIRST {
            self.first += 1;
            why |= IN_FIRST;
        }
        if !record.ok && self.failures < FAILURES {
            self.failures += 1;
            why |= IN_FAILURES;
        }
        let response_us = (record.response_ms() * 1e3) as u64;
        if self.slowest.len() < SLOWEST
            || self
                .slowest
                .peek()
                .is_some_and(|Reverse((us, _))| response_us > *us)
        {
            self.slowest.push(Reverse((response_us, key)));
            why |= IN_SLOWEST;
            if self.slowest.len() > SLOWEST
                && let Some(Reverse((_, out))) = self.slowest.pop()
            {
                self.release(out, IN_SLOWEST);
            }
        }
        if self.reservoir.len() < RESERVOIR {
            self.reservoir.push(key);
            why |= IN_RESERVOIR;
        } else {
            let slot = rand::rng().random_range(0..self.offered) as usize;
            if slot < RESERVOIR {
                let out = std::mem::replace(&mut self.reservoir[slot], key);
                self.release(out, IN_RESERVOIR);
                why |= IN_RESERVOIR;
            }
        }
        if why != 0 {
            match self.kept.get_mut(&key) {
                Some((_, reasons)) => *reasons |= why,
                None => {
                    self.kept.insert(key, (record, why));
                }
            }
        }
    }

    /// `key` is no longer kept for `reason`; dropped when nothing else
    /// keeps it.
    fn release(&mut self, key: Key, reason: u8) {
        if let Some((_, reasons)) = self.kept.get_mut(&key) {
            *reasons &= !reason;
            if *reasons == 0 {
                self.kept.remove(&key);
            }
        }
    }

    /// Records offered so far.
    #[cfg(test)]
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// The kept records, by start.
    pub fn into_records(self) -> Vec<RequestRecord> {
        let mut records: Vec<RequestRecord> = self.kept.into_values().map(|(r, _)| r).collect();
        records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::record;

    #[test]
    fn a_long_stream_keeps_a_bounded_sample_with_the_slowest() {
        let mut sample = Sample::new();
        for i in 0..200_000u64 {
            let latency = ((i * 7919) % 100_003) as f64 / 10.0;
            let mut r = record("R1", i as f64, i as f64 + latency);
            r.ok = i % 1_000 != 0;
            sample.offer((0, i), r);
        }
        assert_eq!(sample.offered(), 200_000);
        let records = sample.into_records();
        assert!(
            records.len() <= FIRST + FAILURES + SLOWEST + RESERVOIR,
            "{}",
            records.len()
        );
        assert!(records.len() > FIRST + SLOWEST, "{}", records.len());
        let slowest = records.iter().map(|r| r.latency_ms).fold(0.0, f64::max);
        assert!(
            (slowest - 10_000.2).abs() < 1e-6,
            "the slowest is kept: {slowest}"
        );
        assert!(records.iter().filter(|r| !r.ok).count() >= FAILURES);
        assert!(records.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
    }
}
