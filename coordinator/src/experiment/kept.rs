//! The request records a mode keeps for its report, bounded however long
//! the run: the first, the failures, the slowest and a uniform reservoir —
//! the agents' rule (`loadlab_proto::sample`) applied again to what they
//! send. Every record still reaches `--requests` files as it arrives.
//!
//! An agent sends its uniform picks as it makes them, so what arrives is
//! crowded at the start (the n-th request is sent with a chance of
//! RESERVOIR / n); each record says that chance (`one_in`). The reservoir
//! here weighs each record by it (weighted sampling without replacement,
//! Efraimidis and Spirakis' A-Res: the RESERVOIR largest u^(1/w), here as
//! the smallest −ln(u)/w), so the records it keeps are spread over the
//! whole run as its requests were.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use loadlab_proto::sample::{FAILURES, FIRST, RESERVOIR, SLOWEST};
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
pub struct KeptRecords {
    kept: HashMap<Key, (RequestRecord, u8)>,
    first: usize,
    failures: usize,
    slowest: BinaryHeap<Reverse<(u64, Key)>>,
    /// The reservoir: the records with the smallest keys −ln(u)/w (u
    /// uniform, w the record's weight), the largest on top. The keys are
    /// never negative, so their bits order as they do.
    reservoir: BinaryHeap<(u64, Key)>,
    offered: u64,
}

impl KeptRecords {
    pub fn new() -> KeptRecords {
        KeptRecords::default()
    }

    /// Offers the record of request `key`, sent with a chance of one in
    /// `one_in` (0 or 1: surely); kept or not by the rule.
    pub fn offer(&mut self, key: Key, record: RequestRecord, one_in: u64) {
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
        // u in (0, 1]: −ln(u) is finite and at least 0.
        let u = 1.0 - rand::rng().random::<f64>();
        // (+ 0.0 turns −0.0, from u = 1, into 0.0, whose bits are 0.)
        let weighed = (-u.ln() / one_in.max(1) as f64 + 0.0).to_bits();
        if self.reservoir.len() < RESERVOIR {
            self.reservoir.push((weighed, key));
            why |= IN_RESERVOIR;
        } else if self
            .reservoir
            .peek()
            .is_some_and(|(largest, _)| weighed < *largest)
        {
            if let Some((_, out)) = self.reservoir.pop() {
                self.release(out, IN_RESERVOIR);
            }
            self.reservoir.push((weighed, key));
            why |= IN_RESERVOIR;
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
    use crate::report::fixtures::record;

    #[test]
    fn a_long_stream_keeps_a_bounded_sample_with_the_slowest() {
        let mut sample = KeptRecords::new();
        for i in 0..200_000u64 {
            let latency = ((i * 7919) % 100_003) as f64 / 10.0;
            let mut r = record("R1", i as f64, i as f64 + latency);
            r.ok = i % 1_000 != 0;
            sample.offer((0, i), r, 1);
        }
        assert_eq!(sample.offered(), 200_000);
        let records = sample.into_records();
        assert!(
            records.len() <= FIRST + FAILURES + SLOWEST + RESERVOIR,
            "{}",
            records.len()
        );
        assert!(records.len() > FIRST + SLOWEST, "{}", records.len());
        let slowest = records.iter().map(|r| r.service_ms).fold(0.0, f64::max);
        assert!(
            (slowest - 10_000.2).abs() < 1e-6,
            "the slowest is kept: {slowest}"
        );
        assert!(records.iter().filter(|r| !r.ok).count() >= FAILURES);
        assert!(records.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
    }

    /// What agents send of a long run is crowded at its start (their
    /// uniform picks are sent as made); what the mode keeps is spread over
    /// the whole run all the same.
    #[test]
    fn kept_records_spread_over_the_run_though_agents_send_more_early() {
        use loadlab_proto::sample::RecordSampler;
        const REQUESTS: u64 = 1_000_000;
        let mut agent = RecordSampler::new();
        let mut sample = KeptRecords::new();
        let mut sent_late = 0u64;
        let mut sent = 0u64;
        for i in 0..REQUESTS {
            // All equally fast and all fine: only the uniform part picks.
            if agent.keep(1_000, false) {
                let r = record("R1", i as f64, i as f64 + 1.0);
                sample.offer((0, i), r, agent.one_in());
                sent += 1;
                sent_late += u64::from(i >= REQUESTS / 2);
            }
        }
        // The agent's picks: most from the first half (1/n).
        assert!(sent_late * 5 < sent, "{sent_late} of {sent} sent late");
        let kept: Vec<f64> = sample
            .into_records()
            .into_iter()
            .map(|r| r.start_ms)
            .filter(|start| *start >= FIRST as f64 + SLOWEST as f64)
            .collect();
        let late = kept.iter().filter(|s| **s >= (REQUESTS / 2) as f64).count();
        // Uniform over the run: about half from its second half (the
        // expectation is ~100 of ~200; under the old rule it was ~20).
        assert!(
            late * 10 >= kept.len() * 3,
            "{late} of {} kept records from the second half",
            kept.len()
        );
    }
}
