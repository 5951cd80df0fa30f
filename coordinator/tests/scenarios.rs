//! Scenarios against a shop of the tests' own (`testkit::shop`: a login
//! that answers a token and sets a cookie, orders that need both), with the
//! real coordinator and agent binaries: in every mode, with data rows in
//! each order, templates, extraction, cookies, pauses and weights — checked
//! from the server's side.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use loadlab_testkit::shop::{self, Shop, Visit};
use serde_json::Value;

mod common;
use common::{
    Running, agent_process, coordinator_listening, mode, read_json, run_spec, runtime, text,
};

const USERS: usize = 10;

/// The shop's users, as a CSV and as `(user, password)`s.
fn users(n: usize) -> (String, Vec<(String, String)>) {
    let pairs: Vec<(String, String)> = (0..n)
        .map(|i| (format!("user{i}"), format!("pw-{i}")))
        .collect();
    let mut csv = "user,password\n".to_owned();
    for (user, password) in &pairs {
        csv.push_str(&format!("{user},{password}\n"));
    }
    (csv, pairs)
}

/// The issue's shop spec: browse (7) reads a page and an item, buy (3)
/// logs in with its row, pauses, and orders with the token and cookie.
fn shop_spec(url: &str, modes: &str, load: &str, order: &str) -> String {
    format!(
        r#"name: shop
target: {url}
modes: [{modes}]
{load}
timeout: 10s
data: {{ file: users.csv, order: {order} }}
scenarios:
  browse:
    weight: 7
    steps:
      - {{ id: Home, path: /, headers: {{ X-User: "{{{{ row.user }}}}" }} }}
      - think: 1ms..3ms
      - {{ id: Item, path: "/items/{{{{ random(1, 1000) }}}}" }}
  buy:
    weight: 3
    steps:
      - id: Login
        method: POST
        path: /login
        body: {{ json: {{ user: "{{{{ row.user }}}}", password: "{{{{ row.password }}}}" }} }}
        extract: {{ token: {{ json: "$.token" }} }}
      - think: 20ms
      - id: Order
        method: POST
        path: /orders
        headers: {{ Authorization: "Bearer {{{{ token }}}}" }}
        body: {{ json: {{ item: "{{{{ random(1, 1000) }}}}", user: "{{{{ row.user }}}}" }} }}
        expect: {{ status: [201], contains: placed }}
"#
    )
}

/// Each iteration's first request names its row's user (Home's `X-User`,
/// Login's body): the rows the iterations took, as the shop saw them.
fn rows_used(visits: &[Visit]) -> Vec<String> {
    visits
        .iter()
        .filter(|v| v.path == "/" || v.path == "/login")
        .map(|v| v.user.clone().expect("every first request names its user"))
        .collect()
}

/// The four modes each run 1,000 iterations of the shop spec with zero
/// failed steps: the weights hold within ±5 % of 7:3, every order came
/// at least the pause after its own login (token and cookie), and the
/// sequential rows went round the file evenly (in file order where one
/// thread runs them all).
#[test]
fn the_shop_scenarios_run_in_every_mode_as_the_server_sees_them() {
    let runtime = runtime();
    let (csv, pairs) = users(USERS);
    for name in ["sync", "async", "blocking", "threads"] {
        let shop: Shop = runtime.block_on(shop::start(&pairs));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.csv"), &csv).unwrap();
        let spec = shop_spec(
            &shop.url,
            name,
            "repeat: 1000\nconcurrency: 20",
            "sequential",
        );
        let (out, report) = run_spec(&dir, &spec, &[]);
        let stdout = text(&out.stdout);
        let report = report.unwrap_or_else(|| panic!("no report: {stdout}\n{}", text(&out.stderr)));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {stdout}\n{}",
            text(&out.stderr)
        );
        let m = mode(&report, name);
        let by = &m["by_request"];
        for id in ["Home", "Item", "Login", "Order"] {
            assert_eq!(by[id]["errors"], 0, "{name} {id}: {}", by[id]);
            assert!(by[id].get("skipped").is_none(), "{name} {id}: {}", by[id]);
        }
        let (browse, buy) = (&m["by_scenario"]["browse"], &m["by_scenario"]["buy"]);
        let iterations = |s: &Value| s["completed"].as_u64().unwrap();
        assert_eq!(iterations(browse) + iterations(buy), 1000, "{name}: {m}");
        assert_eq!(browse["failed"], 0);
        assert_eq!(buy["failed"], 0);
        assert_eq!(by["Home"]["count"].as_u64(), Some(iterations(browse)));
        assert_eq!(by["Order"]["count"].as_u64(), Some(iterations(buy)));
        assert!(buy["duration"]["p50_ms"].as_f64().unwrap() >= 20.0, "{buy}");
        assert!(buy["think_share"].as_f64().unwrap() > 0.0, "{buy}");

        // From the server's side.
        let visits = shop.visits();
        assert!(
            visits.iter().all(|v| v.status < 300),
            "{name}: a failed request"
        );
        let homes = visits.iter().filter(|v| v.path == "/").count();
        assert!(
            (650..=750).contains(&homes),
            "{name}: {homes} of 1,000 iterations browsed, not 7:3 ± 5 %"
        );
        let logins: HashMap<&str, &Visit> = visits
            .iter()
            .filter(|v| v.path == "/login")
            .map(|v| (v.token.as_deref().unwrap(), v))
            .collect();
        let orders: Vec<&Visit> = visits.iter().filter(|v| v.path == "/orders").collect();
        assert_eq!(orders.len(), logins.len(), "{name}: one order per login");
        for order in &orders {
            let login = logins[order.token.as_deref().unwrap()];
            assert_eq!(
                order.user, login.user,
                "{name}: the order is the login's user"
            );
            let gap = order.at.duration_since(login.at);
            assert!(
                gap >= Duration::from_millis(20),
                "{name}: an order {gap:?} after its login, within the 20 ms pause"
            );
        }
        let rows = rows_used(&visits);
        assert_eq!(rows.len(), 1000);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for user in &rows {
            *counts.entry(user).or_default() += 1;
        }
        assert_eq!(counts.len(), USERS, "{name}: {counts:?}");
        assert!(
            counts.values().all(|&n| n == 1000 / USERS),
            "{name}: sequential rows go round the file evenly: {counts:?}"
        );
        if name == "sync" {
            let expected: Vec<String> = (0..1000).map(|i| format!("user{}", i % USERS)).collect();
            assert_eq!(rows, expected, "sync: rows in file order");
        }
        assert!(stdout.contains(&format!("{name} by scenario")), "{stdout}");
    }
}

/// Users for a time, with `random` rows: every row is drawn, and users
/// keep going until the time is up.
#[test]
fn users_for_a_duration_draw_random_rows() {
    let runtime = runtime();
    let (csv, pairs) = users(4);
    let shop = runtime.block_on(shop::start(&pairs));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), &csv).unwrap();
    let spec = shop_spec(&shop.url, "async", "users: 5\nduration: 2s", "random");
    let (out, report) = run_spec(&dir, &spec, &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", text(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let m = mode(&report, "async");
    let done: u64 = ["browse", "buy"]
        .iter()
        .map(|s| m["by_scenario"][s]["completed"].as_u64().unwrap_or(0))
        .sum();
    assert!(done > 100, "5 users for 2 s: {done} iterations");
    let rows = rows_used(&shop.visits());
    let distinct: std::collections::BTreeSet<&String> = rows.iter().collect();
    assert_eq!(distinct.len(), 4, "every row drawn: {distinct:?}");
    assert_eq!(rows.len() as u64, done);
}

/// A failed extraction fails its step with the reason and skips the rest
/// of its iteration; without cookies the order is refused.
#[test]
fn a_failed_step_skips_the_rest_of_its_iteration() {
    let runtime = runtime();
    let (csv, pairs) = users(2);
    let shop = runtime.block_on(shop::start(&pairs));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), &csv).unwrap();
    let spec = format!(
        r#"name: broken
target: {}
modes: [async, threads]
repeat: 10
data: {{ file: users.csv }}
scenarios:
  buy:
    steps:
      - id: Login
        method: POST
        path: /login
        body: {{ json: {{ user: "{{{{ row.user }}}}", password: "{{{{ row.password }}}}" }} }}
        extract: {{ token: {{ json: "$.tokn" }} }}
      - {{ id: Order, method: POST, path: /orders, body: "{{{{ token }}}}" }}
"#,
        shop.url
    );
    let (out, report) = run_spec(&dir, &spec, &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", text(&out.stderr)));
    assert_eq!(out.status.code(), Some(1), "failed steps fail the run");
    for name in ["async", "threads"] {
        let m = mode(&report, name);
        assert_eq!(m["by_request"]["Login"]["errors"], 10, "{m}");
        assert_eq!(m["by_request"]["Order"]["skipped"], 10, "{m}");
        assert_eq!(m["by_scenario"]["buy"]["failed"], 10);
        let reasons = m["errors_by_reason"].to_string();
        assert!(
            reasons.contains("extract token: $.tokn matched nothing"),
            "{reasons}"
        );
    }
    assert!(shop.visits().iter().all(|v| v.path == "/login"));

    // Without cookies, the session cookie is not sent back.
    let spec = shop_spec(&shop.url, "async", "repeat: 40", "sequential")
        .replace("data:", "cookies: false\ndata:");
    let (out, report) = run_spec(&dir, &spec, &[]);
    let report = report.unwrap_or_else(|| panic!("no report: {}", text(&out.stderr)));
    assert_eq!(out.status.code(), Some(1));
    let order = &mode(&report, "async")["by_request"]["Order"];
    assert_eq!(order["errors"], order["count"], "{order}");
    assert!(order["count"].as_u64().unwrap() > 0);
    assert!(
        report
            .to_string()
            .contains("no session cookie of this login"),
        "the shop's reason is reported"
    );
}

/// Two agent processes share a `unique` data file: no row is used twice,
/// every row is used, and the mode ends when the rows run out, saying so.
#[test]
fn two_agents_share_unique_rows_without_using_one_twice() {
    let runtime = runtime();
    let (csv, pairs) = users(30);
    let shop = runtime.block_on(shop::start(&pairs));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), &csv).unwrap();
    let spec = shop_spec(&shop.url, "async", "repeat: 100\nconcurrency: 4", "unique")
        + "agents: { count: 2, split: partition }\n";
    let path = common::write_spec(&dir, &spec);
    let json = dir.path().join("run.json");
    let (mut coordinator, url) = coordinator_listening(&[
        "run",
        &path,
        "--listen",
        "127.0.0.1:0",
        "--json",
        json.to_str().unwrap(),
    ]);
    let _agents: Vec<Running> = ["a1", "a2"]
        .iter()
        .map(|name| agent_process(&url, name, &[]))
        .collect();
    let code = coordinator.exit_code(Duration::from_secs(60));
    assert_eq!(
        code,
        Some(0),
        "{}\n{}",
        coordinator.stdout(),
        coordinator.stderr()
    );
    let report = read_json(&json);
    let rows = rows_used(&shop.visits());
    let mut sorted = rows.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), rows.len(), "a row used twice: {rows:?}");
    assert_eq!(rows.len(), 30, "every row used once");
    let m = mode(&report, "async");
    let notes = m["notes"].to_string();
    assert!(notes.contains("ran out (order: unique"), "{notes}");
    let agents: Vec<&str> = m["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 2, "{agents:?}");
}

/// Spec mistakes in scenarios are errors at their place, before anything
/// runs.
#[test]
fn scenario_mistakes_are_located_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), "user,password\na,b\n").unwrap();
    let cases = [
        (
            "scenarios:\n  s:\n    steps:\n      - { id: A, path: \"/x/{{ tokn }}\" }\n",
            "spec.yaml:6:28",
            "uses `tokn`",
        ),
        (
            "scenarios:\n  s:\n    steps:\n      - { id: A, path: /, extract: { t: { json: token } } }\n",
            "spec.yaml:6:",
            "not a JSONPath",
        ),
        (
            "scenarios:\n  s:\n    steps:\n      - { think: 2s..1s }\n      - { id: A, path: / }\n",
            "spec.yaml:6:",
            "the range's start is after its end",
        ),
        (
            "scenarios:\n  s:\n    steps:\n      - { id: A, path: \"/{{ row.user }}\" }\n",
            "spec.yaml:6:",
            "no `data",
        ),
        (
            "data: { file: missing.csv }\nscenarios:\n  s:\n    steps:\n      - { id: A, path: / }\n",
            "spec.yaml:3:",
            "data file missing.csv",
        ),
        (
            "scenarios:\n  a:\n    steps: [{ id: A, path: / }]\n  b:\n    steps: [{ id: A, path: / }]\n",
            "spec.yaml:7:",
            "duplicate request id `A`",
        ),
    ];
    for (body, at, message) in cases {
        let spec = common::write_spec(&dir, &format!("name: s\nmodes: [async]\n{body}"));
        let out = common::coordinator(&["run", &spec]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{body}: {stderr}");
        assert!(stderr.contains(at), "{body}: wanted {at}: {stderr}");
        assert!(
            stderr.contains(message),
            "{body}: wanted {message}: {stderr}"
        );
    }
}
