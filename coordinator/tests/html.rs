//! The HTML report in a real browser: headless Chromium (Debian's
//! `chromium`; `scripts/test` installs it where missing) loads the page
//! written by a real run, and the test checks what a user would see: no
//! console error, nothing fetched from anywhere, and every request bar
//! drawn where its data says — left edge and width linear in time, on one
//! axis shared by every mode.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Network;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::{Browser, LaunchOptions};
use serde_json::Value;

mod common;
use common::{assert_exit, run_spec, text};

/// Chromium's binary: `CHROMIUM`, else Debian's.
fn chromium() -> std::path::PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(Into::into)
        .unwrap_or_else(|| std::path::PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "no Chromium at {}: install Debian's (apt-get install chromium; scripts/test does) \
         or set CHROMIUM to a Chromium or Chrome binary",
        path.display()
    );
    path
}

/// What the browser said and fetched while it showed a page.
#[derive(Default)]
struct Seen {
    errors: Vec<String>,
    requests: Vec<String>,
}

/// Opens `page` in headless Chromium; returns what it saw, how long the
/// load took, and the result of `script` (a JSON string) run on the page.
fn show(page: &Path, script: &str) -> (Seen, Duration, Value) {
    let browser = Browser::new(LaunchOptions {
        path: Some(chromium()),
        headless: true,
        sandbox: false,
        window_size: Some((1280, 1600)),
        args: [
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ]
        .iter()
        .map(OsStr::new)
        .collect(),
        idle_browser_timeout: Duration::from_secs(60),
        ..LaunchOptions::default()
    })
    .expect("Chromium starts");
    let tab = browser.new_tab().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let listener = seen.clone();
    tab.add_event_listener(Arc::new(move |event: &Event| {
        let mut seen = listener.lock().unwrap();
        match event {
            Event::RuntimeExceptionThrown(e) => {
                seen.errors
                    .push(format!("{:?}", e.params.exception_details.text));
            }
            Event::RuntimeConsoleAPICalled(e) => {
                let kind = format!("{:?}", e.params.Type);
                if kind.contains("Error") || kind.contains("Warning") {
                    seen.errors
                        .push(format!("console {kind}: {:?}", e.params.args));
                }
            }
            Event::LogEntryAdded(e) => {
                let level = format!("{:?}", e.params.entry.level);
                if level.contains("Error") {
                    seen.errors.push(format!("log: {}", e.params.entry.text));
                }
            }
            Event::NetworkRequestWillBeSent(e) => {
                seen.requests.push(e.params.request.url.clone());
            }
            _ => {}
        }
    }))
    .unwrap();
    tab.enable_runtime().unwrap();
    tab.enable_log().unwrap();
    tab.call_method(Network::Enable {
        max_total_buffer_size: None,
        max_resource_buffer_size: None,
        max_post_data_size: None,
        report_direct_socket_traffic: None,
        enable_durable_messages: None,
    })
    .unwrap();
    let url = format!("file://{}", page.display());
    let started = Instant::now();
    tab.navigate_to(&url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let loaded = started.elapsed();
    let result = tab.evaluate(script, false).unwrap();
    let value: Value = serde_json::from_str(result.value.unwrap().as_str().unwrap()).unwrap();
    // Let late console messages arrive.
    std::thread::sleep(Duration::from_millis(200));
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (seen, loaded, value)
}

/// Every request bar: its data and where it is on screen.
const BARS: &str = r#"JSON.stringify(Array.from(document.querySelectorAll('rect[data-mode]')).map(function (r) {
  var box = r.getBoundingClientRect();
  return { mode: r.dataset.mode, id: r.dataset.id, agent: r.dataset.agent,
           start: +r.dataset.startMs, end: +r.dataset.endMs, intended: +r.dataset.intendedMs,
           x: box.left, width: box.width };
}))"#;

/// Runs `yaml` with `--json` and `--html`; returns the page's path and the
/// report.
fn run(dir: &tempfile::TempDir, yaml: &str) -> (std::path::PathBuf, Value) {
    let html = dir.path().join("report.html");
    let (out, report) = run_spec(dir, yaml, &["--html", html.to_str().unwrap()]);
    assert_exit(&out, 0);
    (html, report.expect("a report"))
}

/// The quick demonstration's page: every request of every mode is a bar,
/// placed by its start and sized by its duration on one shared axis; the
/// sync staircase (each starts where the one before ended) and the async
/// overlap (all start together) are there to see. No error, no fetch.
#[test]
fn every_bar_is_drawn_where_its_data_says() {
    let dir = tempfile::tempdir().unwrap();
    let (page, report) = run(
        &dir,
        "name: quick\nmodes: [sync, async, blocking, threads]\nrequests:\n\
         \x20 - { id: R1, path: /delay-me?ms=300 }\n  - { id: R2, path: /delay-me?ms=60 }\n\
         \x20 - { id: R3, path: /delay-me?ms=150 }\n",
    );
    let (seen, _, bars) = show(&page, BARS);
    assert!(seen.errors.is_empty(), "errors: {:?}", seen.errors);
    let url = format!("file://{}", page.display());
    assert!(
        seen.requests.iter().all(|r| *r == url),
        "the page fetched {:?}",
        seen.requests
    );
    let bars = bars.as_array().unwrap();
    assert_eq!(bars.len(), 12, "a bar per request of each mode");
    // The JSON's values, on the bars.
    for mode in report["modes"].as_array().unwrap() {
        for r in mode["requests"].as_array().unwrap() {
            let found = bars.iter().any(|b| {
                b["mode"] == mode["mode"]
                    && b["id"] == r["id"]
                    && (b["start"].as_f64().unwrap() - r["start_ms"].as_f64().unwrap()).abs() < 1e-6
                    && (b["end"].as_f64().unwrap() - r["end_ms"].as_f64().unwrap()).abs() < 1e-6
            });
            assert!(found, "no bar for {} {}", mode["mode"], r["id"]);
        }
    }
    // One linear map from time to pixels for every bar of every mode.
    let point = |b: &Value| (b["start"].as_f64().unwrap(), b["x"].as_f64().unwrap());
    let (first, last) =
        bars.iter()
            .map(point)
            .fold(((f64::MAX, 0.0), (f64::MIN, 0.0)), |(lo, hi), p| {
                (
                    if p.0 < lo.0 { p } else { lo },
                    if p.0 > hi.0 { p } else { hi },
                )
            });
    let scale = (last.1 - first.1) / (last.0 - first.0);
    assert!(scale > 0.5, "px per ms: {scale}");
    for b in bars {
        let (start, x) = point(b);
        let end = b["end"].as_f64().unwrap();
        let expected_x = first.1 + (start - first.0) * scale;
        assert!((x - expected_x).abs() < 1.0, "{b}: x {x} vs {expected_x}");
        let expected_width = (end - start) * scale;
        let width = b["width"].as_f64().unwrap();
        assert!(
            (width - expected_width).abs() < 1.0,
            "{b}: width {width} vs {expected_width}"
        );
    }
    // The staircase: in sync each request starts where the one before ended
    // — never overlapping it, and after no more than a moment of the
    // client's own (under 60 ms, R2's whole wait; a fresh clone's suite, with
    // Chromium tests beside it on two cores, was seen to take 10 ms).
    let sync: Vec<&Value> = bars.iter().filter(|b| b["mode"] == "sync").collect();
    for pair in sync.windows(2) {
        let gap = pair[1]["x"].as_f64().unwrap()
            - (pair[0]["x"].as_f64().unwrap() + pair[0]["width"].as_f64().unwrap());
        let gap_ms = gap / scale;
        assert!(
            gap > -1.0 && gap_ms < 60.0,
            "sync is a staircase: gap {gap} px ({gap_ms:.1} ms)"
        );
    }
}

/// A 20,000-request run: the page stays small and opens fast (bars for a
/// sample, requests in flight for the rest), still without errors, and the
/// sample's bars spread over the whole run instead of its first moments.
#[test]
fn a_large_run_makes_a_small_page_that_opens_fast() {
    let dir = tempfile::tempdir().unwrap();
    let (page, report) = run(
        &dir,
        "name: large\nmodes: [async]\nrequests: [{ id: R1, path: /delay-me?ms=0 }]\n\
         repeat: 20000\nconcurrency: 50\n",
    );
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 3 << 20, "{size} bytes");
    let (seen, loaded, bars) = show(&page, BARS);
    assert!(seen.errors.is_empty(), "errors: {:?}", seen.errors);
    // Generous: another test's Chromium or run may share the two cores; a
    // page that drew every one of 20,000 bars took far longer.
    assert!(loaded < Duration::from_secs(5), "loaded in {loaded:?}");
    let bars = bars.as_array().unwrap();
    assert_eq!(bars.len(), 300, "a sample of bars");
    // Spread over the run's time, not its first moments: the bars reach
    // the latest request the report kept, and most kept requests of the
    // second half of that span (three in four, up to 60) are drawn — two
    // may share a slice of time (the exact rule is `html.rs`'s unit test).
    let wall = report["modes"][0]["wall_ms"].as_f64().unwrap();
    let kept: Vec<f64> = report["modes"][0]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["start_ms"].as_f64().unwrap())
        .collect();
    let kept_last = kept.iter().cloned().fold(f64::MIN, f64::max);
    let starts: Vec<f64> = bars.iter().map(|b| b["start"].as_f64().unwrap()).collect();
    let (first, last) = starts
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(*s), hi.max(*s)));
    assert!(
        first < 0.1 * wall && last >= 0.9 * kept_last,
        "bars from {first} to {last} ms; the last request kept starts at {kept_last} of {wall}"
    );
    let half = kept_last / 2.0;
    let late_kept = kept.iter().filter(|s| **s > half).count();
    let late = starts.iter().filter(|s| **s > half).count();
    assert!(
        late * 4 >= late_kept.min(60) * 3,
        "{late} bars of {late_kept} kept requests in the second half"
    );
    let xs: Vec<f64> = bars.iter().map(|b| b["x"].as_f64().unwrap()).collect();
    let span_px =
        xs.iter().cloned().fold(f64::MIN, f64::max) - xs.iter().cloned().fold(f64::MAX, f64::min);
    assert!(span_px > 300.0, "the bars cover {span_px} px of the axis");
}

/// Thresholds on the page: a row per threshold and mode, ✓ or ✗, with the
/// value the JSON has — what a CI job's reader opens to see why it failed.
#[test]
fn thresholds_are_shown_with_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let (out, report) = run_spec(
        &dir,
        "name: gated\nmodes: [async]\nrequests: [{ id: R1, path: /delay-me?ms=30 }]\n\
         thresholds: [\"p99 < 5s\", \"max < 1ms\"]\n",
        &["--html", page.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(99), "{}", text(&out.stdout));
    let report = report.expect("a report");
    let (seen, _, rows) = show(
        &page,
        r#"JSON.stringify(Array.from(document.querySelectorAll('#thresholds tbody tr')).map(function (tr) {
  return { state: tr.className, cells: Array.from(tr.cells).map(function (c) { return c.textContent; }) };
}))"#,
    );
    assert!(seen.errors.is_empty(), "errors: {:?}", seen.errors);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["state"], "passed");
    assert_eq!(rows[0]["cells"][0], "✓");
    assert_eq!(rows[0]["cells"][2], "p99 < 5s");
    assert_eq!(rows[1]["state"], "failed");
    assert_eq!(rows[1]["cells"][0], "✗");
    assert_eq!(rows[1]["cells"][2], "max < 1ms");
    let max = report["thresholds"][1]["value"].as_f64().unwrap();
    assert!(max >= 30.0, "{max}");
    // The page rounds to a tenth of a millisecond (34.975 shows as 35.0 ms).
    let shown = rows[1]["cells"][3].as_str().unwrap();
    let number: f64 = shown
        .strip_suffix(" ms")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{shown:?} is not a number of ms"));
    assert!((number - max).abs() <= 0.05 + 1e-9, "{shown} vs {max}");
}
