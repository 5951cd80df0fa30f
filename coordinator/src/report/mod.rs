//! The report: one model, built once, rendered many ways.
//!
//! - [`model`]: what a run found (Serialize and Deserialize: JSON is its
//!   serde form, and a saved run can be read back and rendered again);
//! - [`analysis`]: from a mode's merged tallies to its figures and the
//!   sentence that explains them;
//! - [`text`]: the terminal renderer; [`html`]: the self-contained page;
//!   [`duration`]: how both write a duration;
//! - [`file`]: reports on disk (written, checked, read back).

pub mod analysis;
pub mod duration;
pub mod explanation;
pub mod file;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod html;
pub mod junit;
pub mod model;
pub mod text;

pub use crate::kind::Kind;
pub use model::{
    AgentFigures, DatabaseActivity, InFlight, IntervalSummary, LatencySummary, LoadKind,
    ModeReport, PercentilePoint, Report, RequestFigures, RequestRecord, ScenarioFigures,
    StallSummary, Targets, TrackerActivity,
};
