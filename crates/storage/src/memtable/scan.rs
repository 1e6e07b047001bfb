//! `Scan`: the live keys of a prefix or key range at a view, straight off the skiplist.
//!
//! The skiplist holds a key's versions together, newest first, so a scan visits each key group
//! once: it steps down to the newest version the view sees, yields it if it is live, and moves
//! on to the next key, stepping over a few older versions and seeking past many.

use std::ops::Bound;
use std::sync::Arc;

use in_mem_core_types::Timestamp;

use super::record::{Probe, SeekKey, same_key};
use super::{History, HistoryEntry, walk};
use crate::{ReadView, StoredRef, StoredValue};

/// Older versions of a key the scan steps over one by one before it seeks past the rest. A step
/// is one cache miss; a seek is a descent from the top of the skiplist, about as costly as a
/// dozen steps on a large map, so small counts step and large ones seek.
const STEPS_BEFORE_SEEK_MAX: usize = 8;

/// Keys after one that needed a seek that seek after a single step (see `Scan::skip_rest`).
const QUICK_SKIPS: u8 = 7;

/// What a scan yields: a key and its newest visible version.
type ScanItem = (Arc<[u8]>, StoredValue);

/// Where a scan stops.
#[derive(Debug)]
enum End {
    /// At the first key that does not start with these bytes.
    Prefix(Box<[u8]>),
    /// At the first key that is not below (or at, when included) this bound.
    Bound(Bound<Box<[u8]>>),
}

impl End {
    /// True if the scan goes on to `key` (keys arrive in ascending order).
    fn admits(&self, key: &[u8]) -> bool {
        match self {
            End::Prefix(prefix) => key.starts_with(prefix),
            End::Bound(Bound::Unbounded) => true,
            End::Bound(Bound::Included(end)) => key <= &end[..],
            End::Bound(Bound::Excluded(end)) => key < &end[..],
        }
    }
}

/// An iterator over the live keys of a prefix or range, in key byte order, each with the newest
/// version the view sees. Created by [`Memtable::scan_prefix`](crate::Memtable::scan_prefix) and
/// [`Memtable::scan_range`](crate::Memtable::scan_range).
///
/// It holds no lock: writers go on while it runs. Versions they add are above the view (or are
/// not the view's own), so they do not change what it yields.
pub struct Scan<'a> {
    history: &'a History,
    /// The next key to look at.
    cursor: Option<Cursor<'a>>,
    end: End,
    view: ReadView,
    now: Timestamp,
    /// False once a key's answer may have been lost to a sweep (see `Memtable::read`).
    exact: bool,
    /// Keys left that skip their older versions with one step before seeking (see
    /// `skip_rest`).
    quick_skips: u8,
}

impl<'a> Scan<'a> {
    /// The keys starting with `prefix`.
    pub(crate) fn prefix(
        history: &'a History,
        prefix: &[u8],
        view: ReadView,
        now: Timestamp,
    ) -> Self {
        let start = Probe::before_all_versions_of(prefix);
        Scan {
            history,
            cursor: history
                .lower_bound(Bound::Included(&start as &dyn SeekKey))
                .map(|entry| Cursor::at(entry, &view)),
            end: End::Prefix(prefix.into()),
            view,
            now,
            exact: true,
            quick_skips: 0,
        }
    }

    /// The keys between `start` and `end`.
    pub(crate) fn range(
        history: &'a History,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        view: ReadView,
        now: Timestamp,
    ) -> Self {
        let cursor = match start {
            Bound::Unbounded => history.front(),
            Bound::Included(key) => {
                let start = Probe::before_all_versions_of(key);
                history.lower_bound(Bound::Included(&start as &dyn SeekKey))
            }
            Bound::Excluded(key) => {
                let start = Probe::after_all_versions_of(key);
                history.lower_bound(Bound::Excluded(&start as &dyn SeekKey))
            }
        };
        Scan {
            history,
            cursor: cursor.map(|entry| Cursor::at(entry, &view)),
            end: End::Bound(end.map(Box::from)),
            view,
            now,
            exact: true,
            quick_skips: 0,
        }
    }

    /// Finds the newest version the view sees of the key whose newest stored version is
    /// `entry`, knowing whether the view sees `entry` itself: that version (which may read as
    /// absent), or, if the view sees none, the next key's position.
    fn resolve(&mut self, entry: HistoryEntry<'a>, sees_entry: bool) -> Resolved<'a> {
        let mut version = entry;
        let mut sees = sees_entry;
        let mut steps = 0;
        let mut crossed = false;
        let bound = self.view.newest_visible_bound();
        // Versions of one key are adjacent and share their key: each step compares the next
        // entry's key with the current one's.
        while !sees {
            steps += 1;
            let next = if steps > STEPS_BEFORE_SEEK_MAX && version.key().version > bound {
                // Many versions above the view (a long-lived view over a busy key): jump to the
                // newest one it could see. Below that point only stepping can tell which of the
                // run's own writes it sees, so this happens at most once per key.
                let key = Arc::clone(&version.key().key);
                let probe = Probe::at(&key, bound);
                let landing = self
                    .history
                    .lower_bound(Bound::Included(&probe as &dyn SeekKey));
                crossed |= walk::seek_crosses_cut(self.history, &key, bound, landing.as_ref());
                landing
            } else {
                let next = walk::next_entry(self.history, &version);
                let same = next
                    .as_ref()
                    .filter(|next| same_key(&next.key().key, &version.key().key));
                crossed |= walk::step_crosses_cut(&version, same);
                next
            };
            match next {
                Some(next) if same_key(&next.key().key, &version.key().key) => version = next,
                // The view sees no version of this key.
                other => {
                    self.exact &= !crossed;
                    return Resolved::Unseen(other.map(|next| Cursor::at(next, &self.view)));
                }
            }
            let record = version.value();
            sees = self.view.sees(record.version, record.writer);
        }
        self.exact &= !crossed || self.view.pins(version.value().writer);
        Resolved::Seen(version)
    }

    /// Visits the next live key: `visit` gets the key and its value borrowed from the memtable
    /// (no reference count touched) and its answer is returned; `None` once the scan is over.
    /// The iterator (`next`) is this with the key and value cloned out.
    pub fn visit_next<R>(
        &mut self,
        visit: impl FnOnce(&Arc<[u8]>, StoredRef<'_>) -> R,
    ) -> Option<R> {
        loop {
            let Cursor { entry, sees } = self.cursor.take()?;
            if !self.end.admits(&entry.key().key) {
                return None;
            }
            match self.resolve(entry, sees) {
                Resolved::Unseen(next_key) => self.cursor = next_key,
                Resolved::Seen(version) => {
                    if let Some(stored) = version.value().visit(self.now) {
                        let answer = visit(&version.key().key, stored);
                        self.cursor = self.skip_rest(version);
                        return Some(answer);
                    }
                    self.cursor = self.skip_rest(version);
                }
            }
        }
    }

    /// Moves from `version` to the newest version of the next key: steps over a few older
    /// versions, seeks past many. A key that needed a seek makes the next `QUICK_SKIPS` keys
    /// seek after one step: keys written together have histories alike (an agent's memory
    /// updated run after run), and stepping through eight versions of each before seeking
    /// anyway was a third of such a scan. Every `QUICK_SKIPS + 1`-th key steps the full count
    /// again, so short histories after a long one pay at most `QUICK_SKIPS` needless seeks.
    fn skip_rest(&mut self, mut version: HistoryEntry<'a>) -> Option<Cursor<'a>> {
        if self.quick_skips == 0 {
            for _ in 0..STEPS_BEFORE_SEEK_MAX {
                let next = walk::next_entry(self.history, &version)?;
                if !same_key(&next.key().key, &version.key().key) {
                    return Some(Cursor::at(next, &self.view));
                }
                version = next;
            }
            self.quick_skips = QUICK_SKIPS;
        } else {
            self.quick_skips -= 1;
            let next = walk::next_entry(self.history, &version)?;
            if !same_key(&next.key().key, &version.key().key) {
                self.quick_skips = 0;
                return Some(Cursor::at(next, &self.view));
            }
            version = next;
        }
        let past = Probe::after_all_versions_of(&version.key().key);
        let next = self
            .history
            .lower_bound(Bound::Excluded(&past as &dyn SeekKey))?;
        Some(Cursor::at(next, &self.view))
    }
}

/// Where [`Scan::resolve`] lands.
enum Resolved<'a> {
    /// The newest version of the key the view sees (it may read as absent).
    Seen(HistoryEntry<'a>),
    /// The view sees no version of the key; the next key's position.
    Unseen(Option<Cursor<'a>>),
}

/// The scan's position: the newest stored version of the next key to look at, and whether the
/// view sees it.
struct Cursor<'a> {
    entry: HistoryEntry<'a>,
    sees: bool,
}

impl<'a> Cursor<'a> {
    /// Positions a scan at `entry`, the newest stored version of a key.
    ///
    /// Reading the record here, right after the skiplist step and before any reference count is
    /// touched, lets its cache miss overlap the key's (the key was just compared): an atomic
    /// read-modify-write, such as an `Arc` clone, waits for every earlier load to finish. On a
    /// 1M-key map this made a 1,000-key scan about a tenth faster.
    fn at(entry: HistoryEntry<'a>, view: &ReadView) -> Self {
        let record = entry.value();
        let sees = view.sees(record.version, record.writer);
        Cursor { entry, sees }
    }
}

impl Scan<'_> {
    /// Whether every answer so far is certainly the view's: false once a key's answer (or its
    /// absence) may have been lost to a sweep (see `Memtable::read`). Keys whose every version a
    /// sweep removed cannot be seen here; the caller compares the view with the sweeps' horizon.
    pub fn is_exact(&self) -> bool {
        self.exact
    }
}

impl Iterator for Scan<'_> {
    type Item = ScanItem;

    fn next(&mut self) -> Option<Self::Item> {
        self.visit_next(|key, stored| (Arc::clone(key), stored.to_stored()))
    }
}

impl std::fmt::Debug for Scan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("end", &self.end)
            .field("view", &self.view)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
