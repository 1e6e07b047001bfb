//! Reading one checkpoint back in one call: the newest-checkpoint pointer (when no id is
//! given), the checkpoint's record, the blob of every channel that holds a value at it, and its
//! pending writes, all in one snapshot of the thread's run, each value put back together if it
//! was stored in parts. A record names its blobs' keys (its eighth field) since the saver
//! started writing them; an older record does not, and the saver reads its blobs the long way.

use in_mem::Value;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use rmpv::ValueRef;

use super::keys::{CHECKPOINT, LATEST, WRITE, key};
use super::parts::{MissingPart, whole};
use crate::batch::target_of;
use crate::database::Database;
use crate::target::Reader;

/// The record's field that names its blobs: `[[channel, blob key], ...]`.
const BLOBS_FIELD: usize = 7;

/// What was read of one checkpoint.
struct Found {
    id: String,
    record: Vec<u8>,
    /// (channel, blob value or `None` if it is gone); `None` for a record that names no blobs.
    blobs: Option<Vec<(String, Option<Vec<u8>>)>>,
    writes: Vec<Vec<u8>>,
}

/// `_lg_read_checkpoint(db, run, ns, checkpoint_id=None)`: the checkpoint `checkpoint_id` of
/// namespace `ns` (the namespace's newest if `None`) as `(id, record, blobs, writes)`: the
/// record's bytes, `[(channel, blob bytes or None)]` for each blob the record names (`None` if
/// the record names none), and the raw value of each pending write in key order. `None` if
/// there is no such checkpoint.
#[pyfunction]
#[pyo3(name = "_lg_read_checkpoint", signature = (db, run, ns, checkpoint_id = None))]
pub(crate) fn read_checkpoint<'py>(
    py: Python<'py>,
    db: &Bound<'_, Database>,
    run: &Bound<'_, PyAny>,
    ns: String,
    checkpoint_id: Option<String>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let target = target_of(db, run)?;
    let found = target.read_now(py, move |tx| read(tx, &ns, checkpoint_id.as_deref()))?;
    let Some(found) = found? else {
        return Ok(None);
    };
    let blobs = match found.blobs {
        None => py.None().into_bound(py),
        Some(blobs) => {
            let out = PyList::empty(py);
            for (channel, value) in blobs {
                out.append((channel, value.map(|v| PyBytes::new(py, &v))))?;
            }
            out.into_any()
        }
    };
    let writes = PyList::empty(py);
    for write in found.writes {
        writes.append(PyBytes::new(py, &write))?;
    }
    let fields = [
        found.id.into_pyobject(py)?.into_any(),
        PyBytes::new(py, &found.record).into_any(),
        blobs,
        writes.into_any(),
    ];
    Ok(Some(PyTuple::new(py, fields)?))
}

/// Reads the checkpoint in the transaction's snapshot.
fn read(
    tx: &mut dyn Reader,
    ns: &str,
    id: Option<&str>,
) -> in_mem::Result<Result<Option<Found>, MissingPart>> {
    let id = match id {
        Some(id) => id.to_owned(),
        None => match tx.get_value(key(LATEST, &[ns]).as_bytes())? {
            Some(Value::String(id)) => id,
            _ => return Ok(Ok(None)),
        },
    };
    let record_key = key(CHECKPOINT, &[ns, &id]);
    let Some(record) = tx.get_value(record_key.as_bytes())? else {
        return Ok(Ok(None));
    };
    let record = match whole(tx, &record_key, record)? {
        Ok(Value::Bytes(record)) => record,
        Ok(_) => return Ok(Ok(None)),
        Err(missing) => return Ok(Err(missing)),
    };
    let blobs = match blob_keys(&record) {
        None => None,
        Some(named) => {
            let mut blobs = Vec::with_capacity(named.len());
            for (channel, blob_key) in named {
                let value = match tx.get_value(blob_key.as_bytes())? {
                    None => None,
                    Some(value) => match whole(tx, &blob_key, value)? {
                        Ok(Value::Bytes(bytes)) => Some(bytes),
                        Ok(_) => None,
                        Err(missing) => return Ok(Err(missing)),
                    },
                };
                blobs.push((channel, value));
            }
            Some(blobs)
        }
    };
    let mut writes = Vec::new();
    for (write_key, versioned) in tx.list_versioned(key(WRITE, &[ns, &id]).as_bytes())? {
        let write_key = String::from_utf8_lossy(&write_key).into_owned();
        match whole(tx, &write_key, versioned.value)? {
            Ok(Value::Bytes(bytes)) => writes.push(bytes),
            Ok(_) => {}
            Err(missing) => return Ok(Err(missing)),
        }
    }
    Ok(Ok(Some(Found {
        id,
        record,
        blobs,
        writes,
    })))
}

/// The (channel, blob key) pairs a record names, if it names them.
fn blob_keys(record: &[u8]) -> Option<Vec<(String, String)>> {
    let ValueRef::Array(fields) = rmpv::decode::read_value_ref(&mut &record[..]).ok()? else {
        return None;
    };
    let ValueRef::Array(pairs) = fields.get(BLOBS_FIELD)? else {
        return None;
    };
    pairs
        .iter()
        .map(|pair| match pair {
            ValueRef::Array(two) if two.len() == 2 => Some((text(&two[0])?, text(&two[1])?)),
            _ => None,
        })
        .collect()
}

fn text(value: &ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::String(text) => text.as_str().map(str::to_owned),
        _ => None,
    }
}
