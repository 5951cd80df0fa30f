use super::*;

#[test]
fn closed_loop_counts_rounds_and_requests_in_order() {
    let schedule = Schedule::rounds(3, 2, 2);
    let dues: Vec<(u64, u64, usize)> = schedule
        .dues(2)
        .map(|d| (d.index, d.round, d.request))
        .collect();
    assert_eq!(dues, [(0, 3, 0), (1, 3, 1), (2, 4, 0), (3, 4, 1)]);
    assert!(schedule.dues(2).all(|d| d.at.is_none()));
    assert_eq!(schedule.locate(3, 2), Some((4, 1)));
    assert_eq!(schedule.locate(4, 2), None);
}

#[test]
fn a_takeover_runs_just_the_items_left() {
    let lost = Schedule::rounds(0, 5, 2); // items 0..10
    let delivered: RangeSet = (0..4).chain(5..6).collect();
    let left = RangeSet::of(0..lost.len(2)).difference(&delivered);
    let takeover = Schedule::Closed {
        items: lost.items_of(&left),
    };
    assert_eq!(takeover.len(2), 5);
    let pairs: Vec<(u64, usize)> = takeover.dues(2).map(|d| (d.round, d.request)).collect();
    assert_eq!(pairs, [(2, 0), (3, 0), (3, 1), (4, 0), (4, 1)]);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A constant 200/s for 1 s is a round every 5 ms, from 0.
#[test]
fn constant_arrivals_are_evenly_spaced() {
    let profile = Arc::new(Profile::constant(200.0, Duration::from_secs(1)).unwrap());
    let open = OpenLoop::new(profile, Arrival::Constant, 1, 0, 1, Duration::ZERO);
    assert_eq!(open.len(), 200);
    let times: Vec<f64> = open.arrivals_iter().map(|a| ms(a.at)).collect();
    assert!((times[0] - 0.0).abs() < 1e-6);
    assert!((times[1] - 5.0).abs() < 1e-6);
    assert!((times[199] - 995.0).abs() < 1e-6);
}

/// Shares interleave: two agents at a shared 200/s take alternate rounds,
/// each a round every 10 ms, offset by 5 ms, and together all 200.
#[test]
fn shares_interleave_and_add_up() {
    let profile = Arc::new(Profile::constant(200.0, Duration::from_secs(1)).unwrap());
    let a = OpenLoop::new(profile.clone(), Arrival::Constant, 1, 0, 2, Duration::ZERO);
    let b = OpenLoop::new(profile, Arrival::Constant, 1, 1, 2, Duration::ZERO);
    assert_eq!(a.len() + b.len(), 200);
    let first: Vec<(u64, f64)> = b
        .arrivals_iter()
        .take(2)
        .map(|x| (x.round, ms(x.at)))
        .collect();
    assert_eq!(first.len(), 2);
    assert_eq!((first[0].0, first[1].0), (1, 3));
    assert!((first[0].1 - 5.0).abs() < 1e-6 && (first[1].1 - 15.0).abs() < 1e-6);
}

/// Poisson gaps have the rate's mean, are not constant, and replay
/// exactly from the seed.
#[test]
fn poisson_gaps_have_the_mean_and_vary() {
    let profile = Arc::new(Profile::constant(1000.0, Duration::from_secs(20)).unwrap());
    let open = OpenLoop::new(profile, Arrival::Poisson, 42, 0, 1, Duration::ZERO);
    let times: Vec<f64> = open.arrivals_iter().map(|a| ms(a.at)).collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    assert!((mean - 1.0).abs() < 0.05, "mean gap {mean} ms");
    // An exponential's standard deviation equals its mean.
    assert!((sd / mean - 1.0).abs() < 0.1, "sd/mean {}", sd / mean);
    assert!(
        (open.len() as f64 - 20_000.0).abs() < 500.0,
        "{}",
        open.len()
    );
    let again = OpenLoop::new(
        open.profile.clone(),
        Arrival::Poisson,
        42,
        0,
        1,
        Duration::ZERO,
    );
    assert!(
        again
            .arrivals_iter()
            .map(|a| ms(a.at))
            .eq(times.iter().copied())
    );
}

/// A ramp from 0 to 100/s over 10 s then 100/s for 10 s: 500 + 1000
/// rounds, denser later.
#[test]
fn stages_ramp_linearly() {
    let profile = Profile::new(vec![
        Stage {
            from: 0.0,
            to: 100.0,
            duration: Duration::from_secs(10),
        },
        Stage {
            from: 100.0,
            to: 100.0,
            duration: Duration::from_secs(10),
        },
    ])
    .unwrap();
    assert!((profile.expected() - 1500.0).abs() < 1e-6);
    // Half-way up the ramp, a quarter of its rounds are due.
    assert!((profile.expected_by(Duration::from_secs(5)) - 125.0).abs() < 1e-6);
    let t = profile.time_of(125.0).unwrap().as_secs_f64();
    assert!((t - 5.0).abs() < 1e-9, "{t}");
    assert!((profile.time_of(1000.0).unwrap().as_secs_f64() - 15.0).abs() < 1e-9);
    assert_eq!(profile.time_of(1500.0), None);
    let open = OpenLoop::new(
        Arc::new(profile),
        Arrival::Constant,
        0,
        0,
        1,
        Duration::ZERO,
    );
    assert_eq!(open.len(), 1500);
}

/// A takeover from 0.5 s runs the share's arrivals after that, due from
/// its own start, and its indices map back to the run's rounds.
#[test]
fn a_takeover_starts_mid_run() {
    let profile = Arc::new(Profile::constant(100.0, Duration::from_secs(1)).unwrap());
    let takeover = OpenLoop::new(
        profile,
        Arrival::Constant,
        1,
        1,
        2,
        Duration::from_millis(500),
    );
    // Rounds 51, 53, ..., 99 are due at 510, 530, ... 990 ms.
    assert_eq!(takeover.len(), 25);
    let first = takeover.arrivals_iter().next().unwrap();
    assert_eq!(first.round, 51);
    assert!((ms(first.at) - 10.0).abs() < 1e-6);
    let schedule = Schedule::Open(takeover);
    assert_eq!(schedule.locate(0, 1), Some((51, 0)));
    assert_eq!(schedule.locate(24, 1), Some((99, 0)));
    assert_eq!(schedule.locate(25, 1), None);
}
