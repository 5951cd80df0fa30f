//! One assignment sent during a mode, and its accounting: which of its
//! requests came back (as ranges of its indices, each at most once) and
//! their merged tally. An agent's share of a mode is one dispatch; a lost
//! agent's unfinished requests handed to another are another.

use loadlab_agent::schedule::Schedule;
use loadlab_proto::ranges::RangeSet;
use loadlab_proto::tally::Tally;
use loadlab_proto::v1;
use tracing::Span;

use crate::hub::{AgentHandle, AgentKey};
use crate::spec::Split;

/// The rounds one agent runs: `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub first: u64,
    pub count: u64,
}

/// Divides `rounds` between `agents` as the spec asks.
pub fn shares(rounds: u64, agents: usize, split: Split) -> Vec<Share> {
    match split {
        Split::Replicate => vec![
            Share {
                first: 0,
                count: rounds
            };
            agents
        ],
        Split::Partition => {
            let n = agents.max(1) as u64;
            let (base, extra) = (rounds / n, rounds % n);
            let mut first = 0;
            (0..n)
                .map(|i| {
                    let count = base + u64::from(i < extra);
                    let share = Share { first, count };
                    first += count;
                    share
                })
                .collect()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Done,
    Lost,
}

pub struct Dispatch {
    pub run_id: String,
    pub agent: AgentKey,
    /// The agent's name in the report, and its own id.
    pub name: String,
    pub agent_id: String,
    /// What the agent was given, and the length of a round.
    pub schedule: Schedule,
    pub round_len: usize,
    /// Indices whose results arrived, each once.
    pub delivered: RangeSet,
    /// The tally of the delivered requests.
    pub tally: Tally,
    /// The agent's last word on the assignment, once it is done.
    pub done: Option<v1::AssignmentDone>,
    pub state: State,
    /// Open while the assignment runs; `Span::none()` when not tracing.
    pub span: Span,
}

impl Dispatch {
    pub fn new(
        run_id: String,
        agent: &AgentHandle,
        schedule: Schedule,
        round_len: usize,
        span: Span,
    ) -> Dispatch {
        Dispatch {
            run_id,
            agent: agent.key,
            name: agent.name.clone(),
            agent_id: agent.id.clone(),
            schedule,
            round_len,
            delivered: RangeSet::new(),
            tally: Tally::new(),
            done: None,
            state: State::Running,
            span,
        }
    }

    /// How many requests it was given.
    pub fn len(&self) -> u64 {
        self.schedule.len(self.round_len)
    }

    /// Takes what finished since the agent's last progress: its indices
    /// must lie in the assignment and not have been delivered before, its
    /// tally must count exactly them, and its records be of them (each
    /// once). Refused whole otherwise. Returns the records.
    pub fn progress(&mut self, progress: v1::Progress) -> Result<Vec<v1::RequestRecord>, String> {
        let completed = RangeSet::from_wire(&progress.completed)
            .ok_or("an empty or reversed range of requests")?;
        let len = self.len();
        if completed.ranges().iter().any(|r| r.end > len) {
            return Err(format!("requests outside its assignment of {len}"));
        }
        if completed
            .ranges()
            .iter()
            .any(|r| self.delivered.intersects(r))
        {
            return Err("requests it had already delivered".to_owned());
        }
        let tally = progress
            .tally
            .as_ref()
            .map(Tally::from_wire)
            .transpose()
            .map_err(|e| format!("a tally that cannot be read: {e}"))?
            .unwrap_or_default();
        if tally.count != completed.len() {
            return Err(format!(
                "a tally of {} requests for {} finished",
                tally.count,
                completed.len()
            ));
        }
        let mut recorded = RangeSet::new();
        for record in &progress.records {
            if !completed.contains(record.index) || recorded.contains(record.index) {
                return Err(format!(
                    "a record of request {} that it did not finish then, or twice",
                    record.index
                ));
            }
            recorded.insert_one(record.index);
        }
        self.tally
            .merge(&tally)
            .map_err(|e| format!("a tally that cannot be merged: {e}"))?;
        // Seconds well behind the latest are done: keep them encoded.
        if let Some(last) = self.tally.intervals.last_second() {
            let _ = self.tally.intervals.store_before(last.saturating_sub(2));
        }
        self.delivered.union_with(&completed);
        Ok(progress.records)
    }

    /// The indices it was given and did not deliver.
    pub fn unfinished(&self) -> RangeSet {
        RangeSet::of(0..self.len()).difference(&self.delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loadlab_proto::tally::Sample;

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
            tally.record(Sample {
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
}
