//! Where the calls of an accessor (`run.kv`, `tx.events` ...) go: straight to a run, or into an
//! open transaction.
//!
//! Every accessor call is written once, as an operation on an engine `Transaction`. On a run,
//! the operation runs in a transaction of its own, retried on conflict: exactly what the Rust
//! primitives (`EventLog::append`, `KVStore::get` ...) do. In a transaction, it runs on the
//! transaction's worker (see `worker.rs`). Either way the interpreter is detached while it runs.

use std::sync::Arc;

use in_mem::{RetryPolicy, RunId, Transaction};
use pyo3::prelude::*;

use crate::errors::{OrRaise, tx_to_py};
use crate::shared::Shared;
use crate::worker::Worker;

/// A run, or an open transaction of one.
#[derive(Clone)]
pub(crate) enum Target {
    Run { shared: Shared, run: RunId },
    Tx(Arc<Worker>),
}

impl Target {
    /// The run the calls act on.
    pub(crate) fn run_id(&self) -> RunId {
        match self {
            Target::Run { run, .. } => *run,
            Target::Tx(worker) => worker.run(),
        }
    }

    /// Runs `op`, detached from the interpreter.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        py: Python<'_>,
        op: impl FnMut(&mut Transaction<'_>) -> in_mem::Result<R> + Send + 'static,
    ) -> PyResult<R> {
        self.call_committed(py, op).map(|(out, _)| out)
    }

    /// Runs `op`, detached, and also returns the version of the commit it made: `None` if it
    /// wrote nothing, and always `None` in a transaction (the transaction commits later).
    pub(crate) fn call_committed<R: Send + 'static>(
        &self,
        py: Python<'_>,
        mut op: impl FnMut(&mut Transaction<'_>) -> in_mem::Result<R> + Send + 'static,
    ) -> PyResult<(R, Option<u64>)> {
        match self {
            Target::Run { shared, run } => {
                let db = shared.db(py)?;
                let run = *run;
                py.detach(move || db.transaction_committed(run, RetryPolicy::default(), op))
                    .or_raise(py)
            }
            Target::Tx(worker) => {
                let worker = Arc::clone(worker);
                let answer = py.detach(move || worker.call(move |tx| op(tx)));
                match answer {
                    Ok(result) => result.map(|out| (out, None)).or_raise(py),
                    Err(e) => Err(tx_to_py(py, &e)),
                }
            }
        }
    }
}
