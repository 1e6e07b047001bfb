//! What a commit is made of: the writes a transaction or a call buffered, the reads it must
//! find unchanged (optimistic concurrency control), and the memtable mutations its writes
//! become (a prefix deletion expanded into one tombstone per key).

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{Key, RunId, Timestamp, Version};
use in_mem_storage::{Memtable, Mutation, MutationKind, ReadView};

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
    /// Deletes every key under the write's key (a run's namespace, when it is deleted).
    DeletePrefix,
}

/// A key a transaction read, and the version it saw (`None`: no version at all).
#[derive(Debug, Clone)]
pub(crate) struct ReadCheck {
    pub key: Arc<[u8]>,
    pub observed: Option<Version>,
}

/// A readable name for an encoded key: its type and user key, e.g. `kv:user:1`.
pub(crate) fn describe_key(encoded: &[u8]) -> String {
    match Key::decode(encoded) {
        Ok(key) => format!(
            "{}:{}",
            key.type_tag(),
            String::from_utf8_lossy(key.user_key())
        ),
        Err(_) => String::from_utf8_lossy(encoded).into_owned(),
    }
}

/// The memtable mutation of one write that names its key (not a prefix).
pub(crate) fn mutation(write: &PendingWrite, timestamp: Timestamp) -> Mutation {
    Mutation {
        key: Arc::clone(&write.key),
        kind: match &write.op {
            PendingOp::Put { value, ttl } => MutationKind::Put {
                value: Arc::clone(value),
                expires_at: ttl.map(|ttl| timestamp.saturating_add(ttl)),
            },
            PendingOp::Delete | PendingOp::DeletePrefix => MutationKind::Delete,
        },
    }
}

/// The mutations of `writes` with every prefix deletion expanded into a tombstone for each key
/// under the prefix that holds a value now. Nothing else writes under such a prefix meanwhile
/// (the engine deletes only a run's own records, under the run's exclusive lifecycle lock), so
/// the expansion is the same when recovery replays the commit.
pub(crate) fn expand(
    memtable: &Memtable,
    writes: &[PendingWrite],
    timestamp: Timestamp,
) -> Vec<Mutation> {
    let mut mutations = Vec::with_capacity(writes.len());
    for write in writes {
        match write.op {
            PendingOp::DeletePrefix => {
                mutations.extend(live_keys_under(memtable, &write.key).map(|key| Mutation {
                    key,
                    kind: MutationKind::Delete,
                }));
            }
            _ => mutations.push(mutation(write, timestamp)),
        }
    }
    mutations
}

/// Every key under `prefix` whose newest version holds a value (expired or not).
pub(crate) fn live_keys_under<'a>(
    memtable: &'a Memtable,
    prefix: &[u8],
) -> impl Iterator<Item = Arc<[u8]>> + 'a {
    memtable
        .scan_prefix(prefix, ReadView::at(Version::MAX), Timestamp::EPOCH)
        .map(|(key, _)| key)
}

/// Applies one acknowledged commit's writes to `memtable` at `version`, each prefix deletion
/// expanded (see [`expand`]).
pub(crate) fn apply_writes(
    memtable: &Memtable,
    version: Version,
    run: RunId,
    timestamp: Timestamp,
    writes: &[PendingWrite],
) {
    if writes
        .iter()
        .any(|w| matches!(w.op, PendingOp::DeletePrefix))
    {
        let mutations = expand(memtable, writes, timestamp);
        memtable.apply(version, run, timestamp, &mutations);
    } else {
        let mutations = map_small(writes, |w| mutation(w, timestamp));
        memtable.apply(version, run, timestamp, &mutations);
    }
}

/// A slice mapped to a new list, without a heap allocation for the common one-write commit.
pub(crate) enum Small<T> {
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

pub(crate) fn map_small<'a, T, U>(items: &'a [T], mut f: impl FnMut(&'a T) -> U) -> Small<U> {
    match items {
        [one] => Small::One([f(one)]),
        _ => Small::Many(items.iter().map(f).collect()),
    }
}
