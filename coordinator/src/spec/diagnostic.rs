//! Why a spec was refused, and where: every error names the file, line and
//! column of the value at fault — from the reader ([`super::read`], which
//! also suggests a name when one looks misspelt), or, for a check made once
//! the spec is read, by finding the value again ([`locate`]).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::read::{Refusal, Step, path_text};

/// Why a spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

impl SpecError {
    /// An error at `line:column` of `path`.
    pub fn at(path: &str, (line, column): (usize, usize), message: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    /// A refusal of the YAML reader, at its place.
    pub fn from_refusal(path: &str, refusal: Refusal) -> SpecError {
        SpecError::at(path, refusal.at, refusal.to_string())
    }
}

/// The lists whose entries carry request ids, unique across all of them.
const ID_LISTS: [&str; 2] = ["requests", "queries"];

/// The first request id seen twice in `text`, placed at its second
/// occurrence; `None` when no id repeats.
pub fn duplicate_id(text: &str, path: &str) -> Option<SpecError> {
    let mut seen = HashSet::new();
    let found = locate(text, |steps, value| {
        let is_id = match steps {
            [Step::Key(list), Step::Index(_), Step::Key(id)] => {
                ID_LISTS.contains(&list.as_str()) && id == "id"
            }
            [
                Step::Key(scenarios),
                Step::Key(_),
                Step::Key(steps),
                Step::Index(_),
                Step::Key(id),
            ] => scenarios == "scenarios" && steps == "steps" && id == "id",
            _ => false,
        };
        is_id && value.is_some_and(|id| !seen.insert(id.to_owned()))
    })?;
    Some(SpecError::at(
        path,
        found.at,
        format!(
            "{}: duplicate request id `{}`: ids must be unique",
            path_text(&found.path),
            found.text.unwrap_or_default()
        ),
    ))
}

/// An error about the value of top-level field `key`, placed at that value
/// (checks across fields run once the spec is read; this finds where the
/// field is).
pub fn at_field(text: &str, path: &str, key: &str, message: String) -> SpecError {
    let at = locate(text, |steps, _| matches!(steps, [Step::Key(k)] if k == key));
    SpecError::at(path, at.map_or((1, 1), |found| found.at), message)
}

/// A value found in a document: its line and column, its path, and its
/// text when it is a scalar.
pub struct Found {
    pub at: (usize, usize),
    pub path: Vec<Step>,
    pub text: Option<String>,
}

/// The first value of `text`, in document order, that `pick` picks (it
/// sees each value's path and, for a scalar, its text), placed by the
/// parser; `None` when it picks none.
pub fn locate(text: &str, mut pick: impl FnMut(&[Step], Option<&str>) -> bool) -> Option<Found> {
    let mut found = None;
    let walk = Walk {
        path: &mut Vec::new(),
        pick: &mut |steps: &[Step], value: Option<&str>| {
            let picked = pick(steps, value);
            if picked {
                found = Some((steps.to_vec(), value.map(str::to_owned)));
            }
            picked
        },
    };
    let error = walk
        .deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .err()?;
    let (path, text) = found?;
    let at = error.location().map_or((1, 1), |l| (l.line(), l.column()));
    Some(Found { at, path, text })
}

/// Walks a document, each value with its path, and fails at the first
/// one `pick` picks (so the parser places the failure there).
struct Walk<'w> {
    path: &'w mut Vec<Step>,
    pick: &'w mut dyn FnMut(&[Step], Option<&str>) -> bool,
}

impl Walk<'_> {
    fn look<E: de::Error>(&mut self, value: Option<&str>) -> Result<(), E> {
        match (self.pick)(self.path, value) {
            true => Err(E::custom("picked")),
            false => Ok(()),
        }
    }

    fn inner(&mut self) -> Walk<'_> {
        Walk {
            path: self.path,
            pick: self.pick,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_str<E: de::Error>(mut self, value: &str) -> Result<(), E> {
        self.look(Some(value))
    }

    fn visit_bool<E: de::Error>(mut self, value: bool) -> Result<(), E> {
        self.look(Some(&value.to_string()))
    }

    fn visit_i64<E: de::Error>(mut self, value: i64) -> Result<(), E> {
        self.look(Some(&value.to_string()))
    }

    fn visit_u64<E: de::Error>(mut self, value: u64) -> Result<(), E> {
        self.look(Some(&value.to_string()))
    }

    fn visit_f64<E: de::Error>(mut self, value: f64) -> Result<(), E> {
        self.look(Some(&value.to_string()))
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.look(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.look(None)?;
        let mut index = 0;
        loop {
            self.path.push(Step::Index(index));
            let more = seq.next_element_seed(self.inner())?.is_some();
            self.path.pop();
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.look(None)?;
        while let Some(KeyText(key)) = map.next_key()? {
            self.path.push(Step::Key(key));
            map.next_value_seed(self.inner())?;
            self.path.pop();
        }
        Ok(())
    }
}

/// A mapping's key as text, whatever scalar it is.
struct KeyText(String);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyText, D::Error> {
        let value = serde_yaml_ng::Value::deserialize(deserializer)?;
        Ok(KeyText(match value {
            serde_yaml_ng::Value::String(text) => text,
            other => serde_yaml_ng::to_string(&other)
                .unwrap_or_default()
                .trim_end()
                .to_owned(),
        }))
    }
}
