//! The spec's parsing and checks, by what a user writes.

use super::*;

const GOOD: &str = "\
name: http
description: the slow server
target: http://127.0.0.1:8000
modes: [sync, async, blocking, threads]
requests:
  - { id: R1, path: /delay-me?seconds=10 }
  - { id: R2, path: /delay-me?seconds=2 }
  - { id: R3, path: /delay-me?seconds=5 }
repeat: 1
concurrency: 0
timeout: 60s
";

/// The line, column and message of the error `text` gives.
pub(crate) fn error(text: &str) -> (usize, usize, String) {
    match Spec::parse(text, "x.yaml").unwrap_err() {
        SpecError::Invalid {
            line,
            column,
            message,
            ..
        } => (line, column, message),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_reference_spec_parses() {
    let spec = Spec::parse(GOOD, "x.yaml").unwrap();
    assert_eq!(spec.modes, Mode::ALL.to_vec());
    assert_eq!(spec.requests.len(), 3);
    assert_eq!(spec.requests[0].id.0, "R1");
    assert_eq!(
        spec.requests[0].to,
        Destination::Path(RequestPath("/delay-me?seconds=10".into()))
    );
    assert_eq!(
        spec.target.http,
        Some(HttpTarget("http://127.0.0.1:8000".into()))
    );
    assert_eq!(spec.target.postgres, None);
    assert_eq!(spec.timeout.0, Duration::from_secs(60));
    assert_eq!(spec.plan(), Plan::Closed { rounds: 1 });
}

#[test]
fn optional_fields_have_defaults() {
    let spec = Spec::parse(
        "name: x\nmodes: [async]\nrequests: [{id: a, path: /}]\n",
        "x",
    )
    .unwrap();
    assert_eq!(spec.target, Targets::default());
    assert!(spec.queries.is_empty() && spec.dataset.is_none());
    assert_eq!(
        (spec.plan(), spec.concurrency),
        (Plan::Closed { rounds: 1 }, 0)
    );
    assert_eq!(spec.timeout.0, Duration::from_secs(60));
    assert_eq!(
        (spec.agents.count.get(), spec.agents.split),
        (1, Split::Replicate)
    );
}

#[test]
fn unknown_field_names_the_place_and_suggests() {
    let text = GOOD.replace("repeat: 1", "reppeat: 1");
    let (line, column, message) = error(&text);
    assert_eq!((line, column), (9, 1));
    assert!(message.contains("unknown field `reppeat`"), "{message}");
    assert!(message.contains("expected one of"), "{message}");
    assert!(message.ends_with("(did you mean `repeat`?)"), "{message}");
}

#[test]
fn unknown_mode_lists_the_valid_ones() {
    let text = GOOD.replace(
        "modes: [sync, async, blocking, threads]",
        "modes: [sync, asnyc]",
    );
    let (line, column, message) = error(&text);
    assert_eq!((line, column), (4, 15));
    assert!(message.contains("unknown variant `asnyc`"), "{message}");
    assert!(
        message.contains("`sync`, `async`, `blocking`, `threads`"),
        "{message}"
    );
    assert!(message.contains("did you mean `async`?"), "{message}");
}

#[test]
fn duplicate_id_points_at_the_second_one() {
    let text = GOOD.replace("{ id: R3,", "{ id: R1,");
    let (line, column, message) = error(&text);
    // The second `R1` itself: `  - { id: R1, ...` has it at column 11.
    assert_eq!((line, column), (8, 11));
    assert!(message.contains("duplicate request id `R1`"), "{message}");
}

#[test]
fn wrong_type_is_reported_where_it_is() {
    let (line, column, message) = error(&GOOD.replace("repeat: 1", "repeat: many"));
    assert_eq!((line, column), (9, 9));
    assert!(message.contains("invalid type"), "{message}");
    let (line, column, message) = error(&GOOD.replace("concurrency: 0", "concurrency: -3"));
    assert_eq!((line, column), (10, 14));
    assert!(message.contains("-3"), "{message}");
    let (line, _, message) = error(&GOOD.replace("repeat: 1", "repeat: 0"));
    assert_eq!(line, 9);
    assert!(message.contains("nonzero"), "{message}");
}

#[test]
fn durations_are_written_one_way_in_specs_and_thresholds() {
    for (value, expected) in [
        ("1m", Duration::from_secs(60)),
        ("1m 30s", Duration::from_secs(90)),
        ("1.5s", Duration::from_millis(1500)),
        ("250ms", Duration::from_millis(250)),
        ("0.25ms", Duration::from_micros(250)),
        ("800us", Duration::from_micros(800)),
    ] {
        let text = GOOD.replace("timeout: 60s", &format!("timeout: {value}"));
        let spec = Spec::parse(&text, "x.yaml").unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(spec.timeout.0, expected, "{value}");
        // A threshold takes the same forms.
        format!("p99 < {value}")
            .parse::<crate::threshold::Threshold>()
            .unwrap_or_else(|e| panic!("p99 < {value}: {e}"));
    }
}

#[test]
fn bad_durations_are_explained() {
    for (value, says) in [
        ("soon", "bad duration \"soon\""),
        ("-5s", "is negative"),
        ("60", "has no unit; write e.g. 60s"),
    ] {
        let (line, column, message) =
            error(&GOOD.replace("timeout: 60s", &format!("timeout: {value}")));
        assert_eq!((line, column), (11, 10), "{value}");
        assert!(message.contains(says), "{value}: {message}");
    }
}

#[test]
fn empty_lists_are_refused() {
    let text = "name: x\nmodes: [sync]\nrequests: []\n";
    let (line, _, message) = error(text);
    assert_eq!(line, 3);
    assert!(message.contains("no requests"), "{message}");
    let (line, _, message) = error("name: x\nmodes: []\nrequests: [{id: a, path: /}]\n");
    assert_eq!(line, 2);
    assert!(message.contains("no modes"), "{message}");
}

#[test]
fn missing_field_and_bad_paths_and_targets() {
    let (_, _, message) = error("name: x\nrequests: [{id: a, path: /}]\n");
    assert!(message.contains("missing field `modes`"), "{message}");
    let (line, _, message) = error(&GOOD.replace("path: /delay-me?seconds=2", "path: delay-me"));
    assert_eq!(line, 7);
    assert!(message.contains("must start with `/`"), "{message}");
    let (line, _, message) = error(&GOOD.replace("http://127.0.0.1:8000", "ftp://x"));
    assert_eq!(line, 3);
    assert!(message.contains("only http://"), "{message}");
    let (line, _, message) = error(&GOOD.replace(
        "modes: [sync, async, blocking, threads]",
        "modes: [sync, sync]",
    ));
    assert_eq!(line, 4);
    assert!(message.contains("listed twice"), "{message}");
}

#[test]
fn postgres_spec_with_dataset_and_queries_parses() {
    let text = "name: pg\ntarget: { postgres: \"postgres://postgres@127.0.0.1:5432/postgres\" }\n\
                    dataset: { scale: 1400 }\nmodes: [sync]\nstatement_timeout: 120s\n\
                    queries:\n  - { id: R1, sql: SELECT 1 }\nrequests: [{ id: H1, path: /delay-me?ms=1 }]\n";
    let spec = Spec::parse(text, "x").unwrap();
    assert_eq!(
        spec.target.postgres.as_deref(),
        Some("postgres://postgres@127.0.0.1:5432/postgres")
    );
    assert_eq!(spec.target.http, None);
    let dataset = spec.dataset.as_ref().unwrap();
    assert_eq!(
        (dataset.scale.get(), dataset.schema.0.as_str()),
        (1400, "loadlab")
    );
    assert_eq!(spec.query_timeout(), Duration::from_secs(120));
    assert_eq!(spec.total_requests(1), 2);
}

#[test]
fn postgres_mistakes_are_located() {
    let (line, _, message) = error(
        "name: x\ntarget: { postgres: \"mysql://x\" }\nmodes: [sync]\nqueries: [{ id: Q, sql: SELECT 1 }]\n",
    );
    assert_eq!(line, 2);
    assert!(message.contains("must be a postgres:// URL"), "{message}");
    let (line, _, message) =
        error("name: x\ntarget: { postgre: \"postgres://x\" }\nmodes: [sync]\n");
    assert_eq!(line, 2);
    assert!(message.contains("did you mean `postgres`?"), "{message}");
    let (line, _, message) = error(
        "name: x\nmodes: [sync]\nqueries: [{ id: Q, sql: SELECT 1 }, { id: Q, sql: SELECT 2 }]\n",
    );
    assert_eq!(line, 3);
    assert!(message.contains("duplicate request id `Q`"), "{message}");
    let (line, _, message) = error(
        "name: x\ndataset: { scale: 1, schema: Bad-Name }\nmodes: [sync]\nqueries: [{ id: Q, sql: SELECT 1 }]\n",
    );
    assert_eq!(line, 2);
    assert!(message.contains("lowercase letters"), "{message}");
    let (_, _, message) = error("name: x\nmodes: [sync]\n");
    assert!(message.contains("nothing to run"), "{message}");
}

const OPEN: &str = "\
name: open
modes: [async]
requests:
  - { id: R1, path: /delay-me?ms=5 }
rate: 200/s
duration: 30s
";

#[test]
fn open_loop_specs_parse_into_a_rate_profile() {
    let spec = Spec::parse(OPEN, "x").unwrap();
    match spec.plan() {
        Plan::Open { profile, arrival } => {
            assert_eq!(arrival, Arrival::Constant);
            assert!((profile.expected() - 6_000.0).abs() < 1e-6);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        spec.total_requests(3),
        6_000,
        "the rate is split, not replicated"
    );
    let per_minute = Spec::parse(&OPEN.replace("200/s", "12000/m"), "x").unwrap();
    assert_eq!(per_minute.plan(), spec.plan());
    let staged = Spec::parse(
        "name: s\nmodes: [async]\nrequests: [{ id: R1, path: / }]\narrival: poisson\n\
             stages:\n  - { rate: 100/s, for: 10s }\n  - { rate: 2000/s, for: 30s }\n",
        "x",
    )
    .unwrap();
    match staged.plan() {
        Plan::Open { profile, arrival } => {
            assert_eq!(arrival, Arrival::Poisson);
            // 0 → 100/s over 10 s, then 100 → 2000/s over 30 s.
            assert!((profile.expected() - (500.0 + 31_500.0)).abs() < 1e-6);
        }
        other => panic!("{other:?}"),
    }
}

/// Each open-loop mistake is refused where it is, saying how to fix it.
#[test]
fn open_loop_mistakes_are_located() {
    for (from, to, place, says) in [
        (
            "rate: 200/s",
            "rate: 200",
            (5, 7),
            "has no unit; write e.g. 200/s",
        ),
        ("rate: 200/s", "rate: 0/s", (5, 7), "must be more than 0"),
        ("rate: 200/s", "rate: -5/s", (5, 7), "must be more than 0"),
        ("rate: 200/s", "rate: 200/h", (5, 7), "unknown unit `/h`"),
        (
            "rate: 200/s",
            "rate: fast/s",
            (5, 7),
            "\"fast\" is not a number",
        ),
        ("duration: 30s", "", (5, 7), "`rate` needs `duration`"),
        (
            "duration: 30s",
            "duration: 30s\nrepeat: 5",
            (5, 7),
            "exclude each other",
        ),
        (
            "duration: 30s",
            "duration: 0s",
            (6, 11),
            "must be more than 0",
        ),
        ("rate: 200/s", "", (6, 11), "`duration` goes with `rate`"),
        (
            "duration: 30s",
            "duration: 30s\narrival: bursty",
            (7, 10),
            "unknown variant `bursty`",
        ),
        (
            "duration: 30s",
            "duration: 30s\nstages: [{ rate: 5/s, for: 1s }]",
            (7, 9),
            "`stages` replace `rate` and `duration`",
        ),
    ] {
        let text = OPEN.replace(from, to);
        let (line, column, message) = error(&text);
        assert!(message.contains(says), "{to}: {message}");
        assert_eq!((line, column), place, "{to}: {message}");
    }
    let (_, _, message) =
        error("name: s\nmodes: [async]\nrequests: [{ id: R1, path: / }]\nstages: []\n");
    assert!(message.contains("no stages"), "{message}");
    let (line, _, message) =
        error("name: s\nmodes: [async]\nrequests: [{ id: R1, path: / }]\narrival: poisson\n");
    assert_eq!(line, 4);
    assert!(message.contains("`arrival` is for open loops"), "{message}");
    let (line, _, message) = error(
        "name: s\nmodes: [async]\nrequests: [{ id: R1, path: / }]\n\
             stages: [{ rate: 5/s, for: 0s }]\n",
    );
    assert_eq!(line, 4);
    assert!(message.contains("`for` must be more than 0"), "{message}");
}

#[test]
fn the_embedded_servers_hiccups_are_checked() {
    let text = format!("{OPEN}delay_server: {{ hiccup_every: 1s, hiccup_for: 2s }}\n");
    let (line, _, message) = error(&text);
    assert_eq!(line, 7);
    assert!(
        message.contains("hiccup_for (2s) must be shorter than hiccup_every (1s)"),
        "{message}"
    );
    let text = format!(
        "{OPEN}target: http://127.0.0.1:9\ndelay_server: {{ hiccup_every: 2s, hiccup_for: 1s }}\n"
    );
    let (line, _, message) = error(&text);
    assert_eq!(line, 8);
    assert!(
        message.contains("runs only when there is no `target`"),
        "{message}"
    );
}

#[test]
fn broken_yaml_is_located() {
    // A flow mapping never closed: found at the end of the document.
    let (line, column, message) = error("name: x\nmodes: [sync]\nrequests: [{ id: a, path: /\n");
    assert_eq!((line, column), (4, 1), "{message}");
    // The problem's position is the error's own; its context keeps where
    // the mapping left open began.
    assert_eq!(
        message,
        "did not find expected ',' or '}', while parsing a flow mapping at line 3 column 12"
    );
}
