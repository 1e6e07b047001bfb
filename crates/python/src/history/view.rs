//! `RunView`: a run as it was right after a point of its history, read through the same
//! accessor classes as a run (`view.kv`, `view.events`, `view.state`, `view.trace`), pointed at
//! the engine's view instead of a transaction (see `target.rs`).

use std::sync::{Arc, PoisonError};

use in_mem::primitives::Cassette as RustCassette;

use pyo3::prelude::*;

use super::Cassette;
use crate::errors::OrRaise;
use crate::events::Events;
use crate::kv::Kv;
use crate::shared::Shared;
use crate::state::State;
use crate::target::{Target, ViewTarget};
use crate::trace::Trace;

/// A run as it saw its world right after one point of its life: its snapshot of the agent's
/// memory, its own writes up to the point (a fork's: also what it was forked with). Every read
/// works as on a `Run`; every write raises `in_mem.ReadOnlyView`. A read that needs a version
/// retention reclaimed raises `in_mem.HistoryPruned`, never an older value. Values with a time
/// to live read as they do now.
#[pyclass(module = "in_mem", frozen, name = "RunView")]
pub(crate) struct View {
    target: Arc<ViewTarget>,
}

impl View {
    pub(crate) fn new(shared: Shared, view: in_mem::RunView) -> Self {
        View {
            target: Arc::new(ViewTarget::new(shared, view)),
        }
    }

    fn target(&self) -> Target {
        Target::View(Arc::clone(&self.target))
    }
}

#[pymethods]
impl View {
    /// The id of the run this is a view of.
    #[getter]
    fn run_id(&self) -> String {
        self.target.run.to_string()
    }

    /// The version the view is at: the run's own commits up to it are in it.
    #[getter]
    fn version(&self) -> u64 {
        self.target.version
    }

    /// The agent's memory as the run saw it at this point.
    #[getter]
    fn kv(&self) -> Kv {
        Kv::new(self.target())
    }

    /// The run's event log at this point.
    #[getter]
    fn events(&self) -> Events {
        Events::new(self.target())
    }

    /// The run's state cells and machines at this point.
    #[getter]
    fn state(&self) -> State {
        State::new(self.target())
    }

    /// The run's trace at this point.
    #[getter]
    fn trace(&self) -> Trace {
        Trace::new(self.target())
    }

    /// The recorded answers of the run's tool calls and queries as of this point, to execute
    /// the run again from here without calling anything (see `Cassette`).
    fn cassette(&self, py: Python<'_>) -> PyResult<Cassette> {
        self.target.shared.db(py)?;
        let target = Arc::clone(&self.target);
        let cassette = py
            .detach(move || {
                let mut view = target.view.lock().unwrap_or_else(PoisonError::into_inner);
                RustCassette::from_view(&mut view)
            })
            .or_raise(py)?;
        Ok(Cassette::new(cassette))
    }

    fn __repr__(&self) -> String {
        format!(
            "<in_mem.RunView of run {} at version {}>",
            self.target.run, self.target.version
        )
    }
}
