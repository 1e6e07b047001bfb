//! `run.trace`, `tx.trace` and `view.trace`: a run's spans (tool calls, decisions, queries,
//! thoughts, errors, custom steps) as a tree, and the queries over them.
//!
//! A span is described by its kind's name and the kind's fields as keywords, the way the Rust
//! `NewSpan` constructors take them:
//!
//! | kind | fields |
//! | --- | --- |
//! | `tool_call` | `tool` (str), `arguments`, `result`, `duration` (seconds or timedelta) |
//! | `decision` | `question`, `options` (list of str), `chosen`, `reasoning` |
//! | `query` | `query` (str), `result` |
//! | `thought` | `text` |
//! | `error` | `message` |
//! | `custom` | `name` (str), `data` |

use in_mem::Value;
use in_mem::primitives::{NewSpan, SpanStatus};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{duration, to_value};
use crate::errors::invalid;
use crate::records::{Span, SpanTree};
use crate::target::Target;

/// Every span kind and its fields: (kind, required fields, optional fields).
const KINDS: [(&str, &[&str], &[&str]); 6] = [
    ("tool_call", &["tool"], &["arguments", "result", "duration"]),
    (
        "decision",
        &["question", "options", "chosen"],
        &["reasoning"],
    ),
    ("query", &["query"], &["result"]),
    ("thought", &["text"], &[]),
    ("error", &["message"], &[]),
    ("custom", &["name"], &["data"]),
];

/// A run's trace: why it did what it did, as a tree of spans. Span ids are 1, 2, 3 ... within
/// the run (a replayed run names its spans the same way).
#[pyclass(module = "in_mem", frozen, name = "TraceStore")]
pub(crate) struct Trace {
    target: Target,
}

impl Trace {
    pub(crate) fn new(target: Target) -> Self {
        Trace { target }
    }
}

#[pymethods]
impl Trace {
    /// Records a finished span of `kind` with the kind's `fields` (see the table in the module
    /// docs); returns its id. `status` is "ok" (the default; "error" for an error span) or
    /// "error". A `parent` must be a span of this run.
    #[pyo3(signature = (kind, *, parent = None, tags = Vec::new(), attributes = None, status = None, **fields))]
    #[allow(clippy::too_many_arguments)] // Python keywords, each optional
    fn record(
        &self,
        py: Python<'_>,
        kind: &str,
        parent: Option<u64>,
        tags: Vec<String>,
        attributes: Option<&Bound<'_, PyDict>>,
        status: Option<&str>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<u64> {
        let mut span = new_span(py, kind, fields, parent, tags, attributes)?;
        if let Some(status) = status {
            span = span.status(parse_status(py, status)?);
        }
        self.target
            .call(py, move |tx| tx.spans().record(span.clone()))
    }

    /// Starts a long span (status "running"); `finish` ends it. Arguments as for `record`.
    #[pyo3(signature = (kind, *, parent = None, tags = Vec::new(), attributes = None, **fields))]
    fn start(
        &self,
        py: Python<'_>,
        kind: &str,
        parent: Option<u64>,
        tags: Vec<String>,
        attributes: Option<&Bound<'_, PyDict>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<u64> {
        let span = new_span(py, kind, fields, parent, tags, attributes)?;
        self.target
            .call(py, move |tx| tx.spans().start(span.clone()))
    }

    /// Finishes running span `span` now with `status` ("ok" or "error") and, for a tool call or
    /// a query, its `result` (a tool call's duration is set from its start). Returns the span.
    #[pyo3(signature = (span, status = "ok", *, result = None))]
    fn finish(
        &self,
        py: Python<'_>,
        span: u64,
        status: &str,
        result: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Span> {
        let status = parse_status(py, status)?;
        let result = result.map(to_value).transpose()?;
        let finished = self.target.call(py, move |tx| {
            tx.spans().finish(span, status, result.clone())
        })?;
        Span::from_rust(py, &finished)
    }

    /// Span `span`, or `None`.
    fn get(&self, py: Python<'_>, span: u64) -> PyResult<Option<Span>> {
        let found = self.target.read(py, move |tx| tx.spans().get(span))?;
        found.map(|s| Span::from_rust(py, &s)).transpose()
    }

    /// The spans whose parent is `span`, in id order.
    fn children(&self, py: Python<'_>, span: u64) -> PyResult<Vec<Span>> {
        let spans = self.target.read(py, move |tx| tx.spans().children(span))?;
        spans.iter().map(|s| Span::from_rust(py, s)).collect()
    }

    /// The spans without a parent, in id order.
    fn roots(&self, py: Python<'_>) -> PyResult<Vec<Span>> {
        let spans = self.target.read(py, |tx| tx.spans().roots())?;
        spans.iter().map(|s| Span::from_rust(py, s)).collect()
    }

    /// `span` and everything inside it, as a tree; `None` if there is no such span.
    fn tree(&self, py: Python<'_>, span: u64) -> PyResult<Option<SpanTree>> {
        let tree = self.target.read(py, move |tx| tx.spans().tree(span))?;
        tree.map(|t| SpanTree::from_rust(py, &t)).transpose()
    }

    /// The spans of `kind`, in id order.
    fn by_kind(&self, py: Python<'_>, kind: String) -> PyResult<Vec<Span>> {
        let spans = self.target.read(py, move |tx| tx.spans().by_kind(&kind))?;
        spans.iter().map(|s| Span::from_rust(py, s)).collect()
    }

    /// The spans carrying `tag`, in id order.
    fn by_tag(&self, py: Python<'_>, tag: String) -> PyResult<Vec<Span>> {
        let spans = self.target.read(py, move |tx| tx.spans().by_tag(&tag))?;
        spans.iter().map(|s| Span::from_rust(py, s)).collect()
    }

    /// Every span of the run, in id order.
    fn all(&self, py: Python<'_>) -> PyResult<Vec<Span>> {
        let spans = self.target.read(py, |tx| tx.spans().all())?;
        spans.iter().map(|s| Span::from_rust(py, s)).collect()
    }

    fn __repr__(&self) -> String {
        format!("<in_mem.TraceStore of run {}>", self.target.run_id())
    }
}

fn parse_status(py: Python<'_>, status: &str) -> PyResult<SpanStatus> {
    SpanStatus::parse(status).ok_or_else(|| {
        invalid(
            py,
            format!("span status {status:?} is not one of running, ok, error"),
        )
    })
}

/// The engine's description of a new span from Python's arguments.
fn new_span(
    py: Python<'_>,
    kind: &str,
    fields: Option<&Bound<'_, PyDict>>,
    parent: Option<u64>,
    tags: Vec<String>,
    attributes: Option<&Bound<'_, PyDict>>,
) -> PyResult<NewSpan> {
    let Some((_, required, optional)) = KINDS.iter().find(|(name, _, _)| *name == kind) else {
        let names: Vec<&str> = KINDS.iter().map(|(name, _, _)| *name).collect();
        return Err(invalid(
            py,
            format!("span kind {kind:?} is not one of {}", names.join(", ")),
        ));
    };
    let empty = PyDict::new(py);
    let fields = fields.unwrap_or(&empty);
    for (name, _) in fields.iter() {
        let name: String = name.extract()?;
        if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            return Err(PyTypeError::new_err(format!(
                "a {kind} span has no field {name:?}; its fields are {}",
                required
                    .iter()
                    .chain(optional.iter())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let field = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(fields.get_item(name)?.filter(|v| !v.is_none()))
    };
    let text = |name: &str| -> PyResult<String> {
        match field(name)? {
            Some(v) => v.extract(),
            None => Err(PyTypeError::new_err(format!(
                "a {kind} span needs the field {name:?}"
            ))),
        }
    };
    let value =
        |name: &str| -> PyResult<Value> { field(name)?.map_or(Ok(Value::Null), |v| to_value(&v)) };
    let mut span = match kind {
        "tool_call" => {
            let mut span = NewSpan::tool_call(text("tool")?, value("arguments")?);
            if let Some(result) = field("result")? {
                span = span.result(to_value(&result)?);
            }
            if let Some(d) = field("duration")? {
                span = span.duration(duration(&d, "duration")?);
            }
            span
        }
        "decision" => {
            let options: Vec<String> = match field("options")? {
                Some(v) => v.extract()?,
                None => {
                    return Err(PyTypeError::new_err(
                        "a decision span needs the field \"options\"",
                    ));
                }
            };
            let reasoning = match field("reasoning")? {
                Some(v) => v.extract()?,
                None => String::new(),
            };
            NewSpan::decision(text("question")?, options, text("chosen")?, reasoning)
        }
        "query" => {
            let mut span = NewSpan::query(text("query")?);
            if let Some(result) = field("result")? {
                span = span.result(to_value(&result)?);
            }
            span
        }
        "thought" => NewSpan::thought(text("text")?),
        "error" => NewSpan::error(text("message")?),
        _ => NewSpan::custom(text("name")?, value("data")?),
    };
    if let Some(parent) = parent {
        span = span.parent(parent);
    }
    for tag in tags {
        span = span.tag(tag);
    }
    if let Some(attributes) = attributes {
        for (name, value) in attributes.iter() {
            let name: String = name
                .extract()
                .map_err(|_| PyTypeError::new_err("span attribute names must be str"))?;
            span = span.attribute(name, to_value(&value)?);
        }
    }
    Ok(span)
}
