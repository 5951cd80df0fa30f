//! Sets of indices kept as sorted, disjoint half-open ranges: how both sides
//! account for which requests of an assignment were given and which came
//! back, in memory that grows with the number of gaps, not of requests.

use std::ops::Range;

use crate::v1;

/// A set of `u64` indices as sorted, disjoint, non-adjacent ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<Range<u64>>,
}

impl RangeSet {
    pub fn new() -> RangeSet {
        RangeSet::default()
    }

    /// The set `range`.
    pub fn of(range: Range<u64>) -> RangeSet {
        let mut set = RangeSet::new();
        set.insert(range);
        set
    }

    /// How many indices the set holds.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Every index, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges.iter().flat_map(|r| r.clone())
    }

    pub fn contains(&self, index: u64) -> bool {
        let at = self.ranges.partition_point(|r| r.end <= index);
        self.ranges.get(at).is_some_and(|r| r.start <= index)
    }

    /// True when some index of `range` is in the set.
    pub fn intersects(&self, range: &Range<u64>) -> bool {
        if range.is_empty() {
            return false;
        }
        let at = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges.get(at).is_some_and(|r| r.start < range.end)
    }

    /// True when every index of `range` is in the set.
    pub fn covers(&self, range: &Range<u64>) -> bool {
        if range.is_empty() {
            return true;
        }
        let at = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges
            .get(at)
            .is_some_and(|r| r.start <= range.start && range.end <= r.end)
    }

    /// Adds `range`, merging with neighbours it touches.
    pub fn insert(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        // Ranges that overlap or touch `range` are [first, last).
        let first = self.ranges.partition_point(|r| r.end < range.start);
        let last = self.ranges.partition_point(|r| r.start <= range.end);
        if first == last {
            self.ranges.insert(first, range);
            return;
        }
        let start = range.start.min(self.ranges[first].start);
        let end = range.end.max(self.ranges[last - 1].end);
        self.ranges.splice(first..last, std::iter::once(start..end));
    }

    /// Adds one index.
    pub fn insert_one(&mut self, index: u64) {
        self.insert(index..index + 1);
    }

    /// Adds every index of `other`.
    pub fn union_with(&mut self, other: &RangeSet) {
        for range in &other.ranges {
            self.insert(range.clone());
        }
    }

    /// The indices of `self` that are not in `other`.
    pub fn difference(&self, other: &RangeSet) -> RangeSet {
        let mut out = RangeSet::new();
        for range in &self.ranges {
            let mut start = range.start;
            let first = other.ranges.partition_point(|r| r.end <= range.start);
            for hole in other.ranges[first..]
                .iter()
                .take_while(|r| r.start < range.end)
            {
                if hole.start > start {
                    out.ranges.push(start..hole.start);
                }
                start = start.max(hole.end);
            }
            if start < range.end {
                out.ranges.push(start..range.end);
            }
        }
        out
    }

    /// The `n`-th index of the set in order (0-based), if it has that many.
    pub fn nth(&self, mut n: u64) -> Option<u64> {
        for range in &self.ranges {
            let len = range.end - range.start;
            if n < len {
                return Some(range.start + n);
            }
            n -= len;
        }
        None
    }

    /// The first `n` indices of the set, as a set.
    pub fn first(&self, mut n: u64) -> RangeSet {
        let mut out = RangeSet::new();
        for range in &self.ranges {
            if n == 0 {
                break;
            }
            let take = n.min(range.end - range.start);
            out.ranges.push(range.start..range.start + take);
            n -= take;
        }
        out
    }

    /// Splits the set into `parts` pieces of (nearly) equal size, in order.
    pub fn split(&self, parts: usize) -> Vec<RangeSet> {
        let parts = parts.max(1) as u64;
        let total = self.len();
        let (base, extra) = (total / parts, total % parts);
        let mut rest = self.clone();
        (0..parts)
            .map(|i| {
                let piece = rest.first(base + u64::from(i < extra));
                rest = rest.difference(&piece);
                piece
            })
            .collect()
    }

    pub fn to_wire(&self) -> Vec<v1::Range> {
        self.ranges
            .iter()
            .map(|r| v1::Range {
                start: r.start,
                end: r.end,
            })
            .collect()
    }

    /// Reads ranges as sent; `None` when one is empty or reversed.
    pub fn from_wire(ranges: &[v1::Range]) -> Option<RangeSet> {
        let mut set = RangeSet::new();
        for r in ranges {
            if r.start >= r.end {
                return None;
            }
            set.insert(r.start..r.end);
        }
        Some(set)
    }
}

impl IntoIterator for RangeSet {
    type Item = u64;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Range<u64>>>;

    /// Every index, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.ranges.into_iter().flatten()
    }
}

impl FromIterator<u64> for RangeSet {
    fn from_iter<I: IntoIterator<Item = u64>>(indices: I) -> RangeSet {
        let mut set = RangeSet::new();
        for index in indices {
            set.insert_one(index);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_merge_touching_and_overlapping_ranges() {
        let mut set = RangeSet::new();
        set.insert(10..20);
        set.insert(30..40);
        set.insert(20..25); // touches 10..20
        assert_eq!(set.ranges(), &[10..25, 30..40]);
        set.insert(24..31); // bridges both
        assert_eq!(set, RangeSet::of(10..40));
        set.insert(0..2);
        set.insert_one(5);
        assert_eq!(set.ranges(), &[0..2, 5..6, 10..40]);
        assert_eq!(set.len(), 33);
    }

    #[test]
    fn out_of_order_singletons_collapse_into_one_range() {
        let set: RangeSet = [3, 1, 0, 2, 5, 4].into_iter().collect();
        assert_eq!(set, RangeSet::of(0..6));
    }

    #[test]
    fn membership_and_intersection() {
        let set = RangeSet::from_wire(&[
            v1::Range { start: 0, end: 5 },
            v1::Range { start: 8, end: 9 },
        ])
        .unwrap();
        assert!(set.contains(0) && set.contains(4) && set.contains(8));
        assert!(!set.contains(5) && !set.contains(9));
        assert!(set.intersects(&(4..6)) && !set.intersects(&(5..8)));
        assert!(set.covers(&(1..5)) && !set.covers(&(4..9)));
    }

    #[test]
    fn difference_leaves_what_was_not_delivered() {
        let given = RangeSet::of(0..100);
        let delivered: RangeSet = (0..40).chain(42..90).collect();
        assert_eq!(given.difference(&delivered).ranges(), &[40..42, 90..100]);
        assert!(given.difference(&given).is_empty());
    }

    #[test]
    fn nth_first_and_split_walk_the_ranges_in_order() {
        let set: RangeSet = (0..3).chain(10..15).collect();
        assert_eq!(set.nth(0), Some(0));
        assert_eq!(set.nth(3), Some(10));
        assert_eq!(set.nth(8), None);
        assert_eq!(set.first(4).ranges(), &[0..3, 10..11]);
        let parts = set.split(3);
        assert_eq!(
            parts.iter().map(RangeSet::len).collect::<Vec<_>>(),
            [3, 3, 2]
        );
        let mut back = RangeSet::new();
        parts.iter().for_each(|p| back.union_with(p));
        assert_eq!(back, set);
    }

    #[test]
    fn empty_or_reversed_wire_ranges_are_refused() {
        assert!(RangeSet::from_wire(&[v1::Range { start: 3, end: 3 }]).is_none());
        assert!(RangeSet::from_wire(&[v1::Range { start: 4, end: 3 }]).is_none());
    }
}
