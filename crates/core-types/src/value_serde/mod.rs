//! Conversion between any serde type and a stored [`Value`].
//!
//! Integers of every width become `Value::I64` and read back as any integer type they fit in
//! (the getting-started guide stores `3`, an `i32`, and reads an `i64`); the `u64`s above
//! `i64::MAX` become `Value::U64` and read back as `u64`, `u128` or `i128`, and `u128`/`i128`
//! values are stored if they are inside `i64::MIN..=u64::MAX`. `Vec<u8>`, `[u8; N]`, `&[u8]`
//! and `serde_bytes` types become `Value::Bytes` (an empty sequence stays an empty
//! `Value::Array`; see `ser.rs`), and `Value::Bytes` reads back as any of them or as a sequence
//! of integers (see `de.rs`). Structs and maps become `Value::Map`, other sequences and tuples
//! `Value::Array`, `Option::None` and `()` `Value::Null`, enum variants follow serde's external
//! tagging (`"Variant"` or `{"Variant": content}`).
//!
//! ```
//! use in_mem_core_types::Value;
//! use in_mem_core_types::value_serde::{from_value, to_value};
//!
//! let stored = to_value(&u64::MAX).unwrap();
//! assert_eq!(stored, Value::from(u64::MAX));
//! assert!(from_value::<i64>(stored.clone()).is_err());
//! assert_eq!(from_value::<u128>(stored).unwrap(), u128::from(u64::MAX));
//!
//! let stored = to_value(&vec![1u8, 2, 3]).unwrap();
//! assert_eq!(stored, Value::Bytes(vec![1, 2, 3]));
//! assert_eq!(from_value::<[u8; 3]>(stored).unwrap(), [1, 2, 3]);
//! ```

mod de;
mod ser;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A conversion failure, with serde's description of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError(pub String);

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConvertError {}

impl serde::ser::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ConvertError(msg.to_string())
    }
}

impl serde::de::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ConvertError(msg.to_string())
    }
}

/// Converts a serde value into a stored [`Value`].
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ConvertError> {
    value.serialize(ser::ValueSerializer::default())
}

/// Converts a stored [`Value`] into a serde type.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ConvertError> {
    T::deserialize(de::ValueDeserializer(value))
}
