//! The wire contract between the loadlab coordinator and its agents.
//!
//! `v1` is the code generated from `loadlab.proto`; [`histogram`] is the one
//! codec both sides use to move latency histograms losslessly, [`tally`] the
//! one summary of a set of requests that both sides keep and merge, and
//! [`ranges`] how both sides account for which requests came back.
//!
//! The vocabulary both sides speak lives here too, so that the coordinator
//! needs the agent crate only to run agents in-process: the execution
//! [`mode`]s, when requests are due ([`schedule`]: profiles, arrivals, each
//! agent's schedule), which records are kept ([`sample`]), what the
//! executor-stall probe measured ([`stall`]), and one [`clock`].

pub mod auth;
pub mod clock;
pub mod histogram;
pub mod mode;
pub mod ranges;
pub mod sample;
pub mod schedule;
pub mod stall;
pub mod tally;
pub mod unix;

pub use mode::Mode;

/// Generated messages and the `Coordinator` service (client and server).
pub mod v1 {
    tonic::include_proto!("loadlab.v1");
}

/// Bumped whenever a change to `loadlab.proto` would confuse the other side.
/// Sent in the agent's `Hello`; the coordinator refuses a mismatch.
pub const PROTOCOL_VERSION: u32 = 4;

/// How often each side of a `Join` stream sends a heartbeat.
pub const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Silence after which a side treats the other as gone: a dead or cut-off
/// peer is noticed within this, well inside five seconds.
pub const HEARTBEAT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// A heartbeat stamped now, as either side sends it.
pub fn heartbeat() -> v1::Heartbeat {
    v1::Heartbeat {
        sent_unix_ms: unix::now_ms(),
    }
}

/// The `request` field of a scenario's `RequestStarted` and
/// `RequestRecord` for the round's request at `place` (its place plus
/// one); 0 when not a scenario's, whose index alone says which it is.
pub fn request_field(place: Option<usize>) -> u32 {
    place.map_or(0, |place| place as u32 + 1)
}

/// The round's place a `request` field names; `None` for 0.
pub fn request_place(field: u32) -> Option<usize> {
    field.checked_sub(1).map(|place| place as usize)
}

/// Largest message either side accepts; a bigger one is refused by gRPC
/// with `OUT_OF_RANGE` instead of being buffered.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
