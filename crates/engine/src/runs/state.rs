//! One run as the engine works with it: `RunState` (its view, its lifecycle lock, its pending
//! writes), the agent it belongs to (`Agent`, shared by all its runs), and its `Lifecycle`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use in_mem_core_types::{AgentId, Key, Namespace, RunId, Timestamp, TypeTag, Value, Version};

use super::record::{RecordHead, RunRecord, StoredStatus};
use super::{RunInfo, RunStatus};
use crate::error::{Error, Result};
use crate::records::RecordHints;

/// A run's writes that are logged but not yet visible: key to newest pending version. Hashed with
/// a seeded foldhash (every write of a run passes through it twice).
pub(crate) type PendingWrites = HashMap<Arc<[u8]>, Version, foldhash::fast::RandomState>;

/// An agent (tenant, app, agent), interned: one per agent, shared by all its runs.
#[derive(Debug)]
pub(crate) struct Agent {
    pub id: AgentId,
    /// The encoded agent: what every key of the agent (its memory, its runs' records) starts
    /// with.
    pub encoded: Box<[u8]>,
    /// Encoded prefix of the agent's KV memory; a KV key is this plus the user key.
    pub kv_prefix: Arc<[u8]>,
    /// Shared mode: the agent's cache state, found once (reads need its version counter).
    pub cache: std::sync::OnceLock<Arc<crate::shared::AgentCache>>,
}

impl Agent {
    pub fn new(id: AgentId) -> Self {
        let kv_prefix = Key::type_prefix(&Namespace::agent_memory(id.clone()), TypeTag::Kv);
        let mut encoded = Vec::new();
        id.encode_into(&mut encoded);
        Agent {
            id,
            encoded: encoded.into_boxed_slice(),
            kv_prefix: kv_prefix.into(),
            cache: std::sync::OnceLock::new(),
        }
    }
}

/// A run whose records and writes a fork's view includes: the fork's parent, its parent's
/// parent ... each up to the version the view sees of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ancestor {
    pub run: RunId,
    /// Its namespace (see [`RunState::data_prefix`]).
    pub data_prefix: Arc<[u8]>,
    /// Its writes and records up to this version are the fork's.
    pub upto: Version,
}

/// Where a run comes from: a parent (lineage only, or a fork of its view at a version).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    pub parent: Option<RunId>,
    /// For a fork: the version of its parent's view it starts from.
    pub fork_point: Option<Version>,
    /// For a fork: its ancestors, nearest first.
    pub ancestors: Vec<Ancestor>,
}

/// The mutable part of a run: its status and metadata.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    pub status: RunStatus,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub tags: Vec<String>,
    pub metadata: Value,
    pub error: Option<String>,
}

impl Lifecycle {
    /// A freshly begun run's lifecycle.
    pub fn begun(at: Timestamp, tags: Vec<String>, metadata: Value) -> Self {
        Lifecycle {
            status: RunStatus::Active,
            updated_at: at,
            ended_at: None,
            tags,
            metadata,
            error: None,
        }
    }

    /// The lifecycle a stored record describes (`Active` stays `Active`: recovery decides what
    /// a run left active has become).
    pub fn from_record(record: RunRecord) -> Self {
        Lifecycle {
            status: RunStatus::from(record.head.status),
            updated_at: record.head.updated_at,
            ended_at: record.head.ended_at,
            tags: record.head.tags,
            metadata: record.metadata,
            error: record.error,
        }
    }
}

/// One run, as the engine holds it: live (not ended) runs for as long as they live; ended runs
/// only while something reads through them.
#[derive(Debug)]
pub(crate) struct RunState {
    pub id: RunId,
    pub agent: Arc<Agent>,
    pub parent: Option<RunId>,
    /// For a fork: the version of its parent's view it starts from.
    pub fork_point: Option<Version>,
    /// For a fork: the runs whose records and writes its view includes, nearest first.
    pub ancestors: Box<[Ancestor]>,
    /// Encoded prefix of the agent's KV memory (shared with the agent).
    pub kv_prefix: Arc<[u8]>,
    /// Encoded namespace of this run (agent and run id); its records of type tag `t` live under
    /// this plus the byte of `t`, its run record under this plus `TypeTag::Run`.
    pub data_prefix: Box<[u8]>,
    pub snapshot: Version,
    pub created_at: Timestamp,
    lifecycle: RwLock<Lifecycle>,
    /// Writes of this run's `Strict` commits that are in the log but not yet visible, newest
    /// version per key. Its mutex is the run's commit lock: validating a transaction's reads,
    /// appending to the log and registering here happen under it (see `instance/commit.rs`).
    pending: Mutex<PendingWrites>,
    /// The highest version of this run's commits that were logged without registering their
    /// writes in `pending` (every commit that does not wait for a sync); changed only under the
    /// commit lock. A validation waits until it is visible instead of looking them up.
    unregistered: AtomicU64,
    /// Set once the run is deleted, for threads that still hold its state in their cache.
    deleted: AtomicBool,
    /// Shared mode: held while the run's status is changed in the store, taken before the
    /// lifecycle lock is let go, so the store's changes follow the order of this host's (a
    /// change whose answer was lost is sent again, and must not land after a later one).
    store_changes: Mutex<()>,
    /// Where the run's event log and span ids ended after its last commit that extended them
    /// (a place to start looking: `records/dense.rs`).
    pub record_hints: RecordHints,
}

impl RunState {
    pub fn new(
        id: RunId,
        agent: Arc<Agent>,
        origin: Origin,
        snapshot: Version,
        created_at: Timestamp,
        lifecycle: Lifecycle,
    ) -> Self {
        RunState {
            id,
            kv_prefix: Arc::clone(&agent.kv_prefix),
            data_prefix: data_prefix(&agent.id, id).into_boxed_slice(),
            agent,
            parent: origin.parent,
            fork_point: origin.fork_point,
            ancestors: origin.ancestors.into_boxed_slice(),
            snapshot,
            created_at,
            lifecycle: RwLock::new(lifecycle),
            pending: Mutex::new(PendingWrites::default()),
            unregistered: AtomicU64::new(0),
            deleted: AtomicBool::new(false),
            store_changes: Mutex::new(()),
            record_hints: RecordHints::default(),
        }
    }

    /// Shared mode: the run's turn to change its status in the store (see `store_changes`);
    /// taken while holding [`RunState::transition`]'s guard.
    pub fn store_changes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.store_changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the run deleted: calls that still hold its state refuse it as unknown.
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
    }

    /// Whether the run was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// The encoded key of this run's record.
    pub fn record_key(&self) -> Vec<u8> {
        [&self.data_prefix[..], &[TypeTag::Run.as_byte()]].concat()
    }

    /// Whether `key` (a full encoded key) is one of this run's own records rather than agent
    /// memory.
    pub fn owns(&self, key: &[u8]) -> bool {
        key.starts_with(&self.data_prefix)
    }

    /// Whether `key` is a record of this run or of one of the ancestors its view includes.
    pub fn owns_lineage(&self, key: &[u8]) -> bool {
        self.owns(key)
            || self
                .ancestors
                .iter()
                .any(|a| key.starts_with(&a.data_prefix))
    }

    /// What a fork of this run at `point` comes from: this run as parent, its records and
    /// writes up to `point`, and its own ancestors up to where its view at `point` sees them.
    pub fn fork_origin(&self, point: Version) -> Origin {
        let mut ancestors = vec![Ancestor {
            run: self.id,
            data_prefix: Arc::from(&self.data_prefix[..]),
            upto: point,
        }];
        ancestors.extend(self.ancestors.iter().map(|a| Ancestor {
            upto: a.upto.min(point),
            ..a.clone()
        }));
        Origin {
            parent: Some(self.id),
            fork_point: Some(point),
            ancestors,
        }
    }

    /// The run's commit lock, over its writes that are logged but not yet visible.
    pub fn pending(&self) -> MutexGuard<'_, PendingWrites> {
        // Every update under this lock is a single insert or remove.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that commit `version` of this run was logged without registering its writes as
    /// pending. The caller holds the commit lock ([`RunState::pending`]).
    pub fn note_unregistered(&self, _commit_lock: &PendingWrites, version: Version) {
        self.unregistered
            .fetch_max(version.get(), Ordering::Relaxed);
    }

    /// The highest version this run logged without registering its writes; a validation
    /// waits until it is visible. The caller holds the commit lock.
    pub fn unregistered(&self, _commit_lock: &PendingWrites) -> Version {
        Version::new(self.unregistered.load(Ordering::Relaxed))
    }

    /// Shared hold on the lifecycle for one commit; errors unless the run is active.
    pub fn writable(&self) -> Result<RwLockReadGuard<'_, Lifecycle>> {
        let guard = self
            .lifecycle
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match guard.status {
            RunStatus::Active => Ok(guard),
            RunStatus::Interrupted => Err(Error::RunInterrupted { run: self.id }),
            status if status.is_terminal() => Err(Error::RunEnded { run: self.id }),
            status => Err(Error::RunState {
                run: self.id,
                status: status.as_str(),
                action: "written to",
            }),
        }
    }

    /// Exclusive hold on the lifecycle, for a transition.
    pub fn transition(&self) -> RwLockWriteGuard<'_, Lifecycle> {
        self.lifecycle
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn info(&self) -> RunInfo {
        let lifecycle = self
            .lifecycle
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        self.info_with(&lifecycle)
    }

    pub fn info_with(&self, lifecycle: &Lifecycle) -> RunInfo {
        RunInfo {
            run: self.id,
            agent: self.agent.id.clone(),
            parent: self.parent,
            fork_point: self.fork_point.map(Version::get),
            status: lifecycle.status,
            snapshot: self.snapshot.get(),
            created_at: self.created_at,
            updated_at: lifecycle.updated_at,
            ended_at: lifecycle.ended_at,
            tags: lifecycle.tags.clone(),
            metadata: lifecycle.metadata.clone(),
            error: lifecycle.error.clone(),
        }
    }

    /// The record that stores this run with `lifecycle`.
    pub fn record(&self, lifecycle: &Lifecycle) -> RunRecord {
        RunRecord {
            head: RecordHead {
                status: lifecycle.status.stored(),
                snapshot: self.snapshot,
                created_at: self.created_at,
                updated_at: lifecycle.updated_at,
                ended_at: lifecycle.ended_at,
                parent: self.parent,
                fork_point: self.fork_point,
                tags: lifecycle.tags.clone(),
            },
            metadata: lifecycle.metadata.clone(),
            error: lifecycle.error.clone(),
        }
    }
}

/// The encoded namespace of run `run` of `agent`.
pub(crate) fn data_prefix(agent: &AgentId, run: RunId) -> Vec<u8> {
    let mut prefix = Vec::new();
    Namespace::for_run(agent.clone(), run).encode_into(&mut prefix);
    prefix
}

impl From<StoredStatus> for RunStatus {
    fn from(status: StoredStatus) -> Self {
        match status {
            StoredStatus::Active => RunStatus::Active,
            StoredStatus::Paused => RunStatus::Paused,
            StoredStatus::Completed => RunStatus::Completed,
            StoredStatus::Failed => RunStatus::Failed,
            StoredStatus::Cancelled => RunStatus::Cancelled,
        }
    }
}
