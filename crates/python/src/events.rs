//! `run.events`, `tx.events` and `view.events`: a run's append-only, hash-chained event log.

use pyo3::prelude::*;

use crate::convert::to_value;
use crate::records::{Chain, Event};
use crate::target::Target;

/// A run's event log: sequences 0, 1, 2 ... with no gaps, each event carrying the hash of the
/// one before it, so `verify_chain` detects any change. Events cannot be changed or deleted.
#[pyclass(module = "in_mem", frozen, name = "EventLog")]
pub(crate) struct Events {
    target: Target,
}

impl Events {
    pub(crate) fn new(target: Target) -> Self {
        Events { target }
    }
}

#[pymethods]
impl Events {
    /// Appends an event; returns its sequence number. Concurrent appends to one run are retried,
    /// so sequences stay dense. A payload holding NaN is refused (it has no stable hash).
    #[pyo3(signature = (event_type, payload = None))]
    fn append(
        &self,
        py: Python<'_>,
        event_type: String,
        payload: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let payload = match payload {
            Some(p) => to_value(p)?,
            None => in_mem::Value::Null,
        };
        self.target
            .call(py, move |tx| tx.events().append(&event_type, &payload))
    }

    /// The event at `sequence`, or `None`.
    fn read(&self, py: Python<'_>, sequence: u64) -> PyResult<Option<Event>> {
        let event = self.target.read(py, move |tx| tx.events().get(sequence))?;
        event.map(|e| Event::from_rust(py, &e)).transpose()
    }

    /// The events with `start <= sequence < end` (`end=None`: to the newest), in order.
    #[pyo3(signature = (start = 0, end = None))]
    fn range(&self, py: Python<'_>, start: u64, end: Option<u64>) -> PyResult<Vec<Event>> {
        let events = self.target.read(py, move |tx| {
            let mut log = tx.events();
            let end = match end {
                Some(end) => end,
                None => log.len()?,
            };
            log.range(start..end)
        })?;
        events.iter().map(|e| Event::from_rust(py, e)).collect()
    }

    /// Every event of type `event_type`, in order.
    fn by_type(&self, py: Python<'_>, event_type: String) -> PyResult<Vec<Event>> {
        let events = self
            .target
            .read(py, move |tx| tx.events().by_type(&event_type))?;
        events.iter().map(|e| Event::from_rust(py, e)).collect()
    }

    /// The number of events in the log.
    fn len(&self, py: Python<'_>) -> PyResult<u64> {
        self.target.read(py, |tx| tx.events().len())
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let n = self.len(py)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// The newest event, or `None` for an empty log.
    fn head(&self, py: Python<'_>) -> PyResult<Option<Event>> {
        let event = self.target.read(py, |tx| tx.events().head())?;
        event.map(|e| Event::from_rust(py, &e)).transpose()
    }

    /// Checks the whole chain (sequences dense from 0, every hash recomputed and linked);
    /// `in_mem.ChainBroken` names the first bad event.
    fn verify_chain(&self, py: Python<'_>) -> PyResult<Chain> {
        let run = self.target.run_id();
        let summary = self
            .target
            .read(py, move |tx| tx.events().verify_chain(run))?;
        Ok(Chain::from_rust(py, &summary))
    }

    fn __repr__(&self) -> String {
        format!("<in_mem.EventLog of run {}>", self.target.run_id())
    }
}
