//! The one tally of a set of requests, kept by agents as requests finish and
//! merged by the coordinator: response time, service time and schedule lag
//! as histograms, counts, failures by reason, and the span of time covered.
//! Adding two tallies gives exactly the tally of both sets of requests.
//! Its seconds are [`intervals`]; its tests are in `tally/tests.rs`.

use std::collections::BTreeMap;

use crate::histogram::{self, HistogramError, LatencyHistogram, new_latency_histogram};
use crate::v1;

mod intervals;

pub use intervals::{Interval, Intervals};

/// Distinct failure reasons a tally keeps apart; further ones are counted
/// together under [`OTHER_REASONS`], so a flood of unique messages cannot
/// grow it without bound.
pub const MAX_REASONS: usize = 64;

/// The reason under which failures past [`MAX_REASONS`] are counted.
pub const OTHER_REASONS: &str = "(other reasons)";

/// A request that started later than this after it was due is late.
pub const LATE_US: u64 = 1_000;

/// A tally of at most this many requests travels as their timings.
pub const MAX_TIMINGS: usize = 16;

/// One finished request, as a tally takes it. Times are microseconds on one
/// axis (the mode's).
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    /// When the schedule wanted it to start (= `start_us` in a closed loop).
    pub intended_us: u64,
    pub start_us: u64,
    pub end_us: u64,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<&'a str>,
}

impl Finished<'_> {
    /// From when it was due (or started, if that was earlier: a clock
    /// step) to its end: what a user arriving on schedule waited. The one
    /// definition of response time; the coordinator's records follow it
    /// (`RequestRecord::response_ms`).
    pub fn response_us(&self) -> u64 {
        response_us(self.intended_us, self.start_us, self.end_us)
    }
}

/// Response time from a request's three times (see [`Finished::response_us`]).
pub fn response_us(intended_us: u64, start_us: u64, end_us: u64) -> u64 {
    end_us.saturating_sub(intended_us.min(start_us))
}

#[derive(Debug, Clone)]
pub struct Tally {
    pub count: u64,
    pub errors: u64,
    /// From the intended start to the end: what a user arriving on schedule
    /// waited.
    pub response: LatencyHistogram,
    /// From the actual start to the end.
    pub service: LatencyHistogram,
    /// Actual start minus intended start.
    pub lag: LatencyHistogram,
    pub service_sum_us: u64,
    /// Requests that started more than [`LATE_US`] after they were due.
    pub late: u64,
    /// Earliest start and latest end (0 and 0 when empty).
    pub first_start_us: u64,
    pub last_end_us: u64,
    pub failures: BTreeMap<String, u64>,
    /// Per second of the time axis, by end.
    pub intervals: Intervals,
    /// The requests' timings while there are at most [`MAX_TIMINGS`].
    few: Option<Vec<v1::Timing>>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            count: 0,
            errors: 0,
            response: new_latency_histogram(),
            service: new_latency_histogram(),
            lag: new_latency_histogram(),
            service_sum_us: 0,
            late: 0,
            first_start_us: 0,
            last_end_us: 0,
            failures: BTreeMap::new(),
            intervals: Intervals::default(),
            few: Some(Vec::new()),
        }
    }
}

/// Why a tally from the wire was refused.
#[derive(Debug, thiserror::Error)]
pub enum TallyError {
    #[error(transparent)]
    Histogram(#[from] HistogramError),
    #[error("its {which} histogram holds {held} samples for {count} requests")]
    Inconsistent {
        which: &'static str,
        held: u64,
        count: u64,
    },
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Empties the tally, keeping its memory for the next interval.
    pub fn clear(&mut self) {
        self.response.reset();
        self.service.reset();
        self.lag.reset();
        self.failures.clear();
        self.intervals = Intervals::default();
        self.few = Some(Vec::new());
        (self.count, self.errors, self.service_sum_us, self.late) = (0, 0, 0, 0);
        (self.first_start_us, self.last_end_us) = (0, 0);
    }

    /// Counts one finished request.
    pub fn record(&mut self, request: Finished<'_>) {
        self.take(request, true);
    }

    /// Counts one iteration of a scenario, as [`Tally::record`] counts a
    /// request but for its seconds (`intervals`, by far the dearest part
    /// of a record): nobody reads an iteration's per-second figures.
    pub fn record_iteration(&mut self, iteration: Finished<'_>) {
        self.take(iteration, false);
    }

    /// Counts `finished`, and in its second when `by_second`.
    fn take(&mut self, finished: Finished<'_>, by_second: bool) {
        let Finished {
            intended_us,
            start_us,
            end_us,
            error,
        } = finished;
        if by_second {
            self.record_timing(intended_us, start_us, end_us, error.is_some());
        } else {
            self.few = None;
            self.record_figures(intended_us, start_us, end_us, error.is_some());
        }
        if let Some(reason) = error {
            self.count_failure(reason, 1);
        }
    }

    /// Counts one finished request, all but its failure's reason.
    fn record_timing(&mut self, intended_us: u64, start_us: u64, end_us: u64, failed: bool) {
        match &mut self.few {
            Some(few) if few.len() < MAX_TIMINGS => few.push(v1::Timing {
                intended_us,
                start_us,
                end_us,
                failed,
            }),
            _ => self.few = None,
        }
        let (response_us, service_us) = self.record_figures(intended_us, start_us, end_us, failed);
        self.intervals
            .record(end_us, response_us, service_us, failed);
    }

    /// Counts one finished span in the whole-run figures; returns its
    /// response and service times.
    fn record_figures(
        &mut self,
        intended_us: u64,
        start_us: u64,
        end_us: u64,
        failed: bool,
    ) -> (u64, u64) {
        let intended_us = intended_us.min(start_us);
        let service_us = end_us.saturating_sub(start_us);
        let response_us = response_us(intended_us, start_us, end_us);
        histogram::record_latency(&mut self.response, response_us);
        histogram::record_latency(&mut self.service, service_us);
        // Zero lag is common and the histogram's floor is 1 µs.
        let lag_us = start_us - intended_us;
        histogram::record_latency(&mut self.lag, lag_us);
        self.late += u64::from(lag_us > LATE_US);
        self.service_sum_us += service_us;
        if self.count == 0 {
            (self.first_start_us, self.last_end_us) = (start_us, end_us);
        } else {
            self.first_start_us = self.first_start_us.min(start_us);
            self.last_end_us = self.last_end_us.max(end_us);
        }
        self.count += 1;
        self.errors += u64::from(failed);
        (response_us, service_us)
    }

    fn count_failure(&mut self, reason: &str, count: u64) {
        if let Some(n) = self.failures.get_mut(reason) {
            *n += count;
        } else if self.failures.len() < MAX_REASONS {
            self.failures.insert(reason.to_owned(), count);
        } else {
            *self.failures.entry(OTHER_REASONS.to_owned()).or_default() += count;
        }
    }

    /// Adds `other` in: the result is the tally of both sets of requests.
    pub fn merge(&mut self, other: &Tally) -> Result<(), HistogramError> {
        if other.count == 0 {
            return Ok(());
        }
        self.few = match (self.few.take(), &other.few) {
            (Some(mut ours), Some(theirs)) if ours.len() + theirs.len() <= MAX_TIMINGS => {
                ours.extend_from_slice(theirs);
                Some(ours)
            }
            _ => None,
        };
        histogram::merge_into(&mut self.response, &other.response)?;
        histogram::merge_into(&mut self.service, &other.service)?;
        histogram::merge_into(&mut self.lag, &other.lag)?;
        if self.count == 0 {
            (self.first_start_us, self.last_end_us) = (other.first_start_us, other.last_end_us);
        } else {
            self.first_start_us = self.first_start_us.min(other.first_start_us);
            self.last_end_us = self.last_end_us.max(other.last_end_us);
        }
        self.count += other.count;
        self.errors += other.errors;
        self.service_sum_us += other.service_sum_us;
        self.late += other.late;
        for (reason, &count) in &other.failures {
            self.count_failure(reason, count);
        }
        self.intervals.merge(&other.intervals)
    }

    /// From the first start to the last end.
    pub fn wall_us(&self) -> u64 {
        self.last_end_us.saturating_sub(self.first_start_us)
    }

    pub fn to_wire(&self) -> Result<v1::Tally, HistogramError> {
        let few = self.few.as_ref().filter(|few| !few.is_empty());
        let encode = |h: &LatencyHistogram| match few {
            Some(_) => Ok(Vec::new()),
            None => histogram::encode(h),
        };
        Ok(v1::Tally {
            count: self.count,
            errors: self.errors,
            response: encode(&self.response)?,
            service: encode(&self.service)?,
            lag: encode(&self.lag)?,
            service_sum_us: self.service_sum_us,
            late: self.late,
            intervals: match few {
                Some(_) => Vec::new(),
                None => self.intervals.to_wire()?,
            },
            timings: few.cloned().unwrap_or_default(),
            first_start_us: self.first_start_us,
            last_end_us: self.last_end_us,
            failures: self
                .failures
                .iter()
                .map(|(reason, &count)| v1::ReasonCount {
                    reason: reason.clone(),
                    count,
                })
                .collect(),
        })
    }

    /// Reads a tally as sent, checking that its parts agree.
    pub fn from_wire(wire: &v1::Tally) -> Result<Tally, TallyError> {
        if !wire.timings.is_empty() {
            return Tally::from_timings(wire);
        }
        let histogram =
            |which: &'static str, bytes: &[u8]| -> Result<LatencyHistogram, TallyError> {
                let h = histogram::decode(bytes)?;
                if h.len() != wire.count {
                    return Err(TallyError::Inconsistent {
                        which,
                        held: h.len(),
                        count: wire.count,
                    });
                }
                let mut ours = new_latency_histogram();
                if (h.low(), h.high(), h.sigfig()) == (ours.low(), ours.high(), ours.sigfig()) {
                    return Ok(h);
                }
                // Into our own bounds, so merging never fails on a foreign range.
                for value in h.iter_recorded() {
                    let v = value.value_iterated_to();
                    ours.saturating_record_n(
                        v.clamp(1, histogram::MAX_LATENCY_US),
                        value.count_at_value(),
                    );
                }
                Ok(ours)
            };
        let mut tally = Tally {
            count: wire.count,
            errors: wire.errors.min(wire.count),
            response: histogram("response-time", &wire.response)?,
            service: histogram("service-time", &wire.service)?,
            lag: histogram("schedule-lag", &wire.lag)?,
            service_sum_us: wire.service_sum_us,
            late: wire.late.min(wire.count),
            first_start_us: wire.first_start_us,
            last_end_us: wire.last_end_us.max(wire.first_start_us),
            failures: BTreeMap::new(),
            intervals: Intervals::from_wire(&wire.intervals)?,
            few: None,
        };
        for failure in &wire.failures {
            tally.count_failure(&failure.reason, failure.count);
        }
        Ok(tally)
    }

    /// A few requests' tally, sent as their timings: recorded again here.
    fn from_timings(wire: &v1::Tally) -> Result<Tally, TallyError> {
        let held = wire.timings.len() as u64;
        if held != wire.count {
            return Err(TallyError::Inconsistent {
                which: "timings",
                held,
                count: wire.count,
            });
        }
        let mut tally = Tally::new();
        for t in &wire.timings {
            tally.record_timing(t.intended_us, t.start_us, t.end_us, t.failed);
        }
        for failure in &wire.failures {
            tally.count_failure(&failure.reason, failure.count);
        }
        Ok(tally)
    }
}

#[cfg(test)]
mod tests;
