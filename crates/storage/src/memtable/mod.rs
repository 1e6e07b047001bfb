//! `Memtable`: every version of every key, in memory, readable at any snapshot.
//!
//! Two structures share each version's `Record` (see `record.rs`):
//! - `history`, a lock-free `crossbeam_skiplist::SkipMap` ordered by (key ascending, version
//!   descending) holding every stored version: values, tombstones, expired values not yet swept;
//! - `index` (`index.rs`), a `DashMap` from each key to its newest version, so that a point get is
//!   about one hash lookup instead of a skiplist descent.
//!
//! Prefix and range scans walk the skiplist (`scan.rs`); the sweeper (`sweep.rs`) removes versions
//! no reader at or above a horizon can observe; recovery fills a new memtable through `load.rs`,
//! the two structures on two helper threads while the caller decodes.

mod index;
mod load;
mod record;
mod scan;
mod sweep;
mod walk;

use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use crossbeam_skiplist::SkipMap;
use in_mem_core_types::{RunId, Timestamp, Version};

use crate::{
    Cuts, Lookup, Mutation, Now, Read, ReadView, StoredValue, StoredVersion, VersionCounter,
};
use index::NewestIndex;
pub use load::Loader;
use record::{Probe, Record, SeekKey, VersionKey};
pub use scan::Scan;
pub use sweep::{KeepNothing, SweepRules, SweepStats};

/// The skiplist of every stored version.
type History = SkipMap<VersionKey, Arc<Record>>;

/// An entry of the skiplist, pinned for as long as it is held.
type HistoryEntry<'a> = crossbeam_skiplist::map::Entry<'a, VersionKey, Arc<Record>>;

/// The MVCC memtable: every version of every key, with the counter that orders commits.
///
/// Writers [`apply`](Self::apply) a commit's mutations at its version and then publish it through
/// [`versions`](Self::versions); readers read at a [`ReadView`]. Reads never block writers and
/// writers never block readers (beyond a hash shard's lock held for a few instructions).
pub struct Memtable {
    /// Orders commits and says which of them readers may see.
    counter: VersionCounter,
    /// Each key's newest version.
    index: NewestIndex,
    /// Every stored version.
    history: History,
    /// Serializes sweeps, so that each sweep alone decides what to remove.
    sweep_lock: Mutex<()>,
}

impl Memtable {
    /// An empty memtable whose counter starts after `last`.
    pub fn new(last: Version) -> Self {
        Memtable {
            counter: VersionCounter::new(last),
            index: NewestIndex::new(),
            history: SkipMap::new(),
            sweep_lock: Mutex::new(()),
        }
    }

    /// The counter that allocates and publishes this memtable's commit versions.
    pub fn versions(&self) -> &VersionCounter {
        &self.counter
    }

    /// Inserts every mutation of commit `version`, written by `writer` at `timestamp`.
    ///
    /// Many threads may apply different commits at once, in any order, also for the same key.
    /// This does not publish: the caller calls `versions().publish(version)` once the apply
    /// returns. If one commit writes a key twice, the later mutation wins.
    ///
    /// Applying a version that is already visible is allowed only while nobody reads or sweeps
    /// (rebuilding a memtable from a checkpoint, for example): readers could see it half-done.
    pub fn apply(
        &self,
        version: Version,
        writer: RunId,
        timestamp: Timestamp,
        mutations: &[Mutation],
    ) {
        for mutation in mutations {
            let record = Arc::new(Record::new(
                version,
                writer,
                timestamp,
                mutation.kind.clone(),
            ));
            // The index first, then the skiplist: the index thus always holds at least the newest
            // version the skiplist has, which is what lets `get` trust an index miss, and the
            // version goes into the skiplist under the key allocation the index already shares.
            let key = self.index.offer(&mutation.key, &record);
            self.history.insert(VersionKey { key, version }, record);
        }
    }

    /// The newest version of `key` that `view` sees, if it is a value that is live at `now`.
    ///
    /// `None` if the view sees no version of the key, or the newest one it sees is a tombstone or
    /// has expired (`expires_at <= now`); an expired value hides the versions below it, exactly
    /// like a tombstone.
    pub fn get(&self, key: &[u8], view: &ReadView, now: impl Now) -> Option<StoredValue> {
        // A key missing from the index has no version anyone may see: versions enter the index
        // before the skiplist and before they are published, and leave it only once swept.
        let from_index = self.index.with_newest(key, |newest| {
            view.sees(newest.version, newest.writer)
                .then(|| newest.read(now))
        })?;
        match from_index {
            // The newest version is visible, so it is the answer.
            Some(answer) => answer,
            // The view is older than the key's newest version (or the version is another run's
            // own write): find the newest version it sees in the skiplist.
            None => self.get_from_history(key, view, now),
        }
    }

    /// The slow path of `get`: seeks the skiplist to the newest version the view could see and
    /// walks down to the first one it does see.
    fn get_from_history(&self, key: &[u8], view: &ReadView, now: impl Now) -> Option<StoredValue> {
        self.read_history(key, view, now).found?.live
    }

    /// Like [`get`](Self::get), but also says *which* version the view sees when that version is
    /// a tombstone or has expired: `None` only if the view sees no version of `key` at all.
    ///
    /// Optimistic concurrency control records this version when a transaction reads a key and
    /// compares it at commit: a delete is a change just as a put is.
    pub fn lookup(&self, key: &[u8], view: &ReadView, now: impl Now) -> Option<Lookup> {
        self.read(key, view, now).found
    }

    /// [`lookup`](Self::lookup), and whether its answer is certainly the view's: false when the
    /// read stepped past a version below which a sweep removed versions (see `sweep.rs`) and
    /// its answer is not one the view pins ([`ReadView::pins`]): the view's true answer may have
    /// been among them. An answer of "no version" is only as exact as the view's knowledge that
    /// the key never had one: a sweep may remove every version of a key, which a read cannot
    /// see here (the caller compares the view with the sweeps' horizon for that).
    pub fn read(&self, key: &[u8], view: &ReadView, now: impl Now) -> Read {
        let from_index = self.index.with_newest(key, |newest| {
            view.sees(newest.version, newest.writer).then(|| Lookup {
                version: newest.version,
                writer: newest.writer,
                live: newest.read(now),
            })
        });
        match from_index {
            None => Read {
                found: None,
                exact: true,
            },
            // The newest version is visible: nothing above it could be the answer.
            Some(Some(found)) => Read {
                found: Some(found),
                exact: true,
            },
            Some(None) => self.read_history(key, view, now),
        }
    }

    /// The slow path of `read`: walks the key's versions from the newest the view could see.
    fn read_history(&self, key: &[u8], view: &ReadView, now: impl Now) -> Read {
        let bound = view.newest_visible_bound();
        let probe = Probe::at(key, bound);
        let landing = self
            .history
            .lower_bound(Bound::Included(&probe as &dyn SeekKey));
        // The walk starts below the versions it sought past (see `walk.rs`).
        let mut crossed = walk::seek_crosses_cut(&self.history, key, bound, landing.as_ref());
        let Some(mut entry) = landing else {
            return Read::none(crossed);
        };
        loop {
            if entry.key().key_bytes() != key {
                return Read::none(crossed);
            }
            let record = entry.value();
            if view.sees(record.version, record.writer) {
                let exact = !crossed || view.pins(record.writer);
                return Read {
                    found: Some(Lookup {
                        version: record.version,
                        writer: record.writer,
                        live: record.read(now),
                    }),
                    exact,
                };
            }
            let next = walk::next_entry(&self.history, &entry)
                .filter(|next| next.key().key_bytes() == key);
            crossed |= walk::step_crosses_cut(&entry, next.as_ref());
            match next {
                Some(next) => entry = next,
                None => return Read::none(crossed),
            }
        }
    }

    /// The highest version of `key` applied so far (visible or not, live or not), or `None` if
    /// the key has no stored version.
    ///
    /// For optimistic concurrency control: a key read at snapshot `s` was changed since if this is
    /// above `s`. Sweeping never lowers it below a horizon-respecting snapshot: it removes a key's
    /// versions only when a version at or below the horizon hides them.
    pub fn newest_version(&self, key: &[u8]) -> Option<Version> {
        self.index.newest_version(key)
    }

    /// The live keys under `prefix` that `view` sees at `now`, in key byte order, each with the
    /// newest version the view sees.
    ///
    /// Keys whose newest visible version is a tombstone or expired are skipped. The iterator
    /// walks the skiplist (it does not look keys up in the index) and holds no lock; it sees
    /// concurrent writes above the view's versions as invisible, so its answer is the view's.
    pub fn scan_prefix<'a>(&'a self, prefix: &[u8], view: ReadView, now: Timestamp) -> Scan<'a> {
        Scan::prefix(&self.history, prefix, view, now)
    }

    /// Like [`scan_prefix`](Self::scan_prefix), over the keys between `start` and `end`.
    pub fn scan_range<'a>(
        &'a self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        view: ReadView,
        now: Timestamp,
    ) -> Scan<'a> {
        Scan::range(&self.history, start, end, view, now)
    }

    /// Every stored version, live or not, in (key ascending, version descending) order: for
    /// checkpoints and debugging.
    ///
    /// Re-applying each yielded version (`apply(version, writer, timestamp, &[Mutation { key,
    /// kind }])`) into an empty memtable rebuilds this one.
    pub fn iter_versions(&self) -> impl Iterator<Item = StoredVersion> + '_ {
        self.history.iter().map(|entry| stored_version(&entry))
    }

    /// Every stored version of the keys starting with `prefix`, live or not, in (key ascending,
    /// version descending) order, with the marks of where sweeps cut: for history (a key's
    /// versions, a run's timeline). Holds no lock; concurrent commits may or may not appear.
    pub fn versions_under<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = StoredVersion> + 'a {
        let start = Probe::before_all_versions_of(prefix);
        let first = self
            .history
            .lower_bound(Bound::Included(&start as &dyn SeekKey));
        std::iter::successors(first, crossbeam_skiplist::map::Entry::next)
            .take_while(move |entry| entry.key().key_bytes().starts_with(prefix))
            .map(|entry| stored_version(&entry))
    }

    /// Removes every stored version of the keys starting with `prefix`, and those keys from the
    /// index; returns how many versions went. For a cache that drops a range it can fetch again
    /// (shared mode evicting an agent).
    ///
    /// The caller must keep readers of the range and writers into it away until this returns:
    /// a reader meeting the range half removed would take a missing version for an absent one.
    /// Sweeps wait (they decide what to remove from what they see).
    pub fn remove_prefix(&self, prefix: &[u8]) -> u64 {
        let _no_sweep = self
            .sweep_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = Probe::before_all_versions_of(prefix);
        let mut cursor = self
            .history
            .lower_bound(Bound::Included(&start as &dyn SeekKey));
        let mut removed = 0;
        while let Some(entry) = cursor.filter(|e| e.key().key_bytes().starts_with(prefix)) {
            let newest = Arc::clone(entry.value());
            let key = Arc::clone(&entry.key().key);
            // One key at a time: its versions (newest first), then its index entry, which
            // still names the newest of them (nothing writes into the range meanwhile).
            let mut version = Some(entry);
            cursor = loop {
                match version {
                    Some(current) if current.key().key == key => {
                        version = current.next();
                        if current.remove() {
                            removed += 1;
                        }
                    }
                    other => break other,
                }
            };
            self.index.remove_if_newest(&key, &newest);
        }
        removed
    }

    /// Sets again the cut marks a checkpoint recorded for `key` at `version` (recovery, after
    /// applying the version): reads that step past a reclaimed version keep saying so after a
    /// restart. Does nothing if the version is not stored.
    pub fn restore_cuts(&self, key: &[u8], version: Version, cuts: Cuts) {
        if !cuts.any() {
            return;
        }
        let probe = Probe::at(key, version);
        let Some(entry) = self
            .history
            .lower_bound(Bound::Included(&probe as &dyn SeekKey))
        else {
            return;
        };
        if entry.key().key_bytes() != key || entry.value().version != version {
            return;
        }
        if cuts.below {
            entry.value().mark_cut_below();
        }
        if cuts.above {
            entry.value().mark_cut_above();
        }
    }

    /// The number of keys with at least one stored version: live, deleted or expired until the
    /// sweeper reclaims them. Not a count of live keys; count `scan_prefix(..)` for that.
    pub fn key_count(&self) -> usize {
        self.index.len()
    }

    /// Calls `f` with every stored version at or below `upto`, in (key ascending, version
    /// descending) order, while no sweep runs: what a checkpoint writes. Writers go on (their
    /// versions are above `upto` once `upto` is visible); only sweeps wait, so that no version
    /// the copy still has to visit disappears while a newer one that hid it was already copied
    /// (which would bring back a deleted key).
    pub fn for_each_version_upto<E>(
        &self,
        upto: Version,
        f: impl FnMut(StoredVersion) -> Result<(), E>,
    ) -> Result<(), E> {
        self.pause_sweeps().for_each_version_upto(upto, f)
    }

    /// Holds sweeps off until the returned guard is dropped (a sweep in progress finishes
    /// first): what the holder reads meanwhile (the newest sweep's horizon, every stored
    /// version) stays as one consistent state. What a checkpoint takes.
    pub fn pause_sweeps(&self) -> SweepPause<'_> {
        SweepPause {
            memtable: self,
            _no_sweep: self
                .sweep_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// The number of stored versions (values and tombstones) of all keys.
    pub fn version_count(&self) -> usize {
        self.history.len()
    }
}

/// Sweeps held off (see [`Memtable::pause_sweeps`]).
pub struct SweepPause<'a> {
    memtable: &'a Memtable,
    _no_sweep: std::sync::MutexGuard<'a, ()>,
}

impl SweepPause<'_> {
    /// Calls `f` with every stored version at or below `upto`, in (key ascending, version
    /// descending) order (see [`Memtable::for_each_version_upto`]).
    pub fn for_each_version_upto<E>(
        &self,
        upto: Version,
        mut f: impl FnMut(StoredVersion) -> Result<(), E>,
    ) -> Result<(), E> {
        for version in self.memtable.iter_versions() {
            if version.version <= upto {
                f(version)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for SweepPause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SweepPause").finish_non_exhaustive()
    }
}

impl fmt::Debug for Memtable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memtable")
            .field("versions", &self.counter)
            .field("keys", &self.key_count())
            .field("stored_versions", &self.version_count())
            .finish_non_exhaustive()
    }
}

/// The stored version an entry of the history holds.
fn stored_version(
    entry: &crossbeam_skiplist::map::Entry<'_, VersionKey, Arc<Record>>,
) -> StoredVersion {
    let record = entry.value();
    StoredVersion {
        key: Arc::clone(&entry.key().key),
        version: record.version,
        writer: record.writer,
        timestamp: record.timestamp,
        kind: record.kind(),
        cuts: Cuts {
            below: record.is_cut_below(),
            above: record.is_cut_above(),
        },
    }
}

#[cfg(test)]
mod tests;
