//! The loadlab agent: connects to a coordinator, runs the workloads it is
//! assigned in the mode asked for, and streams back every request's outcome
//! and a latency histogram.
//!
//! The `agent` binary and the coordinator's in-process agents run the same
//! [`session::join`], so local and distributed runs share one path.

pub mod execute;
pub mod http;
pub mod mode;
pub mod outcome;
pub mod session;
pub mod sql;
pub mod workload;

pub use mode::Mode;
