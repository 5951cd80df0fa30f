//! A tally's seconds: for each second of the mode's time axis, the
//! requests that ended in it.

use std::collections::BTreeMap;

use super::TallyError;
use crate::histogram::{self, HistogramError, LatencyHistogram, new_interval_histogram};
use crate::v1;

/// Per-second tallies: for each second of the time axis, the requests that
/// ended in it. Seconds that are done can be stored encoded
/// ([`Intervals::store_before`]), so a long run costs a few hundred bytes a
/// second, not a histogram a second.
#[derive(Debug, Clone, Default)]
pub struct Intervals {
    seconds: BTreeMap<u32, Interval>,
}

/// The requests that ended in one second.
#[derive(Debug, Clone)]
pub struct Interval {
    pub count: u64,
    pub errors: u64,
    /// Sum of the service times of its requests.
    pub service_sum_us: u64,
    response: Slot,
}

/// An interval's response-time histogram: live while it may still change,
/// stored (V2-encoded) after.
#[derive(Debug, Clone)]
enum Slot {
    Live(Box<LatencyHistogram>),
    Stored(Vec<u8>),
}

impl Interval {
    fn new() -> Interval {
        Interval {
            count: 0,
            errors: 0,
            service_sum_us: 0,
            response: Slot::Live(Box::new(new_interval_histogram())),
        }
    }

    fn live(&mut self) -> Result<&mut LatencyHistogram, HistogramError> {
        if let Slot::Stored(bytes) = &self.response {
            self.response = Slot::Live(Box::new(histogram::decode(bytes)?));
        }
        match &mut self.response {
            Slot::Live(h) => Ok(h),
            Slot::Stored(_) => unreachable!("made live above"),
        }
    }

    /// The second's response-time histogram.
    pub fn response(&self) -> Result<LatencyHistogram, HistogramError> {
        match &self.response {
            Slot::Live(h) => Ok((**h).clone()),
            Slot::Stored(bytes) => histogram::decode(bytes),
        }
    }

    fn encoded(&self) -> Result<Vec<u8>, HistogramError> {
        match &self.response {
            Slot::Live(h) => histogram::encode(h),
            Slot::Stored(bytes) => Ok(bytes.clone()),
        }
    }
}

impl Intervals {
    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &Interval)> {
        self.seconds.iter().map(|(s, i)| (*s, i))
    }

    pub(super) fn record(&mut self, end_us: u64, response_us: u64, service_us: u64, failed: bool) {
        let second = u32::try_from(end_us / 1_000_000).unwrap_or(u32::MAX);
        let interval = self.seconds.entry(second).or_insert_with(Interval::new);
        interval.count += 1;
        interval.service_sum_us += service_us;
        interval.errors += u64::from(failed);
        if let Ok(h) = interval.live() {
            histogram::record_latency(h, response_us);
        }
    }

    /// Adds `other` in, second by second.
    pub fn merge(&mut self, other: &Intervals) -> Result<(), HistogramError> {
        for (&second, theirs) in &other.seconds {
            let ours = self.seconds.entry(second).or_insert_with(Interval::new);
            ours.count += theirs.count;
            ours.errors += theirs.errors;
            ours.service_sum_us += theirs.service_sum_us;
            let h = theirs.response()?;
            histogram::merge_into(ours.live()?, &h)?;
        }
        Ok(())
    }

    /// Stores (encoded) every second before `second`: they will not change
    /// much any more, and a stored second costs bytes, not a histogram.
    pub fn store_before(&mut self, second: u32) -> Result<(), HistogramError> {
        for (_, interval) in self.seconds.range_mut(..second) {
            if let Slot::Live(h) = &interval.response {
                interval.response = Slot::Stored(histogram::encode(h)?);
            }
        }
        Ok(())
    }

    /// The latest second with requests.
    pub fn last_second(&self) -> Option<u32> {
        self.seconds.keys().next_back().copied()
    }

    pub(super) fn to_wire(&self) -> Result<Vec<v1::Interval>, HistogramError> {
        self.seconds
            .iter()
            .map(|(&second, i)| {
                Ok(v1::Interval {
                    second,
                    count: i.count,
                    errors: i.errors,
                    service_sum_us: i.service_sum_us,
                    response: i.encoded()?,
                })
            })
            .collect()
    }

    pub(super) fn from_wire(wire: &[v1::Interval]) -> Result<Intervals, TallyError> {
        let mut intervals = Intervals::default();
        for w in wire {
            let h = histogram::decode(&w.response)?;
            if h.len() != w.count {
                return Err(TallyError::Inconsistent {
                    which: "per-second",
                    held: h.len(),
                    count: w.count,
                });
            }
            let mut interval = Interval::new();
            interval.count = w.count;
            interval.errors = w.errors.min(w.count);
            interval.service_sum_us = w.service_sum_us;
            histogram::merge_into(interval.live()?, &h)?;
            match intervals.seconds.get_mut(&w.second) {
                Some(existing) => {
                    existing.count += interval.count;
                    existing.errors += interval.errors;
                    existing.service_sum_us += interval.service_sum_us;
                    histogram::merge_into(existing.live()?, &h)?;
                }
                None => {
                    intervals.seconds.insert(w.second, interval);
                }
            }
        }
        Ok(intervals)
    }
}
