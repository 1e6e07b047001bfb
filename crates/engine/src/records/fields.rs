//! Building and reading the fields of stored records, which are `Value::Map`s, and the checks on
//! names and values that every record applies.
//!
//! Records are built and read field by field rather than through serde derive so that their
//! stored form is explicit (it is part of the on-disk format, see docs/FORMAT.md) and every
//! missing or mistyped field is an error naming it, never a silent default.

use std::collections::BTreeMap;

use in_mem_core_types::{Encoded, Timestamp, Value};

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

/// A stored record read in place from its encoding: each field is decoded only when asked for,
/// scalars (counts, times, hashes, names) without building anything, the caller's own values
/// (payloads, arguments, attributes) straight into the `Value` returned. Reading a run back is
/// mostly this, and building a `Value::Map` per record (a `String` per field name, a `Vec` per
/// hash) to take it apart again was most of its cost. The encoding's structure is checked whole
/// first, as decoding would check it, so a damaged record is refused whichever fields are read;
/// text is checked as UTF-8 when it is read, and the decoders read every field.
pub(crate) struct EncodedRecord<'a> {
    what: &'a str,
    /// The fields, in the (ascending) order the encoding keeps them.
    fields: Vec<(&'a str, Encoded<'a>)>,
}

impl<'a> EncodedRecord<'a> {
    pub fn new(what: &'a str, bytes: &'a [u8]) -> Result<Self> {
        // Every field of a record is read by its decoder, which checks text as it reads it.
        let encoded = Encoded::new_text_unchecked(bytes).map_err(|e| Error::Damaged {
            what: what.to_owned(),
            damage: e.into(),
        })?;
        let fields = encoded
            .map_fields()
            .ok_or_else(|| damaged(what, format!("is a {}, not a map", encoded.type_name())))?;
        Ok(EncodedRecord { what, fields })
    }

    /// A field's encoding.
    pub fn encoded(&self, name: &str) -> Result<Encoded<'a>> {
        // A record has a handful of fields: comparing each name for equality beats ordering
        // comparisons in a binary search.
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| damaged(self.what, format!("lacks the field {name}")))
    }

    /// A field's value, decoded.
    pub fn value(&self, name: &str) -> Result<Value> {
        self.encoded(name)?
            .decode()
            .map_err(|e| damaged(self.what, format!("field {name}: {e}")))
    }

    /// A field that must be present and may be null (`None`).
    pub fn nullable(&self, name: &str) -> Result<Option<Value>> {
        let field = self.encoded(name)?;
        if field.is_null() {
            return Ok(None);
        }
        self.value(name).map(Some)
    }

    /// A field that may be absent or null (both `None`).
    pub fn optional(&self, name: &str) -> Option<Encoded<'a>> {
        self.encoded(name).ok().filter(|field| !field.is_null())
    }

    pub fn text(&self, name: &str) -> Result<&'a str> {
        let field = self.encoded(name)?;
        field
            .as_str()
            .ok_or_else(|| self.mistyped(name, "text", field))
    }

    pub fn count(&self, name: &str) -> Result<u64> {
        let field = self.encoded(name)?;
        field
            .as_i64()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| self.mistyped(name, "a count", field))
    }

    pub fn time(&self, name: &str) -> Result<Timestamp> {
        self.count(name).map(Timestamp::from_micros)
    }

    pub fn bytes(&self, name: &str) -> Result<&'a [u8]> {
        let field = self.encoded(name)?;
        field
            .as_bytes()
            .ok_or_else(|| self.mistyped(name, "bytes", field))
    }

    pub fn flag(&self, name: &str) -> Result<bool> {
        let field = self.encoded(name)?;
        field
            .as_bool()
            .ok_or_else(|| self.mistyped(name, "a bool", field))
    }

    pub fn texts(&self, name: &str) -> Result<Vec<String>> {
        let field = self.encoded(name)?;
        let not_texts = || self.mistyped(name, "a list of text", field);
        field
            .array_items()
            .ok_or_else(not_texts)?
            .into_iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(not_texts))
            .collect()
    }

    /// A field that is a record of its own (a map), read in place too.
    pub fn record(&self, name: &str, what: &'a str) -> Result<EncodedRecord<'a>> {
        let field = self.encoded(name)?;
        let fields = field
            .map_fields()
            .ok_or_else(|| damaged(what, format!("is a {}, not a map", field.type_name())))?;
        Ok(EncodedRecord { what, fields })
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[(&'a str, Encoded<'a>)] {
        &self.fields
    }

    fn mistyped(&self, name: &str, want: &str, found: Encoded<'_>) -> Error {
        damaged(
            self.what,
            format!("field {name} is a {}, not {want}", found.type_name()),
        )
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
