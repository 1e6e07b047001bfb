//! Where the calls of an accessor (`run.kv`, `tx.events`, `view.state` ...) go: straight to a
//! run, into an open transaction, or to a read-only view of a run's past.
//!
//! Every accessor call is written once. A write is an operation on an engine `Transaction`; a
//! read is an operation on a [`Reader`], which both a transaction and a `RunView` are, so the
//! same read code serves all three targets. On a run, an operation runs in a transaction of its
//! own, retried on conflict: exactly what the Rust primitives (`EventLog::append`,
//! `KVStore::get` ...) do. In a transaction, it runs on the transaction's worker (see
//! `worker.rs`). On a view, reads run on the view and writes are `in_mem.ReadOnlyView`. Either
//! way the interpreter is detached while the engine works.

use std::sync::{Arc, Mutex, PoisonError};

use in_mem::primitives::{Cells, Events, Spans};
use in_mem::{Error, RetryPolicy, RunId, RunView, Transaction, Value, VersionedValue};
use pyo3::prelude::*;

use crate::errors::{OrRaise, tx_to_py};
use crate::shared::Shared;
use crate::worker::Worker;

/// A run, an open transaction of one, or a view of a run at a point of its history.
#[derive(Clone)]
pub(crate) enum Target {
    Run { shared: Shared, run: RunId },
    Tx(Arc<Worker>),
    View(Arc<ViewTarget>),
}

/// A view as a target. The engine's view reads through `&mut self` (its record accessors are
/// the transaction's), so calls on one view from several threads take turns; they are reads of
/// memory, short, and made detached.
pub(crate) struct ViewTarget {
    /// The database the view came from: closing it makes the view's calls `ClosedError`, like
    /// every other object made from the database.
    pub(crate) shared: Shared,
    pub(crate) run: RunId,
    pub(crate) version: u64,
    pub(crate) view: Mutex<RunView>,
}

impl ViewTarget {
    pub(crate) fn new(shared: Shared, view: RunView) -> Self {
        ViewTarget {
            shared,
            run: view.run(),
            version: view.version(),
            view: Mutex::new(view),
        }
    }
}

/// What an accessor reads through: the read half of an engine `Transaction`, which a `RunView`
/// has too.
pub(crate) trait Reader {
    fn get_versioned(&mut self, key: &[u8]) -> in_mem::Result<Option<VersionedValue>>;
    fn list_versioned(&mut self, prefix: &[u8]) -> in_mem::Result<Vec<(Vec<u8>, VersionedValue)>>;
    fn range_versioned(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> in_mem::Result<Vec<(Vec<u8>, VersionedValue)>>;
    fn events(&mut self) -> Events<'_>;
    fn cells(&mut self) -> Cells<'_>;
    fn spans(&mut self) -> Spans<'_>;

    fn get_value(&mut self, key: &[u8]) -> in_mem::Result<Option<Value>> {
        Ok(self.get_versioned(key)?.map(|v| v.value))
    }

    fn exists(&mut self, key: &[u8]) -> in_mem::Result<bool> {
        Ok(self.get_versioned(key)?.is_some())
    }
}

impl Reader for Transaction<'_> {
    fn get_versioned(&mut self, key: &[u8]) -> in_mem::Result<Option<VersionedValue>> {
        Transaction::get_versioned(self, key)
    }
    fn list_versioned(&mut self, prefix: &[u8]) -> in_mem::Result<Vec<(Vec<u8>, VersionedValue)>> {
        Transaction::list_versioned(self, prefix)
    }
    fn range_versioned(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> in_mem::Result<Vec<(Vec<u8>, VersionedValue)>> {
        Transaction::range_versioned(self, start, end)
    }
    fn events(&mut self) -> Events<'_> {
        Transaction::events(self)
    }
    fn cells(&mut self) -> Cells<'_> {
        Transaction::cells(self)
    }
    fn spans(&mut self) -> Spans<'_> {
        Transaction::spans(self)
    }
    fn get_value(&mut self, key: &[u8]) -> in_mem::Result<Option<Value>> {
        Transaction::get_value(self, key)
    }
    fn exists(&mut self, key: &[u8]) -> in_mem::Result<bool> {
        Transaction::exists(self, key)
    }
}

impl Reader for RunView {
    fn get_versioned(&mut self, key: &[u8]) -> in_mem::Result<Option<VersionedValue>> {
        RunView::get_versioned(self, key)
    }
    fn list_versioned(&mut self, prefix: &[u8]) -> in_mem::Result<Vec<(Vec<u8>, VersionedValue)>> {
        RunView::list_versioned(self, prefix)
    }
    fn range_versioned(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> in_mem::Result<Vec<(Vec<u8>, VersionedValue)>> {
        RunView::range_versioned(self, start, end)
    }
    fn events(&mut self) -> Events<'_> {
        RunView::events(self)
    }
    fn cells(&mut self) -> Cells<'_> {
        RunView::cells(self)
    }
    fn spans(&mut self) -> Spans<'_> {
        RunView::spans(self)
    }
}

impl Target {
    /// The run the calls act on.
    pub(crate) fn run_id(&self) -> RunId {
        match self {
            Target::Run { run, .. } => *run,
            Target::Tx(worker) => worker.run(),
            Target::View(view) => view.run,
        }
    }

    /// Runs read `op`, detached from the interpreter.
    pub(crate) fn read<R: Send + 'static>(
        &self,
        py: Python<'_>,
        mut op: impl FnMut(&mut dyn Reader) -> in_mem::Result<R> + Send + 'static,
    ) -> PyResult<R> {
        match self {
            Target::View(target) => {
                // Checked for its `ClosedError`; the view holds the engine itself.
                target.shared.db(py)?;
                let target = Arc::clone(target);
                py.detach(move || {
                    let mut view = target.view.lock().unwrap_or_else(PoisonError::into_inner);
                    op(&mut *view)
                })
                .or_raise(py)
            }
            _ => self.call(py, move |tx| op(tx)),
        }
    }

    /// Runs read `op` on one snapshot, like [`read`](Self::read), but on a run through a view
    /// of it as it is now rather than a transaction: a read-only transaction records what it
    /// read and validates it at its commit, which a caller that only reads does not need (the
    /// view is the snapshot the transaction would have read).
    pub(crate) fn read_now<R: Send + 'static>(
        &self,
        py: Python<'_>,
        mut op: impl FnMut(&mut dyn Reader) -> in_mem::Result<R> + Send + 'static,
    ) -> PyResult<R> {
        match self {
            Target::Run { shared, run } => {
                let db = shared.db(py)?;
                let run = *run;
                py.detach(move || {
                    let mut view = db.run_view_at(run, in_mem::At::Now)?;
                    op(&mut view)
                })
                .or_raise(py)
            }
            _ => self.read(py, op),
        }
    }

    /// Runs write `op`, detached from the interpreter.
    pub(crate) fn call<R: Send + 'static>(
        &self,
        py: Python<'_>,
        op: impl FnMut(&mut Transaction<'_>) -> in_mem::Result<R> + Send + 'static,
    ) -> PyResult<R> {
        self.call_committed(py, op).map(|(out, _)| out)
    }

    /// Runs `op`, detached, and also returns the version of the commit it made: `None` if it
    /// wrote nothing, and always `None` in a transaction (the transaction commits later). On a
    /// view it is `in_mem.ReadOnlyView`, without running: a view has no transaction to run in.
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
            Target::View(view) => {
                view.shared.db(py)?;
                Err(Error::ReadOnlyView { run: view.run }).or_raise(py)
            }
        }
    }
}
