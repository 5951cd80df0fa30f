//! Why a spec was refused, and where: every error names the file, line and
//! column of the value at fault, with serde's words made plainer and a
//! suggestion when a name looks misspelt.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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

    /// serde_yaml_ng's error, placed where it points.
    pub fn from_yaml(path: &str, error: &serde_yaml_ng::Error) -> SpecError {
        let place = error.location().map_or((1, 1), |l| (l.line(), l.column()));
        SpecError::at(path, place, explain(&error.to_string()))
    }
}

/// The library's message without its trailing position (we print ours in
/// front), plus a suggestion when a name looks misspelt.
fn explain(message: &str) -> String {
    let mut text = strip_position(message);
    if let Some(suggestion) = did_you_mean(&text) {
        text.push_str(&format!(" (did you mean `{suggestion}`?)"));
    }
    text
}

fn strip_position(message: &str) -> String {
    let mut text = message.to_owned();
    while let Some(at) = text.find(" at line ") {
        let digits = |s: &str| {
            s.trim_start_matches(|c: char| c.is_ascii_digit())
                .to_owned()
        };
        let rest = digits(&text[at + " at line ".len()..]);
        let rest = digits(rest.strip_prefix(" column ").unwrap_or(&rest));
        text = format!("{}{rest}", &text[..at]);
    }
    text
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and the same
/// for variants), the closest valid name, if one is close.
fn did_you_mean(message: &str) -> Option<String> {
    let after = message
        .split_once("unknown field `")
        .or_else(|| message.split_once("unknown variant `"))?
        .1;
    let (given, choices) = after.split_once('`')?;
    let names = choices.split('`').skip(1).step_by(2);
    names
        .map(|name| (strsim::damerau_levenshtein(given, name), name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3) && *distance > 0)
        .min()
        .map(|(_, name)| name.to_owned())
}

/// The lists whose entries carry request ids, unique across all of them.
const ID_LISTS: [&str; 2] = ["requests", "queries"];

/// Reads `text` once more, looking only at request ids, and fails at the
/// first one seen twice: the error carries that id's own line and column.
/// `None` when no id repeats.
pub fn duplicate_id(text: &str, path: &str) -> Option<SpecError> {
    let seen = RefCell::new(HashSet::new());
    let read = Document(&seen).deserialize(serde_yaml_ng::Deserializer::from_str(text));
    read.err().map(|error| SpecError::from_yaml(path, &error))
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
    let read = Field {
        key,
        message: &message,
    }
    .deserialize(serde_yaml_ng::Deserializer::from_str(text));
    match read {
        Err(error) => SpecError::at(
            path,
            error.location().map_or((1, 1), |l| (l.line(), l.column())),
            message,
        ),
        Ok(()) => SpecError::at(path, (1, 1), message),
    }
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
