//! Deserializing any serde type from a [`Value`].
//!
//! `Value::Bytes` shows two faces. To sequence-shaped requests (`deserialize_seq`, tuples,
//! tuple structs, tuple variants) and to `deserialize_any` it is a sequence of `u8`, so it reads
//! as `Vec<u8>`, `[u8; N]` or a `Vec` of any integer type, and still does when serde buffers it
//! first (untagged and internally tagged enums, flattened structs buffer with
//! `deserialize_any`, and their buffer reads a `Vec<u8>` only from a sequence). To every other
//! request, and to `Value` itself (which asks for the newtype [`Value::SERDE_NAME`]), it is
//! bytes: `serde_bytes::ByteBuf` and `String` (from UTF-8) read it, and a mismatch says
//! "byte array".

use std::collections::btree_map;
use std::vec;

use crate::Value;
use serde::de::value::{StringDeserializer, U8Deserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;

use super::ConvertError;

type Result<T> = std::result::Result<T, ConvertError>;

/// Deserializes from an owned [`Value`].
pub(super) struct ValueDeserializer(pub Value);

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::I64(n) => Unexpected::Signed(*n),
        Value::U64(n) => Unexpected::Unsigned(n.get()),
        Value::F64(x) => Unexpected::Float(*x),
        Value::String(s) => Unexpected::Str(s),
        Value::Bytes(b) => Unexpected::Bytes(b),
        Value::Array(_) => Unexpected::Seq,
        Value::Map(_) => Unexpected::Map,
    }
}

impl ValueDeserializer {
    /// `deserialize_any`, but with `Bytes` as bytes: for requests that are not sequences.
    fn deserialize_bytes_as_bytes<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }
}

/// Forwards requests that are not sequences to [`ValueDeserializer::deserialize_bytes_as_bytes`].
macro_rules! forward_to_bytes_as_bytes {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            self.deserialize_bytes_as_bytes(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for ValueDeserializer {
    type Error = ConvertError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::I64(n) => visitor.visit_i64(n),
            Value::U64(n) => visitor.visit_u64(n.get()),
            Value::F64(x) => visitor.visit_f64(x),
            Value::String(s) => visitor.visit_string(s),
            Value::Bytes(b) => visit_all(visitor, Bytes(b.into_iter())),
            Value::Array(items) => visit_all(visitor, Items(items.into_iter())),
            Value::Map(map) => visitor.visit_map(Entries {
                iter: map.into_iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == Value::SERDE_NAME {
            // `Value` itself: it keeps bytes as bytes (see the module doc).
            self.deserialize_bytes_as_bytes(visitor)
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.0 {
            Value::String(variant) => {
                let variant: StringDeserializer<ConvertError> = variant.into_deserializer();
                visitor.visit_enum(variant)
            }
            Value::Map(map) if map.len() == 1 => {
                let (variant, content) = map.into_iter().next().expect("map has one entry");
                visitor.visit_enum(Variant { variant, content })
            }
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"an enum variant",
            )),
        }
    }

    forward_to_bytes_as_bytes! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_map deserialize_identifier
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_bytes_as_bytes(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_bytes_as_bytes(visitor)
    }

    forward_to_deserialize_any! {
        seq tuple tuple_struct ignored_any
    }
}

/// Visits a sequence and refuses what the visitor leaves unread: a 2-tuple or a `[u8; 2]` must
/// not quietly take the first two elements of a longer stored sequence.
fn visit_all<'de, V, A>(visitor: V, mut access: A) -> Result<V::Value>
where
    V: Visitor<'de>,
    A: SeqAccess<'de, Error = ConvertError>,
{
    let len = access.size_hint().unwrap_or(0);
    let value = visitor.visit_seq(&mut access)?;
    match access.size_hint() {
        Some(left) if left > 0 => {
            let read = len - left;
            let expected = format!(
                "{read} element{} in sequence",
                if read == 1 { "" } else { "s" }
            );
            Err(de::Error::invalid_length(len, &expected.as_str()))
        }
        _ => Ok(value),
    }
}

struct Items(vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Items {
    type Error = ConvertError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        self.0
            .next()
            .map(|v| seed.deserialize(ValueDeserializer(v)))
            .transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Bytes(vec::IntoIter<u8>);

impl<'de> SeqAccess<'de> for Bytes {
    type Error = ConvertError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        self.0
            .next()
            .map(|b| {
                let byte: U8Deserializer<ConvertError> = b.into_deserializer();
                seed.deserialize(byte)
            })
            .transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries {
    iter: btree_map::IntoIter<String, Value>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Entries {
    type Error = ConvertError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(MapKey(key)).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let value = self
            .value
            .take()
            .ok_or_else(|| ConvertError("map value requested before its key".to_owned()))?;
        seed.deserialize(ValueDeserializer(value))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A map key: text, which parses as an integer when an integer key is asked for (the
/// serializer writes integer keys in decimal).
struct MapKey(String);

macro_rules! parse_int_key {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            match self.0.parse::<$ty>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(de::Error::invalid_value(Unexpected::Str(&self.0), &stringify!($ty))),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for MapKey {
    type Error = ConvertError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_string(self.0)
    }

    parse_int_key! {
        deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32, deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8, deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32, deserialize_u64 => visit_u64: u64,
        deserialize_i128 => visit_i128: i128, deserialize_u128 => visit_u128: u128,
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let variant: StringDeserializer<ConvertError> = self.0.into_deserializer();
        visitor.visit_enum(variant)
    }

    forward_to_deserialize_any! {
        bool f32 f64 char str string bytes byte_buf option unit unit_struct seq
        tuple tuple_struct map struct identifier ignored_any
    }
}

/// An enum variant stored as `{"Variant": content}`.
struct Variant {
    variant: String,
    content: Value,
}

impl<'de> EnumAccess<'de> for Variant {
    type Error = ConvertError;
    type Variant = VariantContent;
    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, VariantContent)> {
        let name: StringDeserializer<ConvertError> = self.variant.into_deserializer();
        Ok((seed.deserialize(name)?, VariantContent(self.content)))
    }
}

struct VariantContent(Value);

impl<'de> VariantAccess<'de> for VariantContent {
    type Error = ConvertError;
    fn unit_variant(self) -> Result<()> {
        match self.0 {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a unit variant",
            )),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(ValueDeserializer(self.0))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        ValueDeserializer(self.0).deserialize_seq(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        ValueDeserializer(self.0).deserialize_map(visitor)
    }
}
