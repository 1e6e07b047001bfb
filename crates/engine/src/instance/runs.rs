//! The run lifecycle of an open database: beginning a run, its transitions and tag and
//! metadata changes (each logged as the run's record, see `runs/record.rs`), deleting one, and
//! describing and finding runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use in_mem_core_types::{AgentId, RunId};
use in_mem_durability::WaitFor;
use in_mem_storage::ReadView;

use super::{Instance, RunRef};
use crate::error::{Error, Result};
use crate::runs::{Lifecycle, Origin, RunInfo, RunQuery, RunState, RunStatus};
use crate::write::{PendingOp, PendingWrite};

/// How a run's beginning behaves if its record cannot be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnLogFailure {
    /// Keep the run in memory (its first write will report the error).
    Keep,
    /// Forget the run and return the error.
    Forget,
}

impl Instance {
    /// The current stored bytes of `key` (the newest visible version), for run records.
    fn read_current(&self, key: &[u8]) -> Option<Arc<[u8]>> {
        let view = ReadView::at(self.visible_for_key(key));
        self.memtable
            .get(key, &view, self.clock.now())
            .map(|stored| stored.value)
    }

    /// Calls `f` with `run`'s state (from the calling thread's cache when it can).
    pub fn with_run<T>(&self, run: RunId, f: impl FnOnce(&RunState) -> Result<T>) -> Result<T> {
        let Some(shared) = self.shared() else {
            return self.runs.with(run, &|key| self.read_current(key), f);
        };
        if !shared.owns_confirmed(run)? {
            // Loads the run if it is unknown here, catches its agent up and holds it (see
            // `run_state`).
            let state = self.run_state(run)?;
            return f(&state);
        }
        // A run owned here is live in the registry (nothing is read to find it) and its agent
        // stays cached; it is held for the call all the same, as a takeover may let it go
        // meanwhile. `f` is called at most once.
        let called = std::cell::Cell::new(false);
        let mut f = Some(f);
        let mut call = |state: &RunState| {
            called.set(true);
            let _hold =
                self.hold_cache_briefly(shared, super::shared::agent_cache(shared, state))?;
            self.close_own_gap(shared, state)?;
            match f.take() {
                Some(f) => f(state),
                None => Err(Error::UnknownRun { run }),
            }
        };
        match self
            .runs
            .with(run, &|key| self.read_current(key), &mut call)
        {
            Err(Error::UnknownRun { .. }) if !called.get() && self.load_run(run)? => {
                self.runs.with(run, &|key| self.read_current(key), call)
            }
            done => done,
        }
    }

    /// `run`'s state: the live one, or one rebuilt from an ended run's record. In shared mode
    /// a run this host does not know yet is looked up in the store, and the run's agent is held
    /// in the cache for as long as the returned `RunRef` lives.
    pub fn run_state(&self, run: RunId) -> Result<RunRef> {
        let Some(shared) = self.shared() else {
            return Ok(RunRef::embedded(
                self.runs.get(run, &|key| self.read_current(key))?,
            ));
        };
        // The agent is held before anything of it is read (an ended run's state is rebuilt
        // from its record), and loaded again first if it was evicted.
        let agent = match self.runs.agent_of(run) {
            Some(agent) => agent,
            None if self.load_run(run)? => {
                self.runs.agent_of(run).ok_or(Error::UnknownRun { run })?
            }
            None => return Err(Error::UnknownRun { run }),
        };
        let hold = self.hold_cache(shared, super::eviction::interned_cache(shared, &agent))?;
        if !shared.owns_confirmed(run)? {
            // Another host's run (or one this host let go, or that another host took over):
            // its newest writes are in the store, not necessarily in this host's cache yet.
            self.catch_up_foreign(shared, run)?;
        }
        let state = self.runs.get(run, &|key| self.read_current(key))?;
        self.close_own_gap(shared, &state)?;
        Ok(RunRef::held(state, hold))
    }

    /// Begins run `run` of `agent` and logs its record.
    pub fn begin_run(
        &self,
        run: RunId,
        agent: &AgentId,
        origin: Origin,
        lifecycle: Lifecycle,
        wait: WaitFor,
        on_failure: OnLogFailure,
    ) -> Result<()> {
        if let Some(shared) = self.shared() {
            // The store gives the run its owner and epoch; the agent's cache is caught up to
            // at least the store's clock, which the run then reads at.
            self.begin_in_store(shared, run, agent, &origin, &lifecycle)?;
        } else {
            // A read-only open registers no run it cannot log.
            self.wal()?;
        }
        let record_lifecycle = lifecycle.clone();
        let state = self
            .runs
            .begin(
                run,
                agent,
                origin,
                lifecycle,
                || self.visible_for(agent),
                || self.swept_horizon(),
            )
            .inspect_err(|_| self.abandon_in_store(run))?;
        let result = self.write_run_record(&state, &record_lifecycle, wait);
        if result.is_err() && (on_failure == OnLogFailure::Forget || self.shared().is_some()) {
            // A shared run without its record could not be found by any host: it goes.
            self.runs.abort_begin(&state);
            self.abandon_in_store(run);
        }
        result
    }

    /// Begins run `run` as a fork of `parent` at version `point` of the parent's life: same
    /// agent, the parent's snapshot, the parent's writes and records up to `point` (and what
    /// the parent inherited), then its own. O(1) in the parent's data: nothing is copied.
    pub fn fork_run(
        &self,
        parent: &RunState,
        run: RunId,
        point: in_mem_core_types::Version,
        lifecycle: Lifecycle,
        wait: WaitFor,
    ) -> Result<()> {
        // A fork reads the agent's memory as of its parent's snapshot: if sweeps reclaimed that
        // already, every scan through the fork would fail, so `RunRegistry::begin` refuses it.
        // A parent being deleted is refused there too, and a parent with forks refuses
        // deletion: a fork never outlives the run it reads.
        let origin = parent.fork_origin(point);
        self.begin_run(
            run,
            &parent.agent.id,
            origin,
            lifecycle,
            wait,
            OnLogFailure::Forget,
        )
    }

    /// Moves `run` to status `to` (with `error` for a failed run), as the transition table
    /// allows, and logs it.
    pub fn transition_run(
        &self,
        run: RunId,
        to: RunStatus,
        error: Option<String>,
        wait: WaitFor,
    ) -> Result<()> {
        let state = self.run_state(run)?;
        let mut lifecycle = state.transition();
        let from = lifecycle.status;
        if !from.can_become(to) {
            if from.is_terminal() {
                return Err(Error::RunEnded { run });
            }
            let action = match to {
                RunStatus::Active => "resumed",
                RunStatus::Paused => "paused",
                RunStatus::Failed => "failed",
                RunStatus::Cancelled => "cancelled",
                _ => "ended",
            };
            return Err(Error::RunState {
                run,
                status: from.as_str(),
                action,
            });
        }
        let now = self.clock.now();
        // A run resumed after its grace goes on writing, but no longer pins the shared memory
        // it saw (sweeps may have taken it already): reads of that are `HistoryPruned`, its own
        // data reads as ever.
        let view_held = self.runs.interrupted_view_held(&state, now);
        let mut next = lifecycle.clone();
        next.status = to;
        next.updated_at = now;
        if to.is_terminal() {
            next.ended_at = Some(now);
            next.error = error;
        }
        // In shared mode the store takes commits (the record too) only from an Active run: a
        // paused one is made Active first, and the new status is set after the record. The
        // store's changes of this run are made in turn, in the order of the lifecycle's.
        let shared = self.shared();
        let store_turn = shared.map(|_| state.store_changes());
        if let Some(shared) = shared.filter(|_| from != RunStatus::Active) {
            shared.set_status(run, stored_status(RunStatus::Active), None)?;
        }
        self.write_run_record(&state, &next, wait)?;
        // The record says it now, for every host: so does this one, whatever follows.
        *lifecycle = next;
        let error = lifecycle.error.clone().filter(|_| to.is_terminal());
        self.runs.transitioned(&state, from, to, now, view_held);
        drop(lifecycle);
        if let Some(shared) = shared.filter(|_| to != RunStatus::Active) {
            // If this fails, the store still takes the run's commits, but this host refuses
            // them (the run is `to` here), and a host taking the run over finishes the change
            // (`take_over_run`).
            shared.set_status(run, stored_status(to), error)?;
        }
        drop(store_turn);
        Ok(())
    }

    /// Changes `run`'s tags or metadata (allowed in any status) and logs it.
    pub fn update_run(
        &self,
        run: RunId,
        change: impl FnOnce(&mut Lifecycle),
        wait: WaitFor,
    ) -> Result<()> {
        // The state is looked up (an ended run's rebuilt from its record) under the lock.
        let _serialized = self.runs.lock_record_changes();
        let state = self.run_state(run)?;
        let mut lifecycle = state.transition();
        let mut next = lifecycle.clone();
        change(&mut next);
        next.updated_at = self.clock.now();
        let retagged = next.tags != lifecycle.tags;
        if let Some(shared) = self.shared() {
            // The store takes the record only from an Active run (see `transition_run`); an
            // ended run takes nothing, and its owner has let it go.
            if lifecycle.status.is_terminal() {
                return Err(Error::SharedModeUnsupported {
                    operation: "changing an ended run's tags or metadata",
                });
            }
            // After a status change of this run still being sent (see `transition_run`).
            let _store_turn = state.store_changes();
            let paused = lifecycle.status == RunStatus::Paused;
            if paused {
                shared.set_status(run, stored_status(RunStatus::Active), None)?;
            }
            // The store's tags find runs for other hosts' queries by tag, and the record
            // decides among what they find: so the store holds the old and the new tags while
            // the record changes (a host that dies in between leaves it a superset, never
            // short of a tag the record has), and only the new ones after.
            let both: Vec<String> = {
                let mut both = lifecycle.tags.clone();
                both.extend(next.tags.iter().cloned());
                both.sort();
                both.dedup();
                both
            };
            if retagged && both != lifecycle.tags {
                shared.set_tags(run, both.clone())?;
            }
            self.write_run_record(&state, &next, wait)?;
            if paused {
                shared.set_status(run, stored_status(RunStatus::Paused), None)?;
            }
            if retagged && both != next.tags {
                shared.set_tags(run, next.tags.clone())?;
            }
        } else {
            self.write_run_record(&state, &next, wait)?;
        }
        *lifecycle = next;
        if retagged {
            self.runs.retagged(run, &lifecycle.tags);
        }
        Ok(())
    }

    /// Deletes `run`: its own records (events, cells, spans, indexes) and its run record, in one
    /// commit; the keys it wrote to the agent's memory stay (they are the agent's). Refused for a
    /// run that is active or paused.
    pub fn delete_run(&self, run: RunId, wait: WaitFor) -> Result<()> {
        if self.shared().is_some() {
            return Err(Error::SharedModeUnsupported {
                operation: "deleting a run",
            });
        }
        let _serialized = self.runs.lock_record_changes();
        let state = self.run_state(run)?;
        // Held exclusively: no commit of this run is in flight, and none can start.
        let lifecycle = state.transition();
        if matches!(lifecycle.status, RunStatus::Active | RunStatus::Paused) {
            return Err(Error::RunState {
                run,
                status: lifecycle.status.as_str(),
                action: "deleted (end it first)",
            });
        }
        self.runs.begin_delete(run)?;
        let write = PendingWrite {
            key: Arc::from(&state.data_prefix[..]),
            op: PendingOp::DeletePrefix,
        };
        if let Err(e) = self.commit(&state, &[write], &[], wait) {
            self.runs.abort_delete(run);
            return Err(e);
        }
        state.mark_deleted();
        self.runs.remove(&state);
        Ok(())
    }

    /// A description of `run`.
    pub fn run_info(&self, run: RunId) -> Result<RunInfo> {
        Ok(self.run_state(run)?.info())
    }

    /// The runs matching `query`, described, in its order. In shared mode, runs other hosts
    /// began are loaded from the store first; if that fails, the answer covers the runs this
    /// host knows, and the failure is logged ([`Instance::try_query_runs`] returns it).
    pub fn query_runs(&self, query: &RunQuery) -> Vec<RunInfo> {
        if let Some(shared) = self.shared()
            && let Err(e) = self.load_runs_matching(shared, query)
        {
            tracing::warn!(
                error = %e,
                "could not load the runs of other hosts; answering with the runs this host knows"
            );
        }
        let (infos, failed) = self.known_runs(query);
        if let Some(e) = failed {
            tracing::warn!(
                error = %e,
                "could not load an evicted agent again; its ended runs are left out of the answer"
            );
        }
        infos
    }

    /// [`Instance::query_runs`], failing if shared mode cannot reach the store.
    pub fn try_query_runs(&self, query: &RunQuery) -> Result<Vec<RunInfo>> {
        if let Some(shared) = self.shared() {
            self.load_runs_matching(shared, query)?;
        }
        match self.known_runs(query) {
            (infos, None) => Ok(infos),
            (_, Some(e)) => Err(e),
        }
    }

    /// The runs the registry knows that match `query`, described as the registry has them
    /// (in shared mode, without catching each one up: the query's loading did, though each
    /// run's agent is held, and loaded again if it was evicted since, as an ended run's state
    /// is rebuilt from its record). With the first error met, if any: the runs it kept from
    /// being described are left out.
    fn known_runs(&self, query: &RunQuery) -> (Vec<RunInfo>, Option<Error>) {
        let mut infos = Vec::new();
        let mut failed = None;
        for run in self.runs.query(query) {
            let _hold = match (self.shared(), self.runs.agent_of(run)) {
                (Some(shared), Some(agent)) => {
                    match self.hold_cache(shared, super::eviction::interned_cache(shared, &agent)) {
                        Ok(hold) => Some(hold),
                        Err(e) => {
                            failed.get_or_insert(e);
                            continue;
                        }
                    }
                }
                _ => None,
            };
            // A run deleted between the query and here is simply not described.
            if let Ok(state) = self.runs.get(run, &|key| self.read_current(key)) {
                infos.push(state.info());
            }
        }
        (infos, failed)
    }

    /// Fails unless `run` takes writes now, from this host: it is Active (and, in shared mode,
    /// owned here).
    pub fn check_writable(&self, run: RunId) -> Result<()> {
        self.with_run(run, |state| state.writable().map(drop))?;
        if let Some(shared) = self.shared() {
            shared.epoch(run)?;
        }
        Ok(())
    }

    /// How many runs are in each status. In shared mode, of every host's runs: they are loaded
    /// from the store first (on failure, logged, the counts cover the runs this host knows).
    pub fn run_counts(&self) -> BTreeMap<RunStatus, u64> {
        if let Some(shared) = self.shared()
            && let Err(e) = self.load_runs_matching(shared, &RunQuery::new())
        {
            tracing::warn!(error = %e, "could not load the runs of other hosts; counting the runs this host knows");
        }
        self.runs.counts()
    }

    fn write_run_record(
        &self,
        state: &RunState,
        lifecycle: &Lifecycle,
        wait: WaitFor,
    ) -> Result<()> {
        let value = state.record(lifecycle).encode()?;
        let write = PendingWrite {
            key: Arc::from(state.record_key()),
            op: PendingOp::Put {
                value: Arc::from(value),
                ttl: None,
            },
        };
        self.commit(state, &[write], &[], wait)?;
        Ok(())
    }
}

/// The status the store keeps for `status`.
pub(super) fn stored_status(status: RunStatus) -> in_mem_remote::StoredRunStatus {
    use in_mem_remote::StoredRunStatus as Stored;
    match status {
        RunStatus::Active => Stored::Active,
        RunStatus::Paused => Stored::Paused,
        RunStatus::Completed => Stored::Completed,
        RunStatus::Failed => Stored::Failed,
        RunStatus::Cancelled => Stored::Cancelled,
        RunStatus::Interrupted => Stored::Interrupted,
    }
}
