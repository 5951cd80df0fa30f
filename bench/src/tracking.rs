//! `tracking`: the tracker as its own process under the tracking workload,
//! mode by mode at the sizes asked, and — in the same run, at the async
//! size — a minimal Python aiohttp + redis.asyncio tracker (written here,
//! for the comparison only; needs Debian's python3-aiohttp and
//! python3-redis) loaded the same way.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use loadlab_testkit::process::Running;
use serde_json::Value;

use crate::process::sibling_binary;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Runs as MODE:CUSTOMERS, each against a fresh tracker process.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "async:10000,threads:1000,threads:5000,blocking:10,blocking:50"
    )]
    runs: Vec<String>,
    /// Updates per customer per second.
    #[arg(long, default_value = "1/s")]
    updates: String,
    #[arg(long, default_value = "20s")]
    duration: String,
    /// The Redis both trackers use.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Skip the Python tracker.
    #[arg(long)]
    no_python: bool,
}

/// The comparison: one shared subscriber connection, a queue per customer.
const PYTHON_TRACKER: &str = r#"
import asyncio, sys
from aiohttp import web
import redis.asyncio as aioredis

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0

async def main(redis_url):
    pubsub = aioredis.from_url(redis_url).pubsub()
    watchers = {}

    async def dispatch():
        while True:
            if not pubsub.subscribed:
                await asyncio.sleep(0.01)
                continue
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is not None:
                for queue in watchers.get(msg["channel"].decode(), ()):
                    queue.put_nowait(msg["data"].decode())

    async def track(request):
        order = request.match_info["order"]
        queue = asyncio.Queue()
        fresh = order not in watchers
        watchers.setdefault(order, set()).add(queue)
        if fresh:
            await pubsub.subscribe(order)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async def forward():
            while True:
                await ws.send_str(await queue.get())
        sender = asyncio.ensure_future(forward())
        try:
            async for _ in ws:
                pass
        finally:
            sender.cancel()
            watchers[order].discard(queue)
            if not watchers[order]:
                del watchers[order]
                await pubsub.unsubscribe(order)
        return ws

    async def stats(request):
        return web.json_response({"threads": status("Threads:"), "rss_mb": status("VmRSS:") / 1024})

    app = web.Application()
    app.router.add_get("/{mode}/track/{order}", track)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    asyncio.ensure_future(dispatch())
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1]))
"#;

/// One run's figures.
struct Figures {
    label: String,
    customers: u64,
    mode: Value,
    peak_rss_mb: f64,
}

pub fn run(options: Options) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for run in &options.runs {
        let (mode, customers) = run
            .split_once(':')
            .and_then(|(m, c)| Some((m.to_owned(), c.parse::<u64>().ok()?)))
            .with_context(|| format!("{run:?}: give MODE:CUSTOMERS, e.g. async:10000"))?;
        let mut command = Command::new(sibling_binary("tracker")?);
        command
            .args(["--listen", "127.0.0.1:0", "--redis-url", &options.redis_url])
            .env("RUST_LOG", "warn");
        let tracker = Running::spawn(command);
        let url = tracker.url_after("listening on http://", Duration::from_secs(20));
        let report = load(&url, &mode, customers, &options)?;
        rows.push(Figures {
            label: format!("tracker {mode}"),
            customers,
            mode: report,
            peak_rss_mb: tracker.peak_rss_bytes().unwrap_or(0) as f64 / 1e6,
        });
    }
    let python = if options.no_python {
        None
    } else {
        find_python()
    };
    if !options.no_python && python.is_none() {
        println!(
            "  Python aiohttp tracker: skipped, no python3 with aiohttp and redis \
             (apt-get install python3-aiohttp python3-redis)"
        );
    }
    if let Some(python) = python {
        let customers = options
            .runs
            .iter()
            .find_map(|r| r.strip_prefix("async:")?.parse::<u64>().ok())
            .unwrap_or(1_000);
        let script =
            std::env::temp_dir().join(format!("loadlab-tracker-{}.py", std::process::id()));
        std::fs::write(&script, PYTHON_TRACKER)?;
        let mut command = Command::new(python);
        command.arg(&script).arg(&options.redis_url);
        let python = Running::spawn(command);
        let url = python.url_after("listening on http://", Duration::from_secs(20));
        let report = load(&url, "async", customers, &options)?;
        rows.push(Figures {
            label: "Python aiohttp".into(),
            customers,
            mode: report,
            peak_rss_mb: python.peak_rss_bytes().unwrap_or(0) as f64 / 1e6,
        });
        let _ = std::fs::remove_file(&script);
    }
    println!(
        "tracking: {} updates per customer for {}, tracker as its own process, Redis {}",
        options.updates, options.duration, options.redis_url
    );
    println!(
        "  {:<18} {:>9} {:>9} {:>9} {:>6} {:>10} {:>10} {:>12} {:>8} {:>9}",
        "",
        "customers",
        "published",
        "delivered",
        "lost",
        "p50",
        "p99",
        "connect p99",
        "threads",
        "peak RSS"
    );
    let ms = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    for row in &rows {
        let m = &row.mode;
        let published = m["published"].as_u64().unwrap_or(0);
        let delivered = m["delivered"].as_u64().unwrap_or(0);
        println!(
            "  {:<18} {:>9} {:>9} {:>9} {:>6} {:>7.1} ms {:>7.1} ms {:>9.1} ms {:>8} {:>6.0} MB",
            row.label,
            row.customers,
            published,
            delivered,
            published - delivered,
            ms(&m["histogram"]["p50_ms"]),
            ms(&m["histogram"]["p99_ms"]),
            ms(&m["connect"]["p99_ms"]),
            m["threads"].as_u64().unwrap_or(0),
            row.peak_rss_mb,
        );
        if let Some(failures) = m["errors_by_reason"].as_object() {
            for (reason, count) in failures.iter().take(3) {
                println!("  {:<18}   {count} × {reason}", "");
            }
        }
    }
    if let Some(ours) = rows.iter().find(|r| r.label == "tracker async") {
        let m = &ours.mode;
        let all = m["published"] == m["delivered"];
        let p99 = ms(&m["histogram"]["p99_ms"]);
        println!(
            "  async at {} customers: every update delivered: {}; p99 {p99:.1} ms (target <= 20 ms: {}); peak RSS {:.0} MB (target <= 200 MB: {})",
            ours.customers,
            if all { "met" } else { "MISSED" },
            if p99 <= 20.0 { "met" } else { "MISSED" },
            ours.peak_rss_mb,
            if ours.peak_rss_mb <= 200.0 {
                "met"
            } else {
                "MISSED"
            },
        );
        if let Some(python) = rows.iter().find(|r| r.label == "Python aiohttp") {
            println!(
                "  vs Python aiohttp at the same load: p99 {:.2}x, peak RSS {:.2}x (loadlab / Python)",
                p99 / ms(&python.mode["histogram"]["p99_ms"]),
                ours.peak_rss_mb / python.peak_rss_mb
            );
        }
    }
    Ok(())
}

/// A Python 3 that has aiohttp and redis.asyncio: `python3`, else the
/// system's (a pyenv or venv first on the PATH may lack Debian's packages).
fn find_python() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import aiohttp, redis.asyncio"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs the tracking workload in `mode` with `customers` against the
/// tracker at `url` (http://); returns the report's mode.
fn load(url: &str, mode: &str, customers: u64, options: &Options) -> anyhow::Result<Value> {
    let dir = std::env::temp_dir().join(format!("loadlab-tracking-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (spec, json) = (dir.join("spec.yaml"), dir.join("run.json"));
    let tracker = format!("ws://{}", url.trim_start_matches("http://"));
    std::fs::write(
        &spec,
        format!(
            "name: tracking-bench\nmodes: [{mode}]\n\
             target: {{ tracker: {tracker}, redis: {} }}\n\
             track: {{ customers: {customers}, updates: {}, duration: {} }}\ntimeout: 5s\n",
            options.redis_url, options.updates, options.duration
        ),
    )?;
    let out = Command::new(sibling_binary("coordinator")?)
        .arg("run")
        .arg(&spec)
        .args(["--quiet", "--json"])
        .arg(&json)
        .output()
        .context("cannot run the coordinator")?;
    // Lost updates exit 1; the report is what counts.
    let Ok(text) = std::fs::read_to_string(&json) else {
        bail!(
            "coordinator run failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let report: Value = serde_json::from_str(&text)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report["modes"][0].clone())
}
