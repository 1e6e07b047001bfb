//! The one read path, shared by `Database` and `Transaction`: a run's view, point reads and
//! scans through it, and the retention check that turns a read past what sweeps kept into
//! `HistoryPruned` instead of a wrong answer.
//!
//! A view is a run's snapshot plus the writes of the runs it includes up to a version each (the
//! run itself; a fork's ancestors up to the fork points). A view whose snapshot is at or above
//! the newest sweep's horizon is always answered right: sweeps remove only what such views
//! cannot see. Below it, an answer is trusted when the memtable says it is exact (no sweep
//! removed versions the walk to it stepped past, or the answer is by a writer whose newest
//! versions sweeps keep: see `Memtable::read`) and it found a version, or it is about records
//! (of the run and its ancestors, never removed whole while the runs exist). Agent memory is
//! shared: a sweep may remove every version of a key, which no walk can see, so there an exact
//! "none" (and every scan) below the horizon is `HistoryPruned`.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use in_mem_core_types::{Timestamp, Value, Version, VersionedValue};
use in_mem_storage::{Lookup, Now, Read, ReadView, Scan, StoredRef, StoredValue, Writer};

use super::Instance;
use crate::error::{Error, Result};
use crate::runs::RunState;

/// What a scan returns: full keys and the values the view sees, in key order.
pub(crate) type Rows = Vec<(Arc<[u8]>, StoredValue)>;

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
    /// The view of `run` now: the agent's memory at its start snapshot plus its own writes (and
    /// a fork's ancestors' up to the fork points).
    pub fn view_of(&self, run: &RunState) -> ReadView {
        view_at(run, self.visible_for_run(run), true)
    }

    /// The newest version of `key` (a full encoded key) that `view` of `run` sees, tombstones
    /// and expired values included; `None` if it sees none. `HistoryPruned` if a sweep may have
    /// taken the view's answer.
    pub fn lookup(
        &self,
        run: &RunState,
        view: &ReadView,
        key: &[u8],
        now: impl Now,
    ) -> Result<Option<Lookup>> {
        let Read { found, exact } = self.memtable.read(key, view, now);
        // A view at or above the newest sweep's horizon is answered right whatever was removed
        // (what may go is only what such views cannot see: see the storage sweep's doc), so
        // cut marks matter only below it. There, an exact answer that found a version is right
        // (sweeps remove a key's versions oldest first and mark the survivors before they do),
        // and so is an exact "none" for records (never removed whole while their run exists);
        // an exact "none" for shared memory is not: a sweep may have removed every version.
        let trusted = if self.shared().is_some() {
            // Shared mode: a collection in the store, not a sweep here, removed what the cache
            // may lack; see `kept_by_collections`.
            self.retained_in(run, view)
                || kept_by_collections(view, run.owns_lineage(key), found.as_ref())
        } else {
            self.retained(view) || (exact && (found.is_some() || run.owns_lineage(key)))
        };
        if !trusted {
            return Err(self.pruned(run, view));
        }
        Ok(found)
    }

    /// The live value of `key` in `view` of `run`, if any.
    pub fn get(
        &self,
        run: &RunState,
        view: &ReadView,
        key: &[u8],
        now: impl Now,
    ) -> Result<Option<StoredValue>> {
        if run.owns(key) && view.pins(run.id) {
            // The run's newest record: only the run writes it, and no sweep takes it.
            return Ok(self.memtable.get(key, view, now));
        }
        Ok(self.lookup(run, view, key, now)?.and_then(|l| l.live))
    }

    /// The live entries from `lo` up to `upper` in `view` of `run`, in key order.
    pub fn scan(
        &self,
        run: &RunState,
        view: &ReadView,
        lo: &[u8],
        upper: Upper<'_>,
        now: Timestamp,
    ) -> Result<Rows> {
        self.scan_with(run, view, lo, upper, now, |key, stored| {
            Ok((Arc::clone(key), stored.to_stored()))
        })
    }

    /// [`Instance::scan`], each entry turned by `each` into what the caller returns as the scan
    /// goes (no list of the entries built first and then converted).
    pub fn scan_with<T>(
        &self,
        run: &RunState,
        view: &ReadView,
        lo: &[u8],
        upper: Upper<'_>,
        now: Timestamp,
        mut each: impl FnMut(&Arc<[u8]>, StoredRef<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let memtable = &self.memtable;
        let records = run.owns_lineage(lo);
        let mut found = Vec::new();
        // Each entry is visited where it lies (borrowed, no reference count touched); keys past
        // `within`, if given, end the scan.
        let mut collect = |scan: &mut Scan<'_>, within: Option<&[u8]>| {
            while let Some(item) = scan.visit_next(|key, stored| {
                if within.is_some_and(|prefix| !key.starts_with(prefix)) {
                    return None;
                }
                Some(each(key, stored))
            }) {
                let Some(item) = item else { break };
                found.push(item?);
            }
            Ok::<(), Error>(())
        };
        let exact = match upper {
            Upper::WithinPrefix(prefix) if prefix == lo => {
                let mut scan = memtable.scan_prefix(prefix, view.clone(), now);
                collect(&mut scan, None)?;
                scan.is_exact()
            }
            Upper::WithinPrefix(prefix) => {
                let mut scan =
                    memtable.scan_range(Bound::Included(lo), Bound::Unbounded, view.clone(), now);
                collect(&mut scan, Some(prefix))?;
                scan.is_exact()
            }
            Upper::Before(hi) => {
                let mut scan = memtable.scan_range(
                    Bound::Included(lo),
                    Bound::Excluded(hi),
                    view.clone(),
                    now,
                );
                collect(&mut scan, None)?;
                scan.is_exact()
            }
        };
        // As for `lookup`: at or above the horizon every answer is right; below it, a scan of
        // records is right if exact, and a scan of shared memory never is (a sweep may have
        // removed keys whole). Checked after the scan, so a sweep that began meanwhile counts.
        let trusted = if self.shared().is_some() {
            self.retained_in(run, view) || kept_by_collections(view, records, None)
        } else {
            self.retained(view) || exact && records
        };
        if !trusted {
            return Err(self.pruned(run, view));
        }
        Ok(found)
    }

    /// Whether the newest sweep left every version `view`'s snapshot sees of shared memory.
    /// Called after the read, so that a sweep that started during the read is noticed (the
    /// sweeper publishes its horizon before it removes anything).
    fn retained(&self, view: &ReadView) -> bool {
        view.snapshot.get() >= self.swept_horizon.load(Ordering::SeqCst)
    }

    /// [`Instance::retained`] for `run`'s agent: in shared mode, whether its cache holds every
    /// version `view`'s snapshot sees (it was filled before any collection above the snapshot).
    fn retained_in(&self, run: &RunState, view: &ReadView) -> bool {
        match self.shared() {
            Some(shared) => {
                let cache = super::eviction::interned_cache(shared, &run.agent);
                view.snapshot >= cache.history_from()
            }
            None => self.retained(view),
        }
    }

    /// The version below which `run`'s reads may be `HistoryPruned`: the newest sweep's horizon,
    /// or in shared mode what the agent's cache may lack of collected history.
    fn oldest_kept(&self, run: &RunState) -> u64 {
        match self.shared() {
            Some(shared) => super::eviction::interned_cache(shared, &run.agent)
                .history_from()
                .get(),
            None => self.swept_horizon.load(Ordering::SeqCst),
        }
    }

    /// The error for a read of `view` of `run` that a sweep may have answered wrongly.
    fn pruned(&self, run: &RunState, view: &ReadView) -> Error {
        let at = view
            .writers()
            .iter()
            .filter(|w| !w.pinned)
            .map(|w| w.upto)
            .min()
            .unwrap_or(view.snapshot);
        Error::HistoryPruned {
            run: run.id,
            at: at.get(),
            oldest_kept: self.oldest_kept(run),
        }
    }
}

/// Shared mode, for a view whose snapshot is below what its agent's cache may lack: whether
/// the answer is one a store collection keeps. Collections keep each run's newest write of
/// every key and a parent's newest write at or below each fork point, so a current view
/// (every writer pinned: the run's own writes, its ancestors' up to the fork points) is
/// answered right by its writers: an answer above the snapshot is one of theirs, and for the
/// records of its lineage (only its writers write them) "none" is right too. An answer from
/// the snapshot part, or a view into the past, may have lost versions: not trusted.
fn kept_by_collections(view: &ReadView, records: bool, found: Option<&Lookup>) -> bool {
    view.writers().iter().all(|w| w.pinned)
        && (records || found.is_some_and(|l| l.version > view.snapshot))
}

/// The view of `run` as it was right after commit `point`: its snapshot, its own writes up
/// to `point`, its ancestors' up to their fork points (a fork's view before its own first
/// commit is the one it was forked with). `current` says whether this is the run's view now
/// (whose writers sweeps pin) rather than one of its past.
pub(crate) fn view_at(run: &RunState, point: Version, current: bool) -> ReadView {
    if run.ancestors.is_empty() && current {
        return ReadView::for_run(run.snapshot, run.id, point);
    }
    let own = Writer {
        run: run.id,
        upto: point,
        pinned: current,
    };
    // What a fork sees of its ancestors is fixed at its fork point; sweeps keep it for as
    // long as the fork exists (`fork_bounds`), whatever point of the fork is looked at.
    let ancestors = run.ancestors.iter().map(|a| Writer {
        run: a.run,
        upto: a.upto,
        pinned: true,
    });
    ReadView::with_writers(
        run.snapshot,
        std::iter::once(own).chain(ancestors).collect(),
    )
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
