use super::*;
use loadlab_proto::tally::Finished;

#[test]
fn replicate_gives_everyone_everything() {
    assert_eq!(
        shares(5, 2, Split::Replicate),
        vec![Share { first: 0, count: 5 }; 2]
    );
}

#[test]
fn partition_covers_every_round_exactly_once() {
    let s = shares(10, 3, Split::Partition);
    assert_eq!(
        s,
        vec![
            Share { first: 0, count: 4 },
            Share { first: 4, count: 3 },
            Share { first: 7, count: 3 }
        ]
    );
    let s = shares(1, 3, Split::Partition);
    assert_eq!(s.iter().map(|s| s.count).sum::<u64>(), 1);
}

fn progress(indices: std::ops::Range<u64>) -> v1::Progress {
    let mut tally = Tally::new();
    for i in indices.clone() {
        tally.record(Finished {
            intended_us: i,
            start_us: i,
            end_us: i + 10,
            error: None,
        });
    }
    v1::Progress {
        run_id: "r".into(),
        completed: RangeSet::of(indices).to_wire(),
        tally: Some(tally.to_wire().unwrap()),
        started: 0,
        records: Vec::new(),
        by_request: Vec::new(),
        by_scenario: Vec::new(),
    }
}

/// Each request counts once: a repeat or a request outside the
/// assignment refuses the whole message, and the tally stays exact.
#[test]
fn each_request_is_delivered_at_most_once() {
    let (outbound, _) = tokio::sync::mpsc::channel(1);
    let agent = AgentHandle {
        key: 1,
        name: "a".into(),
        id: "a-1".into(),
        outbound,
    };
    let mut d = Dispatch::new(
        "r".into(),
        &agent,
        Schedule::rounds(0, 10, 1),
        1,
        Span::none(),
    );
    d.progress(progress(0..4)).unwrap();
    d.progress(progress(4..6)).unwrap();
    assert!(
        d.progress(progress(5..7))
            .unwrap_err()
            .contains("already delivered")
    );
    assert!(d.progress(progress(9..11)).unwrap_err().contains("outside"));
    let mut lying = progress(6..8);
    lying.completed = RangeSet::of(6..9).to_wire();
    assert!(
        d.progress(lying)
            .unwrap_err()
            .contains("a tally of 2 requests for 3")
    );
    let mut stray = progress(6..8);
    stray.records = vec![v1::RequestRecord {
        index: 2,
        ..Default::default()
    }];
    assert!(
        d.progress(stray)
            .unwrap_err()
            .contains("a record of request 2")
    );
    assert_eq!(d.delivered, RangeSet::of(0..6));
    assert_eq!(d.tally.count, 6);
    assert_eq!(d.unfinished(), RangeSet::of(6..10));
}
