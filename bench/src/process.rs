//! Where the release binaries under test are.

use std::path::PathBuf;

use anyhow::{Context, bail};

/// A binary of this workspace, built into the same directory as `bench`.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the bench binary")?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p {name})",
            path.display()
        );
    }
    Ok(path)
}
