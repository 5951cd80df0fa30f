//! Reading YAML into the spec's types. serde_yaml_ng parses the text and
//! places each error at the value being read (`Error::location`, data of
//! the parser's own). Between it and our types sits a layer with an error
//! type of its own, so what a refusal *is* — a field or variant name the
//! type does not have and the names it could have been, a check's own
//! words — and the path of the value reach the message as data, never read
//! back out of the parser's text. (Only the parser's own refusals — not
//! YAML, a list where a word was due — are in its words, less the position
//! it appends, which the refusal carries.)
//!
//! The layer ([`layer`]) hands a [`Problem`] of ours to the parser as an
//! error it places, and keeps it, in a slot shared by the reading, for the
//! message.

mod layer;

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed};

use layer::Layer;

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A field (`what` = "field") or variant name the type does not have.
    UnknownName {
        what: &'static str,
        given: String,
        expected: &'static [&'static str],
    },
    /// Any other refusal, in the words of the check that made it (ours, or
    /// serde's for a wrong type or a missing field).
    Said(String),
    /// The parser's own refusal (the text is not YAML, or a list where a
    /// word was due), in its words.
    Parser(String),
}

impl Problem {
    /// The closest valid name to an unknown one, when one is close.
    pub fn suggestion(&self) -> Option<&'static str> {
        let Problem::UnknownName {
            given, expected, ..
        } = self
        else {
            return None;
        };
        expected
            .iter()
            .map(|name| (strsim::damerau_levenshtein(given, name), *name))
            .filter(|&(distance, name)| distance > 0 && distance <= 2.max(name.len() / 3))
            .min()
            .map(|(_, name)| name)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Problem::UnknownName {
                what,
                given,
                expected,
            } => {
                write!(f, "unknown {what} `{given}`, ")?;
                let names: Vec<String> = expected.iter().map(|n| format!("`{n}`")).collect();
                match names.as_slice() {
                    [] => write!(f, "there are no {what}s")?,
                    [one] => write!(f, "expected {one}")?,
                    [first, second] => write!(f, "expected {first} or {second}")?,
                    _ => write!(f, "expected one of {}", names.join(", "))?,
                }
                match self.suggestion() {
                    Some(name) => write!(f, " (did you mean `{name}`?)"),
                    None => Ok(()),
                }
            }
            Problem::Said(words) | Problem::Parser(words) => f.write_str(words),
        }
    }
}

/// A refusal and where it is: line and column, from 1, and the path of
/// the value in the document (empty at the top).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub at: (usize, usize),
    pub path: Vec<Step>,
    pub problem: Problem,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", path_text(&self.path))?;
        }
        self.problem.fmt(f)
    }
}

/// One step of a value's path in a document: a mapping's key, or a list's
/// index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A path as the messages write it: `requests[1].id`.
pub fn path_text(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        match step {
            Step::Key(key) if text.is_empty() => text.push_str(key),
            Step::Key(key) => text.push_str(&format!(".{key}")),
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// Reads `text` into a `T`.
pub fn read<'de, T: de::Deserialize<'de>>(text: &'de str) -> Result<T, Refusal> {
    read_seed(text, std::marker::PhantomData::<T>)
}

/// Reads `text` with `seed` (a reading that keeps state as it goes).
pub fn read_seed<'de, S: DeserializeSeed<'de>>(
    text: &'de str,
    seed: S,
) -> Result<S::Value, Refusal> {
    let slot = RefCell::new(None);
    let layer = Layer::new(serde_yaml_ng::Deserializer::from_str(text), &slot);
    seed.deserialize(layer).map_err(|error| match error {
        Error::Parser(error) => {
            let at = error.location().map_or((1, 1), |l| (l.line(), l.column()));
            let (path, problem) = slot
                .take()
                .unwrap_or_else(|| (Vec::new(), Problem::Parser(parser_words(&error))));
            Refusal { at, path, problem }
        }
        // Raised before the parser read anything: the document as a whole.
        Error::Problem(problem) => Refusal {
            at: (1, 1),
            path: Vec::new(),
            problem,
        },
    })
}

/// The parser's message (its path in front) without the position it gives
/// its problem (which the refusal carries as data, and prints in front).
/// A syntax error's context keeps its own (`while parsing a flow mapping
/// at line 3 column 12`: where what was left open began).
fn parser_words(error: &serde_yaml_ng::Error) -> String {
    let words = error.to_string();
    match error.location() {
        Some(at) => words.replacen(
            &format!(" at line {} column {}", at.line(), at.column()),
            "",
            1,
        ),
        None => words,
    }
}

/// The shared slot of a reading: the problem of ours the parser is
/// carrying up, and the path of the value it is about.
type Slot<'a> = &'a RefCell<Option<(Vec<Step>, Problem)>>;

/// The layer's error: a problem of ours, or the parser's own error (which
/// may be carrying one of ours, kept in the slot).
#[derive(Debug)]
pub enum Error<E> {
    Problem(Problem),
    Parser(E),
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::Problem(problem) => problem.fmt(f),
            Error::Parser(error) => error.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Error<E> {}

impl<E: de::Error> de::Error for Error<E> {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::Problem(Problem::Said(message.to_string()))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Error::Problem(Problem::UnknownName {
            what: "field",
            given: field.to_owned(),
            expected,
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::Problem(Problem::UnknownName {
            what: "variant",
            given: variant.to_owned(),
            expected,
        })
    }
}

#[cfg(test)]
mod tests;
