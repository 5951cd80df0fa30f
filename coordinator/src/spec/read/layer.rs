//! The layer between the parser and our types: every value goes down
//! through [`Layer`] (our types see its error type) and every answer comes
//! back up through [`Up`] (the parser sees its own).

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

use super::{Error, Slot, Step};

/// Where a mapping's key is noted as it is read, to name the path of its
/// value.
type Key<'a> = Option<&'a RefCell<Option<String>>>;

/// Hands an error of the layer to the parser: its own as it was; one of
/// ours, about the value at `path`, kept in the slot and given to the
/// parser to place.
fn up<E: de::Error>(slot: Slot<'_>, path: &[Step], error: Error<E>) -> E {
    match error {
        Error::Parser(error) => error,
        Error::Problem(problem) => {
            let error = E::custom(&problem);
            *slot.borrow_mut() = Some((path.to_vec(), problem));
            error
        }
    }
}

/// The parser's deserializer as our types see it, for the value at `path`
/// (noting its text in `key` when it is a mapping's key).
pub(super) struct Layer<'a, D> {
    inner: D,
    slot: Slot<'a>,
    path: Vec<Step>,
    key: Key<'a>,
}

impl<'a, D> Layer<'a, D> {
    /// The layer over the whole document.
    pub(super) fn new(inner: D, slot: Slot<'a>) -> Layer<'a, D> {
        Layer {
            inner,
            slot,
            path: Vec::new(),
            key: None,
        }
    }
}

macro_rules! down {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?;)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($($arg: $ty,)*)? visitor: V) -> Result<V::Value, Self::Error> {
            let up = Up { visitor, slot: self.slot, path: self.path, key: self.key };
            self.inner.$method($($($arg,)*)? up).map_err(Error::Parser)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Layer<'_, D> {
    type Error = Error<D::Error>;

    down! {
        deserialize_any; deserialize_bool; deserialize_i8; deserialize_i16;
        deserialize_i32; deserialize_i64; deserialize_i128; deserialize_u8;
        deserialize_u16; deserialize_u32; deserialize_u64; deserialize_u128;
        deserialize_f32; deserialize_f64; deserialize_char; deserialize_str;
        deserialize_string; deserialize_bytes; deserialize_byte_buf;
        deserialize_option; deserialize_unit; deserialize_seq; deserialize_map;
        deserialize_identifier; deserialize_ignored_any;
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Our visitor as the parser sees it.
struct Up<'a, V> {
    visitor: V,
    slot: Slot<'a>,
    path: Vec<Step>,
    key: Key<'a>,
}

impl<'a, V> Up<'a, V> {
    /// The layer over the parser's deserializer of a value inside this one.
    fn layer<D>(&self, inner: D) -> Layer<'a, D> {
        Layer {
            inner,
            slot: self.slot,
            path: self.path.clone(),
            key: None,
        }
    }

    fn access<A>(&self, inner: A) -> Access<'a, A> {
        Access {
            inner,
            slot: self.slot,
            path: self.path.clone(),
            index: 0,
            key: RefCell::new(None),
        }
    }
}

/// A visit of a scalar, handed on as it is; with `$note`, its text is
/// noted when it is a mapping's key (for the path of the key's value).
macro_rules! scalars {
    ($($method:ident($ty:ty) $($note:ident)?;)*) => {$(
        fn $method<E: de::Error>(self, value: $ty) -> Result<Self::Value, E> {
            $(if let Some(key) = self.key { *key.borrow_mut() = Some(value.$note()); })?
            self.visitor.$method(value).map_err(|e| up(self.slot, &self.path, e))
        }
    )*};
}

/// A visit handing the visitor what is inside the value (a deserializer,
/// a list, a mapping, an enum), wrapped by `$wrap`.
macro_rules! nested {
    ($($method:ident($inner:ident: $bound:path) $wrap:ident;)*) => {$(
        fn $method<$inner: $bound>(self, inner: $inner) -> Result<Self::Value, $inner::Error> {
            let inner = self.$wrap(inner);
            let path = &self.path;
            self.visitor.$method(inner).map_err(|e| up(self.slot, path, e))
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Up<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    scalars! {
        visit_bool(bool) to_string; visit_i8(i8); visit_i16(i16);
        visit_i32(i32); visit_i64(i64) to_string; visit_i128(i128);
        visit_u8(u8); visit_u16(u16); visit_u32(u32);
        visit_u64(u64) to_string; visit_u128(u128); visit_f32(f32);
        visit_f64(f64) to_string; visit_char(char); visit_str(&str) to_owned;
        visit_borrowed_str(&'de str) to_owned; visit_string(String) clone;
        visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        let path = &self.path;
        self.visitor
            .visit_none()
            .map_err(|e| up(self.slot, path, e))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        let path = &self.path;
        self.visitor
            .visit_unit()
            .map_err(|e| up(self.slot, path, e))
    }

    nested! {
        visit_some(D: Deserializer<'de>) layer;
        visit_newtype_struct(D: Deserializer<'de>) layer;
        visit_seq(A: de::SeqAccess<'de>) access;
        visit_map(A: de::MapAccess<'de>) access;
        visit_enum(A: de::EnumAccess<'de>) access;
    }
}

/// A seed of ours as the parser sees it, for the value at `path`.
struct Seed<'a, S> {
    seed: S,
    slot: Slot<'a>,
    path: Vec<Step>,
    key: Key<'a>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, inner: D) -> Result<S::Value, D::Error> {
        let layer = Layer {
            inner,
            slot: self.slot,
            path: self.path.clone(),
            key: self.key,
        };
        let (slot, path) = (self.slot, &self.path);
        self.seed.deserialize(layer).map_err(|e| up(slot, path, e))
    }
}

/// The parser's access to a list, a mapping, an enum or a variant, as our
/// types see it: the value at `path`, its next element `index`, the key
/// last read.
struct Access<'a, A> {
    inner: A,
    slot: Slot<'a>,
    path: Vec<Step>,
    index: usize,
    key: RefCell<Option<String>>,
}

impl<'a, A> Access<'a, A> {
    /// Our visitor of this value, as the parser sees it.
    fn visiting<V>(&self, visitor: V) -> Up<'a, V> {
        Up {
            visitor,
            slot: self.slot,
            path: self.path.clone(),
            key: None,
        }
    }

    /// A seed for a value inside this one, at `path`.
    fn seed<S>(&self, seed: S, path: Vec<Step>) -> Seed<'a, S> {
        Seed {
            seed,
            slot: self.slot,
            path,
            key: None,
        }
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Access<'_, A> {
    type Error = Error<A::Error>;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        let mut path = self.path.clone();
        path.push(Step::Index(self.index));
        self.index += 1;
        let seed = self.seed(seed, path);
        self.inner.next_element_seed(seed).map_err(Error::Parser)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Access<'_, A> {
    type Error = Error<A::Error>;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        // The key is read at the mapping's path, and noted for its value.
        let seed = Seed {
            seed,
            slot: self.slot,
            path: self.path.clone(),
            key: Some(&self.key),
        };
        self.inner.next_key_seed(seed).map_err(Error::Parser)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        let mut path = self.path.clone();
        path.extend(self.key.take().map(Step::Key));
        let seed = self.seed(seed, path);
        self.inner.next_value_seed(seed).map_err(Error::Parser)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 'a, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Access<'a, A> {
    type Error = Error<A::Error>;
    type Variant = Access<'a, A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), Self::Error> {
        let seed = self.seed(seed, self.path.clone());
        let (value, inner) = self.inner.variant_seed(seed).map_err(Error::Parser)?;
        let variant = Access {
            inner,
            slot: self.slot,
            path: self.path,
            index: 0,
            key: RefCell::new(None),
        };
        Ok((value, variant))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Access<'_, A> {
    type Error = Error<A::Error>;

    fn unit_variant(self) -> Result<(), Self::Error> {
        self.inner.unit_variant().map_err(Error::Parser)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        let seed = self.seed(seed, self.path.clone());
        self.inner.newtype_variant_seed(seed).map_err(Error::Parser)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let up = self.visiting(visitor);
        self.inner.tuple_variant(len, up).map_err(Error::Parser)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let up = self.visiting(visitor);
        self.inner.struct_variant(fields, up).map_err(Error::Parser)
    }
}
