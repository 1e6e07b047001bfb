//! The one read path, shared by `Database` and `Transaction`: a run's view, point reads and
//! scans through it, and the retention check that turns a read past what sweeps kept into
//! `HistoryPruned` instead of a wrong answer.
//!
//! A run's own records (events, cells, spans, indexes, under its own namespace) are written
//! only by the run, so their newest version is always its answer and sweeps never take it:
//! they read without a check. Agent memory (KV data) is shared: a run whose snapshot is below
//! the newest sweep's horizon may have lost the versions it would see, except for keys it
//! wrote itself (sweeps keep every existing run's newest own write of each key, see
//! `Memtable::sweep_keeping`), so only an answer that is the run's own write is trusted there.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use in_mem_core_types::{Timestamp, Value, VersionedValue};
use in_mem_storage::{Lookup, ReadView, StoredValue};

use super::Instance;
use crate::error::{Error, Result};
use crate::runs::RunState;

/// Where a scan stops: at the end of a prefix, or before a key.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Upper<'k> {
    WithinPrefix(&'k [u8]),
    Before(&'k [u8]),
}

impl Upper<'_> {
    /// Whether `key` is before this bound.
    pub fn admits(&self, key: &[u8]) -> bool {
        match self {
            Upper::WithinPrefix(prefix) => key.starts_with(prefix),
            Upper::Before(hi) => key < *hi,
        }
    }
}

impl Instance {
    /// The view of `run` now: the agent's memory at its start snapshot plus its own writes.
    pub fn view_of(&self, run: &RunState) -> ReadView {
        ReadView::for_run(run.snapshot, run.id, self.memtable.versions().visible())
    }

    /// The newest version of `key` (a full encoded key) that `view` of `run` sees, tombstones
    /// and expired values included; `None` if it sees none.
    pub fn lookup(
        &self,
        run: &RunState,
        view: &ReadView,
        key: &[u8],
        now: Timestamp,
    ) -> Result<Option<Lookup>> {
        let found = self.memtable.lookup(key, view, now);
        if !run.owns(key) {
            let own = found.as_ref().is_some_and(|l| l.writer == run.id);
            if !own {
                self.check_retained(run)?;
            }
        }
        Ok(found)
    }

    /// The live value of `key` in `view` of `run`, if any.
    pub fn get(
        &self,
        run: &RunState,
        view: &ReadView,
        key: &[u8],
        now: Timestamp,
    ) -> Result<Option<StoredValue>> {
        if run.owns(key) {
            return Ok(self.memtable.get(key, view, now));
        }
        Ok(self.lookup(run, view, key, now)?.and_then(|l| l.live))
    }

    /// The live entries from `lo` up to `upper` in `view` of `run`, in key order.
    pub fn scan(
        &self,
        run: &RunState,
        view: ReadView,
        lo: &[u8],
        upper: Upper<'_>,
        now: Timestamp,
    ) -> Result<Vec<(Arc<[u8]>, StoredValue)>> {
        let memtable = &self.memtable;
        let found: Vec<(Arc<[u8]>, StoredValue)> = match upper {
            Upper::WithinPrefix(prefix) if prefix == lo => {
                memtable.scan_prefix(prefix, view, now).collect()
            }
            Upper::WithinPrefix(prefix) => memtable
                .scan_range(Bound::Included(lo), Bound::Unbounded, view, now)
                .take_while(|(k, _)| k.starts_with(prefix))
                .collect(),
            Upper::Before(hi) => memtable
                .scan_range(Bound::Included(lo), Bound::Excluded(hi), view, now)
                .collect(),
        };
        // A scan of shared memory may have missed keys whose versions were reclaimed, so below
        // the horizon it cannot be trusted at all; checked after the scan, as for `lookup`.
        if !run.owns(lo) {
            self.check_retained(run)?;
        }
        Ok(found)
    }

    /// Errors if a sweep may have reclaimed versions of shared memory that `run`'s view needs.
    /// Called after the read, so that a sweep that started during the read is noticed (the
    /// sweeper publishes its horizon before it removes anything).
    fn check_retained(&self, run: &RunState) -> Result<()> {
        let swept = self.swept_horizon.load(Ordering::SeqCst);
        if run.snapshot.get() < swept {
            return Err(Error::HistoryPruned {
                run: run.id,
                snapshot: run.snapshot.get(),
                oldest_kept: swept,
            });
        }
        Ok(())
    }
}

/// The bytes of a value written through the byte API, or [`Error::NotBytes`] for a typed one.
pub(crate) fn bytes_of<'a>(key: &[u8], encoded: &'a [u8]) -> Result<&'a [u8]> {
    match Value::decode_bytes(encoded) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(Error::NotBytes {
            key: String::from_utf8_lossy(key).into_owned(),
            found: Value::encoded_type_name(encoded),
        }),
        Err(e) => Err(damaged(key, &e)),
    }
}

/// A stored value with its version, timestamp and time to live.
pub(crate) fn versioned(key: &[u8], stored: &StoredValue) -> Result<VersionedValue> {
    let value = Value::decode(&stored.value).map_err(|e| damaged(key, &e))?;
    Ok(VersionedValue {
        value,
        version: stored.version.get(),
        timestamp: stored.timestamp,
        ttl: stored
            .expires_at
            .map(|at| at.saturating_since(stored.timestamp)),
    })
}

/// The error for a stored value under `key` that does not decode.
pub(crate) fn damaged(key: &[u8], e: &in_mem_core_types::Error) -> Error {
    Error::Damaged {
        what: format!("key {:?}", String::from_utf8_lossy(key)),
        damage: e.clone().into(),
    }
}
