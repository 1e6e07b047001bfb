//! Where a dense sequence of records ends: a run's events (sequences from 0) and spans (ids
//! from 1) are stored under consecutive numbers with no gaps, so the next number is found by
//! reading the records themselves rather than a counter record beside them.
//!
//! A counter record (the event log's `event-head`, the span counter `trace-next`) was written
//! again by every append: one more write per commit, and a superseded version per append for
//! the sweeper to take out. Instead the run keeps, in memory, where its sequence ended after
//! its last commit (a hint, [`RecordHints`]); an append reads the record just below the hint
//! (present) and the one at it (absent), two point reads. The hint is only a place to start:
//! a stale or missing one (a run opened after a restart, a fork, a transaction that began before
//! another one's append) costs a search (doubling steps, then halving), never a wrong answer,
//! since the answer is what the reads found. The absent read is in the transaction's read set,
//! so two transactions that take the same number conflict at commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;

/// Which dense sequence of a run a hint is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sequence {
    Events,
    Spans,
}

/// Where a run's sequences ended after its last commit that extended them, as far as this
/// process saw (0 until then). Kept with the run's state; never stored.
#[derive(Debug, Default)]
pub(crate) struct RecordHints {
    events: AtomicU64,
    spans: AtomicU64,
}

impl RecordHints {
    fn slot(&self, sequence: Sequence) -> &AtomicU64 {
        match sequence {
            Sequence::Events => &self.events,
            Sequence::Spans => &self.spans,
        }
    }

    /// The length to start looking from.
    pub(crate) fn get(&self, sequence: Sequence) -> u64 {
        self.slot(sequence).load(Ordering::Relaxed)
    }

    /// Notes that a committed transaction left the sequence `len` long (sequences only grow:
    /// a commit noted late never moves the hint back).
    pub(crate) fn note(&self, sequence: Sequence, len: u64) {
        self.slot(sequence).fetch_max(len, Ordering::Relaxed);
    }
}

/// The end of a dense sequence: its length, and the record at `len - 1` (none when empty).
pub(crate) struct End {
    pub len: u64,
    pub last: Option<Arc<[u8]>>,
}

/// Finds the length of a dense sequence, starting from `hint`. `read(i)` is the record at
/// position `i` (positions are 0-based; a caller whose numbers start at 1 shifts them).
pub(crate) fn find_end(
    hint: u64,
    mut read: impl FnMut(u64) -> Result<Option<Arc<[u8]>>>,
) -> Result<End> {
    // Invariant: `present` holds a position that has a record (and the record), `absent` one
    // that has none, and every position below `present` has one, every one above `absent` none.
    let mut present: Option<(u64, Arc<[u8]>)> = None;
    let mut absent: Option<u64> = None;
    if let Some(below) = hint.checked_sub(1) {
        match read(below)? {
            Some(record) => present = Some((below, record)),
            None => absent = Some(below),
        }
    }
    if absent.is_none() {
        match read(hint)? {
            None => absent = Some(hint),
            Some(record) => {
                present = Some((hint, record));
                // Doubling steps up from the hint until a position without a record.
                let mut step = 1u64;
                loop {
                    let at = hint.saturating_add(step);
                    if at == u64::MAX {
                        // No sequence gets this long; the halving below settles it.
                        absent = Some(at);
                        break;
                    }
                    let Some(record) = read(at)? else {
                        absent = Some(at);
                        break;
                    };
                    present = Some((at, record));
                    step = step.saturating_mul(2);
                }
            }
        }
    }
    let mut absent = absent.unwrap_or(hint);
    // Halving between the two until they are neighbours.
    loop {
        let first_unknown = present.as_ref().map_or(0, |(at, _)| at + 1);
        if first_unknown >= absent {
            break;
        }
        let mid = first_unknown + (absent - first_unknown) / 2;
        match read(mid)? {
            Some(record) => present = Some((mid, record)),
            None => absent = mid,
        }
    }
    Ok(End {
        len: absent,
        last: present.map(|(_, record)| record),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finds the end of a sequence of `len` records from `hint`; returns it and the reads made.
    fn end_of(len: u64, hint: u64) -> (u64, Option<u64>, usize) {
        let mut reads = 0;
        let end = find_end(hint, |i| {
            reads += 1;
            Ok((i < len).then(|| Arc::from(i.to_be_bytes().as_slice())))
        })
        .unwrap();
        let last = end
            .last
            .map(|r| u64::from_be_bytes(r[..].try_into().unwrap()));
        (end.len, last, reads)
    }

    #[test]
    fn a_right_hint_costs_two_reads() {
        assert_eq!(end_of(10, 10), (10, Some(9), 2));
        assert_eq!(end_of(0, 0), (0, None, 1));
    }

    #[test]
    fn any_hint_finds_the_end() {
        for len in [0, 1, 2, 3, 7, 8, 9, 100, 1000, 4097] {
            for hint in [0, 1, 2, 5, 8, 99, 100, 101, 1000, 5000, u64::MAX / 2] {
                let (found, last, reads) = end_of(len, hint);
                assert_eq!(found, len, "len {len} hint {hint}");
                assert_eq!(last, len.checked_sub(1), "len {len} hint {hint}");
                assert!(reads <= 130, "len {len} hint {hint}: {reads} reads");
            }
        }
    }

    #[test]
    fn hints_only_grow() {
        let hints = RecordHints::default();
        hints.note(Sequence::Events, 5);
        hints.note(Sequence::Events, 3);
        assert_eq!(hints.get(Sequence::Events), 5);
        assert_eq!(hints.get(Sequence::Spans), 0);
    }
}
