//! The wire contract between the loadlab coordinator and its agents.
//!
//! `v1` is the code generated from `loadlab.proto`; [`histogram`] is the one
//! codec both sides use to move latency histograms losslessly.

pub mod histogram;

/// Generated messages and the `Coordinator` service (client and server).
pub mod v1 {
    tonic::include_proto!("loadlab.v1");
}

/// Bumped whenever a change to `loadlab.proto` would confuse the other side.
/// Sent in the agent's `Hello`; the coordinator refuses a mismatch.
pub const PROTOCOL_VERSION: u32 = 1;
