//! The instance of a connected database (shared mode): opening it on a store, the version each
//! agent's readers see, and beginning runs in the store. The commit path is in
//! `shared_commit.rs`, catch-up and the runs begun elsewhere in `catch_up.rs`.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use in_mem_core_types::{AgentId, Key, RunId, Version};
use in_mem_durability::DataDir;
use in_mem_remote::{BeginRun, RemoteError, RemoteStore, StoredRunStatus};
use in_mem_storage::Memtable;

use super::Instance;
use super::group_apply::GroupApply;
use super::maintenance::SweepDue;
use crate::checkpoint::Checkpoints;
use crate::error::{Error, Result};
use crate::options::OpenOptions;
use crate::recovery::{Log, RecoveryReport};
use crate::runs::{Lifecycle, Origin, PinPolicy, RunRegistry, RunState};
use crate::shared::{AgentCache, RemoteOptions, SharedLog};
use crate::version_times::RecoveredTimes;

impl Instance {
    /// A database on `store`, as host `remote.host_id`: an empty cache, the lease registered.
    pub fn connect(
        store: Arc<dyn RemoteStore>,
        remote: &RemoteOptions,
        options: &OpenOptions,
    ) -> Result<Arc<Self>> {
        remote.check()?;
        let path = PathBuf::from(format!("shared:{}", store.describe()));
        let log = SharedLog::start(store, remote)?;
        let policy = PinPolicy {
            ended_retention: options.ended_run_retention,
            interrupted_grace: options.interrupted_run_grace,
        };
        let runs = RunRegistry::new(policy);
        // Nothing to recover: the registry keeps its indexes in step from the first run on.
        runs.finish_recovery(options.clock.now(), &|_| None, true)?;
        let memtable = Arc::new(Memtable::new(Version::ZERO));
        Ok(Arc::new(Instance {
            path,
            group_apply: Arc::new(GroupApply::new(Arc::clone(&memtable))),
            memtable,
            runs,
            clock: Arc::clone(&options.clock),
            history: options.history,
            version_times: RecoveredTimes::new(options.clock.now()).finish(),
            swept_horizon: AtomicU64::new(0),
            sweep_due: SweepDue::new(options.sweep_interval),
            recovery: RecoveryReport::connected(),
            checkpoints: Checkpoints::new(None, 0, u64::MAX),
            background: Mutex::new(None),
            background_holds: std::sync::atomic::AtomicUsize::new(0),
            log: Log::Shared(log),
            dir: None,
            _registration: None,
        }))
    }

    /// The shared store this database is connected to, if it is.
    pub(crate) fn shared(&self) -> Option<&SharedLog> {
        match &self.log {
            Log::Shared(shared) => Some(shared),
            _ => None,
        }
    }

    /// The local data directory (none in shared mode).
    pub(super) fn data_dir(&self) -> Result<&DataDir> {
        self.dir.as_ref().ok_or(Error::SharedModeUnsupported {
            operation: "an operation on the local directory (a checkpoint)",
        })
    }

    /// The version through which `agent`'s commits are all in the memtable: what a run begun
    /// now reads at. One counter for every agent in embedded mode, one per agent in shared mode.
    pub(crate) fn visible_for(&self, agent: &AgentId) -> Version {
        match self.shared() {
            Some(shared) => shared.agent(agent).visible(),
            None => self.memtable.versions().visible(),
        }
    }

    /// Waits until commit `v` is visible, after a conflict with it. In shared mode a commit is
    /// visible to its run before its committer returns (catch-up), so there is nothing to wait
    /// for (and `v` may be the stand-in of a commit in flight).
    pub(crate) fn wait_applied(&self, v: Version) {
        if self.shared().is_none() {
            self.memtable.versions().wait_visible(v);
        }
    }

    /// [`Instance::visible_for`] `run`'s agent, without a lookup by name after the first.
    pub(crate) fn visible_for_run(&self, run: &RunState) -> Version {
        match self.shared() {
            Some(shared) => agent_cache(shared, run).visible(),
            None => self.memtable.versions().visible(),
        }
    }

    /// [`Instance::visible_for`] the agent of an encoded key.
    pub(super) fn visible_for_key(&self, key: &[u8]) -> Version {
        if self.shared().is_none() {
            return self.memtable.versions().visible();
        }
        Key::decode(key).map_or(Version::ZERO, |k| {
            self.visible_for(k.namespace().agent_id())
        })
    }

    /// Registers run `run` in the store (owned by this host) and catches its agent's cache up
    /// to the store's clock, which the run then reads at.
    pub(super) fn begin_in_store(
        &self,
        shared: &SharedLog,
        run: RunId,
        agent: &AgentId,
        origin: &Origin,
        lifecycle: &Lifecycle,
    ) -> Result<()> {
        if let Some(parent) = origin.parent {
            // A parent begun on another host becomes known here first.
            self.load_run(parent)?;
        }
        // A fork is O(1) here too: the store records its parent and fork point, and its view
        // (its parent's snapshot, the parent's writes up to the fork point, then its own) is
        // read from the agent's versions as they are, which catch-up brings into this cache.
        let mut begin = BeginRun::new(agent.clone(), run, shared.host.clone());
        begin.parent = origin.parent;
        begin.fork_point = origin.fork_point;
        begin.tags.clone_from(&lifecycle.tags);
        if lifecycle.metadata != in_mem_core_types::Value::Null {
            begin.metadata = Some(lifecycle.metadata.encode()?);
        }
        let start = shared.begin_run(begin).map_err(|e| match e {
            // Begun already (perhaps by another host, with an id both derived from the same
            // name): the same error as an embedded database's for an id it knows.
            RemoteError::RunExists(run) => Error::RunState {
                run,
                status: "existing",
                action: "begun again",
            },
            // The parent's history the fork would read was collected in the store.
            RemoteError::ForkPruned { parent, horizon } => Error::HistoryPruned {
                run: parent,
                at: origin.fork_point.map_or(0, in_mem_core_types::Version::get),
                oldest_kept: horizon.get(),
            },
            other => other.into(),
        })?;
        let cache = shared.agent(agent);
        // Owned before the catch-up: the agent is not evicted from here on, so the snapshot the
        // run is given next (the agent's visible version) is what the catch-up reached.
        shared.own(run, start.epoch, &cache);
        self.catch_up(shared, &cache, start.snapshot.max(cache.highest()))
            .inspect_err(|_| self.abandon_in_store(run))
    }

    /// Shared mode: a run registered in the store that could not be begun here is cancelled
    /// there (best effort: if that fails too, its lease runs out and it reads Interrupted).
    pub(super) fn abandon_in_store(&self, run: RunId) {
        let Some(shared) = self.shared() else { return };
        if let Err(e) = shared.set_status(run, StoredRunStatus::Cancelled, None) {
            tracing::warn!(%run, error = %e, "could not cancel a run that failed to begin");
        }
        shared.disown(run);
    }
}

/// The cache state of `run`'s agent: found by name once, then kept with the interned agent.
pub(super) fn agent_cache<'a>(shared: &SharedLog, run: &'a RunState) -> &'a Arc<AgentCache> {
    super::eviction::interned_cache(shared, &run.agent)
}
