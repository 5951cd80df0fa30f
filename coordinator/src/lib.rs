//! The loadlab coordinator: reads and validates an experiment spec, hands
//! its work to agents over gRPC, merges the histograms they send back and
//! reports.
//!
//! - [`spec`]: the YAML contract and its validation (file:line:column errors).
//! - [`hub`]: the gRPC service agents join, funnelling their messages to the
//!   run loop.
//! - [`experiment`]: the run loop, mode by mode.
//! - [`report`]: the results and their rendering (text and JSON).
//! - [`live`]: what the terminal shows while a run goes on.
//! - [`dataset`]: the Brazilian-cities dataset and its seeding.
//! - [`launch`]: everything a run needs before its first mode: targets
//!   (an embedded delay server, the database), the gRPC server, and agents
//!   (in-process ones, or remote ones awaited on `--listen`).

pub mod dataset;
pub mod experiment;
pub mod hub;
pub mod launch;
pub mod live;
pub mod report;
pub mod spec;
