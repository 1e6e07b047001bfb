//! Writing a canonical encoding piece by piece, for records whose shape the writer knows: no
//! `Value::Map` (with a `String` per field name) built just to be encoded. The writer keeps a
//! map's keys strictly ascending, as the format requires; everything it writes through
//! [`Encoder::value`] is measured and checked as [`Value::encode`] checks it.

use std::sync::Arc;

use super::Value;
use super::codec::{
    TAG_ARRAY, TAG_BOOL, TAG_BYTES, TAG_I64, TAG_MAP, TAG_NULL, TAG_STRING, encode_into,
};
use crate::error::{Error, Result};
use crate::limits::VALUE_BYTES_MAX;
use crate::varint;

/// Writes one encoded value into a buffer (see [`Encoder::shared`]).
#[derive(Debug)]
pub struct Encoder<'b> {
    out: &'b mut Vec<u8>,
}

impl Encoder<'_> {
    /// The encoding `write` writes, in one shared allocation of its exact size (built in a
    /// reused per-thread buffer). Refuses an encoding larger than [`VALUE_BYTES_MAX`].
    pub fn shared(write: impl FnOnce(&mut Encoder<'_>) -> Result<()>) -> Result<Arc<[u8]>> {
        crate::shared::build_shared(|out| {
            write(&mut Encoder { out })?;
            check_size(out.len())
        })
    }

    /// `Null`.
    pub fn null(&mut self) {
        self.out.push(TAG_NULL);
    }

    /// A `Bool`.
    pub fn bool(&mut self, b: bool) {
        self.out.extend_from_slice(&[TAG_BOOL, u8::from(b)]);
    }

    /// An `I64`.
    pub fn i64(&mut self, n: i64) {
        self.out.push(TAG_I64);
        self.out.extend_from_slice(&n.to_le_bytes());
    }

    /// A `String`.
    pub fn text(&mut self, text: &str) {
        self.out.push(TAG_STRING);
        self.key(text);
    }

    /// `Bytes`.
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.out.push(TAG_BYTES);
        varint::write_u64(self.out, bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    /// The start of an array of `count` items: the caller writes them next.
    pub fn array(&mut self, count: usize) {
        self.out.push(TAG_ARRAY);
        varint::write_u64(self.out, count as u64);
    }

    /// The start of a map of `count` entries: the caller writes each key ([`Encoder::key`])
    /// then its value, keys strictly ascending.
    pub fn map(&mut self, count: usize) {
        self.out.push(TAG_MAP);
        varint::write_u64(self.out, count as u64);
    }

    /// A map key.
    pub fn key(&mut self, key: &str) {
        varint::write_u64(self.out, key.len() as u64);
        self.out.extend_from_slice(key.as_bytes());
    }

    /// A value encoded already (by [`Value::encode`], which checked it): copied as it is.
    pub fn raw(&mut self, encoded: &[u8]) {
        self.out.extend_from_slice(encoded);
    }

    /// `value`, which may nest at most `depth_max` levels where it is written.
    pub fn value(&mut self, value: &Value, depth_max: usize) -> Result<()> {
        let len = value.checked_len(depth_max)?;
        check_size(self.out.len().saturating_add(len))?;
        self.out.reserve(len);
        encode_into(value, self.out)
    }
}

fn check_size(len: usize) -> Result<()> {
    if len > VALUE_BYTES_MAX {
        return Err(Error::ValueTooLarge {
            len,
            max: VALUE_BYTES_MAX,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::Encoder;
    use crate::Value;
    use crate::limits::VALUE_DEPTH_MAX;

    #[test]
    fn pieces_encode_as_the_value_they_make() {
        let payload = Value::Array(vec![Value::from("a"), Value::I64(-3)]);
        let written = Encoder::shared(|e| {
            e.map(6);
            e.key("bytes");
            e.bytes(&[1, 2]);
            e.key("flag");
            e.bool(true);
            e.key("n");
            e.i64(7);
            e.key("none");
            e.null();
            e.key("payload");
            e.value(&payload, VALUE_DEPTH_MAX)?;
            e.key("tags");
            e.array(1);
            e.text("x");
            Ok(())
        })
        .unwrap();
        let expected = Value::Map(BTreeMap::from([
            ("bytes".to_owned(), Value::Bytes(vec![1, 2])),
            ("flag".to_owned(), Value::Bool(true)),
            ("n".to_owned(), Value::I64(7)),
            ("none".to_owned(), Value::Null),
            ("payload".to_owned(), payload.clone()),
            ("tags".to_owned(), Value::Array(vec![Value::from("x")])),
        ]));
        assert_eq!(&*written, expected.encode().unwrap().as_slice());
    }

    #[test]
    fn a_value_too_deep_for_its_place_is_refused() {
        let mut deep = Value::Null;
        for _ in 0..3 {
            deep = Value::Array(vec![deep]);
        }
        assert!(Encoder::shared(|e| e.value(&deep, 3)).is_err());
        assert!(Encoder::shared(|e| e.value(&deep, 4)).is_ok());
    }
}
