//! Serde helpers that check a value while it is being read.
//!
//! The YAML deserializer stamps an error with the position of the value it
//! is reading when the error is raised. Checks therefore run inside
//! visitors, while the value is being read, so that a refusal points at the
//! value itself rather than at the mapping around it.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Deserializes a sequence, then applies `check` to it.
pub(crate) fn checked_seq<'de, D, T, F>(
    deserializer: D,
    expecting: &'static str,
    check: F,
) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
    F: FnOnce(Vec<T>) -> Result<Vec<T>, String>,
{
    struct SeqVisitor<T, F>(&'static str, F, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>, F: FnOnce(Vec<T>) -> Result<Vec<T>, String>> Visitor<'de>
        for SeqVisitor<T, F>
    {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            (self.1)(items).map_err(de::Error::custom)
        }
    }
    deserializer.deserialize_seq(SeqVisitor(expecting, check, std::marker::PhantomData))
}

/// Deserializes a string, then turns it into a `T` with `check`.
pub(crate) fn checked_str<'de, D, T, F>(
    deserializer: D,
    expecting: &'static str,
    check: F,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(&str) -> Result<T, String>,
{
    struct StrVisitor<T, F>(&'static str, F, std::marker::PhantomData<T>);
    impl<T, F: FnOnce(&str) -> Result<T, String>> Visitor<'_> for StrVisitor<T, F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.1)(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(StrVisitor(expecting, check, std::marker::PhantomData))
}
