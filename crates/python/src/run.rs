//! `Run`: one agent execution, the scope of every data call (`run.kv`, `run.events`,
//! `run.state`, `run.trace`), with its lifecycle (end, fail, cancel, pause, resume, delete) and
//! its context-manager form, which ends the run on a normal exit and fails it on an exception.

use std::hash::{DefaultHasher, Hash, Hasher};

use in_mem::RunId;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use crate::convert::{parse_run_id, to_value, type_name};
use crate::errors::OrRaise;
use crate::events::Events;
use crate::history::{self, View};
use crate::kv::Kv;
use crate::point::at_of;
use crate::records::RunInfo;
use crate::shared::Shared;
use crate::state::State;
use crate::target::Target;
use crate::trace::Trace;
use crate::transaction::{Transaction, with_retry};

/// A run of a database: a handle that names it (holding one does not keep it active).
///
/// As a context manager it ends the run when the block exits normally; if the block raises an
/// `Exception`, the run is marked failed with `"<ExceptionType>: <message>"` (and cancelled for
/// a `BaseException` such as `KeyboardInterrupt`), and the exception goes on. A run already
/// ended inside the block is left as it is.
#[pyclass(module = "in_mem", frozen)]
pub(crate) struct Run {
    shared: Shared,
    id: RunId,
}

impl Run {
    pub(crate) fn new(shared: Shared, id: RunId) -> Self {
        Run { shared, id }
    }

    fn target(&self) -> Target {
        Target::Run {
            shared: self.shared.clone(),
            run: self.id,
        }
    }

    /// Runs a lifecycle call on the engine, detached.
    fn lifecycle(
        &self,
        py: Python<'_>,
        call: impl FnOnce(&in_mem::Database, RunId) -> in_mem::Result<()> + Send,
    ) -> PyResult<()> {
        let db = self.shared.db(py)?;
        let run = self.id;
        py.detach(move || call(&db, run)).or_raise(py)
    }

    /// Ends the run as `__exit__` says; errors come back to the caller to keep or drop.
    fn finish(&self, py: Python<'_>, exc: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let db = self.shared.db(py)?;
        let run = self.id;
        let info = py.detach(|| db.run_info(run)).or_raise(py)?;
        if info.status.is_terminal() {
            return Ok(());
        }
        match exc {
            None => py.detach(|| db.end_run(run)).or_raise(py),
            Some(exc) if exc.is_instance_of::<PyException>() => {
                let message = format!("{}: {}", exc_type_name(exc), exc.str()?);
                py.detach(|| db.fail_run(run, message)).or_raise(py)
            }
            Some(_) => py.detach(|| db.cancel_run(run)).or_raise(py),
        }
    }
}

#[pymethods]
impl Run {
    /// The run's id (text of a UUID): `Database.get_run(id)` finds the run again, also after a
    /// reopen.
    #[getter]
    fn id(&self) -> String {
        self.id.to_string()
    }

    /// The agent's memory as this run sees it: its view as of the run's start plus its own
    /// writes.
    #[getter]
    fn kv(&self) -> Kv {
        Kv::new(self.target())
    }

    /// The run's event log.
    #[getter]
    fn events(&self) -> Events {
        Events::new(self.target())
    }

    /// The run's state cells and declared state machines.
    #[getter]
    fn state(&self) -> State {
        State::new(self.target())
    }

    /// The run's trace.
    #[getter]
    fn trace(&self) -> Trace {
        Trace::new(self.target())
    }

    /// The run as it was right after a point of its history (see `Database.run_view_at`).
    #[pyo3(signature = (*, version = None, event = None, time = None))]
    fn view_at(
        &self,
        py: Python<'_>,
        version: Option<u64>,
        event: Option<u64>,
        time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<View> {
        let at = at_of(py, version, event, time)?;
        history::view_at(py, &self.shared, self.id, at)
    }

    /// A description of the run: agent, status, parent, times, tags, metadata, error.
    fn info(&self, py: Python<'_>) -> PyResult<RunInfo> {
        let db = self.shared.db(py)?;
        let run = self.id;
        let info = py.detach(move || db.run_info(run)).or_raise(py)?;
        RunInfo::from_rust(py, &info)
    }

    /// The run's status: "active", "paused", "completed", "failed", "cancelled" or
    /// "interrupted".
    #[getter]
    fn status(&self, py: Python<'_>) -> PyResult<String> {
        let db = self.shared.db(py)?;
        let run = self.id;
        let info = py.detach(move || db.run_info(run)).or_raise(py)?;
        Ok(info.status.as_str().to_owned())
    }

    /// Ends the run as completed: it takes no more writes and stays readable.
    fn end(&self, py: Python<'_>) -> PyResult<()> {
        self.lifecycle(py, in_mem::Database::end_run)
    }

    /// Ends the run as failed, recording `error`.
    fn fail(&self, py: Python<'_>, error: String) -> PyResult<()> {
        self.lifecycle(py, move |db, run| db.fail_run(run, error))
    }

    /// Ends the run as cancelled.
    fn cancel(&self, py: Python<'_>) -> PyResult<()> {
        self.lifecycle(py, in_mem::Database::cancel_run)
    }

    /// Pauses the run: readable, no writes until `resume`.
    fn pause(&self, py: Python<'_>) -> PyResult<()> {
        self.lifecycle(py, in_mem::Database::pause_run)
    }

    /// Resumes a paused run, or one interrupted by a crash (with the view it had).
    fn resume(&self, py: Python<'_>) -> PyResult<()> {
        self.lifecycle(py, in_mem::Database::resume_run)
    }

    /// Deletes an ended run and its own data (events, cells, spans); the keys it wrote to the
    /// agent's memory stay. Afterwards the run is unknown.
    fn delete(&self, py: Python<'_>) -> PyResult<()> {
        self.lifecycle(py, in_mem::Database::delete_run)
    }

    /// Replaces the run's tags.
    fn set_tags(&self, py: Python<'_>, tags: Vec<String>) -> PyResult<()> {
        self.lifecycle(py, move |db, run| db.set_run_tags(run, tags))
    }

    /// Replaces the run's metadata (any storable value).
    fn set_metadata(&self, py: Python<'_>, metadata: &Bound<'_, PyAny>) -> PyResult<()> {
        let metadata = to_value(metadata)?;
        self.lifecycle(py, move |db, run| db.set_run_metadata(run, metadata))
    }

    /// Opens a transaction of this run (the same as `Database.transaction(run)`).
    fn transaction(&self, py: Python<'_>) -> PyResult<Transaction> {
        Transaction::begin(py, &self.shared, self.id)
    }

    /// `Database.transaction_with_retry(run, f)` for this run.
    #[pyo3(signature = (f, *, max_attempts = 32))]
    fn transaction_with_retry(
        &self,
        py: Python<'_>,
        f: &Bound<'_, PyAny>,
        max_attempts: u32,
    ) -> PyResult<Py<PyAny>> {
        with_retry(py, &self.shared, self.id, f, max_attempts)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Ends the run (see the class docs). On an exception, an error from ending the run is
    /// dropped so that the block's own exception is the one raised.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyType>>,
        exc: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        match (exc_type, exc) {
            (None, _) => self.finish(py, None)?,
            (Some(_), exc) => {
                let _ = self.finish(py, Some(exc.unwrap_or(&py.None().into_bound(py))));
            }
        }
        Ok(false)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Run>().is_ok_and(|o| o.get().id == self.id)
    }

    fn __hash__(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.id.hash(&mut hasher);
        hasher.finish()
    }

    fn __repr__(&self) -> String {
        format!("<in_mem.Run {}>", self.id)
    }
}

/// The run `obj` names: a `Run`, or a run id as text.
pub(crate) fn run_id_of(obj: &Bound<'_, PyAny>) -> PyResult<RunId> {
    if let Ok(run) = obj.cast::<Run>() {
        return Ok(run.get().id);
    }
    if let Ok(text) = obj.cast::<PyString>() {
        return parse_run_id(obj.py(), &text.to_cow()?);
    }
    Err(PyTypeError::new_err(format!(
        "a run is a Run or a run id (str), not {}",
        type_name(obj)
    )))
}

/// The name of an exception's class, as a traceback prints it.
fn exc_type_name(exc: &Bound<'_, PyAny>) -> String {
    exc.get_type()
        .name()
        .map_or_else(|_| "Exception".to_owned(), |n| n.to_string())
}
