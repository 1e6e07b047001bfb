//! What `Database.replay` returns: the engine's `Replay` as a Python iterator of steps, each
//! with a view of the run right after it, verified before it is yielded.
//!
//! The engine's replay is lazy (each step is verified and its view made when asked for), so
//! this is an iterator too, not a list: a caller that stops early pays for the steps it saw,
//! and an error surfaces at the step it concerns, after the good steps before it.

use std::sync::{Mutex, PoisonError};

use in_mem::RunId;
use pyo3::prelude::*;

use super::timeline::Step;
use super::view::View;
use crate::errors::OrRaise;
use crate::shared::Shared;

/// A run walked step by step, oldest first. Iterating yields a `ReplayStep` per commit of the
/// run, each verified first: the event log's sequences are dense and continue the log (a
/// fork's from its parent's head at the fork point), every event's hash is recomputed and
/// chains to the one before, and every span's parent exists by the step that recorded it. A
/// failed check raises (`in_mem.ChainBroken`, `in_mem.UnknownSpan`) at the step it concerns;
/// the iterator then ends. Each step blocks with the GIL released.
#[pyclass(module = "in_mem", frozen)]
pub(crate) struct Replay {
    shared: Shared,
    run: RunId,
    replay: Mutex<in_mem::Replay>,
}

impl Replay {
    pub(crate) fn new(shared: Shared, run: RunId, replay: in_mem::Replay) -> Self {
        Replay {
            shared,
            run,
            replay: Mutex::new(replay),
        }
    }
}

#[pymethods]
impl Replay {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ReplayStep>> {
        // Checked for its `ClosedError`; the replay holds the engine itself.
        self.shared.db(py)?;
        let next = py.detach(|| {
            self.replay
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .next()
        });
        let Some(step) = next.transpose().or_raise(py)? else {
            return Ok(None);
        };
        Ok(Some(ReplayStep {
            step: Py::new(py, Step::from_rust(py, &step.step)?)?,
            view: Py::new(py, View::new(self.shared.clone(), step.view))?,
        }))
    }

    fn __repr__(&self) -> String {
        format!("<in_mem.Replay of run {}>", self.run)
    }
}

/// One step of a replay: what the commit wrote, and the run as it was right after it.
#[pyclass(module = "in_mem", frozen, get_all)]
pub(crate) struct ReplayStep {
    /// The commit and the keys it wrote.
    step: Py<Step>,
    /// The run right after the commit (read-only).
    view: Py<View>,
}

#[pymethods]
impl ReplayStep {
    fn __repr__(&self) -> String {
        format!("ReplayStep(version={})", self.step.get().version())
    }
}
