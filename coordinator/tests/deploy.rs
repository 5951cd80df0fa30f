//! `docker-compose.yml` runs for real in `tests/compose.rs`; the `Dockerfile`'s
//! from-source stage and `deploy/kubernetes/` cannot be started here (no
//! registry, no cluster). This test keeps them from drifting: every loadlab
//! binary, subcommand, flag and environment variable they name must exist in
//! the real CLIs' `--help`, and every spec they run must validate. And every file is
//! validated against its published schema, offline (`scripts/validate-deploy`:
//! the Compose Specification's JSON schema, and Kubernetes' OpenAPI schemas
//! in strict mode), so a wrong field name or type fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

mod common;
use common::workspace_binary;

/// The workspace's binaries and their packages.
const BINARIES: [(&str, &str); 4] = [
    ("coordinator", "loadlab-coordinator"),
    ("agent", "loadlab-agent"),
    ("delay-server", "delay-server"),
    ("tracker", "tracker"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A container as the deployment files describe it.
#[derive(Debug)]
struct Container {
    file: String,
    command: Vec<String>,
    env: Vec<String>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn compose_containers() -> Vec<Container> {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    let services = doc["services"].as_mapping().expect("services");
    assert!(
        [
            "postgres",
            "jaeger",
            "redis",
            "delay-server",
            "tracker",
            "coordinator",
            "agent"
        ]
        .iter()
        .all(|name| services.contains_key(*name)),
        "docker-compose.yml names the seven services"
    );
    services
        .iter()
        .map(|(name, service)| Container {
            file: format!("docker-compose.yml:{}", name.as_str().unwrap()),
            command: strings(&service["command"]),
            env: service["environment"]
                .as_mapping()
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// Every map in `value` that has `image` and `command`: the containers of
/// any Kubernetes object, however deep.
fn find_containers(file: &str, value: &Value, out: &mut Vec<Container>) {
    match value {
        Value::Mapping(map) => {
            if map.contains_key("image") && map.contains_key("command") {
                let env = map
                    .get("env")
                    .and_then(Value::as_sequence)
                    .map(|s| {
                        s.iter()
                            .filter_map(|e| e["name"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Container {
                    file: file.to_owned(),
                    command: strings(&map["command"]),
                    env,
                });
            }
            for v in map.values() {
                find_containers(file, v, out);
            }
        }
        Value::Sequence(seq) => seq.iter().for_each(|v| find_containers(file, v, out)),
        _ => {}
    }
}

fn kubernetes_containers() -> Vec<Container> {
    let mut out = Vec::new();
    let dir = root().join("deploy/kubernetes");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let value = <Value as serde::Deserialize>::deserialize(doc)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                find_containers(&name, &value, &mut out);
            }
        }
    }
    out
}

fn help(binary: &str, subcommand: Option<&str>) -> String {
    let package = BINARIES.iter().find(|(b, _)| *b == binary).unwrap().1;
    let out = Command::new(workspace_binary(package, binary))
        .args(subcommand)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{binary} {subcommand:?} --help failed"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Checks one container against the CLI it runs; returns what it checked.
fn check(container: &Container, problems: &mut Vec<String>) -> Option<String> {
    let binary = container.command.first()?;
    if !BINARIES.iter().any(|(b, _)| b == binary) {
        return None; // postgres, jaeger, redis: not ours
    }
    let subcommand = (binary == "coordinator")
        .then(|| container.command.get(1).map(String::as_str))
        .flatten()
        .filter(|s| !s.starts_with('-'));
    let help = help(binary, subcommand);
    let what = format!("{} ({binary} {})", container.file, subcommand.unwrap_or(""));
    for flag in container.command.iter().filter(|a| a.starts_with("--")) {
        let flag = flag.split('=').next().unwrap();
        if !help.contains(&format!("{flag} ")) && !help.contains(&format!("{flag}\n")) {
            problems.push(format!("{what}: {flag} is not a flag of `{binary}`"));
        }
    }
    for var in &container.env {
        if !help.contains(&format!("[env: {var}")) {
            problems.push(format!("{what}: `{binary}` reads no {var}"));
        }
    }
    // Specs are shipped in the image as /experiments/NAME.
    for arg in &container.command {
        if let Some(name) = arg.strip_prefix("/experiments/") {
            let name = name
                .strip_prefix("${EXPERIMENT:-")
                .and_then(|n| n.strip_suffix('}'))
                .unwrap_or(name);
            let spec = root().join("experiments").join(name);
            let out = Command::new(env!("CARGO_BIN_EXE_coordinator"))
                .args(["validate", spec.to_str().unwrap()])
                .output()
                .unwrap();
            if !out.status.success() {
                problems.push(format!("{what}: {} does not validate", spec.display()));
            }
        }
    }
    Some(what)
}

#[test]
fn compose_and_kubernetes_name_only_what_the_clis_have() {
    let mut problems = Vec::new();
    let mut checked = BTreeSet::new();
    for container in compose_containers().iter().chain(&kubernetes_containers()) {
        if let Some(what) = check(container, &mut problems) {
            checked.insert(what);
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The loadlab services of both: four in compose, four in Kubernetes.
    assert_eq!(checked.len(), 8, "{checked:#?}");
}

#[test]
fn dockerfile_builds_and_ships_every_binary_it_names() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let built: BTreeSet<&str> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "--bin")
        .map(|w| w[1])
        .collect();
    let ours: BTreeSet<&str> = BINARIES.iter().map(|(b, _)| *b).collect();
    assert_eq!(built, ours, "the Dockerfile builds exactly our binaries");
    for binary in ours {
        assert!(
            text.contains(&format!("/src/target/dist/{binary}")),
            "the Dockerfile copies {binary} into the image"
        );
    }
    assert!(text.contains("COPY experiments/ /experiments/"));
    // No system protoc: the build must not install one.
    assert!(!text.contains("protobuf-compiler"));
}

/// `scripts/validate-deploy` on the given files (none: the shipped ones):
/// its exit code and what it printed.
fn validate(files: &[&Path]) -> (Option<i32>, String) {
    let out = Command::new(root().join("scripts/validate-deploy"))
        .args(files)
        .current_dir(root())
        .output()
        .expect("scripts/validate-deploy runs (it needs python3)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// `text` written to `file` fails the check (exit 1) saying `expected`.
fn refused(file: &Path, text: &str, expected: &str) {
    std::fs::write(file, text).unwrap();
    let (code, out) = validate(&[file]);
    assert_eq!(code, Some(1), "{}: {out}", file.display());
    assert!(
        out.contains(expected),
        "{}: expected {expected:?} in {out}",
        file.display()
    );
}

#[test]
fn the_shipped_compose_and_kubernetes_files_match_their_schemas() {
    let (code, out) = validate(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ok    docker-compose.yml"), "{out}");
    assert!(out.contains("Deployment/agent: Kubernetes"), "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
}

/// A misspelt field and a value of the wrong type, in the compose file and
/// in a Kubernetes manifest, each fail the schema check naming the field.
#[test]
fn a_wrong_field_name_or_type_in_a_manifest_fails() {
    let dir = std::env::temp_dir().join(format!("loadlab-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let agent = std::fs::read_to_string(root().join("deploy/kubernetes/agent.yaml")).unwrap();
    let cases = [
        (
            "compose-field.yml",
            compose.replacen("    image:", "    imagee:", 1),
            "'imagee' was unexpected",
        ),
        (
            "compose-type.yml",
            compose.replacen("  redis:\n", "  redis:\n    ports: 6379\n", 1),
            "6379 is not of type 'array'",
        ),
        (
            "agent-field.yaml",
            agent.replacen("replicas:", "replica:", 1),
            "'replica' was unexpected",
        ),
        (
            "agent-type.yaml",
            agent.replacen("replicas: 3", "replicas: two", 1),
            "'two' is not of type 'integer'",
        ),
    ];
    for (name, text, expected) in cases {
        let original = if name.starts_with("compose") {
            &compose
        } else {
            &agent
        };
        assert_ne!(&text, original, "{name}: the mistake was not made");
        refused(&dir.join(name), &text, expected);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The same for the Kustomization (checked field by field: no schema of it
/// is published): a misspelt field and a field of the wrong type fail.
#[test]
fn a_wrong_field_name_or_type_in_the_kustomization_fails() {
    let shipped = root().join("deploy/kubernetes");
    let kustomization = std::fs::read_to_string(shipped.join("kustomization.yaml")).unwrap();
    for (case, text, expected) in [
        (
            "field",
            kustomization.replacen("resources:", "resourcez:", 1),
            "'resourcez' was unexpected",
        ),
        (
            "type",
            format!("{kustomization}namespace: [loadlab]\n"),
            "['loadlab'] is not of type 'string'",
        ),
    ] {
        assert_ne!(text, kustomization, "{case}: the mistake was not made");
        // Beside copies of the manifests it lists, as in the repository.
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&shipped).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
        refused(&dir.path().join("kustomization.yaml"), &text, expected);
    }
}

/// Every Kubernetes object of the shipped files.
fn kubernetes_objects() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("deploy/kubernetes")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension().is_some_and(|e| e == "yaml") && name != "kustomization.yaml" {
            let text = std::fs::read_to_string(&path).unwrap();
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let value = <Value as serde::Deserialize>::deserialize(doc).unwrap();
                out.push((format!("{name}:{}", value["kind"].as_str().unwrap()), value));
            }
        }
    }
    out
}

/// The defects a reading found, kept fixed: every workload has resources
/// and a restricted securityContext (agents no longer BestEffort, first
/// evicted beside the server they load), the Job ends and is cleaned up,
/// no working secret ships, agents reach the coordinator over TLS, and
/// Redis and the tracker are there as in Compose.
#[test]
fn kubernetes_workloads_are_bounded_locked_down_and_need_a_secret_of_your_own() {
    let objects = kubernetes_objects();
    let mut workloads = BTreeSet::new();
    for (name, object) in &objects {
        assert_ne!(object["kind"], "Secret", "{name}: no secret ships");
        let Some(pod) = object["spec"]["template"]["spec"].as_mapping() else {
            continue;
        };
        workloads.insert(object["metadata"]["name"].as_str().unwrap().to_owned());
        assert_eq!(
            pod[&Value::from("securityContext")]["runAsNonRoot"],
            Value::Bool(true),
            "{name}: runs as a non-root user"
        );
        for container in pod[&Value::from("containers")].as_sequence().unwrap() {
            let what = format!("{name}/{}", container["name"].as_str().unwrap());
            for kind in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        !container["resources"][kind][resource].is_null(),
                        "{what}: resources.{kind}.{resource}"
                    );
                }
            }
            let security = &container["securityContext"];
            assert_eq!(
                security["allowPrivilegeEscalation"],
                Value::Bool(false),
                "{what}"
            );
            assert_eq!(security["capabilities"]["drop"][0], "ALL", "{what}");
            for env in container["env"].as_sequence().into_iter().flatten() {
                if env["name"] == "LOADLAB_COORDINATOR" {
                    assert!(
                        env["value"].as_str().unwrap().starts_with("https://"),
                        "{what}: agents reach the coordinator over TLS"
                    );
                }
            }
        }
        if object["kind"] == "Job" {
            assert!(
                object["spec"]["activeDeadlineSeconds"].is_u64(),
                "{name}: a deadline"
            );
            assert!(
                object["spec"]["ttlSecondsAfterFinished"].is_u64(),
                "{name}: a TTL"
            );
        }
    }
    let expected = [
        "agent",
        "coordinator",
        "delay-server",
        "jaeger",
        "postgres",
        "redis",
        "tracker",
    ];
    assert_eq!(
        workloads,
        expected.map(str::to_owned).into(),
        "the workloads"
    );
    // The Secret comes from files deploy/make-secrets makes, never the repo.
    let kustomization =
        std::fs::read_to_string(root().join("deploy/kubernetes/kustomization.yaml")).unwrap();
    assert!(kustomization.contains("secrets/token"), "{kustomization}");
    let ignored = std::fs::read_to_string(root().join("deploy/kubernetes/.gitignore")).unwrap();
    assert!(
        ignored.lines().any(|l| l == "secrets/"),
        "the secrets stay out of git"
    );
    // Nor in Compose: no token with a default, agents over TLS.
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    assert!(
        !compose.contains("LOADLAB_TOKEN:"),
        "no token in docker-compose.yml"
    );
    assert!(compose.contains("LOADLAB_COORDINATOR: https://coordinator:7000"));
}
