//! The loadlab agent: connects to a coordinator, runs the workloads it is
//! assigned in the mode asked for, and streams back what finished: which
//! requests, their tally, and request records.
//!
//! - [`session`]: one connection to a coordinator (join, heartbeats,
//!   assignments), and the reconnecting loop of the `agent` binary.
//! - [`assignment`]: one assignment, from the wire to its last message.
//! - [`workload`]: the assignment as domain types ([`schedule`], when each
//!   request is due, is the wire crate's).
//! - [`run`]: one runner per [`Mode`]; [`probe`]: the executor stall probe.
//! - [`sample`] (the wire crate's): which request records go to the
//!   coordinator.
//! - [`kind`]: what a request is (HTTP, SQL, a tracking customer), one
//!   module per kind.
//!
//! The `agent` binary and the coordinator's in-process agents run the same
//! [`session::join`], so local and distributed runs share one path.

pub mod assignment;
pub mod kind;
pub mod outcome;
pub mod probe;
pub mod run;
pub mod scenario;
pub mod session;
pub mod workload;

// The vocabulary both sides speak, kept in the wire crate; re-exported so
// the agent's own paths (`crate::schedule::…`) read as before.
pub use loadlab_proto::{Mode, sample, schedule};
