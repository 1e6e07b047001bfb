//! `Value`: what a key holds, and its canonical byte encoding.

use std::collections::BTreeMap;

mod codec;
mod serde_impl;
#[cfg(test)]
mod tests;

/// A stored value. Maps are `BTreeMap`s so that every value has exactly one encoding, whatever
/// process built it (hashes over encodings stay stable).
///
/// With serde, a `Value` is transparent: `I64(3)` serializes as the integer 3, `Map` as a map,
/// `Bytes` as bytes, `Null` as unit; deserializing takes whatever the format holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    /// No value (distinct from "absent": a key holding `Null` exists).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer; every Rust integer type that fits converts to and from it.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// UTF-8 text.
    String(String),
    /// Raw bytes: what the byte API (`Database::put`) stores.
    Bytes(Vec<u8>),
    /// A list of values.
    Array(Vec<Value>),
    /// A map from text keys to values, in key order.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The lower-case name of this value's type, as used in type-mismatch errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }
}

impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Self {
        Value::Bytes(bytes.to_vec())
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Self {
        Value::Bytes(bytes)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::String(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::String(text)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::I64(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::F64(x)
    }
}
