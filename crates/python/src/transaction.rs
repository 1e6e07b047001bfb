//! `Database.transaction(run)`: several calls of one run committed atomically, as one log record
//! with one version; and `Database.transaction_with_retry`, which runs a function in one and runs
//! it again when the commit conflicts.
//!
//! The transaction is open from `db.transaction(run)` until `commit()` or `abort()` (or the end
//! of its `with` block: commit on a normal exit, abort on an exception). Its calls (`tx.kv`,
//! `tx.events`, `tx.state`, `tx.trace`) are those of a run, served by the transaction's worker
//! (`worker.rs`). Reads see the run's view as of the transaction's start plus its own writes; a
//! commit whose reads another commit of the run changed is `in_mem.Conflict` and writes nothing.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use in_mem::RunId;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::errors::{to_py, tx_to_py};
use crate::events::Events;
use crate::kv::Kv;
use crate::shared::Shared;
use crate::state::State;
use crate::target::Target;
use crate::trace::Trace;
use crate::worker::{TxError, Worker};

/// Wait before the first retry of a conflicted transaction; it doubles at each attempt.
const RETRY_DELAY_FIRST: Duration = Duration::from_micros(10);
/// Longest wait between attempts.
const RETRY_DELAY_MAX: Duration = Duration::from_millis(5);

/// An open transaction of one run. Use it as a context manager (commit on a normal exit, abort
/// on an exception) or call `commit()` / `abort()`. A transaction that is dropped unfinished
/// commits nothing.
#[pyclass(module = "in_mem", frozen)]
pub(crate) struct Transaction {
    worker: Arc<Worker>,
    /// The commit's version once committed (`None` inside: the transaction wrote nothing).
    committed: OnceLock<Option<u64>>,
}

impl Transaction {
    /// Opens a transaction of `run` (blocks until the engine has opened it).
    pub(crate) fn begin(py: Python<'_>, shared: &Shared, run: RunId) -> PyResult<Self> {
        let db = shared.db(py)?;
        let worker = py
            .detach(move || Worker::begin(db, run))
            .map_err(|e| tx_to_py(py, &e))?;
        Ok(Transaction {
            worker: Arc::new(worker),
            committed: OnceLock::new(),
        })
    }

    fn target(&self) -> Target {
        Target::Tx(Arc::clone(&self.worker))
    }

    /// Commits, keeping the engine's error as it is (the retry helper matches on it).
    fn commit_inner(&self, py: Python<'_>) -> Result<Option<u64>, TxError> {
        let worker = Arc::clone(&self.worker);
        let version = py.detach(move || worker.commit())?;
        let _ = self.committed.set(version);
        Ok(version)
    }
}

#[pymethods]
impl Transaction {
    /// The agent's memory, as this transaction sees it.
    #[getter]
    fn kv(&self) -> Kv {
        Kv::new(self.target())
    }

    /// The run's event log.
    #[getter]
    fn events(&self) -> Events {
        Events::new(self.target())
    }

    /// The run's state cells and machines.
    #[getter]
    fn state(&self) -> State {
        State::new(self.target())
    }

    /// The run's trace.
    #[getter]
    fn trace(&self) -> Trace {
        Trace::new(self.target())
    }

    /// The id of the run this transaction belongs to.
    #[getter]
    fn run_id(&self) -> String {
        self.worker.run().to_string()
    }

    /// Whether the transaction still takes calls (not yet committed or abandoned).
    #[getter]
    fn is_open(&self) -> bool {
        self.worker.is_open()
    }

    /// The version of the commit, once committed; `None` before, or if it wrote nothing.
    #[getter]
    fn version(&self) -> Option<u64> {
        self.committed.get().copied().flatten()
    }

    /// Commits everything written, atomically; returns the commit's version (`None` if nothing
    /// was written). Blocks until the commit is as durable as the database's mode promises.
    /// `in_mem.Conflict` if another commit changed what this transaction read: nothing is
    /// written, run the transaction again.
    fn commit(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.commit_inner(py).map_err(|e| tx_to_py(py, &e))
    }

    /// Abandons the transaction: nothing it wrote is committed.
    fn abort(&self) {
        self.worker.abandon();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Commits on a normal exit (raising the commit's error, such as `in_mem.Conflict`),
    /// abandons on an exception (which goes on). Does nothing if already finished.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyType>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if exc_type.is_some() {
            self.worker.abandon();
        } else if self.worker.is_open() {
            self.commit(py)?;
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = match (self.worker.is_open(), self.committed.get()) {
            (true, _) => "open",
            (false, Some(_)) => "committed",
            (false, None) => "abandoned",
        };
        format!(
            "<in_mem.Transaction of run {} ({state})>",
            self.worker.run()
        )
    }
}

/// Runs `f(tx)` in a transaction of `run` and commits; on `in_mem.Conflict` runs it again, in a
/// new transaction, after a short, growing, jittered wait, up to `max_attempts` times in all.
/// An exception from `f` abandons the transaction and goes on. Returns what `f` returned.
pub(crate) fn with_retry(
    py: Python<'_>,
    shared: &Shared,
    run: RunId,
    f: &Bound<'_, PyAny>,
    max_attempts: u32,
) -> PyResult<Py<PyAny>> {
    let max_attempts = max_attempts.max(1);
    let mut attempt = 1;
    loop {
        let tx = Bound::new(py, Transaction::begin(py, shared, run)?)?;
        let out = match f.call1((&tx,)) {
            Ok(out) => out,
            Err(e) => {
                tx.get().worker.abandon();
                return Err(e);
            }
        };
        if !tx.get().worker.is_open() {
            // `f` committed or aborted it itself; what it did stands.
            return Ok(out.unbind());
        }
        match tx.get().commit_inner(py) {
            Ok(_) => return Ok(out.unbind()),
            Err(TxError::Engine(in_mem::Error::Conflict { .. })) if attempt < max_attempts => {
                attempt += 1;
                let wait = retry_delay(attempt);
                py.detach(move || std::thread::sleep(wait));
            }
            Err(TxError::Engine(e)) => return Err(to_py(py, &e)),
            Err(e) => return Err(tx_to_py(py, &e)),
        }
    }
}

/// The wait before attempt `attempt` (2 for the first retry): doubling from
/// `RETRY_DELAY_FIRST` up to `RETRY_DELAY_MAX`, then a random half to all of it, so that
/// contending threads spread out instead of retrying in lockstep.
fn retry_delay(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(2).min(20);
    let full = RETRY_DELAY_FIRST
        .saturating_mul(1 << doublings)
        .min(RETRY_DELAY_MAX);
    let random = RandomState::new().hash_one(attempt);
    let per_mille = 500 + u32::try_from(random % 501).unwrap_or(500);
    full * per_mille / 1000
}
