//! The canonical byte encoding of [`Value`], documented in `docs/FORMAT.md`.
//!
//! ```text
//! 0x00                         Null
//! 0x01 b                       Bool (b is 0 or 1)
//! 0x02 i64 (8 bytes LE)        I64
//! 0x03 f64 bits (8 bytes LE)   F64
//! 0x04 len(varint) utf8        String
//! 0x05 len(varint) bytes       Bytes
//! 0x06 count(varint) value*    Array
//! 0x07 count(varint) (len(varint) utf8 value)*   Map, keys strictly ascending
//! 0x08 u64 (8 bytes LE)        U64, only above i64::MAX
//! ```
//!
//! Hand-written rather than derived so that the decoder can bound nesting depth and refuse
//! non-canonical input (unsorted or duplicate map keys, bools other than 0/1, a `U64` that an
//! `I64` holds), which a derived decoder cannot; garbage therefore decodes to an error, never a
//! panic or a stack overflow.
//!
//! `U64` came after the first format and took the next free tag rather than widening `I64`, so
//! that the encoding of every value written before it stays byte for byte the same (event hashes
//! cover these bytes).

use std::collections::BTreeMap;

use super::{BigU64, Value};
use crate::error::{Error, Result};
use crate::limits::{STORED_DEPTH_MAX, VALUE_BYTES_MAX, VALUE_DEPTH_MAX};
use crate::varint;

pub(super) const TAG_NULL: u8 = 0x00;
pub(super) const TAG_BOOL: u8 = 0x01;
pub(super) const TAG_I64: u8 = 0x02;
pub(super) const TAG_F64: u8 = 0x03;
pub(super) const TAG_STRING: u8 = 0x04;
pub(super) const TAG_BYTES: u8 = 0x05;
pub(super) const TAG_ARRAY: u8 = 0x06;
pub(super) const TAG_MAP: u8 = 0x07;
pub(super) const TAG_U64: u8 = 0x08;

impl Value {
    /// The canonical encoding. Errors if the value nests deeper than [`VALUE_DEPTH_MAX`] or
    /// encodes to more than [`VALUE_BYTES_MAX`] bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_within(VALUE_DEPTH_MAX)
    }

    /// The canonical encoding of one of the engine's records, which may wrap a caller's value
    /// (itself at most [`VALUE_DEPTH_MAX`] deep) in up to `RECORD_NESTING_MAX` more levels.
    pub fn encode_record(&self) -> Result<Vec<u8>> {
        self.encode_within(STORED_DEPTH_MAX)
    }

    /// Refuses a value nested deeper than [`VALUE_DEPTH_MAX`], naming its depth: the check every
    /// caller's value passes before it is stored, whichever record holds it.
    pub fn check_depth(&self) -> Result<()> {
        let depth = self.depth();
        if depth > VALUE_DEPTH_MAX {
            return Err(Error::ValueTooDeep {
                depth,
                max: VALUE_DEPTH_MAX,
            });
        }
        Ok(())
    }

    /// Levels of nesting: 1 for a scalar or an empty array or map, one more per array or map
    /// around it. Walks without recursion, so any value built in memory can be measured.
    pub fn depth(&self) -> usize {
        self.measure().0
    }

    /// Its depth (see [`Value::depth`]) and the length of its encoding, in one walk without
    /// recursion: so that an encoding too deep or too large is refused before it is built,
    /// and any other is built into one allocation of the exact size.
    pub(crate) fn measure(&self) -> (usize, usize) {
        let (mut deepest, mut len) = (1, 0usize);
        let mut stack: Vec<(&Value, usize)> = Vec::new();
        let mut next = Some((self, 1usize));
        while let Some((value, depth)) = next.take().or_else(|| stack.pop()) {
            deepest = deepest.max(depth);
            let own = match value {
                Value::Null => 0,
                Value::Bool(_) => 1,
                Value::I64(_) | Value::U64(_) | Value::F64(_) => 8,
                Value::String(s) => varint::len_u64(s.len() as u64).saturating_add(s.len()),
                Value::Bytes(b) => varint::len_u64(b.len() as u64).saturating_add(b.len()),
                Value::Array(items) => {
                    stack.extend(items.iter().map(|v| (v, depth + 1)));
                    varint::len_u64(items.len() as u64)
                }
                Value::Map(map) => {
                    let mut keys = varint::len_u64(map.len() as u64);
                    for (k, v) in map {
                        keys = keys
                            .saturating_add(varint::len_u64(k.len() as u64))
                            .saturating_add(k.len());
                        stack.push((v, depth + 1));
                    }
                    keys
                }
            };
            // The tag byte, then what follows it.
            len = len.saturating_add(1).saturating_add(own);
        }
        (deepest, len)
    }

    /// [`Value::encode`] into a shared allocation of the exact size (what the engine stores),
    /// with one allocation instead of a `Vec` and a copy of it.
    pub fn encode_shared(&self) -> Result<std::sync::Arc<[u8]>> {
        self.encode_shared_within(VALUE_DEPTH_MAX)
    }

    /// [`Value::encode_record`] into a shared allocation of the exact size.
    pub fn encode_record_shared(&self) -> Result<std::sync::Arc<[u8]>> {
        self.encode_shared_within(STORED_DEPTH_MAX)
    }

    fn encode_shared_within(&self, depth_max: usize) -> Result<std::sync::Arc<[u8]>> {
        let len = self.checked_len(depth_max)?;
        crate::shared::build_shared(|out| {
            out.reserve(len);
            encode_into(self, out)
        })
    }

    /// The encoded length, once the value is known to be within `depth_max` and the size limit.
    pub(super) fn checked_len(&self, depth_max: usize) -> Result<usize> {
        let (depth, len) = self.measure();
        if depth > depth_max {
            return Err(Error::ValueTooDeep {
                depth,
                max: depth_max,
            });
        }
        if len > VALUE_BYTES_MAX {
            return Err(Error::ValueTooLarge {
                len,
                max: VALUE_BYTES_MAX,
            });
        }
        Ok(len)
    }

    fn encode_within(&self, depth_max: usize) -> Result<Vec<u8>> {
        let len = self.checked_len(depth_max)?;
        let mut out = Vec::with_capacity(len);
        encode_into(self, &mut out)?;
        debug_assert_eq!(out.len(), len, "measure gives the encoded length");
        Ok(out)
    }

    /// The encoding of `Value::Bytes(bytes)`, without building the `Value`: the byte API's path.
    pub fn encode_bytes(bytes: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(bytes.len() + 4);
        out.push(TAG_BYTES);
        varint::write_u64(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
        if out.len() > VALUE_BYTES_MAX {
            return Err(Error::ValueTooLarge {
                len: out.len(),
                max: VALUE_BYTES_MAX,
            });
        }
        Ok(out)
    }

    /// [`Value::encode_bytes`] into a shared allocation: the byte API's hot path, with one
    /// allocation of the exact size (see [`crate::concat_shared`]).
    pub fn encode_bytes_shared(bytes: &[u8]) -> Result<std::sync::Arc<[u8]>> {
        let (prefix, prefix_len) = varint::encode_u64(bytes.len() as u64);
        let total = 1 + prefix_len + bytes.len();
        if total > VALUE_BYTES_MAX {
            return Err(Error::ValueTooLarge {
                len: total,
                max: VALUE_BYTES_MAX,
            });
        }
        Ok(crate::concat_shared(&[
            &[TAG_BYTES],
            &prefix[..prefix_len],
            bytes,
        ]))
    }

    /// If `encoded` is the encoding of a `Value::Bytes`, the bytes it holds, borrowed; `Ok(None)`
    /// if it encodes another type; an error if it is not a valid encoding.
    pub fn decode_bytes(encoded: &[u8]) -> Result<Option<&[u8]>> {
        if encoded.first() != Some(&TAG_BYTES) {
            return Value::decode(encoded).map(|_| None);
        }
        let mut pos = 1;
        let len = read_len(encoded, &mut pos)?;
        let bytes = take(encoded, &mut pos, len)?;
        if pos != encoded.len() {
            return Err(malformed(pos, "trailing bytes after the value"));
        }
        Ok(Some(bytes))
    }

    /// Decodes a canonical encoding. Any other input gives [`Error::Malformed`].
    pub fn decode(encoded: &[u8]) -> Result<Value> {
        let mut pos = 0;
        let value = decode_at(encoded, &mut pos, 1)?;
        if pos != encoded.len() {
            return Err(malformed(pos, "trailing bytes after the value"));
        }
        Ok(value)
    }

    /// The name of the type an encoding holds, read from its first byte, without decoding it.
    pub fn encoded_type_name(encoded: &[u8]) -> &'static str {
        match encoded.first() {
            Some(&TAG_NULL) => "null",
            Some(&TAG_BOOL) => "bool",
            Some(&TAG_I64) => "i64",
            Some(&TAG_F64) => "f64",
            Some(&TAG_STRING) => "string",
            Some(&TAG_BYTES) => "bytes",
            Some(&TAG_ARRAY) => "array",
            Some(&TAG_MAP) => "map",
            Some(&TAG_U64) => "u64",
            _ => "unknown",
        }
    }
}

/// Encodes `value`, whose depth the caller has checked (so the recursion is bounded).
pub(super) fn encode_into(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(b) => out.extend_from_slice(&[TAG_BOOL, u8::from(*b)]),
        Value::I64(n) => {
            out.push(TAG_I64);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::U64(n) => {
            out.push(TAG_U64);
            out.extend_from_slice(&n.get().to_le_bytes());
        }
        Value::F64(x) => {
            out.push(TAG_F64);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::String(s) => {
            out.push(TAG_STRING);
            varint::write_u64(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(TAG_BYTES);
            varint::write_u64(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            out.push(TAG_ARRAY);
            varint::write_u64(out, items.len() as u64);
            for item in items {
                encode_into(item, out)?;
            }
        }
        Value::Map(map) => {
            out.push(TAG_MAP);
            varint::write_u64(out, map.len() as u64);
            for (k, v) in map {
                varint::write_u64(out, k.len() as u64);
                out.extend_from_slice(k.as_bytes());
                encode_into(v, out)?;
            }
        }
    }
    // Fail early on huge values instead of building gigabytes before the final check.
    if out.len() > VALUE_BYTES_MAX {
        return Err(Error::ValueTooLarge {
            len: out.len(),
            max: VALUE_BYTES_MAX,
        });
    }
    Ok(())
}

pub(super) fn decode_at(bytes: &[u8], pos: &mut usize, depth: usize) -> Result<Value> {
    if depth > STORED_DEPTH_MAX {
        return Err(malformed(*pos, "value nests deeper than the limit"));
    }
    let tag_at = *pos;
    let tag = *bytes
        .get(tag_at)
        .ok_or(malformed(tag_at, "value is cut short"))?;
    *pos += 1;
    Ok(match tag {
        TAG_NULL => Value::Null,
        TAG_BOOL => match take(bytes, pos, 1)? {
            [0] => Value::Bool(false),
            [1] => Value::Bool(true),
            _ => return Err(malformed(*pos - 1, "bool byte is neither 0 nor 1")),
        },
        TAG_I64 => Value::I64(i64::from_le_bytes(take_array(bytes, pos)?)),
        TAG_U64 => {
            let at = *pos;
            let n = u64::from_le_bytes(take_array(bytes, pos)?);
            // Numbers up to i64::MAX take the I64 form; accepting them here as well would give
            // them two encodings.
            let big =
                BigU64::new(n).ok_or(malformed(at, "u64 value fits in an i64 (non-canonical)"))?;
            Value::U64(big)
        }
        TAG_F64 => Value::F64(f64::from_bits(u64::from_le_bytes(take_array(bytes, pos)?))),
        TAG_STRING => Value::String(read_string(bytes, pos)?),
        TAG_BYTES => {
            let len = read_len(bytes, pos)?;
            Value::Bytes(take(bytes, pos, len)?.to_vec())
        }
        TAG_ARRAY => {
            let count = read_len(bytes, pos)?;
            // Every item takes at least one byte, so a count above the remaining bytes is a lie;
            // capping the allocation by it keeps garbage from reserving gigabytes.
            let mut items = Vec::with_capacity(count.min(bytes.len() - *pos));
            for _ in 0..count {
                items.push(decode_at(bytes, pos, depth + 1)?);
            }
            Value::Array(items)
        }
        TAG_MAP => {
            let count = read_len(bytes, pos)?;
            // Every entry takes at least two bytes; see the array case.
            let mut entries = Vec::with_capacity(count.min(bytes.len() - *pos));
            let mut previous: Option<&str> = None;
            for _ in 0..count {
                let key_at = *pos;
                let key = read_str(bytes, pos)?;
                if previous.is_some_and(|p| p >= key) {
                    return Err(malformed(key_at, "map keys are not strictly ascending"));
                }
                previous = Some(key);
                entries.push((key.to_owned(), decode_at(bytes, pos, depth + 1)?));
            }
            // Keys come in ascending order, so the map is built in one pass (`from_iter` sorts
            // an already sorted list in linear time, then bulk-loads the tree) rather than by
            // one insert each.
            Value::Map(BTreeMap::from_iter(entries))
        }
        _ => return Err(malformed(tag_at, "unknown value type tag")),
    })
}

pub(super) fn malformed(offset: usize, reason: &'static str) -> Error {
    Error::Malformed {
        what: "value",
        offset,
        reason,
    }
}

pub(super) fn read_len(bytes: &[u8], pos: &mut usize) -> Result<usize> {
    let at = *pos;
    let n = varint::read_u64(bytes, pos).ok_or(malformed(at, "length is not a valid varint"))?;
    usize::try_from(n).map_err(|_| malformed(at, "length does not fit in memory"))
}

pub(super) fn take<'a>(bytes: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8]> {
    let end = pos.checked_add(len).filter(|&end| end <= bytes.len());
    let end = end.ok_or(malformed(*pos, "length runs past the end of the value"))?;
    let slice = &bytes[*pos..end];
    *pos = end;
    Ok(slice)
}

pub(super) fn take_array<const N: usize>(bytes: &[u8], pos: &mut usize) -> Result<[u8; N]> {
    let slice = take(bytes, pos, N)?;
    Ok(slice.try_into().expect("take returned exactly N bytes"))
}

fn read_string(bytes: &[u8], pos: &mut usize) -> Result<String> {
    read_str(bytes, pos).map(str::to_owned)
}

pub(super) fn read_str<'a>(bytes: &'a [u8], pos: &mut usize) -> Result<&'a str> {
    let len = read_len(bytes, pos)?;
    let at = *pos;
    let raw = take(bytes, pos, len)?;
    std::str::from_utf8(raw).map_err(|_| malformed(at, "text is not UTF-8"))
}
