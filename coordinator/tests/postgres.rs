//! Against a real PostgreSQL (DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; `scripts/test` starts or
//! installs it). Each test works in a schema of its own, dropped afterwards.
//!
//! (Over 450 lines: one test binary against one real server, its helpers
//! shared by every test in it.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadlab_coordinator::dataset::{self, CITIES_PER_SCALE, STATES, Seeded};
use loadlab_coordinator::spec::SchemaName;
use serde_json::Value;

mod common;
use common::{coordinator_with_env as coordinator, text, write_spec};

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A connection, or a failure that says how to get PostgreSQL running.
fn client() -> postgres::Client {
    let url = database_url();
    postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|error| {
        panic!(
            "PostgreSQL is not reachable at {url}: {error}\n\
             Start it with `scripts/ensure-postgres` (or `pg_ctlcluster --skip-systemctl-redirect \
             $(ls /etc/postgresql) main start`), or set DATABASE_URL."
        )
    })
}

/// A schema of the test's own, dropped when the test ends (pass or fail).
struct TestSchema(SchemaName);

impl TestSchema {
    fn new() -> TestSchema {
        let name = format!(
            "loadlab_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        TestSchema(SchemaName::parse(&name).unwrap())
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let name = self.0.0.clone();
        // The sync client runs a runtime of its own: keep it off tokio's threads.
        let _ = std::thread::spawn(move || {
            let _ = client().batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
        })
        .join();
    }
}

fn count(schema: &SchemaName, sql: &str) -> i64 {
    let mut c = client();
    c.batch_execute(&format!("SET search_path = {schema}"))
        .unwrap();
    c.query_one(sql, &[]).unwrap().get(0)
}

/// The rows each query of the shipped `experiments/postgres.yaml` returns,
/// run as they ship.
fn shipped_query_rows(schema: &SchemaName) -> Vec<i64> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments/postgres.yaml");
    let spec = loadlab_coordinator::spec::Spec::load(&path).unwrap();
    spec.queries
        .iter()
        .map(|q| count(schema, &format!("SELECT count(*) FROM ({}) q", q.sql)))
        .collect()
}

/// Seeding at small scales: exact counts per state and per initial, the
/// three queries scale linearly, and seeding again at the same scale is a no-op.
#[test]
fn seeding_gives_exact_counts_scales_linearly_and_is_idempotent() {
    let schema = TestSchema::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seed = |scale| {
        runtime
            .block_on(dataset::seed(
                &database_url(),
                &schema.0,
                scale,
                |_, _| {},
                &tokio_util::sync::CancellationToken::new(),
            ))
            .unwrap()
    };

    assert!(matches!(seed(2), Seeded::Built { rows, .. } if rows == 2 * CITIES_PER_SCALE));
    let s = &schema.0;
    for state in &STATES {
        let cities = count(
            s,
            &format!("SELECT count(*) FROM cities WHERE state_id = {}", state.id),
        );
        let a = count(
            s,
            &format!(
                "SELECT count(*) FROM cities WHERE state_id = {} AND name LIKE 'A%'",
                state.id
            ),
        );
        assert_eq!(
            (cities, a),
            (
                2 * i64::from(state.cities),
                2 * i64::from(state.cities_starting_with_a)
            ),
            "{}",
            state.abbreviation
        );
    }
    // At scale 1400: 7,789,600, 575,400 and 2,730,000 rows.
    assert_eq!(shipped_query_rows(s), [2 * 5_564, 2 * 411, 2 * 1_950]);
    assert_eq!(count(s, "SELECT count(*) FROM states"), 27);
    assert_eq!(
        count(s, "SELECT count(DISTINCT id) FROM cities"),
        2 * 5_564,
        "ids are unique"
    );
    assert_eq!(
        count(
            s,
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'cities' AND indexdef NOT LIKE '%(id)'"
        ),
        0,
        "no index but the primary key: the queries are meant to be slow"
    );

    assert!(matches!(seed(2), Seeded::AlreadyThere { .. }));
    assert!(matches!(seed(3), Seeded::Built { .. }));
    assert_eq!(shipped_query_rows(s), [3 * 5_564, 3 * 411, 3 * 1_950]);
}

/// Seeding statements of ours into `schema` running on the server (every
/// statement names its schema; another test may be seeding one of its own).
fn seeding_statements(schema: &str) -> i64 {
    let mut c = client();
    c.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' \
         AND query LIKE '%' || $2 || '%'",
        &[&dataset::APPLICATION_NAME, &schema],
    )
    .unwrap()
    .get(0)
}

/// Ctrl-C while seeding: the statements running are cancelled on the
/// server (nothing of ours keeps working there) and the exit code is 130.
#[test]
fn interrupted_seeding_stops_the_server_and_exits_130() {
    let schema = TestSchema::new();
    let child = Command::new(env!("CARGO_BIN_EXE_coordinator"))
        .args(["seed", "--database-url", &database_url(), "--scale", "3000"])
        .args(["--schema", &schema.0.0])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seeding_statements(&schema.0.0) == 0 {
        assert!(Instant::now() < deadline, "seeding never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("seeding was interrupted"), "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while seeding_statements(&schema.0.0) > 0 {
        assert!(
            Instant::now() < deadline,
            "seeding statements still run on the server after the interrupt"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The four modes on pg_sleep queries: sync and blocking ≈ sum, async and
/// threads ≈ max (generous bounds), every query's rows counted.
#[test]
fn modes_on_slow_queries_wait_as_their_names_say() {
    let _reachable = client();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../experiments/postgres-quick.yaml"
    );
    let out = coordinator(
        &["run", spec, "--json", json.to_str().unwrap()],
        &[("DATABASE_URL", &database_url())],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("R1: Querying 'SELECT 1 FROM pg_sleep(0.3)'"),
        "{stdout}"
    );
    assert!(
        stdout.contains("R2: Query made! Db replied '1' rows"),
        "{stdout}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    for mode in report["modes"].as_array().unwrap() {
        let name = mode["mode"].as_str().unwrap();
        let wall = mode["wall_ms"].as_f64().unwrap();
        for r in mode["requests"].as_array().unwrap() {
            assert_eq!(
                (r["ok"].as_bool(), r["rows"].as_u64()),
                (Some(true), Some(1)),
                "{name}: {r}"
            );
        }
        match name {
            // Generous: "sum" (510 ms) from "max" (300 ms), with room for a
            // loaded machine (a pool's connections are made within the wall).
            "sync" | "blocking" => assert!((510.0..1_100.0).contains(&wall), "{name}: {wall}"),
            _ => assert!((300.0..510.0).contains(&wall), "{name}: {wall}"),
        }
    }
}

/// Queries still running on the server whose text carries `marker` (an idle
/// backend still shows its last query: only active ones count).
fn leftover_queries(marker: &str) -> i64 {
    let mut c = client();
    c.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' \
         AND state = 'active' AND pid <> pg_backend_pid()",
        &[&marker],
    )
    .unwrap()
    .get(0)
}

/// A statement timeout fails that query with its SQLSTATE, the others still
/// run, and no query of ours is left on the server.
#[test]
fn timed_out_query_is_cancelled_on_the_server_and_others_still_run() {
    let _reachable = client();
    let marker = format!(
        "loadlab_timeout_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        &format!(
            "name: t\nmodes: [sync, async, blocking, threads]\nstatement_timeout: 300ms\nqueries:\n  \
             - {{ id: slow, sql: \"SELECT pg_sleep(30) /* {marker} */\" }}\n  \
             - {{ id: bad, sql: \"SELEC 1\" }}\n  - {{ id: fine, sql: \"SELECT 1\" }}\n"
        ),
    );
    let json = dir.path().join("r.json");
    let started = Instant::now();
    let out = coordinator(
        &["run", &spec, "--json", json.to_str().unwrap()],
        &[("DATABASE_URL", &database_url())],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(started.elapsed() < Duration::from_secs(20));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    for mode in report["modes"].as_array().unwrap() {
        let by_id = |id: &str| {
            mode["requests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .unwrap()
                .clone()
        };
        let name = mode["mode"].as_str().unwrap();
        assert!(
            by_id("slow")["error"]
                .as_str()
                .unwrap()
                .starts_with("SQLSTATE 57014: canceling statement due to statement timeout"),
            "{name}"
        );
        assert!(
            by_id("bad")["error"]
                .as_str()
                .unwrap()
                .starts_with("SQLSTATE 42601: syntax error"),
            "{name}"
        );
        assert_eq!(by_id("fine")["ok"], true, "{name}");
    }
    assert_eq!(leftover_queries(&marker), 0);
}

/// Ctrl-C mid-query: the coordinator cancels its agents, which cancel the
/// query on the server; the partial report prints and the exit code is 130.
#[test]
fn interrupt_cancels_the_query_on_the_server() {
    let _reachable = client();
    let marker = format!(
        "loadlab_interrupt_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let dir = tempfile::tempdir().unwrap();
    for mode in ["async", "sync"] {
        let spec = write_spec(
            &dir,
            &format!(
                "name: i\nmodes: [{mode}]\nqueries:\n  - {{ id: Q, sql: \"SELECT pg_sleep(60) /* {marker} */\" }}\n"
            ),
        );
        let child = Command::new(env!("CARGO_BIN_EXE_coordinator"))
            .args(["run", &spec])
            .env("DATABASE_URL", database_url())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while leftover_queries(&marker) == 0 {
            assert!(Instant::now() < deadline, "{mode}: the query never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "{mode}: {}",
            text(&out.stdout)
        );
        assert!(text(&out.stdout).contains("Interrupted"), "{mode}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while leftover_queries(&marker) > 0 {
            assert!(
                Instant::now() < deadline,
                "{mode}: the query is still running on the server"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A refused connection or an unknown database: one clear line naming
/// host:port/database and PostgreSQL's message, exit 3 (could not run),
/// nothing run.
#[test]
fn unreachable_or_unknown_database_is_one_clear_line() {
    let _reachable = client();
    let port = loadlab_testkit::closed_port().port();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: d\nmodes: [sync]\nqueries: [{ id: Q, sql: SELECT 1 }]\n",
    );
    let refused = coordinator(
        &["run", &spec],
        &[(
            "DATABASE_URL",
            &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        )],
    );
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "could not run: {stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to 127.0.0.1:{port}/postgres")),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // The test database's server, asked for a database it does not have.
    let mut url = url::Url::parse(&database_url()).unwrap();
    url.set_path("/loadlab_no_such_db");
    let unknown = coordinator(&["run", &spec], &[("DATABASE_URL", url.as_str())]);
    let stderr = text(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(3), "could not run: {stderr}");
    let server = format!(
        "{}:{}/loadlab_no_such_db",
        url.host_str().unwrap(),
        url.port().unwrap_or(5432)
    );
    assert!(stderr.contains(&server), "{stderr}");
    assert!(
        stderr.contains("SQLSTATE 3D000: database \"loadlab_no_such_db\" does not exist"),
        "{stderr}"
    );
    assert!(!text(&unknown.stdout).contains("Querying"));
}

/// A login role of the test's own whose sessions plan with `settings`
/// (role-level, so only the agent's and the watcher's sessions see them),
/// dropped when the test ends.
struct TestRole(String);

impl TestRole {
    fn new(schema: &SchemaName, settings: &[(&str, &str)]) -> TestRole {
        let name = format!(
            "loadlab_role_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let mut sql = format!(
            "CREATE ROLE {name} LOGIN; GRANT USAGE ON SCHEMA {schema} TO {name}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {name};"
        );
        for (key, value) in settings {
            sql.push_str(&format!("ALTER ROLE {name} SET {key} = {value};"));
        }
        client().batch_execute(&sql).unwrap();
        TestRole(name)
    }

    fn url(&self) -> String {
        let mut url = url::Url::parse(&database_url()).unwrap();
        url.set_username(&self.0).unwrap();
        url.to_string()
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let _ = client()
                .batch_execute(&format!("DROP OWNED BY {name}; DROP ROLE IF EXISTS {name}"));
        })
        .join();
    }
}

/// The SQL lesson in the terminal, from a real PostgreSQL: CPU-bound
/// queries that slow each other down in async say so under the async
/// mode (not only in the JSON); and sync says when the database ran its
/// one query on parallel workers, and only then.
#[test]
fn the_terminal_says_what_the_database_did() {
    let schema = TestSchema::new();
    let s = &schema.0;
    client()
        .batch_execute(&format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.numbers AS \
             SELECT n FROM generate_series(1, 600000) n; ANALYZE {s}.numbers;"
        ))
        .unwrap();
    let query = format!("SELECT count(*) FROM {s}.numbers WHERE md5(md5(n::text)) LIKE '%ab%'");
    let run = |role: &TestRole| {
        let dir = tempfile::tempdir().unwrap();
        let spec = write_spec(
            &dir,
            &format!(
                "name: lesson\ntarget: {{ postgres: \"{}\" }}\nmodes: [sync, async]\n\
                 statement_timeout: 60s\nqueries:\n{}",
                role.url(),
                (1..=4)
                    .map(|i| format!("  - {{ id: Q{i}, sql: \"{query}\" }}\n"))
                    .collect::<String>()
            ),
        );
        let out = coordinator(&["run", &spec], &[]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        // Each mode's own lines run from its `==========` to the next,
        // ending with `Time elapsed` and the why; the summary follows.
        let footers: Vec<String> = stdout
            .split("==========")
            .filter(|section| section.contains("Time elapsed"))
            .map(str::to_owned)
            .collect();
        assert_eq!(footers.len(), 2, "{stdout}");
        (footers[0].clone(), footers[1].clone())
    };

    let parallel = TestRole::new(
        s,
        &[
            ("max_parallel_workers_per_gather", "2"),
            ("parallel_setup_cost", "0"),
            ("parallel_tuple_cost", "0"),
            ("min_parallel_table_scan_size", "0"),
        ],
    );
    let (sync, together) = run(&parallel);
    assert!(sync.contains("Time elapsed"), "{sync}");
    assert!(
        sync.contains("never more than 1 request in flight; yet the database ran each query on ~")
            && sync.contains("backends (parallel workers): the cores were already busy"),
        "sync with parallel workers: {sync}"
    );
    assert!(
        together.contains("longer beside the others;") && together.contains("backends were active"),
        "async's lesson under the async mode: {together}"
    );

    let alone = TestRole::new(s, &[("max_parallel_workers_per_gather", "0")]);
    let (sync, _) = run(&alone);
    assert!(sync.contains("Time elapsed"), "{sync}");
    assert!(
        !sync.contains("parallel workers"),
        "sync without parallel workers: {sync}"
    );
}

/// A scenario's SQL step runs as its HTTP steps do, in every mode: after
/// the page it follows, each iteration once, its rows counted; a query the
/// server refuses fails its step and skips the rest of the iteration.
#[test]
fn sql_steps_run_in_scenarios_in_every_mode() {
    let _reachable = client();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "name: sql-steps\nmodes: [sync, async, blocking, threads]\nrepeat: 12\nconcurrency: 4\n\
         scenarios:\n\
         \x20 page-then-query:\n\
         \x20   steps:\n\
         \x20     - { id: Page, path: /delay-me?ms=5 }\n\
         \x20     - { id: Rows, query: \"SELECT g FROM generate_series(1, 3) g, pg_sleep(0.01)\" }\n\
         \x20     - think: 1ms\n\
         \x20     - { id: Broken, query: \"SELECT * FROM no_such_table_here\" }\n\
         \x20     - { id: Never, path: /delay-me?ms=1 }\n",
    );
    let json = dir.path().join("r.json");
    let out = coordinator(
        &["run", &spec, "--quiet", "--json", json.to_str().unwrap()],
        &[("DATABASE_URL", &database_url())],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "Broken fails: {}",
        text(&out.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    for mode in report["modes"].as_array().unwrap() {
        let name = mode["mode"].as_str().unwrap();
        let by = &mode["by_request"];
        assert_eq!(
            (by["Page"]["count"].as_u64(), by["Page"]["errors"].as_u64()),
            (Some(12), Some(0)),
            "{name}: {by}"
        );
        assert_eq!(
            (by["Rows"]["count"].as_u64(), by["Rows"]["errors"].as_u64()),
            (Some(12), Some(0)),
            "{name}: {by}"
        );
        assert!(
            by["Rows"]["histogram"]["p50_ms"].as_f64().unwrap() >= 10.0,
            "{name}: pg_sleep(0.01)"
        );
        assert_eq!(by["Broken"]["errors"].as_u64(), Some(12), "{name}: {by}");
        assert_eq!(by["Never"]["skipped"].as_u64(), Some(12), "{name}: {by}");
        assert_eq!(
            mode["by_scenario"]["page-then-query"]["failed"].as_u64(),
            Some(12)
        );
        let rows: Vec<u64> = mode["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["id"] == "Rows")
            .map(|r| r["rows"].as_u64().unwrap())
            .collect();
        assert!(
            !rows.is_empty() && rows.iter().all(|&n| n == 3),
            "{name}: {rows:?}"
        );
        assert!(
            mode["errors_by_reason"]
                .to_string()
                .contains("no_such_table_here"),
            "{name}: the server's reason"
        );
    }
}
