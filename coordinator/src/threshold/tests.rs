use super::*;

#[test]
fn every_form_parses_and_bad_ones_name_the_forms() {
    let t: Threshold = "p99 < 250ms".parse().unwrap();
    assert_eq!(
        (t.metric, t.op, t.limit),
        (Metric::Percentile(99.0), Op::Lt, 250.0)
    );
    let t: Threshold = "p50<=1.5s".parse().unwrap();
    assert_eq!(
        (t.metric, t.op, t.limit),
        (Metric::Percentile(50.0), Op::Le, 1500.0)
    );
    let t: Threshold = "errors < 1%".parse().unwrap();
    assert_eq!((t.metric, t.limit), (Metric::Errors, 1.0));
    // Whole microseconds: not 1000.9999999999999.
    assert_eq!(duration_ms("1.001s"), Some(1001.0));
    assert_eq!(duration_ms("0.5us"), Some(0.001));
    // The spec's grammar: minutes and compound durations too.
    assert_eq!(duration_ms("1m"), Some(60_000.0));
    assert_eq!(duration_ms("1m 30s"), Some(90_000.0));
    assert_eq!(duration_ms("250"), None);
    let t: Threshold = "rps >= 500".parse().unwrap();
    assert_eq!((t.metric, t.op, t.limit), (Metric::Rps, Op::Ge, 500.0));
    for (form, metric) in [
        ("p90 > 800us", Metric::Percentile(90.0)),
        ("p95 < 2s", Metric::Percentile(95.0)),
        ("p999 < 2s", Metric::Percentile(99.9)),
        ("p99.9 < 2s", Metric::Percentile(99.9)),
        ("p(99.9) < 2s", Metric::Percentile(99.9)),
        ("p(97.5) < 2s", Metric::Percentile(97.5)),
        ("p98 < 1s", Metric::Percentile(98.0)),
        ("max < 1s", Metric::Max),
        ("mean < 10ms", Metric::Mean),
    ] {
        assert_eq!(form.parse::<Threshold>().unwrap().metric, metric, "{form}");
    }
    for (bad, why) in [
        ("p101 < 1s", "unknown measure \"p101\""),
        ("p0 < 1s", "unknown measure \"p0\""),
        ("p(x) < 1s", "unknown measure \"p(x)\""),
        ("pfast < 1s", "unknown measure \"pfast\""),
        ("p99 = 1s", "no comparison"),
        ("p99 < 250", "is not a duration"),
        ("p99 < -5ms", "is not a duration"),
        ("errors < 1", "is not a percentage"),
        ("errors < 120%", "is not a percentage"),
        ("rps > fast", "is not a number"),
        ("rps > NaN", "is not a number"),
        ("p99 =< 1ms", "\"=<\" is not a comparison"),
        ("p99 << 1ms", "\"<<\" is not a comparison"),
        ("p99 >=> 1ms", "\">=>\" is not a comparison"),
        (
            "p99 < = 1ms",
            "\"< =\" is not a comparison: use <, <=, > or >=, with no space inside",
        ),
    ] {
        let error = bad.parse::<Threshold>().unwrap_err();
        assert!(
            error.contains(why) && error.contains("p99 < 250ms"),
            "{bad}: {error}"
        );
    }
}

/// A measure exactly at its limit is judged at it, not a rounding
/// error away: 7 failures in 1,000 are 0.7%, 0.001s is 1 ms.
/// (Latencies under 2 ms are exact in the histogram; above, its 3
/// significant digits are the precision.)
#[test]
fn a_value_at_the_limit_is_at_the_limit() {
    use loadlab_proto::Mode;
    let mut m = crate::report::fixtures::mode(Mode::Async, &[1.0; 1000], false);
    m.errors = 7;
    for (expr, ok) in [
        ("errors <= 0.7%", true),
        ("errors < 0.7%", false),
        ("max <= 0.001s", true),
        ("max < 1ms", false),
        ("p50 >= 1000us", true),
        ("p50 <= 0.001s", true),
    ] {
        let verdict = expr.parse::<Threshold>().unwrap().judge(&m);
        assert_eq!(verdict.ok, ok, "{expr}: {verdict:?}");
    }
    let verdict = "errors < 0.7%".parse::<Threshold>().unwrap().judge(&m);
    assert_eq!(verdict.measured(), "0.70%");
}

/// Any percentile is judged on the merged histogram; a saved report
/// (no histogram) falls back on its own points at or above it.
#[test]
fn any_percentile_is_judged_on_the_merged_histogram() {
    use loadlab_proto::Mode;
    let latencies: Vec<f64> = (1..=1000).map(f64::from).collect();
    let mut m = crate::report::fixtures::mode(Mode::Async, &latencies, false);
    let judge = |expr: &str, m: &ModeReport| expr.parse::<Threshold>().unwrap().judge(m);
    let v = judge("p(97.5) <= 976ms", &m);
    assert!(v.ok && (974.0..=977.0).contains(&v.value), "{v:?}");
    assert!(!judge("p97.5 < 970ms", &m).ok);
    let p95 = judge("p95 < 1s", &m).value;
    assert!((949.0..=951.0).contains(&p95), "{p95}");
    assert_eq!(p95, m.histogram.p95_ms);
    m.response = None;
    assert_eq!(judge("p(97.5) < 1s", &m).value, m.histogram.p99_ms);
}

/// The value shown is on the verdict's side of the limit.
#[test]
fn a_measured_value_is_shown_on_its_side_of_the_limit() {
    let verdict = |expr: &str, value: f64| {
        let t: Threshold = expr.parse().unwrap();
        let ok = t.op.holds(value, t.limit);
        Verdict {
            expr: expr.into(),
            mode: "async".into(),
            value,
            ok,
        }
        .measured()
    };
    assert_eq!(verdict("p99 < 250ms", 34.975), "35.0 ms");
    assert_eq!(verdict("p99 <= 35ms", 35.02), "35.02 ms");
    assert_eq!(verdict("p99 < 35ms", 34.97), "34.97 ms");
    assert_eq!(verdict("max <= 2s", 2000.4), "2.0004 s");
    assert_eq!(verdict("max < 2s", 2000.4), "2.000 s");
    assert_eq!(verdict("max < 5s", 1234.5678), "1.235 s");
    assert_eq!(verdict("errors < 1%", 0.0), "0.00%");
    assert_eq!(verdict("errors < 1%", 0.0004), "0.0004%");
    assert_eq!(verdict("errors <= 1%", 1.001), "1.001%");
    assert_eq!(verdict("rps >= 500", 499.97), "499.97/s");
    assert_eq!(verdict("rps > 500", 612.34), "612.3/s");
}
