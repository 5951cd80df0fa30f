//! When each request of an assignment is due. The mode runners take the work
//! as a sequence of [`Due`]s: in a closed loop every request is due at once
//! and starts when a slot frees (intended start = actual start); an open
//! loop gives each request the time it is due, whatever the server does, so
//! a late start shows as lag.
//!
//! The coordinator uses the same definitions to map an assignment's indices
//! back to rounds and requests.

use std::time::Duration;

use loadlab_proto::ranges::RangeSet;

/// Which requests an assignment runs, and when.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Each request starts as soon as a slot frees. `items` are numbered
    /// round by round (`round * round_len + request`); the assignment's
    /// indices count through them in order.
    Closed { items: RangeSet },
}

/// One request to start: its index in the assignment, which request of
/// which round it is, and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub index: u64,
    pub round: u64,
    /// Position in the round.
    pub request: usize,
    /// Offset from the assignment's start; `None` in a closed loop (due now).
    pub at: Option<Duration>,
}

impl Schedule {
    /// A closed loop over rounds `first .. first + rounds` of `round_len`
    /// requests each.
    pub fn rounds(first: u64, rounds: u64, round_len: usize) -> Schedule {
        let len = round_len as u64;
        Schedule::Closed {
            items: RangeSet::of(first * len..(first + rounds) * len),
        }
    }

    /// How many requests the assignment runs.
    pub fn len(&self) -> u64 {
        match self {
            Schedule::Closed { items } => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every request in the order it is due.
    pub fn dues(&self, round_len: usize) -> impl Iterator<Item = Due> + Send + '_ {
        let len = round_len.max(1) as u64;
        match self {
            Schedule::Closed { items } => items.iter().enumerate().map(move |(index, item)| Due {
                index: index as u64,
                round: item / len,
                request: (item % len) as usize,
                at: None,
            }),
        }
    }

    /// Which request of which round the assignment's `index` is.
    pub fn locate(&self, index: u64, round_len: usize) -> Option<(u64, usize)> {
        let len = round_len.max(1) as u64;
        match self {
            Schedule::Closed { items } => items
                .nth(index)
                .map(|item| (item / len, (item % len) as usize)),
        }
    }

    /// The closed-loop items of the given indices (a lost agent's
    /// unfinished share, to hand to another).
    pub fn items_of(&self, indices: &RangeSet) -> RangeSet {
        match self {
            Schedule::Closed { items } => {
                let mut out = RangeSet::new();
                // Walk both in order: indices count through `items`.
                let mut offset = 0u64;
                for range in items.ranges() {
                    let len = range.end - range.start;
                    for wanted in indices.ranges() {
                        let start = wanted.start.max(offset);
                        let end = wanted.end.min(offset + len);
                        if start < end {
                            out.insert(
                                range.start + (start - offset)..range.start + (end - offset),
                            );
                        }
                    }
                    offset += len;
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
        let left = RangeSet::of(0..lost.len()).difference(&delivered);
        let takeover = Schedule::Closed {
            items: lost.items_of(&left),
        };
        assert_eq!(takeover.len(), 5);
        let pairs: Vec<(u64, usize)> = takeover.dues(2).map(|d| (d.round, d.request)).collect();
        assert_eq!(pairs, [(2, 0), (3, 0), (3, 1), (4, 0), (4, 1)]);
    }
}
