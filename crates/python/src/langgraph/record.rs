//! The saver's values, as `_keys.py` describes them: a checkpoint's record (msgpack `[type,
//! bytes, metadata type, metadata bytes, parent id, run id, channels, blobs]`), a blob (type,
//! NUL, bytes) and a task's pending writes (msgpack `[task_id, task_path, [[channel, type,
//! bytes, idx], ...]]`; before tasks had one value each, one write per value: `[task_id,
//! channel, type, bytes, task_path, idx]`).
//! "Typed" is what the saver's serializer made of a value: its type's name and its bytes.

use rmpv::ValueRef;

/// A serialized value: (type name, bytes).
pub(crate) type Typed<'a> = (String, &'a [u8]);

/// What a record holds that reading a checkpoint back needs.
pub(crate) struct Record<'a> {
    pub(crate) checkpoint: Typed<'a>,
    pub(crate) metadata: Typed<'a>,
    pub(crate) parent: Option<String>,
    /// (channel, blob key) of each channel holding a value; `None` in a record written before
    /// records named them (seven fields).
    pub(crate) blobs: Option<Vec<(String, String)>>,
}

/// A pending write.
pub(crate) struct Write<'a> {
    pub(crate) task_id: String,
    pub(crate) channel: String,
    pub(crate) value: Typed<'a>,
    pub(crate) task_path: String,
    pub(crate) idx: i64,
}

/// The record in `bytes`; `None` if it is not one.
pub(crate) fn record(bytes: &[u8]) -> Option<Record<'_>> {
    let fields = array(bytes)?;
    let blobs = match fields.get(7) {
        None => None,
        Some(ValueRef::Array(pairs)) => Some(
            pairs
                .iter()
                .map(|pair| match pair {
                    ValueRef::Array(two) if two.len() == 2 => {
                        Some((text(&two[0])?, text(&two[1])?))
                    }
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
        Some(_) => return None,
    };
    Some(Record {
        checkpoint: (text(fields.first()?)?, binary(fields.get(1)?)?),
        metadata: (text(fields.get(2)?)?, binary(fields.get(3)?)?),
        parent: match fields.get(4)? {
            ValueRef::Nil => None,
            other => Some(text(other)?),
        },
        blobs,
    })
}

/// The pending writes in `bytes`, a task's value or one write as stored before tasks had one
/// value each; `None` if it is neither.
pub(crate) fn writes(bytes: &[u8]) -> Option<Vec<Write<'_>>> {
    let fields = array(bytes)?;
    let [task_id, task_path, ValueRef::Array(entries)] = fields.as_slice() else {
        return Some(vec![one_write(&fields)?]);
    };
    let (task_id, task_path) = (text(task_id)?, text(task_path)?);
    entries
        .iter()
        .map(|entry| match entry {
            ValueRef::Array(f) if f.len() == 4 => Some(Write {
                task_id: task_id.clone(),
                channel: text(&f[0])?,
                value: (text(&f[1])?, binary(&f[2])?),
                task_path: task_path.clone(),
                idx: integer(&f[3])?,
            }),
            _ => None,
        })
        .collect()
}

/// One write as stored before tasks had one value each: `[task_id, channel, type, bytes,
/// task_path, idx]`.
fn one_write<'a>(fields: &[ValueRef<'a>]) -> Option<Write<'a>> {
    Some(Write {
        task_id: text(fields.first()?)?,
        channel: text(fields.get(1)?)?,
        value: (text(fields.get(2)?)?, binary(fields.get(3)?)?),
        task_path: text(fields.get(4)?)?,
        idx: integer(fields.get(5)?)?,
    })
}

/// The blob in `bytes`; `None` if it is not one.
pub(crate) fn blob(bytes: &[u8]) -> Option<Typed<'_>> {
    let cut = bytes.iter().position(|&b| b == 0)?;
    Some((
        String::from_utf8(bytes[..cut].to_vec()).ok()?,
        &bytes[cut + 1..],
    ))
}

fn array(bytes: &[u8]) -> Option<Vec<ValueRef<'_>>> {
    match rmpv::decode::read_value_ref(&mut &bytes[..]).ok()? {
        ValueRef::Array(fields) => Some(fields),
        _ => None,
    }
}

// Text is copied out: rmpv lends a string only for as long as its `ValueRef`.
fn text(value: &ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::String(text) => text.as_str().map(str::to_owned),
        _ => None,
    }
}

fn integer(value: &ValueRef<'_>) -> Option<i64> {
    match value {
        ValueRef::Integer(n) => n.as_i64(),
        _ => None,
    }
}

fn binary<'a>(value: &ValueRef<'a>) -> Option<&'a [u8]> {
    match value {
        ValueRef::Binary(bytes) => Some(*bytes),
        _ => None,
    }
}

/// A checkpoint's record: `[type, bytes, metadata type, metadata bytes, parent id, run id,
/// channels, [[channel, blob key], ...]]`.
pub(crate) fn pack_record(
    checkpoint: (&str, &[u8]),
    metadata: (&str, &[u8]),
    parent: Option<&str>,
    run_id: Option<&str>,
    channels: &[String],
    blobs: &[(String, String)],
) -> Vec<u8> {
    pack(&ValueRef::Array(vec![
        ValueRef::from(checkpoint.0),
        ValueRef::Binary(checkpoint.1),
        ValueRef::from(metadata.0),
        ValueRef::Binary(metadata.1),
        parent.map_or(ValueRef::Nil, ValueRef::from),
        run_id.map_or(ValueRef::Nil, ValueRef::from),
        ValueRef::Array(
            channels
                .iter()
                .map(|c| ValueRef::from(c.as_str()))
                .collect(),
        ),
        ValueRef::Array(
            blobs
                .iter()
                .map(|(channel, key)| {
                    ValueRef::Array(vec![
                        ValueRef::from(channel.as_str()),
                        ValueRef::from(key.as_str()),
                    ])
                })
                .collect(),
        ),
    ]))
}

/// A task's pending writes: `[task_id, task_path, [[channel, type, bytes, idx], ...]]` (what
/// [`writes`] reads back). Every write's task id and path are the task's.
pub(crate) fn pack_writes(task_id: &str, task_path: &str, writes: &[Write<'_>]) -> Vec<u8> {
    pack(&ValueRef::Array(vec![
        ValueRef::from(task_id),
        ValueRef::from(task_path),
        ValueRef::Array(
            writes
                .iter()
                .map(|w| {
                    ValueRef::Array(vec![
                        ValueRef::from(w.channel.as_str()),
                        ValueRef::from(w.value.0.as_str()),
                        ValueRef::Binary(w.value.1),
                        ValueRef::from(w.idx),
                    ])
                })
                .collect(),
        ),
    ]))
}

/// A blob's value: the type, NUL, the bytes.
pub(crate) fn pack_blob(type_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(type_name.len() + 1 + bytes.len());
    out.extend_from_slice(type_name.as_bytes());
    out.push(0);
    out.extend_from_slice(bytes);
    out
}

fn pack(value: &ValueRef<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed_len_bound(value));
    rmpv::encode::write_value_ref(&mut out, value).expect("writing to a Vec cannot fail");
    out
}

/// An upper bound of `value`'s msgpack length (a marker and a 4-byte length per item, and the
/// bytes of strings and binaries), so that packing writes into one allocation.
fn packed_len_bound(value: &ValueRef<'_>) -> usize {
    5 + match value {
        ValueRef::String(text) => text.as_bytes().len(),
        ValueRef::Binary(bytes) => bytes.len(),
        ValueRef::Array(items) => items.iter().map(packed_len_bound).sum(),
        _ => 4,
    }
}
