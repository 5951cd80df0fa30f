//! The database's activity while a mode runs queries: every 100 ms, how
//! many of the agents' backends (`application_name = loadlab-agent`) are
//! active, and how many of those wait on locks or on I/O — what says
//! whether the database was CPU-bound when queries slowed each other down.

use std::time::Duration;

use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;

use crate::report::DatabaseActivity;

/// How often the server is asked.
pub const EVERY: Duration = Duration::from_millis(100);

const QUERY: &str = "SELECT count(*) FILTER (WHERE state = 'active'), \
     count(*) FILTER (WHERE state = 'active' AND wait_event_type IN ('Lock', 'LWLock')), \
     count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'IO') \
     FROM pg_stat_activity WHERE application_name = 'loadlab-agent'";

/// Samples `database_url` until `stop`; `None` when it cannot be reached
/// (the run goes on; the report then says nothing of the database).
pub async fn watch(database_url: String, stop: CancellationToken) -> Option<DatabaseActivity> {
    let (client, connection) = tokio_postgres::connect(&database_url, NoTls).await.ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut tick = tokio::time::interval(EVERY);
    let (mut samples, mut active_sum, mut active_max, mut locks, mut io) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        let Ok(row) = client.query_one(QUERY, &[]).await else {
            continue;
        };
        let count = |i: usize| row.try_get::<_, i64>(i).map_or(0, |n| n.max(0) as u64);
        let active = count(0);
        // Only moments with queries running tell about them.
        if active == 0 {
            continue;
        }
        samples += 1;
        active_sum += active;
        active_max = active_max.max(active);
        locks += count(1);
        io += count(2);
    }
    (samples > 0).then(|| DatabaseActivity {
        samples,
        active_max,
        active_mean: active_sum as f64 / samples as f64,
        lock_wait_share: locks as f64 / active_sum as f64,
        io_wait_share: io as f64 / active_sum as f64,
    })
}
