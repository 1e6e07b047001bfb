//! `run.kv`, `tx.kv` and `view.kv`: the agent's memory, on Python values.
//!
//! Keys are `str` (stored as UTF-8) or `bytes`; values are what `convert.rs` stores. Bytes stored
//! here are the same bytes the Rust byte API (`Database::put`/`get`) reads and writes.

use in_mem::{Error, VersionedValue};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::convert::{duration, from_value, key_bytes, key_to_py, to_value};
use crate::records::Versioned;
use crate::target::Target;

/// The agent's memory as one run sees it (or as one transaction does, or a view of the run's
/// past): its view as of the run's start plus its own writes, shared with the agent's other runs
/// under the run model. On a view, writes raise `in_mem.ReadOnlyView`.
#[pyclass(module = "in_mem", frozen, name = "KVStore")]
pub(crate) struct Kv {
    target: Target,
}

impl Kv {
    pub(crate) fn new(target: Target) -> Self {
        Kv { target }
    }
}

#[pymethods]
impl Kv {
    /// Stores `value` under `key`; with `ttl` (seconds or a `timedelta`) it reads as absent once
    /// that much time has passed. Returns the commit's version, or `None` inside a transaction
    /// (its commit has the version: `tx.version`).
    #[pyo3(signature = (key, value, *, ttl = None))]
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<u64>> {
        let key = key_bytes(key)?;
        let value = to_value(value)?;
        let ttl = ttl.map(|t| duration(t, "ttl")).transpose()?;
        let ((), version) = self.target.call_committed(py, move |tx| match ttl {
            Some(ttl) => tx.put_value_with_ttl(&key, &value, ttl),
            None => tx.put_value(&key, &value),
        })?;
        Ok(version)
    }

    /// The value under `key`, or `default` if there is none.
    #[pyo3(signature = (key, default = None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let key = key_bytes(key)?;
        let found = self.target.read(py, move |tx| tx.get_value(&key))?;
        match found {
            Some(value) => Ok(from_value(py, &value)?.unbind()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// The value under `key` with its version, commit time and time to live, or `None`.
    fn get_versioned(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Versioned>> {
        let key = key_bytes(key)?;
        let found = self.target.read(py, move |tx| tx.get_versioned(&key))?;
        found.map(|v| Versioned::from_rust(py, &v)).transpose()
    }

    /// Whether `key` holds a value.
    fn exists(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = key_bytes(key)?;
        self.target.read(py, move |tx| tx.exists(&key))
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.exists(py, key)
    }

    /// Deletes `key`; returns whether it held a value. Of two concurrent deletes of one key,
    /// exactly one returns `True`.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = key_bytes(key)?;
        self.target.call(py, move |tx| tx.delete(&key))
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order. Keys come back as
    /// `str` for a `str` prefix (as `bytes` where a key is not UTF-8) and as `bytes` for a
    /// `bytes` prefix.
    #[pyo3(signature = (prefix = None))]
    fn list<'py>(
        &self,
        py: Python<'py>,
        prefix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (prefix, as_text) = prefix_of(prefix)?;
        let rows = self.target.read(py, move |tx| tx.list_versioned(&prefix))?;
        pairs_to_py(py, rows, as_text)
    }

    /// Every `(key, value)` whose key is from `start` up to `end` (excluded; `None`: every key
    /// from `start` on), in key order: one walk, not prefix by prefix. Keys come back as
    /// `str` when the bounds given are `str` (as for `list`), else as `bytes`.
    #[pyo3(signature = (start = None, end = None))]
    fn range<'py>(
        &self,
        py: Python<'py>,
        start: Option<&Bound<'py, PyAny>>,
        end: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (start, start_text) = prefix_of(start)?;
        let as_text = start_text && end.is_none_or(PyAnyMethods::is_instance_of::<PyString>);
        let end = end.map(key_bytes).transpose()?;
        let rows = self
            .target
            .read(py, move |tx| tx.range_versioned(&start, end.as_deref()))?;
        pairs_to_py(py, rows, as_text)
    }

    /// Every key that starts with `prefix`, in key order (typed as for `list`).
    #[pyo3(signature = (prefix = None))]
    fn keys<'py>(
        &self,
        py: Python<'py>,
        prefix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (prefix, as_text) = prefix_of(prefix)?;
        let rows = self.target.read(py, move |tx| tx.list_versioned(&prefix))?;
        let out = PyList::empty(py);
        for (key, _) in rows {
            out.append(key_to_py(py, &key, as_text))?;
        }
        Ok(out)
    }

    /// Stores `value` only if `key`'s current version is `expected` (`None`: only if it does
    /// not exist). Returns the commit's version (`None` inside a transaction); a mismatch is
    /// `in_mem.StaleVersion` and writes nothing.
    fn compare_and_swap(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        expected: Option<u64>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Option<u64>> {
        let key = key_bytes(key)?;
        let value = to_value(value)?;
        let ((), version) = self.target.call_committed(py, move |tx| {
            let actual = tx.get_versioned(&key)?.map(|v| v.version);
            if actual != expected {
                return Err(Error::StaleVersion {
                    what: "key",
                    name: String::from_utf8_lossy(&key).into_owned(),
                    expected,
                    actual,
                });
            }
            tx.put_value(&key, &value)
        })?;
        Ok(version)
    }

    fn __repr__(&self) -> String {
        format!("<in_mem.KVStore of run {}>", self.target.run_id())
    }
}

/// A prefix (empty when absent) and whether keys should come back as text.
/// Listed rows as a list of `(key, value)` tuples (keys as `str` when `as_text`).
pub(crate) fn pairs_to_py(
    py: Python<'_>,
    rows: Vec<(Vec<u8>, VersionedValue)>,
    as_text: bool,
) -> PyResult<Bound<'_, PyList>> {
    let out = PyList::empty(py);
    for (key, versioned) in rows {
        let pair = PyTuple::new(
            py,
            [
                key_to_py(py, &key, as_text),
                from_value(py, &versioned.value)?,
            ],
        )?;
        out.append(pair)?;
    }
    Ok(out)
}

fn prefix_of(prefix: Option<&Bound<'_, PyAny>>) -> PyResult<(Vec<u8>, bool)> {
    match prefix {
        None => Ok((Vec::new(), true)),
        Some(p) => Ok((key_bytes(p)?, p.is_instance_of::<PyString>())),
    }
}
