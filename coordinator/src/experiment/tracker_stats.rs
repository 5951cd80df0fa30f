//! The tracker while a tracking mode runs: every 200 ms its `GET /stats`
//! (threads, resident memory), from the tracker itself, so it works as
//! well for a tracker on another host.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::report::TrackerActivity;

const EVERY: Duration = Duration::from_millis(200);

/// Samples the tracker at `ws_url` (its ws:// base) until `stop`; `None`
/// when it never answered.
pub async fn watch(ws_url: String, stop: CancellationToken) -> Option<TrackerActivity> {
    let address = ws_url
        .trim_start_matches("ws://")
        .split('/')
        .next()?
        .to_owned();
    let mut tick = tokio::time::interval(EVERY);
    let mut seen: Option<TrackerActivity> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => break,
        }
        let Ok(Some(stats)) = tokio::time::timeout(EVERY, stats(&address)).await else {
            continue;
        };
        let threads = stats["threads"].as_u64().unwrap_or(0);
        let rss_mb = stats["rss_mb"].as_f64().unwrap_or(0.0);
        let activity = seen.get_or_insert(TrackerActivity::default());
        activity.samples += 1;
        activity.threads_max = activity.threads_max.max(threads);
        activity.rss_mb_max = activity.rss_mb_max.max(rss_mb);
    }
    seen
}

/// One `GET /stats` over HTTP/1.0 (the tracker closes after replying).
async fn stats(address: &str) -> Option<serde_json::Value> {
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream
        .write_all(b"GET /stats HTTP/1.0\r\nHost: tracker\r\n\r\n")
        .await
        .ok()?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.ok()?;
    let text = String::from_utf8_lossy(&reply);
    let body = text.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body.trim()).ok()
}
