//! `Cassette`: the primitives crate's recorded tool answers of a run, served back in order so
//! the run can be executed again without calling anything; a call the recording did not make
//! next raises `in_mem.Divergence`.
//!
//! Requests are fingerprinted from their stored form (`convert.rs`), the same form
//! `run.trace.record("tool_call", arguments=...)` stored, so a Python recording matches a
//! Python re-execution (and a Rust one that stores the same values). The cassette holds a copy
//! of what it serves: after it is built, its calls never reach the engine and need no detach.

use std::sync::{Mutex, MutexGuard, PoisonError};

use in_mem::Value;
use in_mem::primitives::{Call, CallKind, Cassette as RustCassette, Divergence, RecordedCall};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;

use crate::convert::{from_value, to_value};
use crate::errors::{OrRaise, raise};

/// The answers a run's tool calls and queries got (one per `tool_call` or `query` span, in span
/// id order), served in that order: `tool(name, arguments)` and `query(text)` return the next
/// recorded result if the call is the next one recorded (name and request fingerprint), else
/// raise `in_mem.Divergence` naming the step, and leave the cassette where it was. `finish()`
/// checks that every recorded call was made. A span's text attribute `fingerprint`, when
/// recorded, is matched instead of the request's default fingerprint.
#[pyclass(module = "in_mem", frozen, name = "Cassette")]
pub(crate) struct Cassette {
    inner: Mutex<RustCassette>,
}

impl Cassette {
    pub(crate) fn new(cassette: RustCassette) -> Self {
        Cassette {
            inner: Mutex::new(cassette),
        }
    }

    fn inner(&self) -> MutexGuard<'_, RustCassette> {
        // A panic while serving leaves the position where it was: the cassette stays whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn serve(&self, py: Python<'_>, call: Call) -> PyResult<Py<PyAny>> {
        let result = self
            .inner()
            .play(call)
            .map(|r| r.result.clone().unwrap_or(Value::Null));
        match result {
            Ok(value) => Ok(from_value(py, &value)?.unbind()),
            Err(d) => Err(divergence(py, &d)),
        }
    }
}

#[pymethods]
impl Cassette {
    /// The default fingerprint of a request (a tool call's arguments, or a query's text): the
    /// SHA-256, in hex, of its canonical stored form (dict keys in order).
    #[staticmethod]
    fn fingerprint_of(py: Python<'_>, request: &Bound<'_, PyAny>) -> PyResult<String> {
        RustCassette::fingerprint_of(&to_value(request)?).or_raise(py)
    }

    /// The id of the run the calls were recorded in.
    #[getter]
    fn run_id(&self) -> String {
        self.inner().run().to_string()
    }

    /// The version the run was read at.
    #[getter]
    fn version(&self) -> u64 {
        self.inner().version()
    }

    /// How many recorded calls have been served.
    #[getter]
    fn position(&self) -> usize {
        self.inner().position()
    }

    /// How many recorded calls are left.
    #[getter]
    fn remaining(&self) -> usize {
        self.inner().remaining()
    }

    /// Every recorded call, in recording order.
    #[getter]
    fn calls(&self, py: Python<'_>) -> PyResult<Vec<Recorded>> {
        self.inner()
            .calls()
            .iter()
            .map(|c| Recorded::from_rust(py, c))
            .collect()
    }

    /// The recorded result of the next call, which must be tool `name` called with `arguments`.
    #[pyo3(signature = (name, arguments = None))]
    fn tool(
        &self,
        py: Python<'_>,
        name: String,
        arguments: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let arguments = arguments.map_or(Ok(Value::Null), to_value)?;
        let fingerprint = RustCassette::fingerprint_of(&arguments).or_raise(py)?;
        self.serve(py, Call::new(name, fingerprint))
    }

    /// The recorded result of the next call, which must be query `query`.
    fn query(&self, py: Python<'_>, query: String) -> PyResult<Py<PyAny>> {
        let fingerprint =
            RustCassette::fingerprint_of(&Value::from(query.as_str())).or_raise(py)?;
        self.serve(py, Call::new(query, fingerprint))
    }

    /// The recorded result of the next call, which must be `name` with request fingerprint
    /// `fingerprint` (one of your own, recorded as the span's `fingerprint` attribute).
    fn call(&self, py: Python<'_>, name: String, fingerprint: String) -> PyResult<Py<PyAny>> {
        self.serve(py, Call::new(name, fingerprint))
    }

    /// Serves the next call like `call`, returning the whole record (status and result).
    fn play(&self, py: Python<'_>, name: String, fingerprint: String) -> PyResult<Recorded> {
        let mut inner = self.inner();
        match inner.play(Call::new(name, fingerprint)) {
            Ok(recorded) => Recorded::from_rust(py, recorded),
            Err(d) => Err(divergence(py, &d)),
        }
    }

    /// Checks that every recorded call was made; `in_mem.Divergence` names the first that was
    /// not.
    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        self.inner().finish().map_err(|d| divergence(py, &d))
    }

    fn __repr__(&self) -> String {
        let inner = self.inner();
        format!(
            "<in_mem.Cassette of run {} at version {}: {} of {} calls served>",
            inner.run(),
            inner.version(),
            inner.position(),
            inner.calls().len()
        )
    }
}

/// One recorded call.
#[pyclass(module = "in_mem", frozen, get_all, name = "RecordedCall")]
pub(crate) struct Recorded {
    /// The id of the span that recorded it.
    span: u64,
    /// `"tool_call"` or `"query"`.
    kind: &'static str,
    /// The tool's name, or the query's text.
    name: String,
    /// The request's fingerprint.
    fingerprint: String,
    /// The span's status: "ok", "error" (the call failed), or "running" (it never returned).
    status: &'static str,
    /// What it returned (`None` while running, or when it recorded no result).
    result: Py<PyAny>,
}

#[pymethods]
impl Recorded {
    fn __repr__(&self) -> String {
        format!(
            "RecordedCall(span={}, kind={}, name={:?}, status={})",
            self.span, self.kind, self.name, self.status
        )
    }
}

impl Recorded {
    fn from_rust(py: Python<'_>, c: &RecordedCall) -> PyResult<Self> {
        Ok(Recorded {
            span: c.span,
            kind: match c.kind {
                CallKind::Tool => "tool_call",
                CallKind::Query => "query",
            },
            name: c.call.name.clone(),
            fingerprint: c.call.fingerprint.clone(),
            status: c.status.as_str(),
            result: from_value(py, c.result.as_ref().unwrap_or(&Value::Null))?.unbind(),
        })
    }
}

/// `in_mem.Divergence` for `d`, its fields as attributes: `kind` ("mismatch", "extra",
/// "unplayed", "unanswered"), `step`, `span`, `recorded` and `made` (`(name, fingerprint)`),
/// `unplayed` (a count); those a kind does not have are `None`.
fn divergence(py: Python<'_>, d: &Divergence) -> PyErr {
    let call = |c: &Call| (c.name.clone(), c.fingerprint.clone());
    let (kind, span, recorded, made, unplayed) = match d {
        Divergence::Mismatch {
            span,
            recorded,
            made,
            ..
        } => (
            "mismatch",
            Some(*span),
            Some(call(recorded)),
            Some(call(made)),
            None,
        ),
        Divergence::Extra { made, .. } => ("extra", None, None, Some(call(made)), None),
        Divergence::Unplayed {
            span,
            recorded,
            unplayed,
            ..
        } => (
            "unplayed",
            Some(*span),
            Some(call(recorded)),
            None,
            Some(*unplayed),
        ),
        Divergence::Unanswered { span, recorded, .. } => {
            ("unanswered", Some(*span), Some(call(recorded)), None, None)
        }
        // The primitives' enum is non-exhaustive: a kind added later still raises, with its
        // message and step.
        _ => ("other", None, None, None, None),
    };
    let attrs: Vec<(&'static str, Bound<'_, PyAny>)> = [
        ("kind", kind.into_bound_py_any(py)),
        ("step", d.step().into_bound_py_any(py)),
        ("span", span.into_bound_py_any(py)),
        ("recorded", recorded.into_bound_py_any(py)),
        ("made", made.into_bound_py_any(py)),
        ("unplayed", unplayed.into_bound_py_any(py)),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.ok().map(|v| (name, v)))
    .collect();
    raise(py, "Divergence", d.to_string(), &attrs)
}
