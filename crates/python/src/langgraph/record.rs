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
    let texts = checkpoint.0.len()
        + metadata.0.len()
        + parent.map_or(0, str::len)
        + run_id.map_or(0, str::len)
        + channels.iter().map(|c| c.len() + HEAD_BYTES).sum::<usize>()
        + blobs
            .iter()
            .map(|(c, k)| c.len() + k.len() + 3 * HEAD_BYTES)
            .sum::<usize>();
    let mut out = Msgpack::with_capacity(texts + checkpoint.1.len() + metadata.1.len());
    out.array(8);
    out.str(checkpoint.0);
    out.bin(checkpoint.1);
    out.str(metadata.0);
    out.bin(metadata.1);
    out.optional_str(parent);
    out.optional_str(run_id);
    out.array(channels.len());
    for channel in channels {
        out.str(channel);
    }
    out.array(blobs.len());
    for (channel, key) in blobs {
        out.array(2);
        out.str(channel);
        out.str(key);
    }
    out.0
}

/// A task's pending writes: `[task_id, task_path, [[channel, type, bytes, idx], ...]]` (what
/// [`writes`] reads back). Every write's task id and path are the task's.
pub(crate) fn pack_writes(task_id: &str, task_path: &str, writes: &[Write<'_>]) -> Vec<u8> {
    let each = writes
        .iter()
        .map(|w| w.channel.len() + w.value.0.len() + w.value.1.len() + 5 * HEAD_BYTES)
        .sum::<usize>();
    let mut out = Msgpack::with_capacity(task_id.len() + task_path.len() + each);
    out.array(3);
    out.str(task_id);
    out.str(task_path);
    out.array(writes.len());
    for w in writes {
        out.array(4);
        out.str(&w.channel);
        out.str(&w.value.0);
        out.bin(w.value.1);
        out.int(w.idx);
    }
    out.0
}

/// The longest msgpack header of a string, binary, array or integer (marker and length).
const HEAD_BYTES: usize = 9;

/// msgpack written straight into one buffer, in the most compact form of each item (as rmpv
/// and `ormsgpack` write it, so a record reads the same whoever wrote it). Writing into a
/// `Vec` cannot fail.
struct Msgpack(Vec<u8>);

impl Msgpack {
    fn with_capacity(payload: usize) -> Self {
        Msgpack(Vec::with_capacity(payload + 4 * HEAD_BYTES))
    }

    fn array(&mut self, len: usize) {
        let len = u32::try_from(len).expect("an array of fewer than 2^32 items");
        rmp::encode::write_array_len(&mut self.0, len).expect("writing to a Vec");
    }

    fn str(&mut self, text: &str) {
        rmp::encode::write_str(&mut self.0, text).expect("writing to a Vec");
    }

    fn optional_str(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.str(text),
            None => rmp::encode::write_nil(&mut self.0).expect("writing to a Vec"),
        }
    }

    fn bin(&mut self, bytes: &[u8]) {
        rmp::encode::write_bin(&mut self.0, bytes).expect("writing to a Vec");
    }

    fn int(&mut self, n: i64) {
        rmp::encode::write_sint(&mut self.0, n).expect("writing to a Vec");
    }
}

/// A blob's value: the type, NUL, the bytes.
pub(crate) fn pack_blob(type_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(type_name.len() + 1 + bytes.len());
    out.extend_from_slice(type_name.as_bytes());
    out.push(0);
    out.extend_from_slice(bytes);
    out
}
