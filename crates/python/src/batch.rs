//! `_commit_writes` and `_read_many`: many writes of a run's keys in one commit, and many reads
//! in one snapshot, each one engine call, without a transaction object.
//!
//! `with db.transaction(run) as tx:` holds the engine's transaction open across Python calls, so
//! it runs on a worker thread of its own and every call crosses to it and back (`worker.rs`):
//! right for read-modify-write, but a thread and a round trip per write cost more than the
//! commit when the caller already knows every write. This call converts the writes first, then
//! runs one engine transaction that applies them in order, with the interpreter detached, and
//! commits it (retried on conflict, as every single-call write is). `_read_many` likewise reads
//! several keys and one prefix in one transaction (one snapshot, one release of the
//! interpreter) instead of one each. `in_mem.langgraph` writes a checkpoint (its channel blobs,
//! its record, the newest-checkpoint pointer) and reads one back this way.

use std::time::Duration;

use in_mem::Value;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::convert::{duration, from_value, key_bytes, to_value};
use crate::database::Database;
use crate::kv::pairs_to_py;
use crate::run::run_id_of;
use crate::target::Target;

/// One put: key, value, and an optional time to live.
type Put = (Vec<u8>, Value, Option<Duration>);

/// Writes `puts` (each `(key, value)` or `(key, value, ttl)`), then deletes `deletes`, in one
/// atomic commit of `run` in `db`. Returns the
/// commit's version (`None` if nothing was written). Blocks until the commit is as durable as
/// the database's mode promises.
#[pyfunction]
#[pyo3(
    name = "_commit_writes",
    signature = (db, run, puts, deletes = Vec::new())
)]
pub(crate) fn commit_writes(
    py: Python<'_>,
    db: &Bound<'_, Database>,
    run: &Bound<'_, PyAny>,
    puts: Vec<Bound<'_, PyTuple>>,
    deletes: Vec<Bound<'_, PyAny>>,
) -> PyResult<Option<u64>> {
    let target = target_of(db, run)?;
    let puts: Vec<Put> = puts
        .into_iter()
        .map(|p| put_of(&p))
        .collect::<PyResult<_>>()?;
    let deletes: Vec<Vec<u8>> = deletes
        .into_iter()
        .map(|k| key_bytes(&k))
        .collect::<PyResult<_>>()?;
    let ((), version) = target.call_committed(py, move |tx| {
        for (key, value, ttl) in &puts {
            put(tx, key, value, *ttl)?;
        }
        for key in &deletes {
            tx.delete(key)?;
        }
        Ok(())
    })?;
    Ok(version)
}

fn put(
    tx: &mut in_mem::Transaction<'_>,
    key: &[u8],
    value: &Value,
    ttl: Option<Duration>,
) -> in_mem::Result<()> {
    match ttl {
        Some(ttl) => tx.put_value_with_ttl(key, value, ttl),
        None => tx.put_value(key, value),
    }
}

/// Where the calls go: straight to `run` of `db`.
pub(crate) fn target_of(db: &Bound<'_, Database>, run: &Bound<'_, PyAny>) -> PyResult<Target> {
    Ok(Target::Run {
        shared: db.get().shared().clone(),
        run: run_id_of(run)?,
    })
}

fn put_of(item: &Bound<'_, PyTuple>) -> PyResult<Put> {
    let ttl = match item.len() {
        2 => None,
        3 => {
            let ttl = item.get_item(2)?;
            if ttl.is_none() {
                None
            } else {
                Some(duration(&ttl, "ttl")?)
            }
        }
        n => {
            return Err(PyTypeError::new_err(format!(
                "a put is (key, value) or (key, value, ttl), not a tuple of {n}"
            )));
        }
    };
    Ok((
        key_bytes(&item.get_item(0)?)?,
        to_value(&item.get_item(1)?)?,
        ttl,
    ))
}

/// The values of `keys` (None where absent) and, if `prefix` is given, every `(key, value)`
/// under it in key order (keys as `str` for a `str` prefix), all read in one snapshot of `run`.
#[pyfunction]
#[pyo3(name = "_read_many", signature = (db, run, keys, prefix = None))]
pub(crate) fn read_many<'py>(
    py: Python<'py>,
    db: &Bound<'_, Database>,
    run: &Bound<'_, PyAny>,
    keys: Vec<Bound<'_, PyAny>>,
    prefix: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
    let target = target_of(db, run)?;
    let keys: Vec<Vec<u8>> = keys
        .into_iter()
        .map(|k| key_bytes(&k))
        .collect::<PyResult<_>>()?;
    let as_text = prefix.is_some_and(PyAnyMethods::is_instance_of::<PyString>);
    let prefix = prefix.map(key_bytes).transpose()?;
    let (values, rows) = target.call(py, move |tx| {
        let values = keys
            .iter()
            .map(|key| tx.get_value(key))
            .collect::<in_mem::Result<Vec<_>>>()?;
        let rows = match &prefix {
            Some(prefix) => tx.list_versioned(prefix)?,
            None => Vec::new(),
        };
        Ok((values, rows))
    })?;
    let found = PyList::empty(py);
    for value in &values {
        match value {
            Some(value) => found.append(from_value(py, value)?)?,
            None => found.append(py.None())?,
        }
    }
    Ok((found, pairs_to_py(py, rows, as_text)?))
}
