//! Building and reading the fields of stored records, which are maps in the `Value` encoding
//! (written and read in place, never built as a `Value::Map`), and the checks on names and
//! values that every record applies.
//!
//! Records are built and read field by field rather than through serde derive so that their
//! stored form is explicit (it is part of the on-disk format, see docs/FORMAT.md) and every
//! missing or mistyped field is an error naming it, never a silent default.

use std::collections::BTreeMap;
use std::sync::Arc;

use in_mem_core_types::limits::STORED_DEPTH_MAX;
use in_mem_core_types::{Encoded, Encoder, Timestamp, Value};

use crate::error::{Damage, Error, Result};

type CoreResult<T> = std::result::Result<T, in_mem_core_types::Error>;

/// A record being built: its fields borrowed from the caller and written straight into the
/// record's encoding by [`RecordBuilder::build`] (no `Value::Map` built to be encoded, no copy
/// of the caller's values).
#[derive(Debug, Default)]
pub(crate) struct RecordBuilder<'a> {
    fields: Vec<(&'a str, Field<'a>)>,
}

/// One field of a record being built.
#[derive(Debug)]
enum Field<'a> {
    Value(&'a Value),
    /// A caller's value encoded already (and checked by that encoding).
    Encoded(&'a [u8]),
    Null,
    Text(&'a str),
    Count(u64),
    Bytes(&'a [u8]),
    Flag(bool),
    Texts(&'a [String]),
    /// A map of the caller's values (span attributes).
    Entries(&'a BTreeMap<String, Value>),
    /// A record inside this one.
    Record(RecordBuilder<'a>),
}

impl<'a> RecordBuilder<'a> {
    pub fn new() -> Self {
        // Records have up to seven fields (a span): one allocation, never grown.
        RecordBuilder {
            fields: Vec::with_capacity(8),
        }
    }

    fn with(mut self, name: &'a str, field: Field<'a>) -> Self {
        self.fields.push((name, field));
        self
    }

    #[must_use]
    pub fn field(self, name: &'a str, value: &'a Value) -> Self {
        self.with(name, Field::Value(value))
    }

    /// A caller's value encoded already by `Value::encode`, which checked it.
    #[must_use]
    pub fn encoded(self, name: &'a str, encoded: &'a [u8]) -> Self {
        self.with(name, Field::Encoded(encoded))
    }

    #[must_use]
    pub fn null(self, name: &'a str) -> Self {
        self.with(name, Field::Null)
    }

    #[must_use]
    pub fn text(self, name: &'a str, text: &'a str) -> Self {
        self.with(name, Field::Text(text))
    }

    #[must_use]
    pub fn count(self, name: &'a str, n: u64) -> Self {
        self.with(name, Field::Count(n))
    }

    #[must_use]
    pub fn time(self, name: &'a str, t: Timestamp) -> Self {
        self.count(name, t.as_micros())
    }

    #[must_use]
    pub fn bytes(self, name: &'a str, bytes: &'a [u8]) -> Self {
        self.with(name, Field::Bytes(bytes))
    }

    #[must_use]
    pub fn flag(self, name: &'a str, b: bool) -> Self {
        self.with(name, Field::Flag(b))
    }

    #[must_use]
    pub fn texts(self, name: &'a str, items: &'a [String]) -> Self {
        self.with(name, Field::Texts(items))
    }

    #[must_use]
    pub fn entries(self, name: &'a str, map: &'a BTreeMap<String, Value>) -> Self {
        self.with(name, Field::Entries(map))
    }

    #[must_use]
    pub fn record(self, name: &'a str, record: RecordBuilder<'a>) -> Self {
        self.with(name, Field::Record(record))
    }

    /// The record's canonical encoding (fields in name order), as stored.
    pub fn build(self) -> Result<Arc<[u8]>> {
        Ok(Encoder::shared(|encoder| self.write(encoder, 1))?)
    }

    /// Writes the record as a map at nesting `level` (1 for a stored record itself): a
    /// caller's value in it may nest as deep as what is left of the stored-value limit.
    fn write(mut self, encoder: &mut Encoder<'_>, level: usize) -> CoreResult<()> {
        self.fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        // A map with a name twice would not read back: refused, never written.
        if self.fields.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(in_mem_core_types::Error::Malformed {
                what: "record",
                offset: 0,
                reason: "a field name given twice",
            });
        }
        let inside = STORED_DEPTH_MAX.saturating_sub(level);
        encoder.map(self.fields.len());
        for (name, field) in self.fields {
            encoder.key(name);
            match field {
                Field::Value(value) => encoder.value(value, inside)?,
                Field::Encoded(bytes) => encoder.raw(bytes),
                Field::Null => encoder.null(),
                Field::Text(text) => encoder.text(text),
                Field::Count(n) => encoder.i64(i64::try_from(n).unwrap_or(i64::MAX)),
                Field::Bytes(bytes) => encoder.bytes(bytes),
                Field::Flag(b) => encoder.bool(b),
                Field::Texts(items) => {
                    encoder.array(items.len());
                    for item in items {
                        encoder.text(item);
                    }
                }
                Field::Entries(map) => {
                    encoder.map(map.len());
                    for (key, value) in map {
                        encoder.key(key);
                        encoder.value(value, inside.saturating_sub(1))?;
                    }
                }
                Field::Record(record) => record.write(encoder, level + 1)?,
            }
        }
        Ok(())
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
    /// The fields (names as their bytes), in the (ascending) order the encoding keeps them.
    fields: Vec<(&'a [u8], Encoded<'a>)>,
}

impl<'a> EncodedRecord<'a> {
    pub fn new(what: &'a str, bytes: &'a [u8]) -> Result<Self> {
        // One pass checks the structure and splits the fields. Every field of a record is read
        // by its decoder, which checks text as it reads it; names are compared as bytes.
        let fields = Encoded::map_entries(bytes)
            .map_err(|e| Error::Damaged {
                what: what.to_owned(),
                damage: e.into(),
            })?
            .ok_or_else(|| {
                damaged(
                    what,
                    format!("is a {}, not a map", Value::encoded_type_name(bytes)),
                )
            })?;
        Ok(EncodedRecord { what, fields })
    }

    /// A field's encoding.
    pub fn encoded(&self, name: &str) -> Result<Encoded<'a>> {
        self.find(name)
            .ok_or_else(|| damaged(self.what, format!("lacks the field {name}")))
    }

    /// A field's encoding, if the record has the field. (Not `encoded(..).ok()`: the error
    /// it would build and drop, a formatted message, cost more than reading a whole span.)
    fn find(&self, name: &str) -> Option<Encoded<'a>> {
        // A record has a handful of fields: comparing each name for equality beats ordering
        // comparisons in a binary search.
        self.fields
            .iter()
            .find(|(field, _)| *field == name.as_bytes())
            .map(|(_, value)| *value)
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
        self.find(name).filter(|field| !field.is_null())
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
            .entries()
            .ok_or_else(|| damaged(what, format!("is a {}, not a map", field.type_name())))?;
        Ok(EncodedRecord { what, fields })
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[(&'a [u8], Encoded<'a>)] {
        &self.fields
    }

    fn mistyped(&self, name: &str, want: &str, found: Encoded<'_>) -> Error {
        // Text is checked as UTF-8 only when read: a string that fails is damaged text, not a
        // field of the wrong type.
        let found = match found.type_name() {
            "string" if want.contains("text") => "string that is not UTF-8",
            other => other,
        };
        damaged(self.what, format!("field {name} is a {found}, not {want}"))
    }
}

pub(crate) fn damaged(what: &str, reason: impl Into<String>) -> Error {
    Error::Damaged {
        what: what.to_owned(),
        damage: Damage::Record(reason.into()),
    }
}

/// `e`, if it says a record is damaged, naming which record (`"event 17"`, `"span 3"`) rather
/// than only its kind.
pub(crate) fn naming(e: Error, which: impl FnOnce() -> String) -> Error {
    match e {
        Error::Damaged { damage, .. } => Error::Damaged {
            what: which(),
            damage,
        },
        other => other,
    }
}

/// Refuses a caller's value that cannot be stored in a record: nested deeper than
/// `VALUE_DEPTH_MAX` (the same limit as a KV value's, whatever record wraps it, reported with
/// the value's own depth), or without a single canonical encoding (NaN has many bit patterns,
/// so a hash or a comparison over it would not be stable).
pub(crate) fn check_canonical(value: &Value) -> Result<()> {
    match value {
        Value::F64(x) if x.is_nan() => {}
        // A scalar without a NaN in it (most cells and payloads): nothing to walk.
        Value::Array(_) | Value::Map(_) => value.check_depth()?,
        _ => return Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use in_mem_core_types::{Timestamp, Value};

    use super::{EncodedRecord, RecordBuilder};

    /// The stored form is part of the on-disk format: a record written field by field must be
    /// byte for byte the `Value::Map` it stands for, encoded.
    #[test]
    fn a_record_is_written_as_the_map_it_stands_for() {
        let payload = Value::Array(vec![Value::from("x"), Value::I64(2)]);
        let attributes = BTreeMap::from([("k".to_owned(), Value::from(1.5))]);
        let tags = vec!["a".to_owned(), "b".to_owned()];
        let written = RecordBuilder::new()
            .time("timestamp", Timestamp::from_micros(7))
            .field("payload", &payload)
            .text("type", "observed")
            .bytes("hash", &[9; 4])
            .flag("deleted", false)
            .null("result")
            .texts("tags", &tags)
            .entries("attributes", &attributes)
            .record("kind", RecordBuilder::new().count("n", 3).text("tool", "t"))
            .build()
            .unwrap();
        let map = |entries: Vec<(&str, Value)>| {
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        };
        let expected = map(vec![
            ("timestamp", Value::I64(7)),
            ("payload", payload.clone()),
            ("type", Value::from("observed")),
            ("hash", Value::Bytes(vec![9; 4])),
            ("deleted", Value::Bool(false)),
            ("result", Value::Null),
            (
                "tags",
                Value::Array(vec![Value::from("a"), Value::from("b")]),
            ),
            ("attributes", Value::Map(attributes.clone())),
            (
                "kind",
                map(vec![("n", Value::I64(3)), ("tool", Value::from("t"))]),
            ),
        ]);
        assert_eq!(&*written, expected.encode_record().unwrap().as_slice());
        // And read back in place.
        let record = EncodedRecord::new("test", &written).unwrap();
        assert_eq!(record.time("timestamp").unwrap(), Timestamp::from_micros(7));
        assert_eq!(record.value("payload").unwrap(), payload);
        assert_eq!(record.text("type").unwrap(), "observed");
        assert_eq!(record.bytes("hash").unwrap(), &[9; 4]);
        assert!(!record.flag("deleted").unwrap());
        assert_eq!(record.nullable("result").unwrap(), None);
        assert!(record.optional("result").is_none());
        assert_eq!(record.texts("tags").unwrap(), tags);
        assert_eq!(
            record.record("kind", "kind").unwrap().count("n").unwrap(),
            3
        );
        assert!(record.text("payload").is_err() && record.count("missing").is_err());
    }

    #[test]
    fn damaged_text_is_called_so_and_the_record_named() {
        let mut bytes = RecordBuilder::new()
            .text("type", "xy")
            .build()
            .unwrap()
            .to_vec();
        let at = bytes.windows(2).position(|w| w == b"xy").unwrap();
        bytes[at] = 0xff;
        let record = EncodedRecord::new("event", &bytes).unwrap();
        let e = record.text("type").unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        let named = super::naming(e, || "event 17".to_owned());
        assert!(
            matches!(&named, crate::error::Error::Damaged { what, .. } if what == "event 17"),
            "{named:?}"
        );
    }
}
