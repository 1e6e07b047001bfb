//! Conversions between the caller's serde types and stored values, with the errors that name
//! the Rust type involved.

use std::any::type_name;

use in_mem_core_types::{Value, from_value, to_value};
use in_mem_engine::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `value` as a stored [`Value`], or [`Error::Unrepresentable`] naming its type.
pub(crate) fn to_stored<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    to_value(value).map_err(|source| Error::Unrepresentable {
        type_name: type_name::<T>(),
        source,
    })
}

/// The value stored under `key` as a `T`, or [`Error::TypeMismatch`] naming both types.
pub(crate) fn from_stored<T: DeserializeOwned>(key: &[u8], value: Value) -> Result<T> {
    let stored = value.type_name();
    from_value(value).map_err(|source| Error::TypeMismatch {
        key: String::from_utf8_lossy(key).into_owned(),
        stored,
        requested: type_name::<T>(),
        source,
    })
}
