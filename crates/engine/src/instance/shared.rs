//! The instance of a connected database (shared mode): opening it, beginning runs in the store,
//! the commit path through the shipper, catch-up of other hosts' commits, and runs begun
//! elsewhere (loading one, taking one over).
//!
//! The commit path differs from the local one in where the version comes from: validation is
//! the same (a run is owned by one host, so its transactions conflict only with each other),
//! then the shipper sends the commit and the store gives it the agent's next version. The
//! writes are applied to the memtable at that version, and the agent's cache is caught up to it
//! (other hosts' commits may sit below it), so the run's next read sees its own write and every
//! commit before it.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use in_mem_core_types::{AgentId, Key, RunId, TypeTag, Version};
use in_mem_durability::{DataDir, ReplayRejected};
use in_mem_remote::{
    BeginRun, CommitId, CommitOutcome, CommitRequest, RemoteError, RemoteStore, RemoteWrite,
};
use in_mem_storage::{Memtable, Mutation, MutationKind};

use super::{Instance, Refreshed};
use crate::checkpoint::Checkpoints;
use crate::error::{Error, Result};
use crate::options::OpenOptions;
use crate::recovery::{Log, RecoveryReport, recover_run_record};
use crate::runs::{Lifecycle, Origin, PinPolicy, RunRegistry, RunState};
use crate::shared::{AgentCache, RemoteOptions, SharedLog};
use crate::version_times::RecoveredTimes;
use crate::write::{PendingOp, PendingWrite, ReadCheck, describe_key, mutation};

use super::maintenance::SweepDue;

/// How often a catch-up right after a commit is tried before the commit reports its failure.
const CATCH_UP_TRIES: u32 = 3;

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
        Ok(Arc::new(Instance {
            path,
            memtable: Memtable::new(Version::ZERO),
            runs: RunRegistry::new(policy),
            clock: Arc::clone(&options.clock),
            history: options.history,
            version_times: RecoveredTimes::new(options.clock.now()).finish(),
            swept_horizon: AtomicU64::new(0),
            sweep_due: SweepDue::new(options.sweep_interval),
            recovery: RecoveryReport::connected(),
            checkpoints: Checkpoints::new(None, u64::MAX),
            background: Mutex::new(None),
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
        if origin.fork_point.is_some() {
            return Err(Error::SharedModeUnsupported {
                operation: "forking a run",
            });
        }
        if let Some(parent) = origin.parent {
            // A parent begun on another host becomes known here first.
            self.load_run(parent)?;
        }
        let mut begin = BeginRun::new(agent.clone(), run, shared.host.clone());
        begin.parent = origin.parent;
        begin.tags.clone_from(&lifecycle.tags);
        if lifecycle.metadata != in_mem_core_types::Value::Null {
            begin.metadata = Some(lifecycle.metadata.encode()?);
        }
        let start = shared.store.begin_run(&begin)?;
        shared.own(run, start.epoch);
        let cache = shared.agent(agent);
        self.catch_up(shared, &cache, start.snapshot.max(cache.highest()))
    }

    /// Commits `writes` of `run` through the shipper (see the module docs).
    pub(super) fn commit_shared(
        &self,
        shared: &SharedLog,
        run: &RunState,
        writes: &[PendingWrite],
        reads: &[ReadCheck],
    ) -> Result<Version> {
        let epoch = shared.epoch(run.id)?;
        let request = CommitRequest {
            agent: run.agent.id.clone(),
            run: run.id,
            epoch,
            commit: CommitId::new(),
            writes: writes.iter().map(remote_write).collect::<Result<_>>()?,
        };
        let placeholder = shared.placeholder();
        {
            let mut pending = run.pending();
            self.validate(run, &pending, reads)?;
            for write in writes {
                pending.insert(Arc::clone(&write.key), placeholder);
            }
        }
        let shipped = self.ship(shared, run, epoch, writes, request);
        // The placeholders go once the commit is refused, or applied and visible to the run;
        // they stay if it may be in the store but not in the memtable (its run's transactions
        // that read those keys then fail validation rather than miss the write).
        if !matches!(shipped, Err(Shipped::Unapplied(_))) {
            let mut pending = run.pending();
            for write in writes {
                if pending.get(&write.key) == Some(&placeholder) {
                    pending.remove(&write.key);
                }
            }
        }
        shipped.map_err(Shipped::into_error)
    }

    fn ship(
        &self,
        shared: &SharedLog,
        run: &RunState,
        epoch: u64,
        writes: &[PendingWrite],
        request: CommitRequest,
    ) -> Result<Version, Shipped> {
        let cache = shared.agent(&run.agent.id);
        let outcome = shared.shipper.commit(request).map_err(|e| match e {
            RemoteError::OutcomeUnknown(_) | RemoteError::Poisoned(_) => {
                Shipped::Unapplied(e.into())
            }
            _ => Shipped::Refused(e.into()),
        })?;
        let version = match outcome {
            CommitOutcome::Committed { version, timestamp } => {
                let mutations: Vec<Mutation> =
                    writes.iter().map(|w| mutation(w, timestamp)).collect();
                let mut applying = cache.applying();
                if !applying.has(version) {
                    self.memtable.apply(version, run.id, timestamp, &mutations);
                    applying.applied(version);
                }
                version
            }
            // Sent again after a lost reply: catch-up reads what the first send wrote.
            CommitOutcome::AlreadyCommitted { version } => version,
            CommitOutcome::Fenced { current } => {
                return Err(Shipped::Refused(
                    RemoteError::Fenced {
                        run: run.id,
                        held: epoch,
                        current,
                    }
                    .into(),
                ));
            }
            CommitOutcome::RunNotWritable => {
                return Err(Shipped::Refused(why_not_writable(shared, run.id)));
            }
            CommitOutcome::CreateOnlyExists { key } => {
                return Err(Shipped::Refused(Error::Immutable {
                    key: describe_key(&key),
                }));
            }
        };
        let mut tries = 0;
        loop {
            tries += 1;
            match self.catch_up(shared, &cache, version) {
                Ok(()) => return Ok(version),
                Err(e) if tries >= CATCH_UP_TRIES => return Err(Shipped::Unapplied(e)),
                Err(e) => {
                    tracing::warn!(error = %e, "catching up after a commit failed; trying again");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Fills `cache`'s agent in the memtable with every commit through `through` (other hosts'
    /// commits, and this host's that another thread has not applied yet). Run records of runs
    /// this host does not own update the run registry, as a read-only open's refresh does.
    pub(super) fn catch_up(
        &self,
        shared: &SharedLog,
        cache: &AgentCache,
        through: Version,
    ) -> Result<()> {
        if cache.visible() >= through {
            return Ok(());
        }
        let mut applying = cache.applying();
        let after = cache.visible();
        if after >= through {
            return Ok(());
        }
        let found = shared.store.catch_up(&cache.agent, after, through)?;
        found.check_dense(&cache.agent, after, through)?;
        let mut versions = found.versions.into_iter().peekable();
        let mut touched = Vec::new();
        for commit in &found.commits {
            while versions.next_if(|v| v.version < commit.version).is_some() {}
            let mut mutations = Vec::new();
            let apply = !applying.has(commit.version);
            while let Some(stored) = versions.next_if(|v| v.version == commit.version) {
                if !apply {
                    continue;
                }
                if Key::decode_type_tag(&stored.key).is_ok_and(|t| t == TypeTag::Run) {
                    let (_, run, _) = Key::decode_owner(&stored.key)?;
                    if let Some(value) = stored.value.as_ref().filter(|_| !shared.owns(run)) {
                        recover_run_record(&self.runs, &stored.key, value)
                            .map_err(|e| rejected(&e))?;
                        touched.push(run);
                    }
                }
                mutations.push(Mutation {
                    key: Arc::from(stored.key),
                    kind: match stored.value {
                        Some(value) => MutationKind::Put {
                            value: Arc::from(value),
                            expires_at: stored.expires_at,
                        },
                        None => MutationKind::Delete,
                    },
                });
            }
            if apply {
                self.memtable
                    .apply(commit.version, commit.run, commit.timestamp, &mutations);
                applying.applied(commit.version);
            }
        }
        drop(applying);
        touched.sort_unstable();
        touched.dedup();
        for run in touched {
            self.runs.refreshed(run, &|key| self.read_newest(key))?;
        }
        Ok(())
    }

    /// Shared mode's refresh: every cached agent caught up to the store's clock.
    pub(super) fn refresh_shared(&self, shared: &SharedLog) -> Result<Refreshed> {
        let mut commits = 0;
        let mut last_version = 0;
        for cache in shared.agents() {
            let before = cache.visible();
            let clock = shared.store.clock(&cache.agent)?;
            self.catch_up(shared, &cache, clock.max(cache.highest()))?;
            commits += cache.visible().get() - before.get();
            last_version = last_version.max(cache.visible().get());
        }
        Ok(Refreshed {
            commits,
            last_version,
            unread_tail: None,
        })
    }

    /// Shared mode: makes run `run`, begun by another host, known here (its agent's cache
    /// caught up to the store's clock, which registers its record). False if the store has no
    /// such run, and always in embedded mode.
    pub(crate) fn load_run(&self, run: RunId) -> Result<bool> {
        let Some(shared) = self.shared() else {
            return Ok(false);
        };
        let Some(row) = shared.store.run(run)? else {
            return Ok(false);
        };
        let cache = shared.agent(&row.agent);
        let clock = shared.store.clock(&row.agent)?;
        self.catch_up(shared, &cache, clock.max(cache.highest()))?;
        Ok(true)
    }

    /// Shared mode: makes this host the owner of `run` (Active, Paused, or Interrupted because
    /// its owner's lease ran out); commits of its former owner are refused from now on.
    pub fn take_over_run(&self, run: RunId) -> Result<()> {
        let Some(shared) = self.shared() else {
            return Err(Error::InvalidOptions {
                reason: "take_over_run is for a connected (shared mode) database: an embedded \
                         one owns all its runs"
                    .to_owned(),
            });
        };
        let row = shared.store.run(run)?.ok_or(Error::UnknownRun { run })?;
        let start = shared.store.take_over_run(run, &shared.host)?;
        let cache = shared.agent(&row.agent);
        let clock = shared.store.clock(&row.agent)?;
        self.catch_up(shared, &cache, clock.max(cache.highest()))?;
        // Its state as its newest record says (Active: the store made it so), now owned here.
        self.runs.refreshed(run, &|key| self.read_newest(key))?;
        shared.own(run, start.epoch);
        Ok(())
    }
}

/// How a shipped commit failed: refused (nothing written), or possibly written but not applied
/// here.
enum Shipped {
    Refused(Error),
    Unapplied(Error),
}

impl Shipped {
    fn into_error(self) -> Error {
        match self {
            Shipped::Refused(e) | Shipped::Unapplied(e) => e,
        }
    }
}

/// One write as the store takes it.
fn remote_write(write: &PendingWrite) -> Result<RemoteWrite> {
    let tag = Key::decode_type_tag(&write.key)?;
    let (value, ttl) = match &write.op {
        PendingOp::Put { value, ttl } => (Some(value.to_vec()), *ttl),
        PendingOp::Delete => (None, None),
        PendingOp::DeletePrefix => {
            return Err(Error::SharedModeUnsupported {
                operation: "deleting a run",
            });
        }
    };
    Ok(RemoteWrite {
        key: write.key.to_vec(),
        tag,
        value,
        ttl,
    })
}

/// A run record from the store that does not decode.
fn rejected(e: &ReplayRejected) -> Error {
    Error::Damaged {
        what: "a run record from the shared store".to_owned(),
        damage: crate::error::Damage::Record(e.to_string()),
    }
}

/// Why the store refused a commit of `run` as not writable: it ended, or is paused.
fn why_not_writable(shared: &SharedLog, run: RunId) -> Error {
    match shared.store.run(run) {
        Ok(Some(row)) if row.status.is_ended() => Error::RunEnded { run },
        Ok(Some(row)) => Error::RunState {
            run,
            status: match row.status {
                in_mem_remote::StoredRunStatus::Paused => "paused",
                _ => "not active in the store",
            },
            action: "written to",
        },
        Ok(None) => Error::UnknownRun { run },
        Err(e) => e.into(),
    }
}
