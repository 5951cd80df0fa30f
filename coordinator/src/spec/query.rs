//! A SQL query: its YAML type (`queries:` entries and scenarios' `query:`
//! steps) and what it becomes on the wire.

use loadlab_proto::v1;
use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use super::RequestId;
use super::de::checked_seq;
use crate::kind::{About, Kind, Need, Wiring, Work};

/// One SQL query of a round.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    pub id: RequestId,
    pub sql: String,
}

pub static ABOUT: About = About {
    kind: Kind::named("sql"),
    started: "Querying",
    done: |record| format!("Query made! Db replied '{}' rows", record.rows),
};

/// The spec's `queries`: a non-empty list, no query blank.
pub(crate) fn queries<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<QuerySpec>, D::Error> {
    checked_seq(
        deserializer,
        "a list of queries",
        |queries: Vec<QuerySpec>| {
            if queries.is_empty() {
                return Err("no queries: list at least one `{ id, sql }`".to_owned());
            }
            if let Some(blank) = queries.iter().find(|q| q.sql.trim().is_empty()) {
                return Err(format!("query `{}` has an empty `sql`", blank.id));
            }
            Ok(queries)
        },
    )
}

impl Work for QuerySpec {
    fn id(&self) -> &str {
        &self.id.0
    }

    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn needs(&self) -> Option<Need> {
        Some(Need::Postgres)
    }

    fn to_wire(&self, wiring: &Wiring<'_>) -> (v1::request::Kind, String) {
        let spec = wiring.spec;
        let wire = v1::SqlQuery {
            database_url: wiring.targets.postgres.clone().unwrap_or_default(),
            sql: self.sql.clone(),
            // The dataset's schema first, so its tables need no prefix.
            search_path: spec
                .dataset
                .as_ref()
                .map(|d| format!("{},public", d.schema))
                .unwrap_or_default(),
            statement_timeout_ms: spec.query_timeout().as_millis() as u64,
        };
        (v1::request::Kind::Sql(wire), self.sql.clone())
    }
}
