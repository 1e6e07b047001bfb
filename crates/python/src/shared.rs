//! The open database that every Python object made from one `Database` shares (its runs,
//! accessors and transactions), and what closing it means for them.
//!
//! `Database.close()` takes the engine handle out, so that every later call through any of
//! those objects is `in_mem.ClosedError` rather than a call on a database the caller closed. A
//! call already in flight holds a clone of the handle and finishes; the engine shuts down when
//! the last clone goes.

use std::sync::{Arc, PoisonError, RwLock};

use pyo3::prelude::*;

use crate::errors::closed;

/// A shared, closable engine handle. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Shared {
    db: Arc<RwLock<Option<in_mem::Database>>>,
}

impl Shared {
    pub(crate) fn new(db: in_mem::Database) -> Self {
        Shared {
            db: Arc::new(RwLock::new(Some(db))),
        }
    }

    /// A handle for one call, or `ClosedError` once the database is closed.
    ///
    /// The lock is held only to clone an `Arc`, never across a call into the engine or Python,
    /// so taking it while attached to the interpreter cannot deadlock.
    pub(crate) fn db(&self, py: Python<'_>) -> PyResult<in_mem::Database> {
        // A poisoned lock means a panic while cloning or taking an `Option`: the value inside
        // is still whole.
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .cloned()
            .ok_or_else(|| closed(py, "the database is closed"))
    }

    /// Takes the handle out; `None` if it was already taken.
    pub(crate) fn take(&self) -> Option<in_mem::Database> {
        self.db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Whether `close` has run.
    pub(crate) fn is_closed(&self) -> bool {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}
