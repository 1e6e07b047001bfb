//! Catch-up in shared mode: filling an agent's part of the cache with the commits this host
//! has not applied (other hosts', and its own another thread has not applied yet), and the runs
//! begun elsewhere: loading one, reading one (its agent caught up first, its status as the store
//! derives it), finding them by query, taking one over.

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{AgentId, Key, RunId, TypeTag, Version};
use in_mem_durability::{ReplayRejected, WaitFor};
use in_mem_remote::StoredRunStatus;
use in_mem_storage::{Mutation, MutationKind};

use super::runs::stored_status;
use super::shared::agent_cache;
use super::{Instance, Refreshed};
use crate::error::{Error, Result};
use crate::recovery::recover_run_record;
use crate::runs::{RunState, RunStatus};
use crate::shared::{AgentCache, SharedLog};

/// Commits fetched from the store in one catch-up request at most.
const CATCH_UP_CHUNK: u64 = 1024;
/// How long a catch-up waits for this host's own commits of a batch to be applied by their
/// committers before it asks the store for them (they are applied as the committers wake,
/// within microseconds unless a committer is descheduled).
const OWN_COMMITS_PATIENCE: Duration = Duration::from_millis(50);

impl Instance {
    /// Fills `cache`'s agent in the memtable with every commit through `through` (other hosts'
    /// commits, and this host's that another thread has not applied yet). Run records of runs
    /// this host does not own update the run registry, as a read-only open's refresh does.
    /// Then keeps the cache within its budget (the agent is held meanwhile, so it stays).
    pub(super) fn catch_up(
        &self,
        shared: &SharedLog,
        cache: &Arc<AgentCache>,
        through: Version,
    ) -> Result<()> {
        let hold = cache.hold();
        let filled = self.fill(shared, cache, through);
        self.keep_cache_in_budget(shared);
        drop(hold);
        filled
    }

    /// [`Instance::catch_up`] without the budget, the agent held by the caller.
    fn fill(&self, shared: &SharedLog, cache: &AgentCache, through: Version) -> Result<()> {
        // In chunks: a host meeting a long-lived agent for the first time neither asks the
        // store for its whole history in one answer nor holds all of it twice at once. Each
        // chunk leaves the agent's visible version at its end (its commits are dense).
        loop {
            let after = cache.visible();
            if after >= through {
                return Ok(());
            }
            // This host's own commits of one batch are applied by their committers as they
            // wake: wait for them rather than fetch what is about to be in memory.
            if cache.wait_for_own(through, OWN_COMMITS_PATIENCE) {
                return Ok(());
            }
            let upto = Version::new(
                through
                    .get()
                    .min(after.get().saturating_add(CATCH_UP_CHUNK)),
            );
            self.catch_up_chunk(shared, cache, after, upto)?;
        }
    }

    /// One chunk of [`Instance::catch_up`]: the commits `after < v <= through`.
    fn catch_up_chunk(
        &self,
        shared: &SharedLog,
        cache: &AgentCache,
        after: Version,
        through: Version,
    ) -> Result<()> {
        // Fetched without the lock, so that this host's own commits of the agent are applied
        // meanwhile; whatever they (or a concurrent catch-up) applied first is skipped below.
        let found = shared.store.catch_up(&cache.agent, after, through)?;
        found.check_dense(&cache.agent, after, through)?;
        // Everything at or below `after` was here before; above it, a collection may have
        // removed versions below its horizon before this catch-up read them.
        if found.gc_horizon > after {
            cache.note_collected(found.gc_horizon);
        }
        let mut applying = cache.applying();
        let mut versions = found.versions.into_iter().peekable();
        let mut touched = Vec::new();
        for commit in &found.commits {
            while versions.next_if(|v| v.version < commit.version).is_some() {}
            let mut mutations = Vec::new();
            let apply = !applying.has(commit.version);
            // A reload after an eviction applies commits the registry has seen already.
            let register = !cache.registered(commit.version);
            let mut records = Vec::new();
            while let Some(stored) = versions.next_if(|v| v.version == commit.version) {
                if !apply {
                    continue;
                }
                let key: Arc<[u8]> = Arc::from(stored.key);
                let value: Option<Arc<[u8]>> = stored.value.map(Arc::from);
                if register && Key::decode_type_tag(&key).is_ok_and(|t| t == TypeTag::Run) {
                    let (_, run, _) = Key::decode_owner(&key)?;
                    if let Some(value) = value.as_ref().filter(|_| !shared.owns(run)) {
                        records.push((Arc::clone(&key), Arc::clone(value), run));
                    }
                }
                mutations.push(Mutation {
                    key,
                    kind: match value {
                        Some(value) => MutationKind::Put {
                            value,
                            expires_at: stored.expires_at,
                        },
                        None => MutationKind::Delete,
                    },
                });
            }
            if apply {
                self.memtable
                    .apply(commit.version, commit.run, commit.timestamp, &mutations);
                applying.applied(commit.version, &mutations);
            }
            // Registered once the commit is visible (the commits below it are applied already,
            // in this chunk or before): a thread that finds the run in the registry then finds
            // its record in the cache. Registered before it, a call on the run from another
            // thread read its record as missing while this catch-up was under way.
            for (key, value, run) in records {
                recover_run_record(&self.runs, &key, &value).map_err(|e| rejected(&e))?;
                touched.push(run);
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
            if cache.is_evicted() {
                // Nothing of it is cached to refresh: the next call that needs it loads it.
                continue;
            }
            let before = cache.visible();
            let clock = shared.store.clock(&cache.agent)?;
            self.catch_up(shared, &cache, clock.max(cache.highest()))?;
            // An eviction meanwhile may have taken the agent back below where it was.
            commits += cache.visible().get().saturating_sub(before.get());
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

    /// Shared mode: before a call on `run`, if a catch-up after one of this host's commits of its
    /// agent failed (the commit is acknowledged and in the cache, but commits of other hosts
    /// below it are not, so the run's view stops short of it), the catch-up is tried again: the
    /// call then sees the run's own writes, or fails with the store's error, never reads short.
    /// Two atomic loads when there is no gap.
    pub(super) fn close_own_gap(&self, shared: &SharedLog, state: &RunState) -> Result<()> {
        match state.agent.cache.get() {
            Some(cache) if cache.highest() > cache.visible() => {
                self.catch_up(shared, cache, cache.highest())
            }
            _ => Ok(()),
        }
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
        let let_go = shared.take_let_go(run);
        if state.info().status.is_terminal() && !let_go {
            return Ok(());
        }
        let cache = Arc::clone(agent_cache(shared, &state));
        let clock = shared.store.clock(&cache.agent)?;
        self.catch_up(shared, &cache, clock.max(cache.highest()))?;
        if let_go {
            // While this host thought it owned the run, catch-up skipped the new owner's run
            // records as its own: its state here is taken from the newest one now.
            self.runs.refreshed(run, &|key| self.read_newest(key))?;
        }
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
    /// its owner's lease ran out); commits of its former owner are refused from now on. A run
    /// whose owner is alive is handed over only once the former owner's lease (as it stood at
    /// the takeover) has run out, so this waits up to that host's lease length; an Interrupted
    /// run is taken at once.
    pub fn take_over_run(&self, run: RunId) -> Result<()> {
        let Some(shared) = self.shared() else {
            return Err(Error::InvalidOptions {
                reason: "take_over_run is for a connected (shared mode) database: an embedded \
                         one owns all its runs"
                    .to_owned(),
            });
        };
        let row = shared.store.run(run)?.ok_or(Error::UnknownRun { run })?;
        let cache = shared.agent(&row.agent);
        // Held until the run is owned here (after which the agent is not evicted): its records
        // are read as it is loaded and taken over.
        let hold = self.hold_cache(shared, &cache)?;
        // A run whose record never reached the store (its owner died as it began) is not taken
        // over: no host could ever describe it.
        self.load_run(run)?;
        self.runs.get(run, &|key| self.read_newest(key))?;
        let start = shared.take_over_run(run)?;
        if !start.former_lease_left.is_zero() {
            // The former owner is alive and may serve reads of the run from its cache until its
            // lease would run out; by then it has learned of the takeover (its renewal asks)
            // or stopped serving. Writing before that would let it read a stale run.
            tracing::info!(%run, wait = ?start.former_lease_left, "waiting out the former owner's lease");
            std::thread::sleep(start.former_lease_left);
            // A third host may have taken the run in turn while this one waited (waiting out
            // this host's lease as it stood then, which a long wait can outlast): ownership is
            // noted from a check made now.
            let current = shared.store.run(run)?.ok_or(Error::UnknownRun { run })?;
            if current.owner != shared.host || current.epoch != start.epoch {
                return Err(Error::NotOwner {
                    run,
                    owner: current.owner,
                });
            }
        }
        let clock = shared.store.clock(&row.agent)?;
        // If this fails, the store's takeover stands and taking over again recovers (at the
        // next epoch).
        self.catch_up(shared, &cache, clock.max(cache.highest()))?;
        // Its state as its newest record says, now owned here.
        self.runs.refreshed(run, &|key| self.read_newest(key))?;
        shared.own(run, start.epoch, &cache);
        drop(hold);
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

/// A run record from the store that does not decode.
fn rejected(e: &ReplayRejected) -> Error {
    Error::Damaged {
        what: "a run record from the shared store".to_owned(),
        damage: crate::error::Damage::Record(e.to_string()),
    }
}
