//! The commit pipeline: encode -> (under the run's commit lock: validate the read set, append to
//! the log, where the version is allocated, register a `Strict` commit's writes as pending) ->
//! wait for the durability the handle's mode promises -> apply to the memtable -> publish the
//! version -> deregister the pending writes. A `Strict` commit is applied and published by the
//! first of the committers its fdatasync released (`group_apply.rs`).
//!
//! The log lock covers only version allocation and a buffer append, so log order is version
//! order while encoding, syscalls and memtable inserts run outside it. Applying after the
//! durability wait means no reader ever sees a commit that a crash could still take back in
//! `Strict` mode.
//!
//! Optimistic concurrency: a run sees other runs' writes only up to its start snapshot, so only
//! the run's own concurrent commits can change what one of its transactions read. Those are
//! visible in the memtable, or registered in the run's pending map (`Strict` commits, logged
//! and waiting for a sync), or logged and about to be visible (every other commit: the run
//! notes the highest such version, and a validation waits until it is visible). Validating
//! under the run's commit lock, and registering or noting before that lock is released, makes
//! every conflicting pair of commits see each other.

use std::sync::Arc;

use in_mem_core_types::Version;
use in_mem_core_types::limits::COMMIT_WRITES_MAX;
use in_mem_durability::{CommitBody, OpRef, WaitFor, WriteRef};

use super::Instance;
use crate::error::{Error, Result};
use crate::runs::{PendingWrites, RunState};
use crate::write::{PendingOp, PendingWrite, ReadCheck, apply_writes, describe_key, map_small};

impl Instance {
    /// Commits `writes` atomically as one log record on behalf of `run`, provided that every key
    /// in `reads` still has the version that was read. The caller holds the run's lifecycle
    /// lock shared (`RunState::writable`).
    pub(crate) fn commit(
        &self,
        run: &RunState,
        writes: &[PendingWrite],
        reads: &[ReadCheck],
        wait: WaitFor,
    ) -> Result<Version> {
        if writes.len() > COMMIT_WRITES_MAX {
            return Err(Error::CommitTooLarge {
                writes: writes.len(),
                max: COMMIT_WRITES_MAX,
            });
        }
        if let Some(shared) = self.shared() {
            return self.commit_shared(shared, run, writes, reads);
        }
        let wal = self.wal()?;
        let timestamp = self.clock.now();
        let refs = map_small(writes, |w| WriteRef {
            key: &w.key,
            op: match &w.op {
                PendingOp::Put { value, ttl } => OpRef::Put { value, ttl: *ttl },
                PendingOp::Delete => OpRef::Delete,
                PendingOp::DeletePrefix => OpRef::DeletePrefix,
            },
        });
        let body = CommitBody::encode(timestamp, run.id, &refs)?;
        let versions = self.memtable.versions();
        let grouped = matches!(wait, WaitFor::Synced);
        let ticket = {
            let mut pending = run.pending();
            self.validate(run, &pending, reads, timestamp)?;
            // The time sample is noted with the version, under the log lock: samples then come
            // in version order, so a bucket's sample is never above a smaller version of it
            // noted later (see `version_times.rs`).
            let ticket = wal.append(&body, || {
                let version = versions.allocate();
                self.version_times.note(timestamp, version);
                version
            })?;
            if grouped {
                // Visible only after a sync: a validation of this run meanwhile finds these
                // writes here rather than waiting that long for them.
                for write in writes {
                    pending.insert(Arc::clone(&write.key), ticket.version);
                }
                self.group_apply
                    .enqueue(ticket.version, run.id, timestamp, writes);
            } else {
                // Visible within microseconds: a validation waits for it instead, which spares
                // every such commit two map updates under the lock (see `validate`).
                run.note_unregistered(&pending, ticket.version);
            }
            ticket
        };
        let outcome = wal.wait(ticket, wait);
        if grouped {
            // This commit and every other one its sync covered, applied by whoever is first
            // back (see `group_apply.rs`); possibly none, if another committer took them.
            let taken =
                self.group_apply
                    .take_ready(ticket.version, outcome.is_ok(), wal.synced_version());
            self.group_apply.apply(taken);
        } else {
            if outcome.is_ok() {
                apply_writes(&self.memtable, ticket.version, run.id, timestamp, writes);
            }
            // On failure the version is published empty, so that later versions can still
            // become visible; the log is poisoned, so no later commit will be acknowledged.
            versions.publish(ticket.version);
        }
        // Read-your-writes: the caller's next read must see this commit, so wait until every
        // earlier version has been applied too.
        versions.wait_visible(ticket.version);
        if grouped {
            let mut pending = run.pending();
            for write in writes {
                if pending.get(&write.key) == Some(&ticket.version) {
                    pending.remove(&write.key);
                }
            }
        }
        outcome?;
        Ok(ticket.version)
    }

    /// Checks that every read key still has the version that was read, in the run's view as it
    /// is now: its snapshot plus every write of its own that is visible or pending. `now` is the
    /// commit's time (a version's number does not depend on it; only whether it is live does).
    pub(super) fn validate(
        &self,
        run: &RunState,
        pending: &PendingWrites,
        reads: &[ReadCheck],
        now: in_mem_core_types::Timestamp,
    ) -> Result<()> {
        if reads.is_empty() {
            return Ok(());
        }
        // The run's commits that were logged without registering their writes are waited for
        // until visible: then the memtable answers for them. Nothing a version's visibility
        // waits for takes a run's commit lock, so holding this one while waiting is safe; and
        // as no commit of the run can be logged meanwhile, none is missed.
        self.memtable
            .versions()
            .wait_visible(run.unregistered(pending));
        let view = self.view_of(run);
        for read in reads {
            let current = pending.get(&read.key).copied().or_else(|| {
                self.memtable
                    .lookup(&read.key, &view, now)
                    .map(|l| l.version)
            });
            if current != read.observed {
                return Err(Error::Conflict {
                    run: run.id,
                    key: describe_key(&read.key),
                    read: read.observed.map(Version::get),
                    found: current.map(Version::get),
                });
            }
        }
        Ok(())
    }
}
