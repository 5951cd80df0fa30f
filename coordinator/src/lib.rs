//! The loadlab coordinator: reads and validates an experiment spec, hands
//! its work to agents over gRPC, merges what they send back and reports.
//!
//! - [`spec`]: the YAML contract and its validation (file:line:column errors).
//! - [`kind`]: what every kind of request shares (each kind is a [`spec`]
//!   module beside its YAML type).
//! - [`round`]: one round of the spec as the agents receive it.
//! - [`hub`]: the gRPC service agents join, funnelling their messages to the
//!   run loop.
//! - [`experiment`]: the run loop, mode by mode, reporting to an
//!   [`observer::Observer`].
//! - [`report`]: the report model, its analysis and its renderers.
//! - [`live`]: the terminal observer, while a run goes on;
//!   [`requests_file`]: every record to a file (`--requests`).
//! - [`one_liner`]: `run --url URL ...`: the flags as an equivalent spec.
//! - [`prometheus`]: the figures to Prometheus by remote write
//!   (`--prometheus-rw`), for Grafana.
//! - [`dataset`]: the Brazilian-cities dataset and its seeding.
//! - [`launch`]: everything a run needs before its first mode: targets
//!   (an embedded delay server, the database), the gRPC server, and agents
//!   (in-process ones, or remote ones awaited on `--listen`).

pub mod data;
pub mod dataset;
pub mod experiment;
pub mod hub;
pub mod kind;
pub mod launch;
pub mod live;
pub mod observer;
pub mod one_liner;
pub mod prometheus;
pub mod report;
pub mod requests_file;
pub mod round;
pub mod spec;
pub mod threshold;
