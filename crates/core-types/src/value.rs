//! `Value`: what a key holds, and its canonical byte encoding.

use std::collections::BTreeMap;

mod big_u64;
mod codec;
mod display;
mod encoded;
mod encoder;
mod serde_impl;
#[cfg(test)]
mod tests;

pub use big_u64::BigU64;
pub use encoded::Encoded;
pub use encoder::Encoder;

/// A stored value. Maps are `BTreeMap`s so that every value has exactly one encoding, whatever
/// process built it (hashes over encodings stay stable).
///
/// Every integer from `i64::MIN` to `u64::MAX` has exactly one form: `I64` if it fits, else
/// `U64` (see [`BigU64`]); [`Value::from_integer`] and `Value::from(u64)` pick it.
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
    /// An integer in the `i64` range, whatever Rust type it came from; every integer type that
    /// fits converts to and from it.
    I64(i64),
    /// An integer above `i64::MAX` (up to `u64::MAX`): reads as `u64`, `u128` or `i128`.
    U64(BigU64),
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
            Value::U64(_) => "u64",
            Value::F64(_) => "f64",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }
}

impl Value {
    /// The one stored form of the integer `n`: `I64` if it fits, else `U64`; `None` outside
    /// `i64::MIN..=u64::MAX`, the range a value can hold.
    ///
    /// ```
    /// use in_mem_core_types::Value;
    ///
    /// assert_eq!(Value::from_integer(-3), Some(Value::I64(-3)));
    /// assert_eq!(Value::from_integer(i128::from(u64::MAX)), Some(Value::from(u64::MAX)));
    /// assert_eq!(Value::from_integer(i128::from(u64::MAX) + 1), None);
    /// ```
    pub fn from_integer(n: i128) -> Option<Value> {
        if let Ok(small) = i64::try_from(n) {
            return Some(Value::I64(small));
        }
        u64::try_from(n).ok().map(Value::from)
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

impl From<u64> for Value {
    /// `I64` up to `i64::MAX`, `U64` above: the canonical form of the integer.
    fn from(n: u64) -> Self {
        match BigU64::new(n) {
            Some(big) => Value::U64(big),
            None => Value::I64(n.cast_signed()),
        }
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
