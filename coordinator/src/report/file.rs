//! Reports on disk: checking that a path can be written before a run
//! starts, writing the JSON, the HTML page and the JUnit XML, and reading a saved JSON
//! back to render it again.

use std::fs::OpenOptions;
use std::path::Path;

use super::model::{FORMAT, Report};

/// Why a report file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not JSON: {source}")]
    NotJson {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "{path}: not a loadlab report (it has no \"format\": \"{FORMAT}\"; write one with `coordinator run SPEC --json PATH`)"
    )]
    Foreign { path: String },
    #[error("{path}: a loadlab report this version cannot read: {source}")]
    Unreadable {
        path: String,
        source: serde_json::Error,
    },
}

/// Fails unless `path` can be written (its directory exists and lets us
/// create it, or the file is there and writable), leaving nothing behind.
pub fn check_writable(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        OpenOptions::new().append(true).open(path).map(drop)
    } else {
        OpenOptions::new().write(true).create_new(true).open(path)?;
        std::fs::remove_file(path)
    }
}

pub fn write_json(report: &Report, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

pub fn write_html(report: &Report, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, super::html::render(report))
}

pub fn write_junit(report: &Report, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, super::junit::junit(report))
}

/// Reads a report written by `--json`, telling a missing file, a file that
/// is not JSON, and JSON from another tool apart.
pub fn read(path: &Path) -> Result<Report, ReadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: shown.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ReadError::NotJson {
            path: shown.clone(),
            source,
        })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(ReadError::Foreign { path: shown });
    }
    serde_json::from_value(value).map_err(|source| ReadError::Unreadable {
        path: shown,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::{mode, report_of};
    use loadlab_proto::Mode;

    #[test]
    fn a_written_report_reads_back_the_same() {
        let dir = std::env::temp_dir().join(format!("loadlab-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.json");
        let report = report_of(vec![mode(Mode::Sync, &[10.0, 20.0], true)]);
        write_json(&report, &path).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&report).unwrap()
        );
        std::fs::write(&path, "{\"tool\": \"k6\"}").unwrap();
        assert!(matches!(read(&path), Err(ReadError::Foreign { .. })));
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(read(&path), Err(ReadError::NotJson { .. })));
        assert!(matches!(
            read(&dir.join("missing.json")),
            Err(ReadError::Io { .. })
        ));
        assert!(check_writable(&dir.join("new.html")).is_ok());
        assert!(!dir.join("new.html").exists(), "the check leaves nothing");
        assert!(check_writable(&dir.join("no/such/dir/x.html")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
