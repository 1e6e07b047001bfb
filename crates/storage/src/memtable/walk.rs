//! How a walk down one key's versions knows it may have stepped over versions a sweep removed.
//!
//! A sweep marks the survivors around each stretch it removes (the one above "cut below", the one
//! below "cut above"), and the versions of the stretch both ways, before it removes anything,
//! oldest first (see `sweep.rs`): whatever part of the stretch is gone when a reader passes, the
//! versions beside the gap carry a mark. A reader learns of a removed stretch in two places:
//!
//! - **A step** from one version to the next of the same key: the stretch between them is gone
//!   if the version stepped from is marked "cut below" or the one stepped to "cut above". Both
//!   marks are read *after* the step: a sweep that marked and removed the stretch while the
//!   reader stood on the upper version is then seen (the reader observed the removal, which the
//!   sweep made after setting the marks).
//! - **A seek** to the newest version at or below a bound, skipping the versions above it: the
//!   stretch right below the skipped versions is gone if the version just above the landing
//!   point is marked "cut below", or the landing version "cut above". A walk that lands exactly
//!   on the bound has nothing visible above it, so a stretch there held no answer.

use std::ops::Bound;

use in_mem_core_types::Version;

use super::record::{Probe, SeekKey};
use super::{History, HistoryEntry};

/// The entry after `from`, in skiplist order. A step from a version a sweep removed is redone as
/// a seek from its position: crossbeam-skiplist's `Entry::next` on a removed entry can answer
/// `None` though entries follow (seen in `tests/past_reads.rs`: a scan standing on a removed
/// version, paused while sweeps ran, ended before the last key), and a scan must not end early.
/// `is_removed` is read after the step: a step made before the removal is a step between live
/// entries and stands.
pub(crate) fn next_entry<'a>(
    history: &'a History,
    from: &HistoryEntry<'a>,
) -> Option<HistoryEntry<'a>> {
    let next = from.next();
    if !from.is_removed() {
        return next;
    }
    history.lower_bound(Bound::Excluded(from.key()))
}

/// Whether stepping from `from` to `to` (the next version of the same key, if any) may have
/// stepped over removed versions. Call after the step.
pub(crate) fn step_crosses_cut(from: &HistoryEntry<'_>, to: Option<&HistoryEntry<'_>>) -> bool {
    from.value().is_cut_below() || to.is_some_and(|to| to.value().is_cut_above())
}

/// Whether a seek for `key` at or below `bound`, which landed on `landing` (the first entry at or
/// after the probe, of this key or not), may have skipped removed versions that were visible.
pub(crate) fn seek_crosses_cut(
    history: &History,
    key: &[u8],
    bound: Version,
    landing: Option<&HistoryEntry<'_>>,
) -> bool {
    let here = landing.filter(|entry| entry.key().key_bytes() == key);
    if here.is_some_and(|entry| entry.value().version >= bound) {
        return false;
    }
    let probe = Probe::at(key, bound);
    let above = history
        .upper_bound(Bound::Excluded(&probe as &dyn SeekKey))
        .filter(|entry| entry.key().key_bytes() == key);
    above.is_some_and(|entry| entry.value().is_cut_below())
        || here.is_some_and(|entry| entry.value().is_cut_above())
}
