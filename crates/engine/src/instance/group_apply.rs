//! `Strict` commits applied for their whole sync group by whichever of its committers runs
//! first after the fdatasync.
//!
//! A commit's writes go into the memtable only once the log says they are durable, and its
//! committer returns only once every earlier version is visible (read-your-writes). When each
//! committer applied its own writes after its sync, the eight committers one fdatasync released
//! woke in no particular order on two cores: the one with the highest version often ran first,
//! applied, and then slept until every committer below it had been scheduled and had applied
//! too. Committers came back one wake-up after another, and the next group formed from fewer of
//! them (8 writers reached 2.5x the 1-writer rate while the log alone reached 4.7x).
//!
//! So a `Strict` committer queues its writes here before it waits for the sync. The sync's
//! leader, once the fdatasync completed and before it wakes anyone (the log's after-sync hook,
//! [`GroupApply::apply_synced`]), takes every queued commit the log reports synced ([`Wal::synced_version`](in_mem_durability::Wal::synced_version): an
//! fdatasync that completed before any failure covered it, so each of those commits is
//! acknowledged whatever its own wait) and applies and publishes them in version order; the
//! committers find their version visible when they wake. A committer whose commit was
//! taken by nobody (appended after the sync began, or its sync failed) takes it itself once its wait has told it the outcome: applied if the wait
//! succeeded, published empty if it failed (as every failed commit is, so that later versions
//! can become visible). Each queued commit is taken exactly once, under the queue's lock, so
//! nothing is applied twice and nothing waits on a commit nobody will take: its own committer
//! always comes back for it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use in_mem_core_types::{RunId, Timestamp, Version};
use in_mem_storage::Memtable;

use crate::write::{PendingWrite, apply_writes};

/// One queued commit.
pub(super) struct Queued {
    pub version: Version,
    pub run: RunId,
    pub timestamp: Timestamp,
    pub writes: Vec<PendingWrite>,
    /// What its own committer's wait said (`None` until it came back): the commit is applied
    /// when true, published empty when false.
    outcome: Option<bool>,
}

impl Queued {
    /// Whether its writes go into the memtable: its wait succeeded, or (taken before its
    /// committer came back) a completed sync covered it, which acknowledges it.
    pub fn succeeded(&self) -> bool {
        self.outcome.unwrap_or(true)
    }
}

/// The `Strict` commits logged and not yet applied, and the memtable they go to. The log's
/// after-sync hook holds this (not the `Instance`), so that the hook never holds the last
/// reference to an instance and drops it on the log's own sync thread.
pub(super) struct GroupApply {
    queue: Mutex<Vec<Queued>>,
    memtable: Arc<Memtable>,
}

impl GroupApply {
    /// An empty queue for `memtable`.
    pub fn new(memtable: Arc<Memtable>) -> Self {
        GroupApply {
            queue: Mutex::new(Vec::new()),
            memtable,
        }
    }

    /// Queues a commit whose record was just appended at `version`.
    pub fn enqueue(
        &self,
        version: Version,
        run: RunId,
        timestamp: Timestamp,
        writes: &[PendingWrite],
    ) {
        self.lock().push(Queued {
            version,
            run,
            timestamp,
            writes: writes.to_vec(),
            outcome: None,
        });
    }

    /// The committer of `own` is back from its wait with `succeeded`: notes it, and takes every
    /// queued commit that is ready to apply or to publish empty (its committer is back, or it
    /// is at or below `synced`), in version order. The caller must apply and publish each.
    pub fn take_ready(&self, own: Version, succeeded: bool, synced: Version) -> Vec<Queued> {
        let mut queue = self.lock();
        if let Some(mine) = queue.iter_mut().find(|q| q.version == own) {
            mine.outcome = Some(succeeded);
        }
        Self::take(queue, synced)
    }

    /// The log's after-sync hook: applies and publishes every queued commit at or below
    /// `synced` (or whose committer is back), before the sync's leader wakes the committers.
    pub fn apply_synced(&self, synced: Version) {
        self.apply(Self::take(self.lock(), synced));
    }

    /// Applies (a commit whose wait failed: skips) and publishes each of `ready`, in order.
    pub fn apply(&self, ready: Vec<Queued>) {
        for queued in ready {
            if queued.succeeded() {
                apply_writes(
                    &self.memtable,
                    queued.version,
                    queued.run,
                    queued.timestamp,
                    &queued.writes,
                );
            }
            self.memtable.versions().publish(queued.version);
        }
    }

    fn take(mut queue: MutexGuard<'_, Vec<Queued>>, synced: Version) -> Vec<Queued> {
        let mut ready = Vec::new();
        let mut i = 0;
        while i < queue.len() {
            if queue[i].outcome.is_some() || queue[i].version <= synced {
                ready.push(queue.swap_remove(i));
            } else {
                i += 1;
            }
        }
        drop(queue);
        ready.sort_unstable_by_key(|q| q.version);
        ready
    }

    /// The queue's lock. Nothing panics while it is held (pushes, scans and removals of a
    /// vector), so a poisoned lock is taken as it is.
    fn lock(&self) -> MutexGuard<'_, Vec<Queued>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(apply: &GroupApply, version: u64) {
        apply.enqueue(Version::new(version), RunId::new(), Timestamp::EPOCH, &[]);
    }

    fn versions(ready: &[Queued]) -> Vec<u64> {
        ready.iter().map(|q| q.version.get()).collect()
    }

    #[test]
    fn the_first_back_takes_everything_the_sync_covered_in_version_order() {
        let apply = GroupApply::new(Arc::new(Memtable::new(Version::ZERO)));
        for v in [3, 1, 2, 4] {
            queued(&apply, v);
        }
        // The committer of 2 led a sync that covered 1..=3; 4 was appended during it.
        let ready = apply.take_ready(Version::new(2), true, Version::new(3));
        assert_eq!(versions(&ready), [1, 2, 3]);
        assert!(ready.iter().all(Queued::succeeded));
        // 1 and 3 come back to find theirs taken; 4's committer takes its own.
        assert!(
            apply
                .take_ready(Version::new(1), true, Version::new(3))
                .is_empty()
        );
        assert!(
            apply
                .take_ready(Version::new(3), true, Version::new(3))
                .is_empty()
        );
        assert_eq!(
            versions(&apply.take_ready(Version::new(4), true, Version::new(4))),
            [4]
        );
    }

    #[test]
    fn a_commit_the_sync_did_not_cover_waits_for_its_own_committer() {
        let apply = GroupApply::new(Arc::new(Memtable::new(Version::ZERO)));
        queued(&apply, 1);
        queued(&apply, 2);
        // The committer of 1 is back; 2 is neither covered nor back.
        assert_eq!(
            versions(&apply.take_ready(Version::new(1), true, Version::ZERO)),
            [1]
        );
        // 2's wait failed (the log was poisoned): taken to be published empty.
        let ready = apply.take_ready(Version::new(2), false, Version::ZERO);
        assert_eq!(versions(&ready), [2]);
        assert!(!ready[0].succeeded());
    }
}
