//! Values longer than an in-mem value may be (4 MiB): stored as parts. The value's own key
//! holds `\xff` and the number of parts in decimal (no other saver value starts with that
//! byte: blobs start with their type's name, the others are msgpack arrays), and `x` keys
//! named after it hold the parts in order. `x` keys are no prefix of any other kind, so no
//! scan of checkpoints, blobs or writes meets them.

use in_mem::{Transaction, Value};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::keys::{PART, key};
use crate::batch::target_of;
use crate::convert::{from_value, key_bytes};
use crate::database::Database;
use crate::target::Reader;

/// The longest value stored whole: in-mem's 4 MiB value limit less room for its own encoding.
pub(crate) const PART_BYTES_MAX: usize = 4 * 1024 * 1024 - 4096;
const PARTS_MARK: u8 = 0xff;

/// The key of part `index` of the value stored under `key`.
fn part_key(key_text: &str, index: usize) -> String {
    key(PART, &[key_text, &index.to_string()])
}

/// The number of parts a stored value says it has, if it is a head of parts.
fn parts_in(value: &Value) -> Option<usize> {
    match value {
        Value::Bytes(b) if b.first() == Some(&PARTS_MARK) => {
            std::str::from_utf8(&b[1..]).ok()?.parse().ok()
        }
        _ => None,
    }
}

/// A stored saver value that cannot be read back: a part that should be there is not, or a
/// value is not the bytes the saver wrote.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub(crate) key: String,
    pub(crate) why: &'static str,
}

impl Unreadable {
    pub(crate) fn not_a_write(key: &str) -> Self {
        Unreadable {
            key: key.to_owned(),
            why: "is not a pending write the saver wrote",
        }
    }

    pub(crate) fn not_bytes(key: &str) -> Self {
        Unreadable {
            key: key.to_owned(),
            why: "is not bytes (not written by the saver)",
        }
    }
}

impl From<Unreadable> for PyErr {
    fn from(unreadable: Unreadable) -> PyErr {
        PyRuntimeError::new_err(format!(
            "the value under {:?} {}",
            unreadable.key, unreadable.why
        ))
    }
}

/// `value` (stored under `key_text`) whole: its parts read and joined if it is a head of parts.
pub(crate) fn whole(
    tx: &mut dyn Reader,
    key_text: &str,
    value: Value,
) -> in_mem::Result<Result<Value, Unreadable>> {
    let Some(count) = parts_in(&value) else {
        return Ok(Ok(value));
    };
    let mut joined = Vec::new();
    for index in 0..count {
        match tx.get_value(part_key(key_text, index).as_bytes())? {
            Some(Value::Bytes(part)) => joined.extend_from_slice(&part),
            _ => {
                return Ok(Err(Unreadable {
                    key: key_text.to_owned(),
                    why: "is missing one of its parts",
                }));
            }
        }
    }
    Ok(Ok(Value::Bytes(joined)))
}

/// The keys of the parts of a value stored under `key_text` (whose stored head is `head`) from
/// part `kept` on: what is left over when a value that was stored in parts is replaced by one
/// stored in `kept` parts (0 if stored whole), or deleted.
pub(crate) fn parts_beyond(key_text: &str, head: &Value, kept: usize) -> Vec<String> {
    (kept..parts_in(head).unwrap_or(0))
        .map(|index| part_key(key_text, index))
        .collect()
}

/// Puts `value` under `key_text` in `tx`: whole if it is short enough, else as parts and a head
/// that counts them (see the module docs); returns how many parts it took (0 if stored whole).
pub(crate) fn put_spilled(
    tx: &mut Transaction<'_>,
    key_text: &str,
    value: &[u8],
) -> in_mem::Result<usize> {
    if value.len() <= PART_BYTES_MAX {
        tx.put(key_text, value)?;
        return Ok(0);
    }
    let mut count = 0;
    for (index, chunk) in value.chunks(PART_BYTES_MAX).enumerate() {
        tx.put(part_key(key_text, index), chunk)?;
        count += 1;
    }
    tx.put(key_text, head_of(count))?;
    Ok(count)
}

/// The value stored under the key of a value stored in `count` parts.
fn head_of(count: usize) -> Vec<u8> {
    let mut head = vec![PARTS_MARK];
    head.extend_from_slice(count.to_string().as_bytes());
    head
}

/// `whole(db, run, rows)`: `rows` (key, value) with every value stored in parts put back
/// together (its parts read in one snapshot of `run`); other rows come back as they are.
#[pyfunction]
#[pyo3(name = "_lg_whole")]
pub(crate) fn whole_py<'py>(
    py: Python<'py>,
    db: &Bound<'_, Database>,
    run: &Bound<'_, PyAny>,
    rows: Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyList>> {
    let mut heads = Vec::new();
    for (at, row) in rows.iter().enumerate() {
        let row = row.cast_into::<PyTuple>()?;
        let value = row.get_item(1)?;
        if let Ok(bytes) = value.cast::<PyBytes>()
            && bytes.as_bytes().first() == Some(&PARTS_MARK)
        {
            let key = row.get_item(0)?;
            let key_text = String::from_utf8(key_bytes(&key)?)
                .map_err(|_| PyRuntimeError::new_err("a saver key is text"))?;
            heads.push((at, key_text, Value::Bytes(bytes.as_bytes().to_vec())));
        }
    }
    if heads.is_empty() {
        return Ok(rows);
    }
    let target = target_of(db, run)?;
    let joined = target.read_now(py, move |tx| {
        let mut out = Vec::with_capacity(heads.len());
        for (at, key_text, head) in &heads {
            match whole(tx, key_text, head.clone())? {
                Ok(value) => out.push(Ok((*at, value))),
                Err(unreadable) => out.push(Err(unreadable)),
            }
        }
        Ok(out)
    })?;
    let out = PyList::new(py, rows.iter())?;
    for item in joined {
        let (at, value) = item?;
        let key = rows.get_item(at)?.cast_into::<PyTuple>()?.get_item(0)?;
        out.set_item(at, (key, from_value(py, &value)?))?;
    }
    Ok(out)
}
