//! The commit pipeline: encode -> append to the log (version allocated there) -> wait for the
//! durability the handle's mode promises -> apply to the memtable -> publish the version.
//!
//! The log lock covers only version allocation and a buffer append, so log order is version
//! order while encoding, syscalls and memtable inserts run outside it. Applying after the
//! durability wait means no reader ever sees a commit that a crash could still take back in
//! `Strict` mode.

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{RunId, Version};
use in_mem_durability::{CommitBody, OpRef, WaitFor, WriteRef};
use in_mem_storage::{Mutation, MutationKind};

use crate::error::Result;
use crate::instance::Instance;

/// One write waiting to be committed.
#[derive(Debug, Clone)]
pub(crate) struct PendingWrite {
    pub key: Arc<[u8]>,
    pub op: PendingOp,
}

/// What a pending write does.
#[derive(Debug, Clone)]
pub(crate) enum PendingOp {
    Put {
        value: Arc<[u8]>,
        ttl: Option<Duration>,
    },
    Delete,
}

impl Instance {
    /// Commits `writes` atomically as one log record on behalf of run `author`.
    pub(crate) fn commit(
        &self,
        author: RunId,
        writes: &[PendingWrite],
        wait: WaitFor,
    ) -> Result<Version> {
        let timestamp = self.clock.now();
        let refs = map_small(writes, |w| WriteRef {
            key: &w.key,
            op: match &w.op {
                PendingOp::Put { value, ttl } => OpRef::Put { value, ttl: *ttl },
                PendingOp::Delete => OpRef::Delete,
            },
        });
        let body = CommitBody::encode(timestamp, author, &refs)?;
        let versions = self.memtable.versions();
        let ticket = self.wal.append(&body, || versions.allocate())?;
        if let Err(e) = self.wal.wait(ticket, wait) {
            // The version is taken; publish it empty so later versions can still become
            // visible. The log is poisoned now, so no later commit will be acknowledged.
            versions.publish(ticket.version);
            return Err(e.into());
        }
        let mutations = map_small(writes, |w| Mutation {
            key: Arc::clone(&w.key),
            kind: match &w.op {
                PendingOp::Put { value, ttl } => MutationKind::Put {
                    value: Arc::clone(value),
                    expires_at: ttl.map(|ttl| timestamp.saturating_add(ttl)),
                },
                PendingOp::Delete => MutationKind::Delete,
            },
        });
        self.memtable
            .apply(ticket.version, author, timestamp, &mutations);
        versions.publish(ticket.version);
        // Read-your-writes: the caller's next read must see this commit, so wait until every
        // earlier version has been applied too.
        versions.wait_visible(ticket.version);
        Ok(ticket.version)
    }
}

/// A slice mapped to a new list, without a heap allocation for the common one-write commit.
enum Small<T> {
    One([T; 1]),
    Many(Vec<T>),
}

impl<T> std::ops::Deref for Small<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Small::One(one) => one,
            Small::Many(many) => many,
        }
    }
}

fn map_small<'a, T, U>(items: &'a [T], mut f: impl FnMut(&'a T) -> U) -> Small<U> {
    match items {
        [one] => Small::One([f(one)]),
        _ => Small::Many(items.iter().map(f).collect()),
    }
}
