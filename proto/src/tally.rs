//! The one tally of a set of requests, kept by agents as requests finish and
//! merged by the coordinator: response time, service time and schedule lag
//! as histograms, counts, failures by reason, and the span of time covered.
//! Adding two tallies gives exactly the tally of both sets of requests.

use std::collections::BTreeMap;

use crate::histogram::{
    self, HistogramError, LatencyHistogram, new_interval_histogram, new_latency_histogram,
};
use crate::v1;

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

    fn record(&mut self, end_us: u64, response_us: u64, service_us: u64, failed: bool) {
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

    fn to_wire(&self) -> Result<Vec<v1::Interval>, HistogramError> {
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

    fn from_wire(wire: &[v1::Interval]) -> Result<Intervals, TallyError> {
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
        let Finished {
            intended_us,
            start_us,
            end_us,
            error,
        } = request;
        self.record_timing(intended_us, start_us, end_us, error.is_some());
        if let Some(reason) = error {
            self.count_failure(reason, 1);
        }
    }

    /// Counts one iteration of a scenario, as [`Tally::record`] counts a
    /// request but for its seconds (`intervals`, by far the dearest part
    /// of a record): nobody reads an iteration's per-second figures.
    pub fn record_iteration(&mut self, iteration: Finished<'_>) {
        self.few = None;
        self.record_figures(
            iteration.intended_us,
            iteration.start_us,
            iteration.end_us,
            iteration.error.is_some(),
        );
        if let Some(reason) = iteration.error {
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
mod tests {
    use super::*;

    fn sample(intended_us: u64, start_us: u64, end_us: u64, error: Option<&str>) -> Finished<'_> {
        Finished {
            intended_us,
            start_us,
            end_us,
            error,
        }
    }

    /// An iteration's tally keeps all but its seconds, over the wire and
    /// merged, even when there are few.
    #[test]
    fn iterations_travel_and_merge_without_their_seconds() {
        let mut a = Tally::default();
        a.record_iteration(sample(500, 1_000, 3_000, None));
        a.record_iteration(sample(
            2_000,
            2_000,
            9_000,
            Some("s: extract token: $.token matched nothing"),
        ));
        let mut b = Tally::from_wire(&a.to_wire().unwrap()).unwrap();
        assert_eq!((b.count, b.errors, b.service_sum_us), (2, 1, 9_000));
        assert_eq!((b.service.len(), b.response.len(), b.lag.len()), (2, 2, 2));
        // 7 ms, as closely as the histograms hold it.
        assert!(
            b.service.equivalent(b.service.max(), 7_000),
            "{}",
            b.service.max()
        );
        assert!(
            b.response.equivalent(b.response.max(), 7_000),
            "{}",
            b.response.max()
        );
        assert_eq!((b.first_start_us, b.last_end_us), (1_000, 9_000));
        assert_eq!(b.failures.values().sum::<u64>(), 1);
        assert!(b.intervals.is_empty());
        b.merge(&a).unwrap();
        assert_eq!((b.count, b.errors, b.service.len()), (4, 2, 4));
    }

    /// Response time counts from the intended start, service time from the
    /// actual one, and lag is the difference.
    #[test]
    fn response_service_and_lag_are_told_apart() {
        let mut tally = Tally::new();
        tally.record(sample(0, 1_000, 11_000, None));
        assert_eq!(
            tally.response.max(),
            histogram::new_latency_histogram().highest_equivalent(11_000)
        );
        assert_eq!(
            tally.service.max(),
            histogram::new_latency_histogram().highest_equivalent(10_000)
        );
        assert_eq!(
            tally.lag.max(),
            histogram::new_latency_histogram().highest_equivalent(1_000)
        );
        assert_eq!((tally.first_start_us, tally.last_end_us), (1_000, 11_000));
    }

    /// Tallying parts and merging them gives the tally of the whole, through
    /// the wire form.
    #[test]
    fn merged_parts_equal_the_whole() {
        let mut whole = Tally::new();
        let mut parts = [Tally::new(), Tally::new(), Tally::new()];
        for i in 0..3_000u64 {
            let error = (i % 7 == 0).then_some(if i % 2 == 0 { "refused" } else { "reset" });
            let s = sample(
                i * 10,
                i * 10 + i % 5,
                i * 10 + 500 + (i * 7919) % 100_000,
                error,
            );
            whole.record(s);
            parts[(i % 3) as usize].record(s);
        }
        let mut merged = Tally::new();
        for part in &parts {
            let back = Tally::from_wire(&part.to_wire().unwrap()).unwrap();
            merged.merge(&back).unwrap();
        }
        assert_eq!((merged.count, merged.errors), (whole.count, whole.errors));
        assert_eq!(merged.failures, whole.failures);
        assert_eq!(merged.service_sum_us, whole.service_sum_us);
        assert_eq!(
            (merged.first_start_us, merged.last_end_us),
            (whole.first_start_us, whole.last_end_us)
        );
        for q in [0.5, 0.99, 1.0] {
            assert_eq!(
                merged.response.value_at_quantile(q),
                whole.response.value_at_quantile(q)
            );
            assert_eq!(
                merged.lag.value_at_quantile(q),
                whole.lag.value_at_quantile(q)
            );
        }
    }

    /// Per-second tallies merge second by second, and survive being stored.
    #[test]
    fn intervals_merge_by_second_and_survive_storing() {
        let (mut a, mut b) = (Tally::new(), Tally::new());
        a.record(sample(0, 0, 500_000, None));
        a.record(sample(0, 1_000_000, 1_200_000, Some("x")));
        b.record(sample(0, 900_000, 1_900_000, None));
        b.record(sample(0, 2_000_000, 2_100_000, None));
        let mut merged = Tally::from_wire(&a.to_wire().unwrap()).unwrap();
        merged.intervals.store_before(2).unwrap();
        merged
            .merge(&Tally::from_wire(&b.to_wire().unwrap()).unwrap())
            .unwrap();
        let seconds: Vec<(u32, u64, u64)> = merged
            .intervals
            .iter()
            .map(|(s, i)| (s, i.count, i.errors))
            .collect();
        assert_eq!(seconds, [(0, 1, 0), (1, 2, 1), (2, 1, 0)]);
        let one = merged
            .intervals
            .iter()
            .nth(1)
            .unwrap()
            .1
            .response()
            .unwrap();
        assert_eq!(one.len(), 2);
        assert_eq!(one.max(), one.highest_equivalent(1_900_000));
        assert_eq!(merged.late, 3);
    }

    /// A flood of distinct reasons is capped, and nothing is lost from the count.
    #[test]
    fn failure_reasons_are_capped_not_lost() {
        let mut tally = Tally::new();
        for i in 0..1_000 {
            let reason = format!("reason {i}");
            tally.record(sample(0, 0, 1, Some(&reason)));
        }
        assert_eq!(tally.failures.len(), MAX_REASONS + 1);
        assert_eq!(tally.failures.values().sum::<u64>(), 1_000);
        assert_eq!(tally.failures[OTHER_REASONS], 1_000 - MAX_REASONS as u64);
    }

    /// A tally whose histograms were written with other bounds (another
    /// implementation, a value past an hour) is merged, clamped, never
    /// dropped: every request still counts.
    #[test]
    fn foreign_histogram_bounds_are_merged_not_dropped() {
        let mut foreign = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1 << 40, 2).unwrap();
        foreign.record(36_000_000_000).unwrap(); // ten hours
        foreign.record(5).unwrap();
        let bytes = histogram::encode(&foreign).unwrap();
        let wire = v1::Tally {
            count: 2,
            response: bytes.clone(),
            service: bytes.clone(),
            lag: bytes,
            ..Default::default()
        };
        let tally = Tally::from_wire(&wire).unwrap();
        let mut merged = Tally::new();
        merged.merge(&tally).unwrap();
        assert_eq!(merged.count, 2);
        assert_eq!(merged.response.len(), 2);
        assert_eq!(
            merged.response.max(),
            merged
                .response
                .highest_equivalent(histogram::MAX_LATENCY_US)
        );
    }

    /// A few requests travel as timings, many as histograms; both read back
    /// to the same tally.
    #[test]
    fn few_requests_travel_as_timings_many_as_histograms() {
        let mut few = Tally::new();
        for i in 0..MAX_TIMINGS as u64 {
            few.record(sample(i, i + 2_000, i + 9_000, (i == 3).then_some("x")));
        }
        let wire = few.to_wire().unwrap();
        assert_eq!(wire.timings.len(), MAX_TIMINGS);
        assert!(wire.response.is_empty() && wire.intervals.is_empty());
        let back = Tally::from_wire(&wire).unwrap();
        assert_eq!(
            (back.count, back.errors, back.late),
            (few.count, 1, few.late)
        );
        assert_eq!(back.failures, few.failures);
        assert_eq!(back.response.max(), few.response.max());
        assert_eq!(back.intervals.iter().count(), 1);
        let mut many = few.clone();
        many.record(sample(0, 0, 1, None));
        let wire = many.to_wire().unwrap();
        assert!(wire.timings.is_empty() && !wire.response.is_empty());
        assert_eq!(
            Tally::from_wire(&wire).unwrap().count,
            MAX_TIMINGS as u64 + 1
        );
        let mut lying = few.to_wire().unwrap();
        lying.count += 1;
        assert!(Tally::from_wire(&lying).is_err());
    }

    /// A tally whose histograms disagree with its count is refused.
    #[test]
    fn inconsistent_wire_tally_is_refused() {
        let mut tally = Tally::new();
        tally.record(sample(0, 0, 5, None));
        let mut wire = tally.to_wire().unwrap();
        wire.count = 2;
        assert!(matches!(
            Tally::from_wire(&wire),
            Err(TallyError::Inconsistent {
                held: 1,
                count: 2,
                ..
            })
        ));
    }
}
