//! Reading a checkpoint back in one call (or a page of them, for `list`): the newest-checkpoint pointer (when no id is
//! given), the checkpoint's record, the blob of every channel that holds a value at it, and its
//! pending writes, all in one snapshot of the thread's run, each value put back together if it
//! was stored in parts, and handed to Python decoded down to what its serializer must load. A
//! record names its blobs' keys since the saver started writing them; an older record does not,
//! and the saver reads its blobs the long way.

use in_mem::Value;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::keys::{CHECKPOINT, LATEST, WRITE, key};
use super::parts::{Unreadable, whole};
use super::record::{self, Typed};
use crate::batch::target_of;
use crate::database::Database;
use crate::target::Reader;

/// What was read of one checkpoint, as stored.
struct Found {
    id: String,
    record: Vec<u8>,
    /// Each named blob's channel and value (channels whose blob is gone are left out); `None`
    /// if the record names none.
    blobs: Option<Vec<(String, Vec<u8>)>>,
    /// The stored values of its pending writes: one per task (one per write if an older saver
    /// stored them).
    writes: Vec<Vec<u8>>,
}

/// `_lg_read_checkpoint(db, run, ns, checkpoint_id=None)`: the checkpoint `checkpoint_id` of
/// namespace `ns` (the namespace's newest if `None`); `None` if there is none. Else
/// `(id, (checkpoint, metadata, parent id), blobs, writes)`, where checkpoint and metadata are
/// `(type, bytes)` as the serializer made them, `blobs` is `[(channel, (type, bytes))]` and
/// `writes` is `[(task_id, channel, (type, bytes))]` in the order `LangGraph` gives them (task
/// path, task id, index). For a record that names no blobs: `(id, record bytes, None, None)`.
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
    match found? {
        Some(found) => to_python(py, found).map(Some),
        None => Ok(None),
    }
}

/// `_lg_read_checkpoints(db, run, ns, checkpoint_ids)`: the checkpoints of namespace `ns` with
/// these ids, read in one snapshot, in the order given: for each, what `_lg_read_checkpoint`
/// returns for it (`None` for one that is not there). `list` reads its page of checkpoints so.
#[pyfunction]
#[pyo3(name = "_lg_read_checkpoints")]
pub(crate) fn read_checkpoints<'py>(
    py: Python<'py>,
    db: &Bound<'_, Database>,
    run: &Bound<'_, PyAny>,
    ns: String,
    checkpoint_ids: Vec<String>,
) -> PyResult<Bound<'py, PyList>> {
    let target = target_of(db, run)?;
    let all = target.read_now(py, move |tx| {
        let mut all = Vec::with_capacity(checkpoint_ids.len());
        for id in &checkpoint_ids {
            match read(tx, &ns, Some(id))? {
                Ok(found) => all.push(found),
                Err(unreadable) => return Ok(Err(unreadable)),
            }
        }
        Ok(Ok(all))
    })?;
    let out = PyList::empty(py);
    for found in all? {
        match found {
            Some(found) => out.append(to_python(py, found)?)?,
            None => out.append(py.None())?,
        }
    }
    Ok(out)
}

/// One checkpoint as read, as the tuple `_lg_read_checkpoint` returns.
fn to_python(py: Python<'_>, found: Found) -> PyResult<Bound<'_, PyTuple>> {
    let corrupt = |what: &str| {
        PyRuntimeError::new_err(format!(
            "checkpoint {:?}: {what} is not the saver's",
            found.id
        ))
    };
    let Some(blobs) = found.blobs else {
        let fields = [
            found.id.clone().into_pyobject(py)?.into_any(),
            PyBytes::new(py, &found.record).into_any(),
            py.None().into_bound(py),
            py.None().into_bound(py),
        ];
        return PyTuple::new(py, fields);
    };
    let stored = record::record(&found.record).ok_or_else(|| corrupt("its record"))?;
    let head = (
        typed(py, &stored.checkpoint),
        typed(py, &stored.metadata),
        stored.parent,
    );
    let values = PyList::empty(py);
    for (channel, value) in &blobs {
        let value = record::blob(value).ok_or_else(|| corrupt("a blob"))?;
        values.append((channel, typed(py, &value)))?;
    }
    let mut writes = Vec::new();
    for stored in &found.writes {
        writes.extend(record::writes(stored).ok_or_else(|| corrupt("a pending write"))?);
    }
    writes
        .sort_by(|a, b| (&a.task_path, &a.task_id, a.idx).cmp(&(&b.task_path, &b.task_id, b.idx)));
    let pending = PyList::empty(py);
    for w in &writes {
        pending.append((&w.task_id, &w.channel, typed(py, &w.value)))?;
    }
    let fields = [
        found.id.clone().into_pyobject(py)?.into_any(),
        head.into_pyobject(py)?.into_any(),
        values.into_any(),
        pending.into_any(),
    ];
    PyTuple::new(py, fields)
}

/// A serialized value as the serializer's `loads_typed` takes it: `(type, bytes)`.
fn typed<'py>(py: Python<'py>, value: &Typed<'_>) -> (String, Bound<'py, PyBytes>) {
    (value.0.clone(), PyBytes::new(py, value.1))
}

/// Reads the checkpoint in one snapshot.
fn read(
    tx: &mut dyn Reader,
    ns: &str,
    id: Option<&str>,
) -> in_mem::Result<Result<Option<Found>, Unreadable>> {
    let id = match id {
        Some(id) => id.to_owned(),
        None => match tx.get_value(key(LATEST, &[ns]).as_bytes())? {
            Some(Value::String(id)) => id,
            _ => return Ok(Ok(None)),
        },
    };
    let record_key = key(CHECKPOINT, &[ns, &id]);
    let Some(stored) = tx.get_value(record_key.as_bytes())? else {
        return Ok(Ok(None));
    };
    let record = match whole(tx, &record_key, stored)? {
        Ok(Value::Bytes(record)) => record,
        Ok(_) => return Ok(Err(Unreadable::not_bytes(&record_key))),
        Err(unreadable) => return Ok(Err(unreadable)),
    };
    let named = record::record(&record).and_then(|r| r.blobs);
    let blobs = match named {
        None => None,
        Some(named) => {
            let mut blobs = Vec::with_capacity(named.len());
            for (channel, blob_key) in named {
                let Some(stored) = tx.get_value(blob_key.as_bytes())? else {
                    continue;
                };
                match whole(tx, &blob_key, stored)? {
                    Ok(Value::Bytes(bytes)) => blobs.push((channel, bytes)),
                    Ok(_) => return Ok(Err(Unreadable::not_bytes(&blob_key))),
                    Err(unreadable) => return Ok(Err(unreadable)),
                }
            }
            Some(blobs)
        }
    };
    let mut writes = Vec::new();
    for (write_key, versioned) in tx.list_versioned(key(WRITE, &[ns, &id]).as_bytes())? {
        let write_key = String::from_utf8_lossy(&write_key).into_owned();
        match whole(tx, &write_key, versioned.value)? {
            Ok(Value::Bytes(bytes)) => writes.push(bytes),
            Ok(_) => return Ok(Err(Unreadable::not_bytes(&write_key))),
            Err(unreadable) => return Ok(Err(unreadable)),
        }
    }
    Ok(Ok(Some(Found {
        id,
        record,
        blobs,
        writes,
    })))
}
