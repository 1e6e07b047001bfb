//! Writing a checkpoint (`_lg_put`) and a task's pending writes (`_lg_put_writes`) in one call
//! each: the keys are built, the values packed (and split into parts when too long) and the
//! commit made here, so the saver's Python half only serializes (with the serializer it was
//! given) and hands over what it made. One crossing per `put` instead of a key, a pack and a
//! tuple per value: a graph step was ~70 us, of which ~25 us were that glue and the garbage
//! collections its objects brought on.

use std::borrow::Cow;

use in_mem::{Transaction, Value, VersionedValue};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict};

use super::keys::{BLOB, CHECKPOINT, LATEST, WRITE, key, part_text};
use super::parts::{Unreadable, parts_beyond, put_spilled, whole};
use super::record::{self, Write, pack_blob, pack_record, pack_writes};
use crate::batch::target_of;
use crate::database::Database;

/// A serialized value as Python hands it over: (type name, bytes).
type PyTyped<'py> = (String, Bound<'py, PyAny>);

/// The bytes of a serialized value: the saver's serializer gives `bytes`, or a `bytearray`
/// (as it is) for a `bytearray` value.
fn bytes_of<'a>(data: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    if let Ok(array) = data.cast::<PyByteArray>() {
        return Ok(Cow::Owned(array.to_vec()));
    }
    Err(PyTypeError::new_err(format!(
        "a serialized value is bytes or bytearray, not {}",
        data.get_type().name()?
    )))
}

/// `_lg_put(db, run, ns, checkpoint_id, checkpoint, metadata, parent_id, run_id, values,
/// versions, new_blobs)`: stores one checkpoint in one commit of `run`: a blob for each
/// `(channel, version, (type, bytes))` of `new_blobs`, the record (`checkpoint` and `metadata`
/// as `(type, bytes)`, the parent and run ids, the channels of `values` and the blob key of
/// each at its version in `versions`), and moves the namespace's newest pointer to the
/// checkpoint unless it names a later one. Returns the commit's version. Blocks until the
/// commit is as durable as the database's mode promises.
#[pyfunction]
#[pyo3(name = "_lg_put")]
#[allow(clippy::too_many_arguments)] // one per part of a checkpoint, as LangGraph gives them
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts arguments as owned values
pub(crate) fn put_checkpoint(
    py: Python<'_>,
    db: &Bound<'_, Database>,
    run: &Bound<'_, PyAny>,
    ns: &str,
    checkpoint_id: String,
    checkpoint: PyTyped<'_>,
    metadata: PyTyped<'_>,
    parent_id: Option<&str>,
    run_id: Option<&str>,
    values: &Bound<'_, PyDict>,
    versions: &Bound<'_, PyDict>,
    new_blobs: Vec<(String, Bound<'_, PyAny>, PyTyped<'_>)>,
) -> PyResult<Option<u64>> {
    let target = target_of(db, run)?;
    let blob_key = |channel: &str, version: &Bound<'_, PyAny>| -> PyResult<String> {
        Ok(key(BLOB, &[ns, channel, &part_text(version)?]))
    };
    let mut channels = Vec::with_capacity(values.len());
    let mut blob_keys = Vec::with_capacity(values.len());
    let mut blob_versions = Vec::with_capacity(values.len());
    for channel_py in values.keys() {
        let channel: String = channel_py.extract()?;
        // Looked up by the key object itself: its hash is cached, and no new str is made.
        if let Some(version) = versions.get_item(&channel_py)? {
            blob_keys.push((channel.clone(), blob_key(&channel, &version)?));
            blob_versions.push(version);
        }
        channels.push(channel);
    }
    let mut puts = Vec::with_capacity(new_blobs.len() + 1);
    for (channel, version, (type_name, bytes)) in &new_blobs {
        let value = pack_blob(type_name, &bytes_of(bytes)?);
        // LangGraph hands a new blob's version as the very object the checkpoint's versions
        // hold, so its key is usually built already; otherwise it is built here.
        let built = blob_keys
            .iter()
            .zip(&blob_versions)
            .find(|((named, _), named_version)| named == channel && named_version.is(version));
        let key = match built {
            Some(((_, key), _)) => key.clone(),
            None => blob_key(channel, version)?,
        };
        puts.push((key, value));
    }
    let record = pack_record(
        (&checkpoint.0, &bytes_of(&checkpoint.1)?),
        (&metadata.0, &bytes_of(&metadata.1)?),
        parent_id,
        run_id,
        &channels,
        &blob_keys,
    );
    puts.push((key(CHECKPOINT, &[ns, &checkpoint_id]), record));
    let newest_key = key(LATEST, &[ns]);
    let newest = Value::String(checkpoint_id.clone());
    let ((), version) = target.call_committed(py, move |tx| {
        for (key_text, value) in &puts {
            put_spilled(tx, key_text, value)?;
        }
        // Checkpoint ids sort by time: the pointer only moves forward, checked in the commit
        // (a pointer that is not text was not written by the saver, and is left alone).
        let moves = match tx.get_value(&newest_key)? {
            None => true,
            Some(Value::String(stored)) => stored < checkpoint_id,
            Some(_) => false,
        };
        if moves {
            tx.put_value(&newest_key, &newest)?;
        }
        Ok(())
    })?;
    Ok(version)
}

/// `_lg_put_writes(db, run, ns, checkpoint_id, task_id, task_path, writes)`: stores a task's
/// pending writes, each `(idx, channel, (type, bytes))`, against the checkpoint in one commit
/// of `run`, in the task's one value (see `_keys.py`). A write with `idx >= 0` is kept as
/// stored if the task already stored one with that index (checked in the commit); one with a
/// negative `idx` (`LangGraph`'s special channels: errors, interrupts ...) replaces it. Returns
/// the commit's version (`None` if nothing was written).
#[pyfunction]
#[pyo3(name = "_lg_put_writes")]
#[allow(clippy::too_many_arguments)] // one per part of a task's writes, as LangGraph gives them
#[allow(clippy::needless_pass_by_value)] // PyO3 extracts arguments as owned values
pub(crate) fn put_writes(
    py: Python<'_>,
    db: &Bound<'_, Database>,
    run: &Bound<'_, PyAny>,
    ns: &str,
    checkpoint_id: &str,
    task_id: &str,
    task_path: &str,
    writes: Vec<(i64, String, PyTyped<'_>)>,
) -> PyResult<Option<u64>> {
    let target = target_of(db, run)?;
    let mut given = Vec::with_capacity(writes.len());
    for (idx, channel, (type_name, bytes)) in &writes {
        given.push((*idx, channel, type_name, bytes_of(bytes)?));
    }
    let mut mine: Vec<Write<'_>> = Vec::with_capacity(given.len());
    for (idx, channel, type_name, bytes) in &given {
        let write = Write {
            task_id: task_id.to_owned(),
            channel: (*channel).clone(),
            value: ((*type_name).clone(), &**bytes),
            task_path: task_path.to_owned(),
            idx: *idx,
        };
        // One index twice in one call: as if written one after the other.
        keep_or_replace(&mut mine, write);
    }
    // Packed once: what the commit writes when the task stored nothing yet (the usual case).
    let packed = pack_writes(task_id, task_path, &mine);
    let task = TaskKey {
        key: key(WRITE, &[ns, checkpoint_id, task_id]),
        task_id: task_id.to_owned(),
        task_path: task_path.to_owned(),
    };
    let (stored, version) = target.call_committed(py, move |tx| {
        // The task's value, and any writes of it stored one per value by an older saver (their
        // keys are the task's key and an index).
        let stored = tx.list_versioned(task.key.as_bytes())?;
        if stored.is_empty() {
            put_spilled(tx, &task.key, &packed)?;
            return Ok(Ok(()));
        }
        merge_writes(tx, &task, stored, &packed)
    })?;
    stored?;
    Ok(version)
}

/// Where a task's writes go, and the task they are of.
struct TaskKey {
    key: String,
    task_id: String,
    task_path: String,
}

/// Adds `write` to `writes` as a `put_writes` stores it: one with `idx >= 0` is kept out if one
/// with its index is there; one with a negative `idx` replaces it.
fn keep_or_replace<'a>(writes: &mut Vec<Write<'a>>, write: Write<'a>) -> bool {
    if let Some(at) = writes.iter().position(|w| w.idx == write.idx) {
        if write.idx >= 0 {
            return false;
        }
        writes.remove(at);
    }
    writes.push(write);
    true
}

/// Stores the writes `packed` into what the task already stored (`stored`: its value, and any
/// writes of it an older saver stored one per value), as `put_writes` says.
fn merge_writes(
    tx: &mut Transaction<'_>,
    task: &TaskKey,
    stored: Vec<(Vec<u8>, VersionedValue)>,
    packed: &[u8],
) -> in_mem::Result<Result<(), Unreadable>> {
    let mut values = Vec::with_capacity(stored.len());
    for (stored_key, versioned) in stored {
        let stored_key = String::from_utf8_lossy(&stored_key).into_owned();
        match whole(tx, &stored_key, versioned.value.clone())? {
            Ok(Value::Bytes(bytes)) => values.push((stored_key, versioned.value, bytes)),
            Ok(_) => return Ok(Err(Unreadable::not_bytes(&stored_key))),
            Err(unreadable) => return Ok(Err(unreadable)),
        }
    }
    let mut kept = Vec::new();
    let mut older = Vec::new();
    for (stored_key, head, bytes) in &values {
        let Some(writes) = record::writes(bytes) else {
            return Ok(Err(Unreadable::not_a_write(stored_key)));
        };
        if *stored_key == task.key {
            kept.extend(writes);
        } else {
            older.extend(writes.into_iter().map(|w| (w.idx, stored_key, head)));
        }
    }
    let mine = record::writes(packed).expect("the writes were packed by put_writes");
    let mut changed = false;
    for write in mine {
        if write.idx >= 0 && older.iter().any(|(idx, ..)| *idx == write.idx) {
            continue;
        }
        for (_, older_key, head) in older.iter().filter(|(idx, ..)| *idx == write.idx) {
            tx.delete(older_key.as_bytes())?;
            delete_all(tx, &parts_beyond(older_key, head, 0))?;
        }
        older.retain(|(idx, ..)| *idx != write.idx);
        changed |= keep_or_replace(&mut kept, write);
    }
    if changed {
        let value = pack_writes(&task.task_id, &task.task_path, &kept);
        let parts = put_spilled(tx, &task.key, &value)?;
        if let Some((_, head, _)) = values.iter().find(|(k, ..)| *k == task.key) {
            delete_all(tx, &parts_beyond(&task.key, head, parts))?;
        }
    }
    Ok(Ok(()))
}

fn delete_all(tx: &mut Transaction<'_>, keys: &[String]) -> in_mem::Result<()> {
    for key in keys {
        tx.delete(key.as_bytes())?;
    }
    Ok(())
}
