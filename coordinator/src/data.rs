//! A scenario's data file: read once by the coordinator when the spec is
//! loaded, and shipped to each agent in its assignment (remote agents need
//! no copy). CSV with a header row, or JSON Lines (one object per line).

use std::path::Path;

use loadlab_proto::v1;

use crate::spec::scenario::{DataOrder, is_name};

/// Files larger than this are refused: they travel in one gRPC message.
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;

/// A data file's rows, every value as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The file as the spec names it.
    pub file: String,
}

impl DataTable {
    /// Reads `path` (`shown`: as the spec names it); the error says what is
    /// wrong, and where in the file.
    pub fn read(path: &Path, shown: &str) -> Result<DataTable, String> {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("data file {shown} ({}): {e}", path.display()))?
            .len();
        if size > MAX_BYTES {
            return Err(format!(
                "data file {shown} is {:.1} MiB; loadlab ships data files to its agents and \
                 takes up to {} MiB: use a smaller one",
                size as f64 / 1048576.0,
                MAX_BYTES / 1024 / 1024
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("data file {shown}: {e}"))?;
        let table = match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => DataTable::csv(&text, shown)?,
            Some("jsonl" | "ndjson") => DataTable::json_lines(&text, shown)?,
            _ => {
                return Err(format!(
                    "data file {shown}: give a .csv (with a header row) or a .jsonl file"
                ));
            }
        };
        if table.rows.is_empty() {
            return Err(format!("data file {shown} has no rows"));
        }
        Ok(table)
    }

    fn csv(text: &str, shown: &str) -> Result<DataTable, String> {
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| format!("data file {shown}: {e}"))?
            .iter()
            .map(|c| c.trim().to_owned())
            .collect();
        if let Some(bad) = columns.iter().find(|c| !is_name(c)) {
            return Err(format!(
                "data file {shown}: column {bad:?} cannot be read as row.{bad}: name columns with \
                 letters, digits and _"
            ));
        }
        if let Some((first, at, twice)) = columns.iter().enumerate().find_map(|(at, c)| {
            let first = columns[..at].iter().position(|earlier| earlier == c)?;
            Some((first, at, c))
        }) {
            return Err(format!(
                "data file {shown}: column {twice:?} is named twice in the header row (columns \
                 {} and {}): row.{twice} would be ambiguous",
                first + 1,
                at + 1
            ));
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| format!("data file {shown}: {e}"))?;
            rows.push(record.iter().map(str::to_owned).collect());
        }
        Ok(DataTable {
            columns,
            rows,
            file: shown.to_owned(),
        })
    }

    fn json_lines(text: &str, shown: &str) -> Result<DataTable, String> {
        let mut columns: Vec<String> = Vec::new();
        let mut objects = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("data file {shown}:{}: {e}", n + 1))?;
            let serde_json::Value::Object(object) = value else {
                return Err(format!(
                    "data file {shown}:{}: each line is a JSON object, e.g. {{\"user\": \"ana\"}}",
                    n + 1
                ));
            };
            for key in object.keys() {
                if !columns.contains(key) {
                    if !is_name(key) {
                        return Err(format!(
                            "data file {shown}:{}: key {key:?} cannot be read as row.{key}",
                            n + 1
                        ));
                    }
                    columns.push(key.clone());
                }
            }
            objects.push(object);
        }
        let rows = objects
            .into_iter()
            .map(|object| {
                columns
                    .iter()
                    .map(|c| match object.get(c) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        Ok(DataTable {
            columns,
            rows,
            file: shown.to_owned(),
        })
    }

    /// What agent `share` of `shares` receives: every row (sequential,
    /// random), or its own rows only (unique: no row used twice).
    pub fn to_wire(&self, order: DataOrder, share: u64, shares: u64) -> v1::DataRows {
        let shares = shares.max(1);
        let rows = self
            .rows
            .iter()
            .enumerate()
            .filter(|(n, _)| order != DataOrder::Unique || *n as u64 % shares == share)
            .map(|(_, values)| v1::Row {
                values: values.clone(),
            })
            .collect();
        v1::DataRows {
            columns: self.columns.clone(),
            rows,
            order: match order {
                DataOrder::Sequential => v1::DataOrder::Sequential,
                DataOrder::Random => v1::DataOrder::Random,
                DataOrder::Unique => v1::DataOrder::Unique,
            }
            .into(),
            share,
            shares,
            file: self.file.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn csv_and_json_lines_give_columns_and_rows() {
        let (_dir, path) = write("users.csv", "user,password\nana,a1\n\"b, c\",b2\n");
        let table = DataTable::read(&path, "users.csv").unwrap();
        assert_eq!(table.columns, ["user", "password"]);
        assert_eq!(table.rows, [["ana", "a1"], ["b, c", "b2"]]);
        let (_dir, path) = write(
            "u.jsonl",
            "{\"user\":\"ana\",\"n\":3}\n\n{\"user\":\"bo\"}\n",
        );
        let table = DataTable::read(&path, "u.jsonl").unwrap();
        // Keys in name order (a row is a map).
        assert_eq!(table.columns, ["n", "user"]);
        assert_eq!(table.rows, [["3", "ana"], ["", "bo"]]);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let (_dir, path) = write("u.jsonl", "{\"user\":\"ana\"}\n[1]\n");
        let error = DataTable::read(&path, "u.jsonl").unwrap_err();
        assert!(
            error.contains("u.jsonl:2: each line is a JSON object"),
            "{error}"
        );
        let (_dir, path) = write("u.csv", "user name\nx\n");
        let error = DataTable::read(&path, "u.csv").unwrap_err();
        assert!(error.contains("cannot be read as row."), "{error}");
        let (_dir, path) = write("u.csv", "user,pw,user\nana,x,bob\n");
        let error = DataTable::read(&path, "u.csv").unwrap_err();
        assert_eq!(
            error,
            "data file u.csv: column \"user\" is named twice in the header row (columns 1 and 3): \
             row.user would be ambiguous"
        );
        let (_dir, path) = write("u.txt", "x");
        assert!(
            DataTable::read(&path, "u.txt")
                .unwrap_err()
                .contains(".csv")
        );
        let (_dir, path) = write("u.csv", "user\n");
        assert!(
            DataTable::read(&path, "u.csv")
                .unwrap_err()
                .contains("has no rows")
        );
        let missing = DataTable::read(Path::new("/nonexistent/u.csv"), "u.csv").unwrap_err();
        assert!(missing.contains("data file u.csv"), "{missing}");
    }

    #[test]
    fn unique_rows_are_split_between_agents_without_overlap() {
        let table = DataTable {
            columns: vec!["n".into()],
            rows: (0..7).map(|n| vec![n.to_string()]).collect(),
            file: "n.csv".into(),
        };
        let mut seen = Vec::new();
        for share in 0..3 {
            let wire = table.to_wire(DataOrder::Unique, share, 3);
            seen.extend(wire.rows.into_iter().map(|r| r.values[0].clone()));
        }
        seen.sort();
        assert_eq!(seen, ["0", "1", "2", "3", "4", "5", "6"]);
        assert_eq!(table.to_wire(DataOrder::Sequential, 1, 3).rows.len(), 7);
    }
}
