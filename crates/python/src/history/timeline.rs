//! What `Database.run_timeline` and `Database.key_history` return: a run's steps (its commits,
//! with the keys each wrote, no values) and the versions of one key a run can see.

use in_mem::{KeyHistory as RustKeyHistory, KeyVersion as RustKeyVersion, Step as RustStep};
use in_mem::{Timeline as RustTimeline, Value};
use pyo3::prelude::*;
use pyo3::types::{PyIterator, PyList};

use crate::convert::{from_value, key_to_py, timestamp};

/// One step of a run: one of its commits and what it wrote, by primitive.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct Step {
    /// The commit's version (a point for `run_view_at(version=...)`).
    version: u64,
    /// The commit's time.
    timestamp: Py<PyAny>,
    /// Keys of the agent's memory it wrote or deleted, in key order (`str` where UTF-8, else
    /// `bytes`).
    kv_keys: Vec<Py<PyAny>>,
    /// Events it appended: `(sequence, type)` pairs, in order.
    events: Vec<(u64, String)>,
    /// State cells it created, set or deleted.
    cells: Vec<String>,
    /// State machines it defined or moved.
    machines: Vec<String>,
    /// Ids of the spans it recorded, started or finished.
    spans: Vec<u64>,
    /// Whether it changed the run's lifecycle (begun, ended, paused, tags, metadata).
    lifecycle: bool,
}

#[pymethods]
impl Step {
    fn __repr__(&self) -> String {
        format!(
            "Step(version={}, kv_keys={}, events={}, cells={}, machines={}, spans={}, lifecycle={})",
            self.version,
            self.kv_keys.len(),
            self.events.len(),
            self.cells.len(),
            self.machines.len(),
            self.spans.len(),
            if self.lifecycle { "True" } else { "False" },
        )
    }
}

impl Step {
    /// The commit's version.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn from_rust(py: Python<'_>, s: &RustStep) -> PyResult<Self> {
        Ok(Step {
            version: s.version,
            timestamp: timestamp(py, s.timestamp)?.unbind(),
            kv_keys: s
                .kv_keys
                .iter()
                .map(|k| key_to_py(py, k, true).unbind())
                .collect(),
            events: s.events.clone(),
            cells: s.cells.clone(),
            machines: s.machines.clone(),
            spans: s.spans.clone(),
            lifecycle: s.lifecycle,
        })
    }
}

/// A run's steps, oldest first. Iterable and sized like a list of `Step`.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct Timeline {
    /// The steps, oldest first.
    steps: Vec<Py<Step>>,
    /// `None`, or the version below which retention reclaimed superseded versions: steps below
    /// it may miss writes that later steps replaced (events are never reclaimed while the run
    /// exists).
    pruned_below: Option<u64>,
}

#[pymethods]
impl Timeline {
    fn __len__(&self) -> usize {
        self.steps.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        PyList::new(py, &self.steps)?.try_iter()
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        PyList::new(py, &self.steps)?.as_any().get_item(index)
    }

    fn __repr__(&self) -> String {
        format!(
            "Timeline(steps={}, pruned_below={})",
            self.__len__(),
            self.pruned_below
                .map_or_else(|| "None".to_owned(), |v| v.to_string())
        )
    }
}

impl Timeline {
    pub(crate) fn from_rust(py: Python<'_>, t: &RustTimeline) -> PyResult<Self> {
        let steps = t
            .steps
            .iter()
            .map(|s| Step::from_rust(py, s).and_then(|s| Py::new(py, s)))
            .collect::<PyResult<_>>()?;
        Ok(Timeline {
            steps,
            pruned_below: t.pruned_below,
        })
    }
}

/// One version of a key of the agent's memory.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct KeyVersion {
    /// The commit that wrote it.
    version: u64,
    /// The commit's time.
    timestamp: Py<PyAny>,
    /// The id of the run that wrote it.
    writer: String,
    /// Whether this version is a deletion (then `value` is `None`).
    deleted: bool,
    /// The value written (`None` for a deletion; `deleted` tells it from a stored `None`).
    value: Py<PyAny>,
    /// When the value stops being readable, if it has a time to live.
    expires_at: Option<Py<PyAny>>,
}

#[pymethods]
impl KeyVersion {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        if self.deleted {
            return Ok(format!("KeyVersion(version={}, deleted)", self.version));
        }
        Ok(format!(
            "KeyVersion(version={}, value={})",
            self.version,
            self.value.bind(py).repr()?
        ))
    }
}

impl KeyVersion {
    fn from_rust(py: Python<'_>, v: &RustKeyVersion) -> PyResult<Self> {
        Ok(KeyVersion {
            version: v.version,
            timestamp: timestamp(py, v.timestamp)?.unbind(),
            writer: v.writer.to_string(),
            deleted: v.value.is_none(),
            value: from_value(py, v.value.as_ref().unwrap_or(&Value::Null))?.unbind(),
            expires_at: v
                .expires_at
                .map(|t| timestamp(py, t).map(Bound::unbind))
                .transpose()?,
        })
    }
}

/// The versions of one key that a run can see, newest first. Iterable and sized like a list
/// of `KeyVersion`.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct KeyHistory {
    /// The versions, newest first.
    versions: Vec<Py<KeyVersion>>,
    /// Whether retention reclaimed older versions of the key: the list then ends early.
    older_pruned: bool,
}

#[pymethods]
impl KeyHistory {
    fn __len__(&self) -> usize {
        self.versions.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        PyList::new(py, &self.versions)?.try_iter()
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        PyList::new(py, &self.versions)?.as_any().get_item(index)
    }

    fn __repr__(&self) -> String {
        format!(
            "KeyHistory(versions={}, older_pruned={})",
            self.__len__(),
            if self.older_pruned { "True" } else { "False" }
        )
    }
}

impl KeyHistory {
    pub(crate) fn from_rust(py: Python<'_>, h: &RustKeyHistory) -> PyResult<Self> {
        let versions = h
            .versions
            .iter()
            .map(|v| KeyVersion::from_rust(py, v).and_then(|v| Py::new(py, v)))
            .collect::<PyResult<_>>()?;
        Ok(KeyHistory {
            versions,
            older_pruned: h.older_pruned,
        })
    }
}
