//! The tracking workload's updates: its YAML type (`track:`) and what it
//! becomes on the wire. Its customers and feed are the agent's
//! (`loadlab_agent::kind::track`); one request of the round stands for
//! every update of every customer.

use std::num::NonZeroU32;

use loadlab_proto::v1;
use serde::{Deserialize, Serialize};

use super::{Rate, SpecDuration};
use crate::kind::{About, Kind, Need, Wiring, Work};

/// The tracking workload's size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackSpec {
    /// Customers, one order and one websocket each, split between agents.
    pub customers: NonZeroU32,
    /// Location updates published per order, e.g. `1/s`.
    pub updates: Rate,
    /// How long updates keep coming.
    pub duration: SpecDuration,
}

pub static ABOUT: About = About {
    kind: Kind::named("track"),
    started: "Publishing to",
    done: |record| format!("Delivered to the customer: '{}'", record.body),
};

impl Work for TrackSpec {
    fn id(&self) -> &str {
        "update"
    }

    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn needs(&self) -> Option<Need> {
        Some(Need::Tracker)
    }

    fn to_wire(&self, wiring: &Wiring<'_>) -> (v1::request::Kind, String) {
        let tracker = wiring.targets.tracker.clone().unwrap_or_default();
        let what = format!(
            "{} customers on {tracker}, {}/s updates each for {}",
            self.customers,
            self.updates.0,
            humantime::format_duration(self.duration.0)
        );
        let wire = v1::TrackUpdate {
            tracker_url: tracker,
            redis_url: wiring.targets.redis.clone().unwrap_or_default(),
            customers: u64::from(self.customers.get()),
            // Order ids unique to this run, so runs and tests sharing a
            // Redis never hear each other's updates.
            order_prefix: format!(
                "loadlab-{}-",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
        };
        (v1::request::Kind::Track(wire), what)
    }
}
