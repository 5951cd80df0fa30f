//! Why a spec was refused, and where: every error names the file, line and
//! column of the value at fault (from the reader, [`super::read`], which
//! also suggests a name when one looks misspelt).

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::read::Refusal;

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

/// Reads `text` once more, looking only at request ids, and fails at the
/// first one seen twice: the error carries that id's own line and column.
/// `None` when no id repeats.
pub fn duplicate_id(text: &str, path: &str) -> Option<SpecError> {
    let seen = RefCell::new(HashSet::new());
    let read = super::read::read_seed(text, Document(&seen));
    read.err()
        .map(|refusal| SpecError::from_refusal(path, refusal))
}

type Seen<'a> = &'a RefCell<HashSet<String>>;

/// The top-level mapping: only the id lists are looked into.
struct Document<'a>(Seen<'a>);

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if ID_LISTS.contains(&key.as_str()) {
                map.next_value_seed(Entries(self.0))?;
            } else if key == "scenarios" {
                map.next_value_seed(ScenarioMap(self.0, false))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The scenarios (`false`: the map of names) or one scenario (`true`):
/// only its `steps` are looked into.
struct ScenarioMap<'a>(Seen<'a>, bool);

impl<'de> DeserializeSeed<'de> for ScenarioMap<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ScenarioMap<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("scenarios")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match self.1 {
                false => map.next_value_seed(ScenarioMap(self.0, true))?,
                true if key == "steps" => map.next_value_seed(Entries(self.0))?,
                true => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A list of requests or queries (or a scenario's steps).
struct Entries<'a>(Seen<'a>);

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Entry(self.0))?.is_some() {}
        Ok(())
    }
}

/// One entry: only its `id` is read.
struct Entry<'a>(Seen<'a>);

impl<'de> DeserializeSeed<'de> for Entry<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entry<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "id" {
                map.next_value_seed(Id(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Id<'a>(Seen<'a>);

impl<'de> DeserializeSeed<'de> for Id<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Id<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request id")
    }

    fn visit_str<E: de::Error>(self, id: &str) -> Result<(), E> {
        if self.0.borrow_mut().insert(id.to_owned()) {
            Ok(())
        } else {
            Err(E::custom(format!(
                "duplicate request id `{id}`: ids must be unique"
            )))
        }
    }
}

/// An error about the value of top-level field `key`, placed at that value
/// (checks across fields run once the spec is read; this reads it again to
/// find where the field is).
pub fn at_field(text: &str, path: &str, key: &str, message: String) -> SpecError {
    let field = Field {
        key,
        message: &message,
    };
    let at = match super::read::read_seed(text, field) {
        Err(refusal) => refusal.at,
        Ok(()) => (1, 1),
    };
    SpecError::at(path, at, message)
}

/// The top-level mapping, failing at the value of `key`.
struct Field<'a> {
    key: &'a str,
    message: &'a str,
}

impl<'de> DeserializeSeed<'de> for Field<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Field<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a spec")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == self.key {
                return map.next_value_seed(Here(self.message));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Fails as soon as its value is read, so the error is placed there.
struct Here<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Here<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Here<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(self.0))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(self.0))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(self.0))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(self.0))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(self.0))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(self.0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(self.0))
    }
}
