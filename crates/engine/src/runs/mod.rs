//! The run registry: every run of the database, its agent, its view and its lifecycle.
//!
//! A run's *view* is the agent's memory as of its start snapshot plus its own writes. Its
//! *lifecycle* is Active until `end_run` (Completed); a run that was still Active when the
//! process stopped comes back Interrupted. Writers hold the run's lifecycle lock shared for the
//! whole commit and transitions take it exclusively, so no write lands after the record that
//! ends its run.

mod cache;
mod pins;
mod record;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use dashmap::DashMap;
use in_mem_core_types::{AgentId, Key, Namespace, RunId, Timestamp, TypeTag, Value, Version};

pub(crate) use pins::Pins;
pub(crate) use record::{RunRecord, StoredStatus};

use crate::error::{Error, Result};

/// A run's writes that are logged but not yet visible: key to newest pending version. Hashed with
/// a seeded foldhash (every write of a run passes through it twice).
pub(crate) type PendingWrites = HashMap<Arc<[u8]>, Version, foldhash::fast::RandomState>;

/// Where a run is in its life.
///
/// ```text
///   begin -> Active <-> Paused          Active, Paused, Interrupted -> Completed | Failed | Cancelled
///              |  (process stops)
///              v
///         Interrupted -> Active (resume)
/// ```
///
/// Completed, Failed and Cancelled are terminal: a run never comes back from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RunStatus {
    /// Begun and taking writes.
    Active,
    /// Paused by the caller: readable, takes no writes until resumed.
    Paused,
    /// Ended with `end_run`: readable, takes no writes.
    Completed,
    /// Ended with `fail_run`, with an error text.
    Failed,
    /// Ended with `cancel_run`.
    Cancelled,
    /// Was active when the process stopped; readable; `resume_run` or end it.
    Interrupted,
}

impl RunStatus {
    /// Every status, in declaration order.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Active,
        RunStatus::Paused,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Interrupted,
    ];

    /// Lower-case name, as in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Active => "active",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Completed, Failed or Cancelled: the run has ended for good.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// Whether a run may go from `self` to `to`. No run leaves a terminal status, and nothing
    /// becomes `Interrupted` except through recovery.
    pub fn can_become(self, to: RunStatus) -> bool {
        use RunStatus::{Active, Cancelled, Completed, Failed, Interrupted, Paused};
        matches!(
            (self, to),
            (
                Active | Paused | Interrupted,
                Completed | Failed | Cancelled
            ) | (Active, Paused)
                | (Paused | Interrupted, Active)
        )
    }

    fn stored(self) -> StoredStatus {
        match self {
            RunStatus::Active | RunStatus::Interrupted => StoredStatus::Active,
            RunStatus::Paused => StoredStatus::Paused,
            RunStatus::Completed => StoredStatus::Completed,
            RunStatus::Failed => StoredStatus::Failed,
            RunStatus::Cancelled => StoredStatus::Cancelled,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A description of one run: its place, lineage, lifecycle and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// The run.
    pub run: RunId,
    /// The agent it belongs to.
    pub agent: AgentId,
    /// The run it was begun from, if any (lineage).
    pub parent: Option<RunId>,
    /// Where it is in its life.
    pub status: RunStatus,
    /// The commit version its view starts from: it sees every commit up to this one.
    pub snapshot: u64,
    /// When it began.
    pub created_at: Timestamp,
    /// When its status, tags or metadata last changed.
    pub updated_at: Timestamp,
    /// When it ended, if it has.
    pub ended_at: Option<Timestamp>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// The caller's metadata (`Value::Null` if none).
    pub metadata: Value,
    /// Why it failed, for a failed run.
    pub error: Option<String>,
}

impl RunInfo {
    /// The run's namespace: its agent and its id.
    pub fn namespace(&self) -> Namespace {
        Namespace::for_run(self.agent.clone(), self.run)
    }
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
}

/// One run, as the engine holds it.
#[derive(Debug)]
pub(crate) struct RunState {
    pub id: RunId,
    pub agent: AgentId,
    pub parent: Option<RunId>,
    /// Encoded prefix of the agent's KV memory; a KV key is this plus the user key.
    pub kv_prefix: Box<[u8]>,
    /// Encoded key of this run's record.
    pub record_key: Box<[u8]>,
    /// Encoded namespace of this run (agent and run id); its per-run data of type tag `t` lives
    /// under this plus the byte of `t`.
    pub data_prefix: Box<[u8]>,
    pub snapshot: Version,
    pub created_at: Timestamp,
    lifecycle: RwLock<Lifecycle>,
    /// Writes of this run that are in the log but not yet visible, newest version per key.
    /// Its mutex is the run's commit lock: validating a transaction's reads, appending to the
    /// log and registering here happen under it (see `commit.rs`).
    pending: Mutex<PendingWrites>,
}

impl RunState {
    pub fn new(
        id: RunId,
        agent: AgentId,
        parent: Option<RunId>,
        snapshot: Version,
        created_at: Timestamp,
        lifecycle: Lifecycle,
    ) -> Self {
        let kv_prefix = Key::type_prefix(&Namespace::agent_memory(agent.clone()), TypeTag::Kv);
        let namespace = Namespace::for_run(agent.clone(), id);
        let record_key = Key::type_prefix(&namespace, TypeTag::Run);
        let mut data_prefix = Vec::new();
        namespace.encode_into(&mut data_prefix);
        RunState {
            id,
            agent,
            parent,
            kv_prefix: kv_prefix.into_boxed_slice(),
            record_key: record_key.into_boxed_slice(),
            data_prefix: data_prefix.into_boxed_slice(),
            snapshot,
            created_at,
            lifecycle: RwLock::new(lifecycle),
            pending: Mutex::new(PendingWrites::default()),
        }
    }

    /// Whether `key` (a full encoded key) is one of this run's own records rather than agent
    /// memory.
    pub fn owns(&self, key: &[u8]) -> bool {
        key.starts_with(&self.data_prefix)
    }

    /// The run's commit lock, over its writes that are logged but not yet visible.
    pub fn pending(&self) -> MutexGuard<'_, PendingWrites> {
        // Every update under this lock is a single insert or remove.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Shared hold on the lifecycle for one commit; errors unless the run is active.
    pub fn writable(&self) -> Result<RwLockReadGuard<'_, Lifecycle>> {
        let guard = self
            .lifecycle
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn info(&self) -> RunInfo {
        let lifecycle = self
            .lifecycle
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.info_with(&lifecycle)
    }

    pub fn info_with(&self, lifecycle: &Lifecycle) -> RunInfo {
        RunInfo {
            run: self.id,
            agent: self.agent.clone(),
            parent: self.parent,
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
            status: lifecycle.status.stored(),
            snapshot: self.snapshot,
            created_at: self.created_at,
            updated_at: lifecycle.updated_at,
            ended_at: lifecycle.ended_at,
            parent: self.parent,
            tags: lifecycle.tags.clone(),
            metadata: lifecycle.metadata.clone(),
            error: lifecycle.error.clone(),
        }
    }
}

/// Every run of the database, and the snapshots they pin.
#[derive(Debug)]
pub(crate) struct RunRegistry {
    /// Distinguishes this registry in the per-thread run cache.
    id: u64,
    runs: DashMap<RunId, Arc<RunState>>,
    pub pins: Pins,
}

impl Default for RunRegistry {
    fn default() -> Self {
        RunRegistry {
            id: cache::next_registry_id(),
            runs: DashMap::new(),
            pins: Pins::default(),
        }
    }
}

impl RunRegistry {
    pub fn get(&self, run: RunId) -> Result<Arc<RunState>> {
        self.runs
            .get(&run)
            .map(|r| Arc::clone(r.value()))
            .ok_or(Error::UnknownRun { run })
    }

    /// Calls `f` with `run`'s state; the hot path of every operation, served from a per-thread
    /// cache when this thread used the same run last (see `cache.rs`).
    pub fn with<T>(&self, run: RunId, f: impl FnOnce(&RunState) -> Result<T>) -> Result<T> {
        let mut f = Some(f);
        let mut call = |state: &RunState| (f.take().expect("called once"))(state);
        if let Some(out) = cache::with_cached(self.id, run, &mut call) {
            return out;
        }
        let state = self.get(run)?;
        cache::remember(self.id, &state);
        call(&state)
    }

    /// Whether `run` exists (begun and not deleted).
    pub fn contains(&self, run: RunId) -> bool {
        self.runs.contains_key(&run)
    }

    pub fn insert(&self, state: Arc<RunState>) {
        self.runs.insert(state.id, state);
    }

    pub fn remove(&self, run: RunId) {
        self.runs.remove(&run);
        cache::forget(self.id, run);
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn all(&self) -> Vec<RunInfo> {
        let mut infos: Vec<RunInfo> = self.runs.iter().map(|r| r.value().info()).collect();
        infos.sort_by_key(|info| (info.created_at, info.run));
        infos
    }

    /// Applies a run record found in the log during recovery (later records win).
    pub fn recover(&self, run: RunId, agent: AgentId, record: &RunRecord) {
        let status = match record.status {
            StoredStatus::Active => RunStatus::Active,
            StoredStatus::Paused => RunStatus::Paused,
            StoredStatus::Completed => RunStatus::Completed,
            StoredStatus::Failed => RunStatus::Failed,
            StoredStatus::Cancelled => RunStatus::Cancelled,
        };
        let lifecycle = Lifecycle {
            status,
            updated_at: record.updated_at,
            ended_at: record.ended_at,
            tags: record.tags.clone(),
            metadata: record.metadata.clone(),
            error: record.error.clone(),
        };
        let state = RunState::new(
            run,
            agent,
            record.parent,
            record.snapshot,
            record.created_at,
            lifecycle,
        );
        self.runs.insert(run, Arc::new(state));
    }

    /// After replay: runs still active were interrupted; pin every view that must stay readable.
    /// Returns the interrupted runs.
    pub fn finish_recovery(&self) -> Vec<RunId> {
        let mut interrupted = Vec::new();
        for entry in &self.runs {
            let state = entry.value();
            let mut lifecycle = state.transition();
            match lifecycle.status {
                RunStatus::Active | RunStatus::Interrupted => {
                    lifecycle.status = RunStatus::Interrupted;
                    interrupted.push(state.id);
                    self.pins.pin(state.snapshot);
                }
                RunStatus::Paused => self.pins.pin(state.snapshot),
                _ => {
                    let ended_at = lifecycle.ended_at.unwrap_or(lifecycle.updated_at);
                    self.pins.pin_ended(state.snapshot, ended_at);
                }
            }
        }
        interrupted.sort();
        interrupted
    }
}
