//! Reading an encoded [`Value`] in place: its scalars without allocating, a map's fields and an
//! array's items as encodings of their own, decoded only when asked for.
//!
//! The engine's records are maps whose fields are mostly small scalars (counts, times, hashes,
//! names) around one caller's value. Decoding a whole record builds a `BTreeMap` with a `String`
//! per field name, a `Vec` per hash, and then takes the fields apart again, which is most of
//! what reading a run back costs. [`Encoded::new`] checks an encoding exactly as
//! [`Value::decode`] would (every tag, length, depth, UTF-8 text, canonical form and key order,
//! so damage is found just the same) and [`Encoded::entries`] then hands out each field's
//! bytes; [`Encoded::map_entries`] does both in one pass, leaving text to be checked when read.

use super::codec::{
    TAG_ARRAY, TAG_BOOL, TAG_BYTES, TAG_F64, TAG_I64, TAG_MAP, TAG_NULL, TAG_STRING, TAG_U64,
    decode_at, malformed, read_len, read_str, take, take_array,
};
use super::{BigU64, Value};
use crate::error::Result;
use crate::limits::STORED_DEPTH_MAX;

/// One well-formed encoded value (checked when it was made), at some depth of a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoded<'a> {
    bytes: &'a [u8],
    depth: usize,
}

impl<'a> Encoded<'a> {
    /// Checks that `bytes` is exactly one canonical encoding (what [`Value::decode`] accepts),
    /// without building it.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        Self::checked(bytes, Text::Checked)
    }

    /// Like [`Encoded::new`], except that text is left to be checked as UTF-8 when it is read
    /// ([`Encoded::as_str`], [`Encoded::decode`], a map's field names): for a reader that reads
    /// every field, so that no text is validated twice. Everything else is checked.
    pub fn new_text_unchecked(bytes: &'a [u8]) -> Result<Self> {
        Self::checked(bytes, Text::OnRead)
    }

    /// The entries of the map `bytes` encodes, read in one pass that checks the whole encoding
    /// as [`Encoded::new_text_unchecked`] does: each key as its bytes (checked as UTF-8 by
    /// nobody: a reader compares them with the names it knows), each value as an encoding.
    /// `Ok(None)` if `bytes` is a well-formed value that is not a map.
    #[allow(clippy::type_complexity)] // A list of (name, value) pairs.
    pub fn map_entries(bytes: &'a [u8]) -> Result<Option<Vec<(&'a [u8], Encoded<'a>)>>> {
        if bytes.first() != Some(&TAG_MAP) {
            Self::new_text_unchecked(bytes)?;
            return Ok(None);
        }
        let mut pos = 1;
        let count = read_len(bytes, &mut pos)?;
        // Every entry takes at least two bytes: a count above that is a lie (see `decode_at`).
        let mut entries = Vec::with_capacity(count.min(bytes.len() / 2));
        let mut previous: Option<&[u8]> = None;
        for _ in 0..count {
            let key_at = pos;
            let key = read_text(bytes, &mut pos, Text::OnRead)?;
            if previous.is_some_and(|p| p >= key) {
                return Err(malformed(key_at, "map keys are not strictly ascending"));
            }
            previous = Some(key);
            let start = pos;
            skip_at(bytes, &mut pos, 2, Text::OnRead)?;
            entries.push((
                key,
                Encoded {
                    bytes: &bytes[start..pos],
                    depth: 2,
                },
            ));
        }
        if pos != bytes.len() {
            return Err(malformed(pos, "trailing bytes after the value"));
        }
        Ok(Some(entries))
    }

    /// A map's entries in key order, each key as its bytes (not checked as UTF-8 again), each
    /// value as its own encoding; `None` if it is not a map.
    #[allow(clippy::type_complexity)] // A list of (name, value) pairs.
    pub fn entries(self) -> Option<Vec<(&'a [u8], Encoded<'a>)>> {
        if self.bytes.first() != Some(&TAG_MAP) {
            return None;
        }
        let mut pos = 1;
        let count = read_len(self.bytes, &mut pos).ok()?;
        let mut entries = Vec::with_capacity(count.min(self.bytes.len() / 2));
        for _ in 0..count {
            let len = read_len(self.bytes, &mut pos).ok()?;
            let key = take(self.bytes, &mut pos, len).ok()?;
            let start = pos;
            pos = end_of(self.bytes, pos)?;
            entries.push((key, self.child(start, pos)));
        }
        Some(entries)
    }

    fn checked(bytes: &'a [u8], text: Text) -> Result<Self> {
        let mut pos = 0;
        skip_at(bytes, &mut pos, 1, text)?;
        if pos != bytes.len() {
            return Err(malformed(pos, "trailing bytes after the value"));
        }
        Ok(Encoded { bytes, depth: 1 })
    }

    /// The encoding itself.
    pub fn bytes(self) -> &'a [u8] {
        self.bytes
    }

    /// The value, built.
    pub fn decode(self) -> Result<Value> {
        let mut pos = 0;
        decode_at(self.bytes, &mut pos, self.depth)
    }

    /// The name of its type (as [`Value::type_name`] says it).
    pub fn type_name(self) -> &'static str {
        Value::encoded_type_name(self.bytes)
    }

    /// Whether it is `Null`.
    pub fn is_null(self) -> bool {
        self.bytes.first() == Some(&TAG_NULL)
    }

    /// The text, if it is a string.
    pub fn as_str(self) -> Option<&'a str> {
        let mut pos = 1;
        (self.bytes.first() == Some(&TAG_STRING))
            .then(|| read_str(self.bytes, &mut pos).ok())
            .flatten()
    }

    /// The number, if it is an `I64`.
    pub fn as_i64(self) -> Option<i64> {
        let mut pos = 1;
        (self.bytes.first() == Some(&TAG_I64))
            .then(|| {
                take_array(self.bytes, &mut pos)
                    .ok()
                    .map(i64::from_le_bytes)
            })
            .flatten()
    }

    /// The bytes, if it is `Bytes`.
    pub fn as_bytes(self) -> Option<&'a [u8]> {
        (self.bytes.first() == Some(&TAG_BYTES))
            .then(|| {
                let mut pos = 1;
                let len = read_len(self.bytes, &mut pos).ok()?;
                take(self.bytes, &mut pos, len).ok()
            })
            .flatten()
    }

    /// The flag, if it is a `Bool`.
    pub fn as_bool(self) -> Option<bool> {
        match self.bytes {
            [TAG_BOOL, b] => Some(*b == 1),
            _ => None,
        }
    }

    /// An array's items in order, each as its own encoding; `None` if it is not an array.
    pub fn array_items(self) -> Option<Vec<Encoded<'a>>> {
        if self.bytes.first() != Some(&TAG_ARRAY) {
            return None;
        }
        let mut pos = 1;
        let count = read_len(self.bytes, &mut pos).ok()?;
        let mut items = Vec::with_capacity(count.min(self.bytes.len()));
        for _ in 0..count {
            let start = pos;
            pos = end_of(self.bytes, pos)?;
            items.push(self.child(start, pos));
        }
        Some(items)
    }

    fn child(self, start: usize, end: usize) -> Encoded<'a> {
        Encoded {
            bytes: &self.bytes[start..end],
            depth: self.depth + 1,
        }
    }
}

/// Where the value at `start` of an encoding already checked by `skip_at` ends: lengths are
/// read, nothing else is checked again (text in particular is not validated a second time).
/// `None` only if the encoding was not checked after all.
fn end_of(bytes: &[u8], start: usize) -> Option<usize> {
    // Values still to step over: nested arrays and maps add their items.
    let mut pending: usize = 1;
    let mut pos = start;
    while pending > 0 {
        pending -= 1;
        let tag = *bytes.get(pos)?;
        pos += 1;
        match tag {
            TAG_NULL => {}
            TAG_BOOL => pos += 1,
            TAG_I64 | TAG_F64 | TAG_U64 => pos += 8,
            TAG_STRING | TAG_BYTES => {
                let len = read_len(bytes, &mut pos).ok()?;
                pos = pos.checked_add(len)?;
            }
            TAG_ARRAY => pending = pending.checked_add(read_len(bytes, &mut pos).ok()?)?,
            TAG_MAP => {
                let count = read_len(bytes, &mut pos).ok()?;
                // A map's keys are stepped over here, its values by the loop.
                for _ in 0..count {
                    let len = read_len(bytes, &mut pos).ok()?;
                    pos = pos.checked_add(len)?;
                    pos = end_of(bytes, pos)?;
                }
            }
            _ => return None,
        }
    }
    (pos <= bytes.len()).then_some(pos)
}

/// When `skip_at` checks that text is UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Checked,
    OnRead,
}

/// Steps over the value at `pos`, checking everything `decode_at` checks (text as `text` says),
/// building nothing.
fn skip_at(bytes: &[u8], pos: &mut usize, depth: usize, text: Text) -> Result<()> {
    if depth > STORED_DEPTH_MAX {
        return Err(malformed(*pos, "value nests deeper than the limit"));
    }
    let tag_at = *pos;
    let tag = *bytes
        .get(tag_at)
        .ok_or(malformed(tag_at, "value is cut short"))?;
    *pos += 1;
    match tag {
        TAG_NULL => {}
        TAG_BOOL => {
            if !matches!(take(bytes, pos, 1)?, [0 | 1]) {
                return Err(malformed(*pos - 1, "bool byte is neither 0 nor 1"));
            }
        }
        TAG_I64 | TAG_F64 => {
            take(bytes, pos, 8)?;
        }
        TAG_U64 => {
            let at = *pos;
            let n = u64::from_le_bytes(take_array(bytes, pos)?);
            if BigU64::new(n).is_none() {
                return Err(malformed(at, "u64 value fits in an i64 (non-canonical)"));
            }
        }
        TAG_STRING => {
            read_text(bytes, pos, text)?;
        }
        TAG_BYTES => {
            let len = read_len(bytes, pos)?;
            take(bytes, pos, len)?;
        }
        TAG_ARRAY => {
            let count = read_len(bytes, pos)?;
            for _ in 0..count {
                skip_at(bytes, pos, depth + 1, text)?;
            }
        }
        TAG_MAP => {
            let count = read_len(bytes, pos)?;
            // Text orders as its bytes do, so the keys' order is checked on their bytes.
            let mut previous: Option<&[u8]> = None;
            for _ in 0..count {
                let key_at = *pos;
                let key = read_text(bytes, pos, text)?;
                if previous.is_some_and(|p| p >= key) {
                    return Err(malformed(key_at, "map keys are not strictly ascending"));
                }
                previous = Some(key);
                skip_at(bytes, pos, depth + 1, text)?;
            }
        }
        _ => return Err(malformed(tag_at, "unknown value type tag")),
    }
    Ok(())
}

/// The bytes of the text at `pos`, checked as UTF-8 if `text` says so.
fn read_text<'a>(bytes: &'a [u8], pos: &mut usize, text: Text) -> Result<&'a [u8]> {
    if text == Text::Checked {
        return read_str(bytes, pos).map(str::as_bytes);
    }
    let len = read_len(bytes, pos)?;
    take(bytes, pos, len)
}

#[cfg(test)]
mod tests;
