//! When each request of an assignment is due. The mode runners take the work
//! as a sequence of [`Due`]s: in a closed loop every request is due at once
//! and starts when a slot frees (intended start = actual start); in an open
//! loop each round of requests is due at a time set by the arrival rate,
//! whatever the server does, so a late start shows as lag and counts in the
//! response time.
//!
//! The coordinator uses the same definitions to split a rate between agents
//! and to map an assignment's indices back to rounds and requests.

use std::sync::Arc;
use std::time::Duration;

use crate::ranges::RangeSet;
use crate::v1;
use rand::{RngExt, SeedableRng};

/// Which requests an assignment runs, and when.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Each request starts as soon as a slot frees. `items` are numbered
    /// round by round (`round * round_len + request`); the assignment's
    /// indices count through them in order.
    Closed { items: RangeSet },
    /// Rounds arrive at a rate; index `j * round_len + r` is request `r` of
    /// the share's `j`-th arrival.
    Open(OpenLoop),
    /// A closed loop for a time: `users` in flight at once, each request
    /// started as soon as a slot frees, until `run_for` has passed; index
    /// `i` is request `i % round_len` of round `i / round_len`.
    Timed { users: u32, run_for: Duration },
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

/// How arrivals are spaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    #[default]
    /// Evenly: round k is due when k rounds are expected.
    Constant,
    /// Exponential gaps with the same mean rate (a Poisson process).
    Poisson,
}

/// A stretch of the run during which the rate moves linearly from `from`
/// to `to` (rounds per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub from: f64,
    pub to: f64,
    pub duration: Duration,
}

/// The whole run's arrival rate over time: its stages, one after another.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    stages: Vec<Stage>,
}

impl Profile {
    /// `None` when a stage has a negative or non-finite rate.
    pub fn new(stages: Vec<Stage>) -> Option<Profile> {
        let valid = stages
            .iter()
            .all(|s| s.from.is_finite() && s.to.is_finite() && s.from >= 0.0 && s.to >= 0.0);
        valid.then_some(Profile { stages })
    }

    /// One constant rate for `duration`.
    pub fn constant(per_second: f64, duration: Duration) -> Option<Profile> {
        Profile::new(vec![Stage {
            from: per_second,
            to: per_second,
            duration,
        }])
    }

    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// Rounds expected by `t` (the integral of the rate).
    pub fn expected_by(&self, t: Duration) -> f64 {
        let mut left = t.as_secs_f64();
        let mut total = 0.0;
        for stage in &self.stages {
            let d = stage.duration.as_secs_f64();
            let tau = left.min(d);
            total += stage.from * tau
                + (stage.to - stage.from) * tau * tau / (2.0 * d.max(f64::MIN_POSITIVE));
            left -= tau;
            if left <= 0.0 {
                break;
            }
        }
        total
    }

    /// Rounds expected over the whole run.
    pub fn expected(&self) -> f64 {
        self.expected_by(self.duration())
    }

    /// The time by which `u` rounds are expected; `None` past the end.
    pub fn time_of(&self, u: f64) -> Option<Duration> {
        let mut before = 0.0;
        let mut start = 0.0;
        for stage in &self.stages {
            let d = stage.duration.as_secs_f64();
            let within = (stage.from + stage.to) / 2.0 * d;
            if u < before + within {
                let need = u - before;
                let a = (stage.to - stage.from) / (2.0 * d);
                let tau = if a.abs() < 1e-12 {
                    need / stage.from
                } else {
                    // a τ² + from τ − need = 0, the root in [0, d].
                    let disc = (stage.from * stage.from + 4.0 * a * need).max(0.0);
                    (disc.sqrt() - stage.from) / (2.0 * a)
                };
                return Some(Duration::from_secs_f64(start + tau.clamp(0.0, d)));
            }
            before += within;
            start += d;
        }
        None
    }
}

/// An open loop: one share of the run's arrivals.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLoop {
    pub profile: Arc<Profile>,
    pub arrival: Arrival,
    /// Seeds the Poisson gaps, so both sides can replay them.
    pub seed: u64,
    /// This share takes the run's rounds `share, share + shares, ...`:
    /// with a constant arrival exactly those, with Poisson an independent
    /// process of rate / shares (their sum is the run's Poisson process).
    pub share: u64,
    pub shares: u64,
    /// Arrivals before this point of the run are not this assignment's
    /// (a takeover starts mid-run); its own start is this point.
    pub from: Duration,
    /// Arrivals in the assignment, and of the share before `from` (computed
    /// once).
    arrivals: u64,
    skipped: u64,
}

/// One arrival of a share: its number in the assignment, its round label in
/// the run, and when it is due from the assignment's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrive {
    pub number: u64,
    pub round: u64,
    pub at: Duration,
}

impl OpenLoop {
    pub fn new(
        profile: Arc<Profile>,
        arrival: Arrival,
        seed: u64,
        share: u64,
        shares: u64,
        from: Duration,
    ) -> OpenLoop {
        let mut open = OpenLoop {
            profile,
            arrival,
            seed,
            share,
            shares: shares.max(1),
            from: Duration::ZERO,
            arrivals: 0,
            skipped: 0,
        };
        open.skipped = open.arrivals_iter().take_while(|a| a.at < from).count() as u64;
        open.from = from;
        open.arrivals = open.arrivals_iter().count() as u64;
        open
    }

    /// Arrivals of this assignment.
    pub fn len(&self) -> u64 {
        self.arrivals
    }

    pub fn is_empty(&self) -> bool {
        self.arrivals == 0
    }

    /// This share's arrivals in order, from `from` to the end of the run.
    /// (The iterator owns what it needs: a runner can keep it for as long
    /// as it runs.)
    pub fn arrivals_iter(&self) -> impl Iterator<Item = Arrive> + Send + 'static {
        let open = self.clone();
        let from = open.from;
        let mut rng = rand::rngs::StdRng::seed_from_u64(open.seed);
        let shares = open.shares as f64;
        let mut u = 0.0;
        let mut j = 0u64;
        std::iter::from_fn(move || {
            let position = match open.arrival {
                Arrival::Constant => (open.share + j * open.shares) as f64,
                Arrival::Poisson => {
                    // Exponential gap of mean `shares` rounds.
                    let uniform: f64 = rng.random();
                    u += -(1.0 - uniform).ln() * shares;
                    u
                }
            };
            let t = open.profile.time_of(position)?;
            let round = open.share + j * open.shares;
            j += 1;
            Some((round, t))
        })
        .skip_while(move |(_, t)| *t < from)
        .enumerate()
        .map(move |(number, (round, t))| Arrive {
            number: number as u64,
            round,
            at: t - from,
        })
    }

    /// Arrivals of this assignment due before `t` from its start.
    pub fn due_before(&self, t: Duration) -> u64 {
        self.arrivals_iter().take_while(|a| a.at < t).count() as u64
    }

    /// The run's rate share of this assignment at its start, per second.
    pub fn rate(&self) -> f64 {
        self.profile.expected()
            / self.profile.duration().as_secs_f64().max(f64::MIN_POSITIVE)
            / self.shares as f64
    }
}

impl Schedule {
    /// Reads the assignment's schedule; `None` when it has a range that is
    /// empty or reversed, or a negative or non-finite rate.
    pub fn from_wire(wire: &v1::assignment::Schedule) -> Option<Schedule> {
        match wire {
            v1::assignment::Schedule::Closed(closed) => Some(Schedule::Closed {
                items: RangeSet::from_wire(&closed.items)?,
            }),
            v1::assignment::Schedule::Timed(timed) => Some(Schedule::Timed {
                users: timed.users,
                run_for: Duration::from_micros(timed.run_for_us),
            }),
            v1::assignment::Schedule::Open(open) => {
                let stages = open
                    .stages
                    .iter()
                    .map(|s| Stage {
                        from: s.from_per_s,
                        to: s.to_per_s,
                        duration: Duration::from_micros(s.duration_us),
                    })
                    .collect();
                let arrival = match v1::Arrival::try_from(open.arrival) {
                    Ok(v1::Arrival::Poisson) => Arrival::Poisson,
                    _ => Arrival::Constant,
                };
                Some(Schedule::Open(OpenLoop::new(
                    Arc::new(Profile::new(stages)?),
                    arrival,
                    open.seed,
                    open.share,
                    open.shares,
                    Duration::from_micros(open.from_us),
                )))
            }
        }
    }

    pub fn to_wire(&self) -> v1::assignment::Schedule {
        match self {
            Schedule::Closed { items } => v1::assignment::Schedule::Closed(v1::ClosedLoop {
                items: items.to_wire(),
            }),
            Schedule::Timed { users, run_for } => v1::assignment::Schedule::Timed(v1::TimedLoop {
                users: *users,
                run_for_us: run_for.as_micros() as u64,
            }),
            Schedule::Open(open) => v1::assignment::Schedule::Open(v1::OpenLoop {
                stages: open
                    .profile
                    .stages()
                    .iter()
                    .map(|s| v1::Stage {
                        from_per_s: s.from,
                        to_per_s: s.to,
                        duration_us: s.duration.as_micros() as u64,
                    })
                    .collect(),
                arrival: match open.arrival {
                    Arrival::Constant => v1::Arrival::Constant,
                    Arrival::Poisson => v1::Arrival::Poisson,
                }
                .into(),
                seed: open.seed,
                share: open.share,
                shares: open.shares,
                from_us: open.from.as_micros() as u64,
            }),
        }
    }

    /// A closed loop over rounds `first .. first + rounds` of `round_len`
    /// requests each.
    pub fn rounds(first: u64, rounds: u64, round_len: usize) -> Schedule {
        let len = round_len as u64;
        Schedule::Closed {
            items: RangeSet::of(first * len..(first + rounds) * len),
        }
    }

    /// How many requests the assignment runs (a timed loop: as many as its
    /// time allows, so without a bound unless it has no user).
    pub fn len(&self, round_len: usize) -> u64 {
        match self {
            Schedule::Closed { items } => items.len(),
            Schedule::Open(open) => open.len() * round_len as u64,
            Schedule::Timed { users: 0, .. } => 0,
            Schedule::Timed { .. } => u64::MAX,
        }
    }

    /// A closed loop for a time: its requests are as many as it ran.
    pub fn is_timed(&self) -> bool {
        matches!(self, Schedule::Timed { .. })
    }

    /// Every request in the order it is due.
    pub fn dues(&self, round_len: usize) -> Box<dyn Iterator<Item = Due> + Send> {
        let len = round_len.max(1) as u64;
        match self {
            Schedule::Closed { items } => Box::new(items.clone().into_iter().enumerate().map(
                move |(index, item)| Due {
                    index: index as u64,
                    round: item / len,
                    request: (item % len) as usize,
                    at: None,
                },
            )),
            Schedule::Timed { .. } => Box::new((0..u64::MAX).map(move |index| Due {
                index,
                round: index / len,
                request: (index % len) as usize,
                at: None,
            })),
            Schedule::Open(open) => Box::new(open.arrivals_iter().flat_map(move |arrival| {
                (0..len).map(move |r| Due {
                    index: arrival.number * len + r,
                    round: arrival.round,
                    request: r as usize,
                    at: Some(arrival.at),
                })
            })),
        }
    }

    /// Which request of which round the assignment's `index` is.
    pub fn locate(&self, index: u64, round_len: usize) -> Option<(u64, usize)> {
        let len = round_len.max(1) as u64;
        match self {
            Schedule::Closed { items } => items
                .nth(index)
                .map(|item| (item / len, (item % len) as usize)),
            Schedule::Timed { .. } => Some((index / len, (index % len) as usize)),
            Schedule::Open(open) => {
                let number = index / len;
                (number < open.len()).then(|| {
                    // Arrivals skipped before `from` count in the label.
                    let j = open.skipped + number;
                    (open.share + j * open.shares, (index % len) as usize)
                })
            }
        }
    }

    /// The closed-loop items of the given indices (a lost agent's
    /// unfinished share, to hand to another); empty for an open loop, whose
    /// takeover is a share of the rate instead.
    pub fn items_of(&self, indices: &RangeSet) -> RangeSet {
        let mut out = RangeSet::new();
        if let Schedule::Closed { items } = self {
            // Walk both in order: indices count through `items`.
            let mut offset = 0u64;
            for range in items.ranges() {
                let len = range.end - range.start;
                for wanted in indices.ranges() {
                    let start = wanted.start.max(offset);
                    let end = wanted.end.min(offset + len);
                    if start < end {
                        out.insert(range.start + (start - offset)..range.start + (end - offset));
                    }
                }
                offset += len;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
