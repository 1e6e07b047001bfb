//! Building and reading the fields of stored records, which are `Value::Map`s, and the checks on
//! names and values that every record applies.
//!
//! Records are built and read field by field rather than through serde derive so that their
//! stored form is explicit (it is part of the on-disk format, see docs/FORMAT.md) and every
//! missing or mistyped field is an error naming it, never a silent default.

use std::collections::BTreeMap;

use in_mem_core_types::{Timestamp, Value};

use crate::error::{Damage, Error, Result};

/// A record being built.
#[derive(Debug, Default)]
pub(crate) struct RecordBuilder(BTreeMap<String, Value>);

impl RecordBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn field(mut self, name: &str, value: Value) -> Self {
        self.0.insert(name.to_owned(), value);
        self
    }

    #[must_use]
    pub fn text(self, name: &str, text: &str) -> Self {
        self.field(name, Value::String(text.to_owned()))
    }

    #[must_use]
    pub fn count(self, name: &str, n: u64) -> Self {
        self.field(name, Value::I64(i64::try_from(n).unwrap_or(i64::MAX)))
    }

    #[must_use]
    pub fn time(self, name: &str, t: Timestamp) -> Self {
        self.count(name, t.as_micros())
    }

    #[must_use]
    pub fn bytes(self, name: &str, bytes: &[u8]) -> Self {
        self.field(name, Value::Bytes(bytes.to_vec()))
    }

    #[must_use]
    pub fn flag(self, name: &str, b: bool) -> Self {
        self.field(name, Value::Bool(b))
    }

    #[must_use]
    pub fn texts(self, name: &str, items: &[String]) -> Self {
        self.field(
            name,
            Value::Array(items.iter().cloned().map(Value::String).collect()),
        )
    }

    pub fn build(self) -> Value {
        Value::Map(self.0)
    }
}

/// A stored record being read; `what` names it in errors.
pub(crate) struct Record<'a> {
    what: &'a str,
    map: &'a BTreeMap<String, Value>,
}

impl<'a> Record<'a> {
    pub fn new(what: &'a str, value: &'a Value) -> Result<Self> {
        match value {
            Value::Map(map) => Ok(Record { what, map }),
            other => Err(damaged(
                what,
                format!("is a {}, not a map", other.type_name()),
            )),
        }
    }

    pub fn value(&self, name: &str) -> Result<&'a Value> {
        self.map
            .get(name)
            .ok_or_else(|| damaged(self.what, format!("lacks the field {name}")))
    }

    pub fn optional(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| **v != Value::Null)
    }

    pub fn text(&self, name: &str) -> Result<&'a str> {
        match self.value(name)? {
            Value::String(s) => Ok(s),
            other => Err(self.mistyped(name, "text", other)),
        }
    }

    pub fn count(&self, name: &str) -> Result<u64> {
        match self.value(name)? {
            Value::I64(n) if *n >= 0 => Ok(n.unsigned_abs()),
            other => Err(self.mistyped(name, "a count", other)),
        }
    }

    pub fn time(&self, name: &str) -> Result<Timestamp> {
        self.count(name).map(Timestamp::from_micros)
    }

    pub fn bytes(&self, name: &str) -> Result<&'a [u8]> {
        match self.value(name)? {
            Value::Bytes(b) => Ok(b),
            other => Err(self.mistyped(name, "bytes", other)),
        }
    }

    pub fn flag(&self, name: &str) -> Result<bool> {
        match self.value(name)? {
            Value::Bool(b) => Ok(*b),
            other => Err(self.mistyped(name, "a bool", other)),
        }
    }

    pub fn texts(&self, name: &str) -> Result<Vec<String>> {
        match self.value(name)? {
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.mistyped(name, "a list of text", other)),
                })
                .collect(),
            other => Err(self.mistyped(name, "a list of text", other)),
        }
    }

    fn mistyped(&self, name: &str, want: &str, found: &Value) -> Error {
        damaged(
            self.what,
            format!("field {name} is a {}, not {want}", found.type_name()),
        )
    }
}

/// A stored record read to be taken apart: the caller owns the decoded map, so text, lists and
/// the caller's own values (payloads, arguments, attributes) are moved out of it rather than
/// copied, which is most of what reading a run back costs. Small fields (counts, times,
/// hashes) are read through [`OwnedRecord::fields`].
pub(crate) struct OwnedRecord<'w> {
    what: &'w str,
    map: BTreeMap<String, Value>,
}

impl<'w> OwnedRecord<'w> {
    pub fn new(what: &'w str, value: Value) -> Result<Self> {
        match value {
            Value::Map(map) => Ok(OwnedRecord { what, map }),
            other => Err(damaged(
                what,
                format!("is a {}, not a map", other.type_name()),
            )),
        }
    }

    /// The fields still in the record, to read in place.
    pub fn fields(&self) -> Record<'_> {
        Record {
            what: self.what,
            map: &self.map,
        }
    }

    pub fn take(&mut self, name: &str) -> Result<Value> {
        self.map
            .remove(name)
            .ok_or_else(|| damaged(self.what, format!("lacks the field {name}")))
    }

    pub fn take_text(&mut self, name: &str) -> Result<String> {
        match self.take(name)? {
            Value::String(s) => Ok(s),
            other => Err(self.fields().mistyped(name, "text", &other)),
        }
    }

    pub fn take_texts(&mut self, name: &str) -> Result<Vec<String>> {
        let mistyped =
            |record: &Self, found: &Value| record.fields().mistyped(name, "a list of text", found);
        match self.take(name)? {
            Value::Array(items) => {
                let mut texts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => texts.push(s),
                        other => return Err(mistyped(self, &other)),
                    }
                }
                Ok(texts)
            }
            other => Err(mistyped(self, &other)),
        }
    }
}

pub(crate) fn damaged(what: &str, reason: impl Into<String>) -> Error {
    Error::Damaged {
        what: what.to_owned(),
        damage: Damage::Record(reason.into()),
    }
}

/// Refuses a caller's value that cannot be stored in a record: nested deeper than
/// `VALUE_DEPTH_MAX` (the same limit as a KV value's, whatever record wraps it, reported with
/// the value's own depth), or without a single canonical encoding (NaN has many bit patterns,
/// so a hash or a comparison over it would not be stable).
pub(crate) fn check_canonical(value: &Value) -> Result<()> {
    value.check_depth()?;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::F64(x) if x.is_nan() => {
                return Err(Error::NotCanonical {
                    reason: "NaN has no canonical encoding",
                });
            }
            Value::Array(items) => stack.extend(items),
            Value::Map(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a name used inside index keys (event types, cell and machine names, span tags): 1 to
/// 128 bytes, no 0x00 (the index keys' separator) and no other control characters.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        "it is empty"
    } else if name.len() > NAME_BYTES_MAX {
        "it is longer than 128 bytes"
    } else if name.chars().any(char::is_control) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        what,
        name: name.to_owned(),
        problem,
    })
}

/// Longest event type, cell, machine or tag name, in bytes.
pub const NAME_BYTES_MAX: usize = 128;
