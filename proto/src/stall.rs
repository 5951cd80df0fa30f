//! What an agent's executor-stall probe measured in a mode (the probe is
//! the agent's `probe`; the coordinator reads this from `AssignmentDone`).

use crate::v1;

/// What the probe measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stall {
    /// Sum of the canary's wake-to-poll delays.
    pub total_us: u64,
    pub max_us: u64,
    pub p99_us: u64,
    pub samples: u64,
}

/// On the wire, in `AssignmentDone`.
impl From<Stall> for v1::Stall {
    fn from(s: Stall) -> Self {
        v1::Stall {
            total_us: s.total_us,
            max_us: s.max_us,
            p99_us: s.p99_us,
            samples: s.samples,
        }
    }
}

/// As the coordinator reads it from an agent's `AssignmentDone`.
impl From<v1::Stall> for Stall {
    fn from(s: v1::Stall) -> Self {
        Stall {
            total_us: s.total_us,
            max_us: s.max_us,
            p99_us: s.p99_us,
            samples: s.samples,
        }
    }
}
