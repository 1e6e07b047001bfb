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
//! [`Memtable::sweep_with`] keeps, below `b`, the newest version of each writer up to each of the
//! bounds [`SweepRules::kept_bounds`] names for it (a run's own newest writes; what a fork sees of
//! its parent), and the newest [`SweepRules::min_versions`] versions of every key; so such a
//! run's own writes stay readable for as long as the caller keeps it (the engine: as long as the
//! run exists). If anything below `b` stays, `b` stays too, even if it reads as absent: views at
//! or above the horizon must still stop at it rather than fall through to a kept older version.
//!
//! # Cut marks
//!
//! Before it removes versions, a sweep marks the versions that stay around each removed stretch:
//! the one above "cut below", the one below "cut above"; and every version of the stretch both
//! ways, since a reader may meet the gap while part of the stretch is still there. A read that
//! steps over a gap, or seeks past one (`walk.rs` says where it looks), without finding an
//! answer the view pins ([`crate::ReadView::pins`]), may have lost its answer:
//! [`Memtable::read`] and [`crate::Scan::is_exact`] say so, and the engine answers
//! `HistoryPruned` rather than guess.
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
    /// The bounds up to which the newest version `writer` wrote of each key must stay below the
    /// horizon (appended to `out`): `Version::MAX` to keep its newest write of every key (its own
    /// view reads it, though its snapshot is below the horizon), a fork point to keep what a fork
    /// sees of it.
    fn kept_bounds(&self, writer: RunId, out: &mut Vec<Version>) {
        let _ = (writer, out);
    }

    /// How many of the newest versions at or below the horizon of every key that holds a value
    /// stay whatever their age (at least 1: the newest, which every view at the horizon reads).
    fn min_versions(&self) -> usize {
        1
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
        let mut kept = HashSet::new();
        let mut bounds = Vec::new();
        let mut versions = Vec::new();
        let mut cursor = self.history.front();
        while let Some(first) = cursor {
            kept.clear();
            let key_horizon = if rules.newest_only(&first.key().key) {
                visible
            } else {
                horizon
            };
            cursor = self.sweep_key(
                first,
                key_horizon,
                now,
                rules,
                Scratch {
                    versions: &mut versions,
                    kept: &mut kept,
                    bounds: &mut bounds,
                },
                &mut stats,
            );
        }
        stats
    }

    /// Sweeps the versions of one key, starting at `entry`, and returns the first entry of the
    /// next key.
    fn sweep_key<'a>(
        &'a self,
        first: HistoryEntry<'a>,
        horizon: Version,
        now: Timestamp,
        rules: &dyn SweepRules,
        scratch: Scratch<'_, 'a>,
        stats: &mut SweepStats,
    ) -> Option<HistoryEntry<'a>> {
        let Scratch {
            versions,
            kept,
            bounds,
        } = scratch;
        let key = Arc::clone(&first.key().key);
        // Collect the key's versions first, newest first: the whole plan is made, and every cut
        // mark set, before anything is removed.
        versions.clear();
        versions.push(first);
        let next_key = loop {
            let last = versions.last().expect("starts with one");
            match last.next() {
                Some(next) if same_key(&next.key().key, &key) => versions.push(next),
                other => break other,
            }
        };
        // Rule 3: versions above the horizon stay. `b` is the newest at or below it.
        let Some(base) = versions.iter().position(|v| v.key().version <= horizon) else {
            return next_key;
        };
        // The newest `min_versions` at or below the horizon stay, while the key holds a value
        // (a deleted key's history goes as before).
        let base_live = !versions[base].value().is_absent_at(now);
        let min_kept = base + rules.min_versions().max(1);
        let mut keep = vec![true; versions.len()];
        let mut kept_below = false;
        for (at, entry) in versions.iter().enumerate() {
            let record = entry.value();
            // The bounds this version is the newest at-or-below of, for its writer.
            bounds.clear();
            rules.kept_bounds(record.writer, bounds);
            let mut newest_for_a_bound = false;
            for &bound in bounds.iter() {
                if record.version <= bound && kept.insert((record.writer, bound)) {
                    newest_for_a_bound = true;
                }
            }
            if at <= base {
                continue;
            }
            // Rule 1: below `b`, a version goes unless it is a writer's newest up to one of its
            // kept bounds, or among the newest `min_versions` of the key.
            keep[at] = newest_for_a_bound || (base_live && at < min_kept);
            kept_below |= keep[at];
        }
        // Rule 2: a tombstone or expired value at `b` goes too, with everything below it,
        // unless something below stays (views that stop at `b` must not fall through to it).
        let base_goes = !kept_below && !base_live;
        if base_goes {
            keep[base] = false;
        }
        mark_cuts(versions, &keep);
        // Oldest first: a reader that walks down past a version being removed must still meet
        // the newer ones above the stretch (a tombstone at `b` goes last, so nobody falls
        // through it to the values it hid).
        for (entry, kept) in versions.iter().zip(&keep).rev() {
            if !kept && entry.remove() {
                stats.versions_removed += 1;
            }
        }
        if base_goes && base == 0 {
            // Every version is gone: the key leaves the index if `b` is still its newest.
            if self.index.remove_if_newest(&key, versions[0].value()) {
                stats.keys_removed += 1;
            }
        }
        next_key
    }
}

/// Buffers a sweep reuses from key to key.
struct Scratch<'s, 'a> {
    /// The key's versions, newest first.
    versions: &'s mut Vec<HistoryEntry<'a>>,
    /// (writer, bound) pairs whose newest version is already met.
    kept: &'s mut HashSet<(RunId, Version)>,
    /// One writer's kept bounds.
    bounds: &'s mut Vec<Version>,
}

/// Marks, before any version goes, the survivors around each run of removed versions: the one
/// above gets "cut below", the one below "cut above" (see `Record::is_cut_below`), so that a
/// read that would have found its answer among them knows it may be gone. The versions about to
/// go are marked both ways too: removal takes a while (oldest first), and a reader that meets
/// the gap while part of the run is still there has one of them, not a survivor, beside it.
fn mark_cuts(versions: &[HistoryEntry<'_>], keep: &[bool]) {
    for (at, kept) in keep.iter().enumerate() {
        if !*kept {
            versions[at].value().mark_cut_below();
            versions[at].value().mark_cut_above();
            continue;
        }
        let removed_below = keep.get(at + 1).is_some_and(|k| !k);
        let removed_above = at > 0 && keep.get(at - 1).is_some_and(|k| !k);
        if removed_below {
            versions[at].value().mark_cut_below();
        }
        if removed_above {
            versions[at].value().mark_cut_above();
        }
    }
}

#[cfg(test)]
mod tests;
