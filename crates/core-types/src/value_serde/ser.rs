//! Serializing any serde type into a [`Value`].
//!
//! Bytes: serde hands a `Vec<u8>`, `[u8; N]` or `&[u8]` over as a sequence of `serialize_u8`
//! calls (only `serde_bytes` types call `serialize_bytes`), so [`SeqBuilder`] watches for them:
//! a non-empty sequence, tuple or tuple variant whose every element came through `serialize_u8`
//! becomes `Value::Bytes`; one that is empty stays an empty `Value::Array` (serde gives no
//! element type to tell a `Vec<u8>` from a `Vec<String>`, and either reads back from it).
//! Only a bare `u8` counts: `Some(1u8)` or a newtype around a `u8` is not a byte, because the
//! types holding them could not read a byte back.

use std::collections::BTreeMap;

use crate::Value;
use crate::limits::VALUE_BYTES_MAX;
use serde::ser::{self, Impossible, Serialize};

use super::ConvertError;

type Result<T> = std::result::Result<T, ConvertError>;

/// Serializes into a [`Value`].
#[derive(Default)]
pub(super) struct ValueSerializer<'a> {
    /// Where an element of a sequence reports that it was a bare `u8` (see the module doc);
    /// `None` outside sequences.
    byte: Option<&'a mut Option<u8>>,
}

/// A signed integer, or an unsigned one narrower than 64 bits: always an `I64`.
fn int(n: impl Into<i64>) -> Value {
    Value::I64(n.into())
}

/// A 128-bit integer, which has a stored form only inside `i64::MIN..=u64::MAX`.
fn wide_int<T: TryInto<i128> + std::fmt::Display + Copy>(n: T) -> Result<Value> {
    n.try_into()
        .ok()
        .and_then(Value::from_integer)
        .ok_or_else(|| {
            ConvertError(format!(
                "integer {n} is outside the stored integer range ({} to {})",
                i64::MIN,
                u64::MAX
            ))
        })
}

fn variant_map(variant: &str, content: Value) -> Value {
    let mut map = BTreeMap::new();
    map.insert(variant.to_owned(), content);
    Value::Map(map)
}

impl ser::Serializer for ValueSerializer<'_> {
    type Ok = Value;
    type Error = ConvertError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value> {
        Ok(int(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value> {
        Ok(int(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value> {
        Ok(int(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value> {
        Ok(int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value> {
        wide_int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Value> {
        if let Some(slot) = self.byte {
            *slot = Some(v);
        }
        Ok(int(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value> {
        Ok(int(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value> {
        Ok(int(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value> {
        // `I64` up to i64::MAX (the form every such value always had), `U64` above.
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value> {
        wide_int(v)
    }
    fn serialize_f32(self, v: f32) -> Result<Value> {
        Ok(Value::F64(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Value> {
        Ok(Value::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<Value> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value> {
        Ok(Value::String(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        // A fresh serializer: `Some(1u8)` is not a byte (see the module doc).
        value.serialize(ValueSerializer::default())
    }
    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value> {
        Ok(Value::String(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Value> {
        // A fresh serializer: a newtype around a `u8` is not a byte (see the module doc).
        value.serialize(ValueSerializer::default())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        Ok(variant_map(
            variant,
            value.serialize(ValueSerializer::default())?,
        ))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder> {
        Ok(SeqBuilder {
            len_hint: len.unwrap_or(0),
            bytes: Vec::new(),
            items: Vec::new(),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqBuilder> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder> {
        let mut builder = self.serialize_seq(Some(len))?;
        builder.variant = Some(variant);
        Ok(builder)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder> {
        Ok(MapBuilder {
            map: BTreeMap::new(),
            next_key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapBuilder> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<MapBuilder> {
        let mut builder = self.serialize_map(Some(len))?;
        builder.variant = Some(variant);
        Ok(builder)
    }
}

/// Collects the items of a sequence, tuple or tuple variant: into `bytes` while every element
/// so far was a bare `u8`, into `items` from the first one that was not.
pub(super) struct SeqBuilder {
    /// The length serde announced, if any, to reserve once the first element shows which
    /// vector fills.
    len_hint: usize,
    bytes: Vec<u8>,
    items: Vec<Value>,
    variant: Option<&'static str>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let mut byte = None;
        let item = value.serialize(ValueSerializer {
            byte: Some(&mut byte),
        })?;
        match byte {
            Some(b) if self.items.is_empty() => {
                if self.bytes.is_empty() {
                    // Capped: more bytes than this could not be stored anyway.
                    self.bytes.reserve(self.len_hint.min(VALUE_BYTES_MAX));
                }
                self.bytes.push(b);
            }
            _ => {
                if self.items.is_empty() {
                    // Capped: a hint is not a promise, and a Value is 32 bytes.
                    self.items.reserve(self.len_hint.min(4096));
                    self.items
                        .extend(self.bytes.drain(..).map(|b| Value::I64(i64::from(b))));
                }
                self.items.push(item);
            }
        }
        Ok(())
    }
    fn finish(self) -> Value {
        let seq = if self.items.is_empty() && !self.bytes.is_empty() {
            Value::Bytes(self.bytes)
        } else {
            Value::Array(self.items)
        };
        match self.variant {
            Some(variant) => variant_map(variant, seq),
            None => seq,
        }
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

/// Collects the entries of a map, struct or struct variant.
pub(super) struct MapBuilder {
    map: BTreeMap<String, Value>,
    next_key: Option<String>,
    variant: Option<&'static str>,
}

impl MapBuilder {
    fn insert<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<()> {
        self.map
            .insert(key, value.serialize(ValueSerializer::default())?);
        Ok(())
    }
    fn finish(self) -> Value {
        let map = Value::Map(self.map);
        match self.variant {
            Some(variant) => variant_map(variant, map),
            None => map,
        }
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.next_key = Some(key.serialize(MapKeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .next_key
            .take()
            .ok_or_else(|| ConvertError("map value serialized before its key".to_owned()))?;
        self.insert(key, value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

/// Map keys are text; text-like keys (strings, chars, unit variants) and integers (written in
/// decimal, as JSON does) are accepted, anything else is an error.
struct MapKeySerializer;

fn key_error<T>(what: &str) -> Result<T> {
    Err(ConvertError(format!(
        "map keys must be text or integers, not {what}"
    )))
}

impl ser::Serializer for MapKeySerializer {
    type Ok = String;
    type Error = ConvertError;
    type SerializeSeq = Impossible<String, ConvertError>;
    type SerializeTuple = Impossible<String, ConvertError>;
    type SerializeTupleStruct = Impossible<String, ConvertError>;
    type SerializeTupleVariant = Impossible<String, ConvertError>;
    type SerializeMap = Impossible<String, ConvertError>;
    type SerializeStruct = Impossible<String, ConvertError>;
    type SerializeStructVariant = Impossible<String, ConvertError>;

    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String> {
        value.serialize(self)
    }
    fn serialize_i8(self, v: i8) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_bool(self, _: bool) -> Result<String> {
        key_error("booleans")
    }
    fn serialize_f32(self, _: f32) -> Result<String> {
        key_error("floats")
    }
    fn serialize_f64(self, _: f64) -> Result<String> {
        key_error("floats")
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String> {
        key_error("bytes")
    }
    fn serialize_none(self) -> Result<String> {
        key_error("options")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String> {
        key_error("options")
    }
    fn serialize_unit(self) -> Result<String> {
        key_error("unit")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String> {
        key_error("unit structs")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String> {
        key_error("enum variants with data")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        key_error("sequences")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        key_error("tuples")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        key_error("tuple structs")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        key_error("enum variants with data")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        key_error("maps")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        key_error("structs")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        key_error("enum variants with data")
    }
}
