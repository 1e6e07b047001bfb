//! The sweeper: garbage collection of versions no reader can observe, and reclaiming of deleted
//! and expired keys (the TTL sweeper).
//!
//! # What may go
//!
//! `horizon` is the oldest snapshot any reader may still use. Take any view with
//! `snapshot >= horizon` (plus, possibly, its run's own writes). Every version `<= horizon` is
//! `<= snapshot`, so the view sees it, whoever wrote it. For a key, let `b` be its newest version
//! `<= horizon`. The view's answer is the newest version it sees: `b` or a newer one. Hence:
//!
//! 1. Every version older than `b` is never anyone's answer: it may go.
//! 2. If `b` reads as absent at `now` (a tombstone, or `expires_at <= now`), a view whose answer
//!    is `b` reads "absent"; with `b` and all older versions gone, it finds no version and reads
//!    "absent" too. Views whose answer is newer than `b` do not change. So `b` may go with them,
//!    for every read at `now` or later (an expired value stays expired).
//! 3. Versions above the horizon always stay: a view below them needs the older versions, and a
//!    view at or above them needs them.
//!
//! # What stays for runs below the horizon
//!
//! A run whose snapshot is below the horizon (it ended, and its retention has passed) reads
//! its own writes above its snapshot, and for those keys its answer is its own newest write of
//! the key (every own write is above its snapshot, so newer than anything else it sees).
//! [`Memtable::sweep_keeping`] keeps, below `b`, the newest version of each writer it is asked
//! to keep and that wrote nothing newer of the key; so such a run's own writes stay readable
//! for as long as the caller keeps it (the engine: as long as the run exists). If anything
//! below `b` stays, `b` stays too, even if it reads as absent: views at or above the horizon
//! must still stop at it rather than fall through to a kept older version.
//!
//! # Running beside writers and readers
//!
//! Writers in flight apply versions above `visible`, and the horizon is clamped to `visible`, so
//! no version `<= horizon` is ever inserted while the sweep runs: the part of a key group the
//! sweep edits (from `b` down) is stable; new versions land above it. A key leaves the index only
//! through `NewestIndex::remove_if_newest`, which removes it only while its newest record is still
//! the `b` just removed: a writer that offered a newer version first keeps the key, and one that
//! offers after finds it vacant and inserts. `docs/CONCURRENCY.md` has the full argument.
//!
//! # Keys only ever read at their newest version
//!
//! Some keys (the engine's run records) are read only at their newest visible version, by every
//! reader. For those, [`SweepRules::newest_only`] lets the sweep use the visible version as the
//! key's horizon: everything below the newest visible version goes, whatever older snapshots
//! runs hold. Versions above the visible one (commits being applied) stay, as for any key.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError};

use in_mem_core_types::{RunId, Timestamp, Version};

use super::record::same_key;
use super::{HistoryEntry, Memtable};

/// What a sweep keeps beyond what views at or above its horizon see, and what it may take
/// below it (see the module docs). The defaults keep nothing more and take nothing less.
pub trait SweepRules {
    /// Whether to keep, below the horizon, the newest version `writer` wrote of each key: its
    /// own view still reads its writes though its snapshot is below the horizon.
    fn keeps_writer(&self, writer: RunId) -> bool {
        let _ = writer;
        false
    }

    /// Whether `key` is only ever read at its newest visible version, so that every older
    /// version may go whatever the horizon.
    fn newest_only(&self, key: &[u8]) -> bool {
        let _ = key;
        false
    }
}

/// The plain sweep: only the horizon decides.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepNothing;

impl SweepRules for KeepNothing {}

/// What one sweep reclaimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Versions (values and tombstones) removed from the skiplist.
    pub versions_removed: u64,
    /// Keys removed from the index: they have no stored version left.
    pub keys_removed: u64,
}

impl Memtable {
    /// Removes every version that no view with `snapshot >= horizon` can observe at `now` or
    /// later: versions hidden by a newer version at or below the horizon, and keys whose newest
    /// version at or below the horizon is a tombstone or has expired (with everything older).
    ///
    /// `horizon` is clamped to `versions().visible()`. Runs beside writers and readers; sweeps
    /// run one at a time.
    pub fn sweep(&self, horizon: Version, now: Timestamp) -> SweepStats {
        self.sweep_with(horizon, now, &KeepNothing)
    }

    /// Like [`sweep`](Self::sweep), with `rules` saying what more to keep (the newest own write
    /// of each run still readable below the horizon) and what less (older versions of keys only
    /// ever read at their newest); see the module docs.
    pub fn sweep_with(
        &self,
        horizon: Version,
        now: Timestamp,
        rules: &dyn SweepRules,
    ) -> SweepStats {
        let _one_at_a_time = self
            .sweep_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let visible = self.counter.visible();
        let horizon = horizon.min(visible);
        let mut stats = SweepStats::default();
        let mut writers = HashSet::new();
        let mut cursor = self.history.front();
        while let Some(first) = cursor {
            writers.clear();
            let key_horizon = if rules.newest_only(&first.key().key) {
                visible
            } else {
                horizon
            };
            cursor = self.sweep_key(first, key_horizon, now, rules, &mut writers, &mut stats);
        }
        stats
    }

    /// Sweeps the versions of one key, starting at `entry`, and returns the first entry of the
    /// next key.
    fn sweep_key<'a>(
        &'a self,
        mut entry: HistoryEntry<'a>,
        horizon: Version,
        now: Timestamp,
        rules: &dyn SweepRules,
        writers: &mut HashSet<RunId>,
        stats: &mut SweepStats,
    ) -> Option<HistoryEntry<'a>> {
        let key = Arc::clone(&entry.key().key);
        // Rule 3: step over the versions above the horizon (their writers' newest versions are
        // among them).
        while entry.key().version > horizon {
            writers.insert(entry.value().writer);
            match entry.next() {
                Some(next) if same_key(&next.key().key, &key) => entry = next,
                other => return other,
            }
        }
        // `entry` is `b`, the newest version at or below the horizon. Rule 1: everything below it
        // goes, but for the newest own write of each run to keep. Nothing can be inserted down
        // here while we work (see the module docs).
        let base = entry;
        writers.insert(base.value().writer);
        let mut kept_below = false;
        let mut cursor = base.next();
        while let Some(older) = cursor {
            if !same_key(&older.key().key, &key) {
                cursor = Some(older);
                break;
            }
            cursor = older.next();
            let writer = older.value().writer;
            if !writers.contains(&writer) && rules.keeps_writer(writer) {
                writers.insert(writer);
                kept_below = true;
            } else if older.remove() {
                stats.versions_removed += 1;
            }
        }
        // Rule 2: a tombstone or expired value at `b` goes too (unless an older version stayed
        // for a run's own view), and the key leaves the index if `b` is still its newest version.
        if !kept_below && base.value().is_absent_at(now) {
            let record = Arc::clone(base.value());
            if base.remove() {
                stats.versions_removed += 1;
            }
            if self.index.remove_if_newest(&key, &record) {
                stats.keys_removed += 1;
            }
        }
        cursor
    }
}

#[cfg(test)]
mod tests;
