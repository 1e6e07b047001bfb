//! What `Database.diff_runs` and `Database.diff_run` return: the engine's `RunDiff` as Python
//! objects, with its unified text as `str(diff)`.
//!
//! Each kind of change is one class with a `kind` ("added", "removed", "changed") rather than a
//! class per kind: Python code filters changes by kind far more often than it dispatches on
//! their type, and a stored `None` stays distinct from an absent side through `kind`.

use in_mem::{CellChange as RustCellChange, KvChange as RustKvChange, RunDiff as RustRunDiff};
use in_mem::{SpanChange as RustSpanChange, Value};
use pyo3::prelude::*;

use crate::convert::{from_value, key_to_py};
use crate::records::{Cell, Event, Span};

/// What differs between two views of runs, from `a` to `b`. `str(diff)` is a unified diff (the
/// engine's text); `bool(diff)` is whether anything differs.
#[pyclass(module = "in_mem", frozen)]
pub(crate) struct RunDiff {
    /// The first view: `(run id, version)`.
    #[pyo3(get)]
    a: (String, u64),
    /// The second view: `(run id, version)`.
    #[pyo3(get)]
    b: (String, u64),
    /// Keys of the agent's memory that differ, in key order.
    #[pyo3(get)]
    kv: Vec<Py<KvChange>>,
    /// Where the event logs part.
    #[pyo3(get)]
    events: Py<EventsDiff>,
    /// State cells that differ (value or version), by name.
    #[pyo3(get)]
    cells: Vec<Py<CellChange>>,
    /// Spans that differ, by position in the span forest.
    #[pyo3(get)]
    spans: Vec<Py<SpanChange>>,
    /// Whether the two views hold the same content.
    #[pyo3(get)]
    is_empty: bool,
    /// The engine's unified text, made once.
    text: String,
}

#[pymethods]
impl RunDiff {
    fn __bool__(&self) -> bool {
        !self.is_empty
    }

    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "<in_mem.RunDiff run {} v{} -> run {} v{}: {} kv, {} cells, {} spans{}>",
            self.a.0,
            self.a.1,
            self.b.0,
            self.b.1,
            self.kv.len(),
            self.cells.len(),
            self.spans.len(),
            if self.is_empty {
                ", no differences"
            } else {
                ""
            }
        )
    }
}

impl RunDiff {
    pub(crate) fn from_rust(py: Python<'_>, d: &RustRunDiff) -> PyResult<Self> {
        let kv =
            d.kv.iter()
                .map(|c| Py::new(py, KvChange::from_rust(py, c)?))
                .collect::<PyResult<_>>()?;
        let cells = d
            .cells
            .iter()
            .map(|c| Py::new(py, CellChange::from_rust(py, c)?))
            .collect::<PyResult<_>>()?;
        let spans = d
            .spans
            .iter()
            .map(|c| Py::new(py, SpanChange::from_rust(py, c)?))
            .collect::<PyResult<_>>()?;
        let events = EventsDiff {
            first_divergence: d.events.first_divergence,
            only_a: events(py, &d.events.only_a)?,
            only_b: events(py, &d.events.only_b)?,
        };
        Ok(RunDiff {
            a: (d.a.0.to_string(), d.a.1),
            b: (d.b.0.to_string(), d.b.1),
            kv,
            events: Py::new(py, events)?,
            cells,
            spans,
            is_empty: d.is_empty(),
            text: d.to_string(),
        })
    }
}

fn events(py: Python<'_>, events: &[in_mem::primitives::Event]) -> PyResult<Vec<Py<Event>>> {
    events
        .iter()
        .map(|e| Py::new(py, Event::from_rust(py, e)?))
        .collect()
}

fn value(py: Python<'_>, v: Option<&Value>) -> PyResult<Py<PyAny>> {
    Ok(from_value(py, v.unwrap_or(&Value::Null))?.unbind())
}

/// A key of the agent's memory that differs: `kind` "added" (only `b` has it: `after`),
/// "removed" (only `a`: `before`) or "changed" (both, different values).
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct KvChange {
    /// "added", "removed" or "changed".
    kind: &'static str,
    /// The key (`str` where UTF-8, else `bytes`).
    key: Py<PyAny>,
    /// The value in `a` (`None` when added).
    before: Py<PyAny>,
    /// The value in `b` (`None` when removed).
    after: Py<PyAny>,
}

#[pymethods]
impl KvChange {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "KvChange({}, {}, before={}, after={})",
            self.kind,
            self.key.bind(py).repr()?,
            self.before.bind(py).repr()?,
            self.after.bind(py).repr()?
        ))
    }
}

impl KvChange {
    fn from_rust(py: Python<'_>, c: &RustKvChange) -> PyResult<Self> {
        let (kind, key, before, after) = match c {
            RustKvChange::Added { key, value } => ("added", key, None, Some(value)),
            RustKvChange::Removed { key, value } => ("removed", key, Some(value), None),
            RustKvChange::Changed { key, before, after } => {
                ("changed", key, Some(before), Some(after))
            }
        };
        Ok(KvChange {
            kind,
            key: key_to_py(py, key, true).unbind(),
            before: value(py, before)?,
            after: value(py, after)?,
        })
    }
}

/// Where two event logs part.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct EventsDiff {
    /// The first sequence at which they differ (or one ends); `None` if they are the same.
    first_divergence: Option<u64>,
    /// `a`'s events from there on.
    only_a: Vec<Py<Event>>,
    /// `b`'s events from there on.
    only_b: Vec<Py<Event>>,
}

#[pymethods]
impl EventsDiff {
    fn __repr__(&self) -> String {
        let first = self
            .first_divergence
            .map_or_else(|| "None".to_owned(), |s| s.to_string());
        format!(
            "EventsDiff(first_divergence={first}, only_a={}, only_b={})",
            self.only_a.len(),
            self.only_b.len()
        )
    }
}

/// A state cell that differs (in value or version).
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct CellChange {
    /// Its name.
    name: String,
    /// In `a` (`None`: absent).
    a: Option<Py<Cell>>,
    /// In `b` (`None`: absent).
    b: Option<Py<Cell>>,
}

#[pymethods]
impl CellChange {
    fn __repr__(&self) -> String {
        format!(
            "CellChange({:?}, a={}, b={})",
            self.name,
            if self.a.is_some() { "cell" } else { "None" },
            if self.b.is_some() { "cell" } else { "None" }
        )
    }
}

impl CellChange {
    fn from_rust(py: Python<'_>, c: &RustCellChange) -> PyResult<Self> {
        let cell = |c: Option<&in_mem::primitives::Cell>| {
            c.map(|c| Py::new(py, Cell::from_rust(py, c)?)).transpose()
        };
        Ok(CellChange {
            name: c.name.clone(),
            a: cell(c.a.as_ref())?,
            b: cell(c.b.as_ref())?,
        })
    }
}

/// A span that differs, at a `position` in the span forest: `(i,)` is the i-th root (in id
/// order), `(i, j)` its j-th child, and so on. `kind` "added" (only `b` has a span there),
/// "removed" (only `a`) or "changed" (both, differing in kind, status, tags or `attributes`;
/// ids, times and a tool call's duration are not compared).
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct SpanChange {
    /// "added", "removed" or "changed".
    kind: &'static str,
    /// Where in the forest.
    position: Vec<usize>,
    /// The span in `a` (`None` when added).
    a: Option<Py<Span>>,
    /// The span in `b` (`None` when removed).
    b: Option<Py<Span>>,
    /// Attributes that differ: `(name, in a, in b)`, `None` where absent.
    attributes: Vec<(String, Py<PyAny>, Py<PyAny>)>,
}

#[pymethods]
impl SpanChange {
    fn __repr__(&self) -> String {
        format!("SpanChange({}, position={:?})", self.kind, self.position)
    }
}

impl SpanChange {
    fn from_rust(py: Python<'_>, c: &RustSpanChange) -> PyResult<Self> {
        let span = |s: &in_mem::primitives::Span| Py::new(py, Span::from_rust(py, s)?);
        let (kind, position, a, b, attributes) = match c {
            RustSpanChange::Added { position, span: s } => {
                ("added", position, None, Some(span(s)?), Vec::new())
            }
            RustSpanChange::Removed { position, span: s } => {
                ("removed", position, Some(span(s)?), None, Vec::new())
            }
            RustSpanChange::Changed {
                position,
                a,
                b,
                attributes,
            } => {
                let attributes = attributes
                    .iter()
                    .map(|(name, x, y)| {
                        Ok((name.clone(), value(py, x.as_ref())?, value(py, y.as_ref())?))
                    })
                    .collect::<PyResult<_>>()?;
                (
                    "changed",
                    position,
                    Some(span(a)?),
                    Some(span(b)?),
                    attributes,
                )
            }
        };
        Ok(SpanChange {
            kind,
            position: position.clone(),
            a,
            b,
            attributes,
        })
    }
}
