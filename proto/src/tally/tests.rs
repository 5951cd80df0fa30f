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
