//! What a spec asks of each mode: how its rounds start ([`Plan`]) and how
//! many requests that makes (what one round holds is
//! [`Spec::round`](crate::kind)).

use std::num::NonZeroU32;
use std::time::Duration;

use loadlab_proto::schedule::{Arrival, Profile, Stage};

use super::{Spec, Split};

/// How the rounds of a mode are started.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// `rounds` rounds, each as soon as a slot frees.
    Closed { rounds: u32 },
    /// Rounds arrive along `profile` (the whole run's rate).
    Open { profile: Profile, arrival: Arrival },
    /// `users` users, each starting its next request as soon as its last
    /// ended, until `duration` is up.
    Timed { users: u32, duration: Duration },
}

impl Spec {
    /// How each mode's rounds start.
    pub fn plan(&self) -> Plan {
        if let (Some(users), Some(duration)) = (self.users, &self.duration)
            && self.track.is_none()
        {
            return Plan::Timed {
                users: users.get(),
                duration: duration.0,
            };
        }
        let arrival = self.arrival.unwrap_or_default();
        let profile = match (&self.rate, &self.duration, &self.stages) {
            // Tracking: every order's updates, one round each.
            _ if self.track.is_some() => self.track.as_ref().and_then(|t| {
                Profile::constant(f64::from(t.customers.get()) * t.updates.0, t.duration.0)
            }),
            (Some(rate), Some(duration), _) => Profile::constant(rate.0, duration.0),
            (_, _, Some(stages)) => {
                let mut from = 0.0;
                Profile::new(
                    stages
                        .iter()
                        .map(|s| {
                            let stage = Stage {
                                from,
                                to: s.rate.0,
                                duration: s.duration.0,
                            };
                            from = s.rate.0;
                            stage
                        })
                        .collect(),
                )
            }
            _ => None,
        };
        match profile {
            Some(profile) => Plan::Open { profile, arrival },
            None => Plan::Closed {
                rounds: self.repeat.map_or(1, NonZeroU32::get),
            },
        }
    }

    /// The statement timeout queries run with.
    pub fn query_timeout(&self) -> Duration {
        self.statement_timeout.unwrap_or(self.timeout).0
    }

    /// Requests per item of a schedule: a round's, or with scenarios one
    /// iteration (whose steps are not known before it runs).
    pub fn per_item(&self) -> usize {
        if self.scenarios.is_some() {
            1
        } else {
            self.round().len()
        }
    }

    /// Requests in one mode across all rounds and agents (expected, for a
    /// Poisson open loop). An open loop's rate is the whole run's, split
    /// between the agents.
    pub fn total_requests(&self, agents: u32) -> u64 {
        let per_round = self.per_item() as u64;
        match self.plan() {
            Plan::Open { profile, .. } => per_round * profile.expected().ceil() as u64,
            Plan::Closed { rounds } => match self.agents.split {
                Split::Replicate => per_round * u64::from(rounds) * u64::from(agents),
                Split::Partition => per_round * u64::from(rounds),
            },
            // As many as the users manage in the time: not known before.
            Plan::Timed { .. } => 0,
        }
    }
}
