//! `run.state`, `tx.state` and `view.state`: a run's versioned state cells and declared state
//! machines.

use in_mem::primitives::MachineDefinition;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::to_value;
use crate::records::{Cell, Transition};
use crate::target::Target;

/// A run's state cells (named values whose version only goes forward, with compare-and-swap)
/// and its declared state machines (which refuse moves their definition does not allow).
#[pyclass(module = "in_mem", frozen, name = "StateMachine")]
pub(crate) struct State {
    target: Target,
}

impl State {
    pub(crate) fn new(target: Target) -> Self {
        State { target }
    }
}

#[pymethods]
impl State {
    /// Creates cell `name` holding `value`; returns its version. `in_mem.CellExists` if it
    /// exists (a deleted cell comes back with its version continued, never reset).
    #[pyo3(signature = (name, value = None))]
    fn init(
        &self,
        py: Python<'_>,
        name: String,
        value: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let value = optional_value(value)?;
        self.target
            .call(py, move |tx| tx.cells().init(&name, value.clone()))
    }

    /// Cell `name` (value, version, update time), or `None`.
    fn read(&self, py: Python<'_>, name: String) -> PyResult<Option<Cell>> {
        let cell = self.target.read(py, move |tx| tx.cells().get(&name))?;
        cell.map(|c| Cell::from_rust(py, &c)).transpose()
    }

    /// Sets cell `name` to `value`, creating it if needed; returns its new version.
    fn set(&self, py: Python<'_>, name: String, value: &Bound<'_, PyAny>) -> PyResult<u64> {
        let value = to_value(value)?;
        self.target
            .call(py, move |tx| tx.cells().set(&name, value.clone()))
    }

    /// Sets cell `name` to `value` only if its version is `expected`; returns the new version.
    /// A stale version is `in_mem.StaleVersion` and writes nothing.
    fn cas(
        &self,
        py: Python<'_>,
        name: String,
        expected: u64,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let value = to_value(value)?;
        self.target
            .call(py, move |tx| tx.cells().cas(&name, expected, value.clone()))
    }

    /// Deletes cell `name`; returns whether it existed. Its version is kept.
    fn delete(&self, py: Python<'_>, name: String) -> PyResult<bool> {
        self.target.call(py, move |tx| tx.cells().delete(&name))
    }

    /// Every live cell, by name.
    fn cells<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let cells = self.target.read(py, |tx| tx.cells().list())?;
        let out = PyDict::new(py);
        for (name, cell) in &cells {
            out.set_item(name, Cell::from_rust(py, cell)?)?;
        }
        Ok(out)
    }

    /// Declares machine `name`, starting in `initial`: `transitions` are `(from, event, to)`
    /// triples, `terminal` the states no event leaves, `states` any further states. The machine
    /// is put in its initial state. `in_mem.CellExists` if it exists; an inconsistent definition
    /// is `in_mem.InvalidInput`.
    #[pyo3(signature = (name, initial, transitions = Vec::new(), terminal = Vec::new(), states = Vec::new()))]
    fn define(
        &self,
        py: Python<'_>,
        name: String,
        initial: String,
        transitions: Vec<(String, String, String)>,
        terminal: Vec<String>,
        states: Vec<String>,
    ) -> PyResult<()> {
        let mut definition = MachineDefinition::new(initial);
        for state in states {
            definition = definition.state(state);
        }
        for (from, event, to) in transitions {
            definition = definition.transition(from, event, to);
        }
        for state in terminal {
            definition = definition.terminal(state);
        }
        self.target
            .call(py, move |tx| tx.cells().define(&name, &definition))
    }

    /// Machine `name`'s current state as a cell (its value is the state's name), or `None`.
    fn machine_state(&self, py: Python<'_>, name: String) -> PyResult<Option<Cell>> {
        let cell = self
            .target
            .read(py, move |tx| tx.cells().machine_state(&name))?;
        cell.map(|c| Cell::from_rust(py, &c)).transpose()
    }

    /// Moves machine `name` by `event`, atomically; returns the move. An event its state does not
    /// allow is `in_mem.ForbiddenTransition`, naming the state and the event.
    fn fire(&self, py: Python<'_>, name: String, event: String) -> PyResult<Transition> {
        let moved = self
            .target
            .call(py, move |tx| tx.cells().fire(&name, &event))?;
        Ok(Transition::from_rust(moved))
    }

    fn __repr__(&self) -> String {
        format!("<in_mem.StateMachine of run {}>", self.target.run_id())
    }
}

fn optional_value(value: Option<&Bound<'_, PyAny>>) -> PyResult<in_mem::Value> {
    value.map_or(Ok(in_mem::Value::Null), to_value)
}
