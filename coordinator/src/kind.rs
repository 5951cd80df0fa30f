//! Request kinds, the coordinator's side: what every kind of request
//! shares. Each kind is a module of the spec beside its YAML type —
//! `spec/request.rs` (HTTP), `spec/query.rs` (SQL), `spec/track.rs`
//! (tracking) — with its [`About`] (its name in the report's records and
//! the terminal's words) and its [`Work`] impl (its id, the target it
//! needs, what it becomes on the wire). Nothing in the coordinator matches
//! on every kind (a mode watches the database when its round has queries,
//! the tracker when it has updates). The agent's side is
//! `loadlab_agent::kind`.
//!
//! A new kind is six files:
//! - a message in `proto/loadlab.proto`'s `Request.kind`;
//! - `spec/<kind>.rs`: its YAML type, its `ABOUT` and its `Work` impl;
//! - `spec/mod.rs`: its `mod` line, the spec's field for it, and its place
//!   in a round (`Spec::round`);
//! - a module in `agent/src/kind/`, and its registration in
//!   `agent/src/kind/mod.rs`;
//! - its section in `experiments/README.md`.

use std::borrow::Cow;
use std::fmt::Debug;

use loadlab_proto::v1;
use serde::{Deserialize, Serialize};

use crate::report::RequestRecord;
use crate::round::Resolved;
use crate::spec::Spec;

/// What a request is, as the report's records name it (`"kind"`: `http`,
/// `sql`, `track`): the name its module's [`About`] gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Kind(Cow<'static, str>);

impl Kind {
    pub const fn named(name: &'static str) -> Kind {
        Kind(Cow::Borrowed(name))
    }
}

/// What a kind is called: its name in the report's records, and the
/// terminal's words for its requests (`R1: Requesting 'url'`, then
/// `R1: Request done! Server replied '…'`).
#[derive(Debug)]
pub struct About {
    pub kind: Kind,
    /// The verb before what is requested (`Requesting`, `Querying`).
    pub started: &'static str,
    /// The line after the id when a request of this kind succeeded.
    pub done: fn(&RequestRecord) -> String,
}

/// A target the run must resolve before its first mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The HTTP server's base URL (or the embedded delay server).
    Http,
    /// The database, waited for (and seeded when the spec has a dataset).
    Postgres,
    /// The tracker and its Redis.
    Tracker,
}

/// One request of a spec's round, of any kind.
pub trait Work: Debug + Sync {
    /// Its id in the spec, the report and the terminal.
    fn id(&self) -> &str;

    /// Its kind's name and words (its module's `ABOUT`).
    fn about(&self) -> &'static About;

    /// The target it goes to, if the run must resolve one (a request with
    /// its own absolute URL needs none).
    fn needs(&self) -> Option<Need>;

    /// The request as the agents receive it, and what the terminal says it
    /// is (the URL requested, the SQL run).
    fn to_wire(&self, wiring: &Wiring<'_>) -> (v1::request::Kind, String);
}

/// What a request's wire form is made from besides its own spec: the rest
/// of the spec, and the targets once resolved.
pub struct Wiring<'a> {
    pub spec: &'a Spec,
    pub targets: &'a Resolved,
}
