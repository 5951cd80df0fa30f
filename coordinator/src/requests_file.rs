//! `--requests PATH`: every request's record, one JSON object a line, as
//! the records arrive — never held in memory (the report keeps a sample).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use loadlab_proto::Mode;
use serde::Serialize;

use crate::spec::variables::Secrets;

use crate::observer::Observer;
use crate::report::RequestRecord;

/// The file, as an observer that wants every record.
pub struct RequestsFile {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
    /// The first write that failed; later records are not written.
    error: Option<std::io::Error>,
    /// Secret values, written `${NAME}` in every record.
    secrets: Secrets,
}

#[derive(Serialize)]
struct Line<'a> {
    mode: Mode,
    #[serde(flatten)]
    record: &'a RequestRecord,
}

impl RequestsFile {
    pub fn create(path: &Path, secrets: Secrets) -> std::io::Result<RequestsFile> {
        Ok(RequestsFile {
            path: path.to_owned(),
            out: BufWriter::with_capacity(1 << 16, File::create(path)?),
            written: 0,
            error: None,
            secrets,
        })
    }

    /// Flushes; says how many records were written, or what went wrong.
    pub fn finish(mut self) -> Result<u64, String> {
        if self.error.is_none()
            && let Err(error) = self.out.flush()
        {
            self.error = Some(error);
        }
        match self.error {
            None => Ok(self.written),
            Some(error) => Err(format!(
                "--requests {}: {error}; only the first {} records were written",
                self.path.display(),
                self.written
            )),
        }
    }
}

impl Observer for RequestsFile {
    fn record(&mut self, mode: Mode, record: &RequestRecord) {
        if self.error.is_some() {
            return;
        }
        let line = Line { mode, record };
        let written = if self.secrets.is_empty() {
            serde_json::to_writer(&mut self.out, &line).map_err(std::io::Error::other)
        } else {
            serde_json::to_value(&line)
                .map_err(std::io::Error::other)
                .and_then(|mut value| {
                    self.secrets.redact_json(&mut value);
                    serde_json::to_writer(&mut self.out, &value).map_err(std::io::Error::other)
                })
        }
        .and_then(|()| self.out.write_all(b"\n"));
        match written {
            Ok(()) => self.written += 1,
            Err(error) => self.error = Some(error),
        }
    }

    fn wants_every_record(&self) -> bool {
        true
    }
}
