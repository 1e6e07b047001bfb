//! What calls return: immutable Python objects built from the engine's records (a run's
//! description, a versioned value, an event, a state cell, a span ...), and `AgentId`.
//!
//! Each is converted whole when the call returns, so reading its attributes never calls the
//! engine again. Times are aware `datetime`s in UTC, durations `timedelta`s, stored values their
//! Python form (see `convert.rs`).

use std::fmt::Write as _;

use in_mem::primitives::{Cell as RustCell, ChainSummary, Event as RustEvent, SpanKind};
use in_mem::{RunInfo as RustRunInfo, VersionedValue};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySequence, PyString, PyTuple};

use crate::convert::{from_value, timedelta, timestamp, type_name};
use crate::errors::OrRaise;

/// An agent: tenant, app and agent names. Runs of one agent share its memory (the KV store);
/// different agents never see each other's data. Anywhere an agent is asked for, a tuple
/// `(tenant, app, agent)` works too.
#[pyclass(module = "in_mem", frozen, eq, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct AgentId {
    /// The tenant name.
    #[pyo3(get)]
    tenant: String,
    /// The application name.
    #[pyo3(get)]
    app: String,
    /// The agent name.
    #[pyo3(get)]
    agent: String,
}

#[pymethods]
impl AgentId {
    /// An agent id from its three names (each 1 to 128 bytes, no control characters).
    #[new]
    fn py_new(py: Python<'_>, tenant: String, app: String, agent: String) -> PyResult<Self> {
        let id = in_mem::AgentId::try_new(tenant, app, agent)
            .map_err(in_mem::Error::from)
            .or_raise(py)?;
        Ok(AgentId::from_rust(&id))
    }

    /// The three names, so that `tenant, app, agent = agent_id` works.
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_tuple(py)?.try_iter().map(Bound::into_any)
    }

    #[allow(clippy::unused_self)] // Python's protocol hands every method its instance.
    fn __len__(&self) -> usize {
        3
    }

    fn __repr__(&self) -> String {
        format!(
            "AgentId({}, {}, {})",
            quoted(&self.tenant),
            quoted(&self.app),
            quoted(&self.agent)
        )
    }

    fn __str__(&self) -> String {
        format!("{}/{}/{}", self.tenant, self.app, self.agent)
    }
}

impl AgentId {
    pub(crate) fn from_rust(id: &in_mem::AgentId) -> Self {
        AgentId {
            tenant: id.tenant().to_owned(),
            app: id.app().to_owned(),
            agent: id.agent().to_owned(),
        }
    }

    fn as_tuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, [&self.tenant, &self.app, &self.agent])
    }
}

/// The agent `obj` names: an `AgentId`, or a sequence of three names; `None` is the default
/// agent (`default/default/default`).
pub(crate) fn agent_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<in_mem::AgentId> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(in_mem::AgentId::default_agent());
    };
    let py = obj.py();
    if let Ok(id) = obj.cast::<AgentId>() {
        let id = id.get();
        return Ok(in_mem::AgentId::new(&id.tenant, &id.app, &id.agent));
    }
    let wrong = || {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "an agent is an AgentId or a (tenant, app, agent) tuple of str, not {}",
            type_name(obj)
        ))
    };
    if obj.is_instance_of::<PyString>() {
        return Err(wrong());
    }
    let seq = obj.cast::<PySequence>().map_err(|_| wrong())?;
    if seq.len()? != 3 {
        return Err(wrong());
    }
    let part = |i: usize| -> PyResult<String> { seq.get_item(i)?.extract().map_err(|_| wrong()) };
    in_mem::AgentId::try_new(part(0)?, part(1)?, part(2)?)
        .map_err(in_mem::Error::from)
        .or_raise(py)
}

/// A description of a run, as `Run.info()` and `Database.query_runs()` return it.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct RunInfo {
    /// The run's id (text of a UUID).
    id: String,
    /// The agent it belongs to.
    agent: Py<AgentId>,
    /// The id of the run it was begun from, if any.
    parent: Option<String>,
    /// For a fork, the version of its parent's history it was forked at (`parent` is the run
    /// it was forked from); `None` for a run that is not a fork.
    fork_point: Option<u64>,
    /// "active", "paused", "completed", "failed", "cancelled" or "interrupted".
    status: String,
    /// The commit version its view starts from.
    snapshot: u64,
    /// When it began (aware `datetime`, UTC).
    created_at: Py<PyAny>,
    /// When its status, tags or metadata last changed.
    updated_at: Py<PyAny>,
    /// When it ended, if it has.
    ended_at: Option<Py<PyAny>>,
    /// Its tags, sorted.
    tags: Vec<String>,
    /// The caller's metadata (`None` if none).
    metadata: Py<PyAny>,
    /// Why it failed, for a failed run.
    error: Option<String>,
}

#[pymethods]
impl RunInfo {
    fn __repr__(&self) -> String {
        format!(
            "RunInfo(id={}, status={})",
            quoted(&self.id),
            quoted(&self.status)
        )
    }
}

impl RunInfo {
    pub(crate) fn from_rust(py: Python<'_>, info: &RustRunInfo) -> PyResult<Self> {
        Ok(RunInfo {
            id: info.run.to_string(),
            agent: Py::new(py, AgentId::from_rust(&info.agent))?,
            parent: info.parent.map(|p| p.to_string()),
            fork_point: info.fork_point,
            status: info.status.as_str().to_owned(),
            snapshot: info.snapshot,
            created_at: timestamp(py, info.created_at)?.unbind(),
            updated_at: timestamp(py, info.updated_at)?.unbind(),
            ended_at: info
                .ended_at
                .map(|t| timestamp(py, t).map(Bound::unbind))
                .transpose()?,
            tags: info.tags.clone(),
            metadata: from_value(py, &info.metadata)?.unbind(),
            error: info.error.clone(),
        })
    }
}

/// A value with its version (the commit that wrote it), its commit time and its time to live.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct Versioned {
    /// The value.
    value: Py<PyAny>,
    /// The version of the commit that wrote it (0 for a value this transaction wrote: it has no
    /// version until the commit).
    version: u64,
    /// When it was committed.
    timestamp: Py<PyAny>,
    /// Its time to live, if it has one (`timedelta`).
    ttl: Option<Py<PyAny>>,
}

#[pymethods]
impl Versioned {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Versioned(value={}, version={})",
            self.value.bind(py).repr()?,
            self.version
        ))
    }
}

impl Versioned {
    pub(crate) fn from_rust(py: Python<'_>, v: &VersionedValue) -> PyResult<Self> {
        Ok(Versioned {
            value: from_value(py, &v.value)?.unbind(),
            version: v.version,
            timestamp: timestamp(py, v.timestamp)?.unbind(),
            ttl: v
                .ttl
                .map(|d| timedelta(py, d).map(Bound::unbind))
                .transpose()?,
        })
    }
}

/// An event of a run's log.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct Event {
    /// Its place in the log: 0, 1, 2 ... with no gaps.
    sequence: u64,
    /// Its type, as given to `append`.
    #[pyo3(name = "type")]
    event_type: String,
    /// Its payload.
    payload: Py<PyAny>,
    /// When it was appended.
    timestamp: Py<PyAny>,
    /// The hash of the event before it (32 zero bytes for the first).
    prev_hash: Py<PyAny>,
    /// Its own hash (SHA-256), which the next event's `prev_hash` repeats.
    hash: Py<PyAny>,
}

#[pymethods]
impl Event {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Event(sequence={}, type={}, payload={})",
            self.sequence,
            quoted(&self.event_type),
            self.payload.bind(py).repr()?
        ))
    }
}

impl Event {
    pub(crate) fn from_rust(py: Python<'_>, e: &RustEvent) -> PyResult<Self> {
        Ok(Event {
            sequence: e.sequence,
            event_type: e.event_type.clone(),
            payload: from_value(py, &e.payload)?.unbind(),
            timestamp: timestamp(py, e.timestamp)?.unbind(),
            prev_hash: PyBytes::new(py, &e.prev_hash).into_any().unbind(),
            hash: PyBytes::new(py, &e.hash).into_any().unbind(),
        })
    }
}

/// What `verify_chain` checked: how many events, and the newest one's hash.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct Chain {
    /// Events in the log, all verified.
    events: u64,
    /// The hash of the newest event (32 zero bytes for an empty log).
    head_hash: Py<PyAny>,
}

#[pymethods]
impl Chain {
    fn __repr__(&self) -> String {
        format!("Chain(events={})", self.events)
    }
}

impl Chain {
    pub(crate) fn from_rust(py: Python<'_>, c: &ChainSummary) -> Self {
        Chain {
            events: c.events,
            head_hash: PyBytes::new(py, &c.head_hash).into_any().unbind(),
        }
    }
}

/// A state cell: its value and version (1 at `init`, one more at every change, never back).
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct Cell {
    /// The value.
    value: Py<PyAny>,
    /// The version, for `cas`.
    version: u64,
    /// When it last changed.
    updated_at: Py<PyAny>,
}

#[pymethods]
impl Cell {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Cell(value={}, version={})",
            self.value.bind(py).repr()?,
            self.version
        ))
    }
}

impl Cell {
    pub(crate) fn from_rust(py: Python<'_>, c: &RustCell) -> PyResult<Self> {
        Ok(Cell {
            value: from_value(py, &c.value)?.unbind(),
            version: c.version,
            updated_at: timestamp(py, c.updated_at)?.unbind(),
        })
    }
}

/// One applied move of a state machine.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct Transition {
    /// The state it left.
    from_state: String,
    /// The event that moved it.
    event: String,
    /// The state it is in now.
    to_state: String,
    /// The version of the machine's state cell after the move.
    version: u64,
}

#[pymethods]
impl Transition {
    fn __repr__(&self) -> String {
        format!(
            "Transition({} --{}--> {}, version={})",
            quoted(&self.from_state),
            quoted(&self.event),
            quoted(&self.to_state),
            self.version
        )
    }
}

impl Transition {
    pub(crate) fn from_rust(t: in_mem::primitives::Transition) -> Self {
        Transition {
            from_state: t.from,
            event: t.event,
            to_state: t.to,
            version: t.version,
        }
    }
}

/// A span of a run's trace: a tool call, decision, query, thought, error or custom step.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct Span {
    /// Its id within the run: 1, 2, 3 ... in the order spans were begun.
    id: u64,
    /// The span it happened inside, if any.
    parent: Option<u64>,
    /// `"tool_call"`, `"decision"`, `"query"`, `"thought"`, `"error"` or `"custom"`.
    kind: String,
    /// "running", "ok" or "error".
    status: String,
    /// When it started.
    start: Py<PyAny>,
    /// When it finished, if it has.
    end: Option<Py<PyAny>>,
    /// Its tags, sorted.
    tags: Vec<String>,
    /// The caller's attributes.
    attributes: Py<PyAny>,
    /// The kind's own fields: tool, arguments, result, duration (`tool_call`); question, options,
    /// chosen, reasoning (decision); query, result (query); text (thought); message (error);
    /// name, data (custom).
    details: Py<PyAny>,
}

#[pymethods]
impl Span {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Span(id={}, kind={}, status={}, details={})",
            self.id,
            quoted(&self.kind),
            quoted(&self.status),
            self.details.bind(py).repr()?
        ))
    }
}

impl Span {
    pub(crate) fn from_rust(py: Python<'_>, s: &in_mem::primitives::Span) -> PyResult<Self> {
        let attributes = PyDict::new(py);
        for (name, value) in &s.attributes {
            attributes.set_item(name, from_value(py, value)?)?;
        }
        Ok(Span {
            id: s.id,
            parent: s.parent,
            kind: s.kind.name().to_owned(),
            status: s.status.as_str().to_owned(),
            start: timestamp(py, s.start)?.unbind(),
            end: s
                .end
                .map(|t| timestamp(py, t).map(Bound::unbind))
                .transpose()?,
            tags: s.tags.clone(),
            attributes: attributes.into_any().unbind(),
            details: details(py, &s.kind)?.into_any().unbind(),
        })
    }
}

/// The fields of a span's kind, as a dict.
fn details<'py>(py: Python<'py>, kind: &SpanKind) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let optional = |v: Option<&in_mem::Value>| -> PyResult<Bound<'py, PyAny>> {
        match v {
            Some(v) => from_value(py, v),
            None => Ok(py.None().into_bound(py)),
        }
    };
    match kind {
        SpanKind::ToolCall {
            tool,
            arguments,
            result,
            duration_us,
        } => {
            dict.set_item("tool", tool)?;
            dict.set_item("arguments", from_value(py, arguments)?)?;
            dict.set_item("result", optional(result.as_ref())?)?;
            let duration = duration_us
                .map(|us| timedelta(py, std::time::Duration::from_micros(us)))
                .transpose()?;
            dict.set_item("duration", duration)?;
        }
        SpanKind::Decision {
            question,
            options,
            chosen,
            reasoning,
        } => {
            dict.set_item("question", question)?;
            dict.set_item("options", PyList::new(py, options)?)?;
            dict.set_item("chosen", chosen)?;
            dict.set_item("reasoning", reasoning)?;
        }
        SpanKind::Query { query, result } => {
            dict.set_item("query", query)?;
            dict.set_item("result", optional(result.as_ref())?)?;
        }
        SpanKind::Thought { text } => dict.set_item("text", text)?,
        SpanKind::Error { message } => dict.set_item("message", message)?,
        SpanKind::Custom { name, data } => {
            dict.set_item("name", name)?;
            dict.set_item("data", from_value(py, data)?)?;
        }
        // A kind added to the engine later still reads, with no details.
        _ => {}
    }
    Ok(dict)
}

/// A span and everything that happened inside it.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct SpanTree {
    /// The span.
    span: Py<Span>,
    /// Its children's trees, in id order.
    children: Vec<Py<SpanTree>>,
}

#[pymethods]
impl SpanTree {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "SpanTree(span={}, children={})",
            self.span.bind(py).get().id,
            self.children.len()
        )
    }
}

impl SpanTree {
    pub(crate) fn from_rust(py: Python<'_>, tree: &in_mem::primitives::SpanTree) -> PyResult<Self> {
        let children = tree
            .children
            .iter()
            .map(|child| Py::new(py, SpanTree::from_rust(py, child)?))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(SpanTree {
            span: Py::new(py, Span::from_rust(py, &tree.span)?)?,
            children,
        })
    }
}

/// `text` as Python writes a `str` literal in a repr (single quotes), for the reprs above.
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            // Control characters are below U+00A0: two hex digits always suffice.
            c if c.is_control() => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
