//! Where the binaries under test are (beside `bench`: the same profile).

use std::path::PathBuf;

use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

/// A binary of this workspace, built into the same directory as `bench`.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the bench binary")?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo build --release --bin {name}, or the whole workspace: cargo build --release)",
            path.display()
        );
    }
    Ok(path)
}

/// The cargo profile the binaries under test were built with, as the
/// directory `bench` runs from says: `release` (everyday) or `dist` (fat
/// LTO, as images ship).
pub fn profile() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()
                .and_then(|dir| dir.file_name())
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether `tool` runs (`--version` answers).
pub fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// `oha --no-tui --output-format json ARGS URL`: its JSON report.
pub fn oha(args: &[&str], url: &str) -> anyhow::Result<Value> {
    let out = Command::new("oha")
        .args(["--no-tui", "--output-format", "json"])
        .args(args)
        .arg(url)
        .output()
        .context("cannot run oha")?;
    if !out.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("oha's JSON")
}
