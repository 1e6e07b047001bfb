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
use in_mem_durability::{DataDir, ReplayRejected, WaitFor};
use in_mem_remote::{
    BeginRun, CommitId, CommitOutcome, CommitRequest, RemoteError, RemoteStore, RemoteWrite,
    StoredRunStatus, Ticket,
};
use in_mem_storage::{Memtable, Mutation, MutationKind};

use super::runs::stored_status;
use super::{Instance, Refreshed};
use crate::checkpoint::Checkpoints;
use crate::error::{Error, Result};
use crate::options::OpenOptions;
use crate::recovery::{Log, RecoveryReport, recover_run_record};
use crate::runs::{Lifecycle, Origin, PinPolicy, RunRegistry, RunState, RunStatus};
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
        let runs = RunRegistry::new(policy);
        // Nothing to recover: the registry keeps its indexes in step from the first run on.
        runs.finish_recovery(options.clock.now(), &|_| None, true)?;
        Ok(Arc::new(Instance {
            path,
            memtable: Memtable::new(Version::ZERO),
            runs,
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

    /// [`Instance::visible_for`] `run`'s agent, without a lookup by name after the first.
    pub(crate) fn visible_for_run(&self, run: &RunState) -> Version {
        match self.shared() {
            Some(shared) => run
                .agent
                .cache
                .get_or_init(|| shared.agent(&run.agent.id))
                .visible(),
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
        let start = shared.store.begin_run(&begin)?;
        shared.own(run, start.epoch);
        let cache = shared.agent(agent);
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

    /// Commits `writes` of `run` through the shipper (see the module docs).
    pub(super) fn commit_shared(
        &self,
        shared: &SharedLog,
        run: &RunState,
        writes: &[PendingWrite],
        reads: &[ReadCheck],
    ) -> Result<Version> {
        let epoch = shared.epoch(run.id)?;
        let cache = Arc::clone(run.agent.cache.get_or_init(|| shared.agent(&run.agent.id)));
        if cache.highest() > cache.visible() {
            // An earlier commit's catch-up failed: the run's view lacks writes below its newest,
            // so validating against it now could pass a stale read.
            self.catch_up(shared, &cache, cache.highest())?;
        }
        let request = CommitRequest {
            agent: run.agent.id.clone(),
            run: run.id,
            epoch,
            commit: CommitId::new(),
            writes: writes.iter().map(remote_write).collect::<Result<_>>()?,
        };
        let placeholder = shared.placeholder();
        let ticket = {
            let mut pending = run.pending();
            self.validate(run, &pending, reads)?;
            // Queued under the lock: the run's commits reach the store, and get their versions,
            // in the order they were validated and registered here, so the newest entry of a key
            // in the pending map is always its newest commit (as in embedded mode).
            let ticket = shared.shipper.enqueue(request)?;
            for write in writes {
                pending.insert(Arc::clone(&write.key), placeholder);
            }
            ticket
        };
        let shipped = self.ship(shared, run, &cache, epoch, writes, ticket);
        let mut pending = run.pending();
        for write in writes {
            if pending.get(&write.key) != Some(&placeholder) {
                continue;
            }
            match &shipped {
                // Refused, or applied and visible to the run: nothing left to guard.
                Shipped::Visible(_) | Shipped::Refused(_) => {
                    pending.remove(&write.key);
                }
                // In the memtable but not yet visible to the run (a catch-up failed): the key's
                // entry names the commit's version, which a later catch-up makes visible.
                Shipped::Invisible(version) => {
                    pending.insert(Arc::clone(&write.key), *version);
                }
                // Perhaps in the store, not here: reads of these keys fail validation (they
                // cannot match a stand-in) rather than miss the write. The shipper refuses every
                // later commit after such an outcome, so nothing can depend on it.
                Shipped::Unknown(_) => {}
            }
        }
        drop(pending);
        match shipped {
            Shipped::Visible(version) | Shipped::Invisible(version) => Ok(version),
            Shipped::Refused(e) | Shipped::Unknown(e) => Err(e),
        }
    }

    /// Waits for the commit `ticket` names and applies it; see `commit_shared`.
    fn ship(
        &self,
        shared: &SharedLog,
        run: &RunState,
        cache: &AgentCache,
        epoch: u64,
        writes: &[PendingWrite],
        ticket: Ticket,
    ) -> Shipped {
        let outcome = match shared.shipper.wait(ticket) {
            Ok(outcome) => outcome,
            Err(e @ RemoteError::OutcomeUnknown(_)) => return Shipped::Unknown(e.into()),
            // Refused whole, never sent, or not sent after an earlier batch's unknown outcome.
            Err(e) => return Shipped::Refused(e.into()),
        };
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
                // Another host owns the run now: its records, which catch-up brings, say what
                // the run has become.
                shared.disown(run.id);
                return Shipped::Refused(
                    RemoteError::Fenced {
                        run: run.id,
                        held: epoch,
                        current,
                    }
                    .into(),
                );
            }
            CommitOutcome::RunNotWritable => {
                return Shipped::Refused(why_not_writable(shared, run.id));
            }
            CommitOutcome::CreateOnlyExists { key } => {
                return Shipped::Refused(Error::Immutable {
                    key: describe_key(&key),
                });
            }
        };
        for attempt in 1..=CATCH_UP_TRIES {
            match self.catch_up(shared, cache, version) {
                Ok(()) => return Shipped::Visible(version),
                Err(e) => {
                    tracing::warn!(
                        attempt,
                        error = %e,
                        "catching up after a commit failed; the run will see its write once a \
                         later catch-up succeeds"
                    );
                    if attempt < CATCH_UP_TRIES {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        // Committed and acknowledged: the write is in the store and the memtable, and the
        // next commit of the agent (or `refresh`) catches up first.
        Shipped::Invisible(version)
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
        let after = cache.visible();
        if after >= through {
            return Ok(());
        }
        // Fetched without the lock, so that this host's own commits of the agent are applied
        // meanwhile; whatever they (or a concurrent catch-up) applied first is skipped below.
        let found = shared.store.catch_up(&cache.agent, after, through)?;
        found.check_dense(&cache.agent, after, through)?;
        let mut applying = cache.applying();
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
            // Checked again under the run table's lock: a takeover on another thread may have
            // made this host the run's owner since the record was applied.
            self.runs
                .refreshed_unless(run, &|key| self.read_newest(key), &|| shared.owns(run))?;
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
        self.observe_store_status(shared, &row);
        Ok(true)
    }

    /// Shared mode: before a read of `run`, which this host does not own, catches its agent's
    /// cache up to the store's clock, so that the read sees everything its owner committed
    /// (a run already ended here needs none: its last writes came before its ending record).
    /// Loads the run if this host does not know it yet.
    pub(super) fn catch_up_foreign(&self, shared: &SharedLog, run: RunId) -> Result<()> {
        let read = |key: &[u8]| self.read_newest(key);
        let state = match self.runs.get(run, &read) {
            // Loading it catches its agent up and takes its status from the store.
            Err(Error::UnknownRun { .. }) => return self.load_run(run).map(drop),
            found => found?,
        };
        if state.info().status.is_terminal() {
            return Ok(());
        }
        let cache = Arc::clone(
            state
                .agent
                .cache
                .get_or_init(|| shared.agent(&state.agent.id)),
        );
        let clock = shared.store.clock(&cache.agent)?;
        self.catch_up(shared, &cache, clock.max(cache.highest()))?;
        if let Some(row) = shared.store.run(run)? {
            self.observe_store_status(shared, &row);
        }
        Ok(())
    }

    /// Shared mode: a run another host owns reads Interrupted once its owner's lease has run out,
    /// which no record says (its owner is gone): the store's derived status is taken over into
    /// the registry, and back to Active if the owner renews its lease or a host takes it over.
    fn observe_store_status(&self, shared: &SharedLog, row: &in_mem_remote::RunRow) {
        let observed = match row.status {
            StoredRunStatus::Interrupted => RunStatus::Interrupted,
            StoredRunStatus::Active => RunStatus::Active,
            _ => return,
        };
        if shared.owns(row.run) {
            return;
        }
        let Ok(state) = self.runs.get(row.run, &|key| self.read_newest(key)) else {
            return;
        };
        let mut lifecycle = state.transition();
        let from = lifecycle.status;
        if from == observed || !matches!(from, RunStatus::Active | RunStatus::Interrupted) {
            return;
        }
        lifecycle.status = observed;
        drop(lifecycle);
        self.runs
            .transitioned(&state, from, observed, self.clock.now(), false);
    }

    /// Shared mode: makes every run the store has that may match `query` known here (each of
    /// their agents caught up to the store's clock, which registers their records).
    pub(super) fn load_runs_matching(
        &self,
        shared: &SharedLog,
        query: &crate::runs::RunQuery,
    ) -> Result<()> {
        let rows = shared.store.runs(&query.in_store())?;
        let mut agents: Vec<&AgentId> = rows.iter().map(|row| &row.agent).collect();
        agents.sort_unstable();
        agents.dedup();
        for agent in agents {
            let cache = shared.agent(agent);
            let clock = shared.store.clock(agent)?;
            self.catch_up(shared, &cache, clock.max(cache.highest()))?;
        }
        for row in &rows {
            self.observe_store_status(shared, row);
        }
        Ok(())
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
        // A run whose record never reached the store (its owner died as it began) is not taken
        // over: no host could ever describe it.
        self.load_run(run)?;
        self.runs.get(run, &|key| self.read_newest(key))?;
        let start = shared.store.take_over_run(run, &shared.host)?;
        let cache = shared.agent(&row.agent);
        let clock = shared.store.clock(&row.agent)?;
        // If this fails, the store's takeover stands and taking over again recovers (at the
        // next epoch).
        self.catch_up(shared, &cache, clock.max(cache.highest()))?;
        // Its state as its newest record says, now owned here.
        self.runs.refreshed(run, &|key| self.read_newest(key))?;
        shared.own(run, start.epoch);
        let status = self.run_state(run)?.info().status;
        if status.is_terminal() {
            // Its former owner wrote the ending record and died before the store heard of it:
            // the store is told now, and the run stays ended.
            shared.set_status(run, stored_status(status), None)?;
        } else if status != RunStatus::Active {
            // The store made it Active: so does its record.
            self.transition_run(run, RunStatus::Active, None, WaitFor::Synced)?;
        }
        Ok(())
    }
}

/// What became of a shipped commit.
enum Shipped {
    /// Committed, and visible to its run.
    Visible(Version),
    /// Committed and in the memtable, but a commit of another host below it is not yet.
    Invisible(Version),
    /// Refused: nothing was written.
    Refused(Error),
    /// Perhaps committed: the outcome was lost.
    Unknown(Error),
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
