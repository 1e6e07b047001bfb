//! The run registry: the live runs (their full state, on the hot path), the table of every run
//! (compact summaries and the query indexes), and the snapshots runs pin.
//!
//! Only runs that have not ended keep a `RunState` here; an ended run is a summary, and its
//! state is rebuilt from its stored record when something reads through it (then kept in the
//! reading thread's cache). So 100,000 ended runs cost their summaries and index entries, not
//! 100,000 sets of locks, prefixes and metadata.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dashmap::DashMap;
use in_mem_core_types::{AgentId, Error as KeyError, Key, RunId, Timestamp, TypeTag, Version};

use super::RunStatus;
use super::cache;
use super::pins::Pins;
use super::query::RunQuery;
use super::record::{RecordHead, RunRecord};
use super::state::{Agent, Lifecycle, Origin, RunState, data_prefix};
use super::table::{Pin, RunSummary, RunTable};
use crate::error::{Damage, Error, Result};

/// Reads the current stored bytes of a key (the engine passes a memtable read).
pub(crate) type ReadRecord<'a> = &'a dyn Fn(&[u8]) -> Option<Arc<[u8]>>;

/// How long runs pin their snapshots once they no longer live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PinPolicy {
    /// After a run ends.
    pub ended_retention: Duration,
    /// After recovery finds a run interrupted.
    pub interrupted_grace: Duration,
}

/// Every run of the database, and the snapshots they pin.
#[derive(Debug)]
pub(crate) struct RunRegistry {
    /// Distinguishes this registry in the per-thread run cache; a read-only open's refresh
    /// takes a new one, so that no thread goes on using a run state the refresh replaced.
    id: AtomicU64,
    /// Looked up by every transaction: a seeded foldhash, as run ids are random already (`SipHash`
    /// was ~120 instructions of each lookup).
    live: DashMap<RunId, Arc<RunState>, foldhash::fast::RandomState>,
    table: Mutex<RunTable>,
    pins: Pins,
    policy: PinPolicy,
    /// Serializes the changes a run can take after it ended (tags, metadata, deletion). An ended
    /// run's state is rebuilt from its record at each lookup, so its own lifecycle lock is not
    /// shared between two callers; without this, two concurrent changes could each log a record
    /// built from the same old one (one lost), or a retag could log the record again after a
    /// deletion (and bring the run back, without its data, at the next open).
    record_changes: Mutex<()>,
}

impl RunRegistry {
    /// An empty registry, for recovery to fill: its indexes are built by
    /// [`RunRegistry::finish_recovery`].
    pub fn new(policy: PinPolicy) -> Self {
        let mut table = RunTable::default();
        table.defer_indexes();
        RunRegistry {
            id: AtomicU64::new(cache::next_registry_id()),
            live: DashMap::default(),
            table: Mutex::new(table),
            pins: Pins::new(policy.ended_retention),
            policy,
            record_changes: Mutex::new(()),
        }
    }

    /// Held while a run's tags or metadata change or the run is deleted (see the field).
    pub fn lock_record_changes(&self) -> MutexGuard<'_, ()> {
        self.record_changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The state of `run`: the live one, or for an ended run one rebuilt from its record.
    pub fn get(&self, run: RunId, read: ReadRecord<'_>) -> Result<Arc<RunState>> {
        if let Some(state) = self.live.get(&run)
            && !state.is_deleted()
        {
            return Ok(Arc::clone(state.value()));
        }
        let summary = self
            .table()
            .get(run)
            .cloned()
            .ok_or(Error::UnknownRun { run })?;
        if let Some(state) = summary.live {
            return Ok(state);
        }
        let record = read_record(run, &summary.agent.id, read)?;
        let origin = Origin {
            parent: summary.parent,
            fork_point: summary.fork_point,
            ancestors: self.table().ancestors(run),
        };
        Ok(Arc::new(RunState::new(
            run,
            summary.agent,
            origin,
            summary.snapshot,
            summary.created_at,
            Lifecycle::from_record(record),
        )))
    }

    /// The interned agent of `run`, if the run is known here.
    pub fn agent_of(&self, run: RunId) -> Option<Arc<Agent>> {
        if let Some(state) = self.live.get(&run) {
            return Some(Arc::clone(&state.agent));
        }
        self.table()
            .get(run)
            .map(|summary| Arc::clone(&summary.agent))
    }

    /// Calls `f` with `run`'s state; the hot path of every operation, served from a per-thread
    /// cache when this thread used the same run last (see `cache.rs`).
    pub fn with<T>(
        &self,
        run: RunId,
        read: ReadRecord<'_>,
        f: impl FnOnce(&RunState) -> Result<T>,
    ) -> Result<T> {
        let mut f = Some(f);
        let mut call = |state: &RunState| {
            if state.is_deleted() {
                return Err(Error::UnknownRun { run });
            }
            (f.take().expect("called once"))(state)
        };
        let id = self.id.load(Ordering::Acquire);
        if let Some(out) = cache::with_cached(id, run, &mut call) {
            return out;
        }
        let state = self.get(run, read)?;
        cache::remember(id, &state);
        call(&state)
    }

    /// Whether `run` exists (begun and not deleted).
    pub fn contains(&self, run: RunId) -> bool {
        self.live.contains_key(&run) || self.table().get(run).is_some()
    }

    /// How many runs exist.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Registers a new run (before its record is logged) and pins its snapshot: the one
    /// `take_snapshot` reads under the pin lock, or for a fork its parent's. Errors if the id is
    /// taken or the parent does not exist (or is being deleted), and for a fork whose parent's
    /// snapshot is below `oldest_kept` (sweeps may have reclaimed what it reads). That check and
    /// the registration happen under the table lock, which a sweep holds while it publishes its
    /// horizon and reads the forks' bounds (`fork_bounds_publishing`): a fork is either refused or
    /// counted by every sweep that could take what it reads.
    pub fn begin(
        &self,
        run: RunId,
        agent: &AgentId,
        origin: Origin,
        lifecycle: Lifecycle,
        take_snapshot: impl FnOnce() -> Version,
        oldest_kept: impl FnOnce() -> Version,
    ) -> Result<Arc<RunState>> {
        let parent = origin.parent;
        let mut table = self.table();
        if table.get(run).is_some() {
            return Err(Error::RunState {
                run,
                status: "existing",
                action: "begun again",
            });
        }
        if let Some(parent) = parent
            && table.get(parent).is_none_or(|p| p.deleting)
        {
            return Err(Error::UnknownParent { parent });
        }
        let agent = table.agent(agent);
        let tags = table.tags(&lifecycle.tags);
        let created_at = lifecycle.updated_at;
        let fork_point = origin.fork_point;
        let snapshot = match (parent, fork_point) {
            // A fork's view starts from its parent's snapshot; pinning it again does not bring
            // back what sweeps already took (reads say so).
            (Some(parent), Some(_)) => {
                let snapshot = table.get(parent).map_or(Version::ZERO, |p| p.snapshot);
                let oldest_kept = oldest_kept();
                if snapshot < oldest_kept {
                    return Err(Error::HistoryPruned {
                        run: parent,
                        at: snapshot.get(),
                        oldest_kept: oldest_kept.get(),
                    });
                }
                self.pins.pin(snapshot);
                snapshot
            }
            _ => self.pins.pin_new(take_snapshot),
        };
        let state = Arc::new(RunState::new(
            run,
            Arc::clone(&agent),
            origin,
            snapshot,
            created_at,
            lifecycle,
        ));
        table.put(
            run,
            RunSummary {
                agent,
                parent,
                fork_point,
                snapshot,
                created_at,
                status: RunStatus::Active,
                tags,
                pin: Pin::Live,
                live: Some(Arc::clone(&state)),
                deleting: false,
            },
        );
        self.live.insert(run, Arc::clone(&state));
        Ok(state)
    }

    /// Forgets a run whose beginning could not be logged.
    pub fn abort_begin(&self, state: &RunState) {
        self.table().remove(state.id);
        self.live.remove(&state.id);
        self.pins.unpin(state.snapshot);
        cache::forget(self.id.load(Ordering::Acquire), state.id);
    }

    /// Records a transition of `state` (already applied to its lifecycle and logged) from
    /// `from` to `to` at `at`, moving its pin as the run's life asks: a resumed interrupted run
    /// pins its snapshot for as long as it lives again if its view is still held
    /// ([`RunRegistry::interrupted_view_held`]: its grace has not passed), an ended run for the
    /// retention after `at`.
    pub fn transitioned(
        &self,
        state: &RunState,
        from: RunStatus,
        to: RunStatus,
        at: Timestamp,
        view_held: bool,
    ) {
        let mut table = self.table();
        let current = table.get(state.id).map_or(Pin::None, |s| s.pin);
        let next = if to.is_terminal() {
            Pin::None
        } else if from == RunStatus::Interrupted {
            if view_held { Pin::Live } else { Pin::None }
        } else {
            current
        };
        if next != current {
            self.release(state.snapshot, current);
            if next == Pin::Live {
                self.pins.pin(state.snapshot);
            }
        }
        if to.is_terminal() {
            self.pins.pin_ended(
                state.snapshot,
                at.saturating_add(self.policy.ended_retention),
            );
        }
        table.update(state.id, |summary| {
            summary.status = to;
            summary.pin = next;
            if to.is_terminal() {
                summary.live = None;
            }
        });
        if to.is_terminal() {
            self.live.remove(&state.id);
        }
    }

    /// Whether an interrupted run's view is still pinned (its grace has not passed), so that it
    /// may be resumed with the view it had.
    pub fn interrupted_view_held(&self, state: &RunState, now: Timestamp) -> bool {
        self.table()
            .get(state.id)
            .is_some_and(|s| matches!(s.pin, Pin::Until(expiry) if expiry > now))
    }

    /// Releases a run's own pin on `snapshot`.
    fn release(&self, snapshot: Version, pin: Pin) {
        match pin {
            Pin::Live => self.pins.unpin(snapshot),
            Pin::Until(expiry) => {
                self.pins.unpin_until(snapshot, expiry);
            }
            Pin::None => {}
        }
    }

    /// Records `run`'s new tags.
    pub fn retagged(&self, run: RunId, tags: &[String]) {
        let mut table = self.table();
        let tags = table.tags(tags);
        table.update(run, |summary| summary.tags = tags);
    }

    /// Marks `run` as being deleted, so that no fork of it begins from now on; refused while
    /// forks of it exist (their views read its data). Undone by `abort_delete` if the deletion
    /// cannot be logged.
    pub fn begin_delete(&self, run: RunId) -> Result<()> {
        let mut table = self.table();
        let forks = table.forks_of(run);
        if let Some(&example) = forks.first() {
            return Err(Error::HasForks {
                run,
                forks: forks.len(),
                example,
            });
        }
        table.update(run, |summary| summary.deleting = true);
        Ok(())
    }

    /// Undoes `begin_delete` for a deletion that was not logged.
    pub fn abort_delete(&self, run: RunId) {
        self.table().update(run, |summary| summary.deleting = false);
    }

    /// Takes a deleted run out of the registry and releases its pin.
    pub fn remove(&self, state: &RunState) {
        let removed = self.table().remove(state.id);
        self.live.remove(&state.id);
        // An ended run's pin is left to expire (see `pins.rs`); its own is released.
        if let Some(summary) = removed {
            self.release(state.snapshot, summary.pin);
        }
        cache::forget(self.id.load(Ordering::Acquire), state.id);
    }

    /// The runs matching `query`, in its order.
    pub fn query(&self, query: &RunQuery) -> Vec<RunId> {
        self.table().query(query)
    }

    /// The runs forked from `run` that still exist.
    pub fn forks_of(&self, run: RunId) -> Vec<RunId> {
        self.table().forks_of(run)
    }

    /// For every run that forks' views include, the versions up to which sweeps must keep its
    /// newest writes; `publish` (the sweep publishing its horizon) runs first, under the same
    /// table lock as fork registration (see `begin`).
    pub fn fork_bounds_publishing(
        &self,
        publish: impl FnOnce(),
    ) -> std::collections::HashMap<RunId, Vec<Version>> {
        let table = self.table();
        publish();
        table.fork_bounds().into_iter().collect()
    }

    /// How many runs are in each status (every status present, 0 if none).
    pub fn counts(&self) -> BTreeMap<RunStatus, u64> {
        let mut counts: BTreeMap<RunStatus, u64> = RunStatus::ALL.iter().map(|&s| (s, 0)).collect();
        for (status, n) in self.table().counts() {
            *counts.entry(status).or_default() += n as u64;
        }
        counts
    }

    /// The oldest snapshot anyone may still read at (see `pins.rs`).
    pub fn horizon(&self, now: Timestamp, visible: impl FnOnce() -> Version) -> Version {
        self.pins.horizon(now, visible)
    }

    // ----- recovery ---------------------------------------------------------------------------

    /// Applies a run record (`key`, its head) found in the log or a checkpoint; later records
    /// win. Reads the key without allocating, except the first time it meets an agent.
    pub fn recover_record(&self, key: &[u8], head: &RecordHead) -> Result<(), KeyError> {
        let (agent_len, run, _) = Key::decode_owner(key)?;
        let mut table = self.table();
        let encoded = key.get(..agent_len).unwrap_or_default();
        let agent = if let Some(agent) = table.agent_by_encoding(encoded) {
            agent
        } else {
            let decoded = Key::decode(key)?;
            table.agent(decoded.namespace().agent_id())
        };
        let tags = table.tags(&head.tags);
        if let Some(ended) = head.ended_at {
            // Pins that have expired by now go at the first horizon.
            self.pins.pin_ended(
                head.snapshot,
                ended.saturating_add(self.policy.ended_retention),
            );
        }
        table.put(
            run,
            RunSummary {
                agent,
                parent: head.parent,
                fork_point: head.fork_point,
                snapshot: head.snapshot,
                created_at: head.created_at,
                status: RunStatus::from(head.status),
                tags,
                pin: Pin::None,
                live: None,
                deleting: false,
            },
        );
        Ok(())
    }

    /// Forgets a run whose deletion the log records.
    pub fn recover_deletion(&self, run: RunId) {
        self.table().remove(run);
    }

    /// After replay: runs left active were interrupted (unless `read_only`: a read-only open
    /// beside a live writer leaves them active); live runs get their state back (from their
    /// records); every snapshot that must stay readable is pinned. Returns the interrupted
    /// runs, sorted.
    pub fn finish_recovery(
        &self,
        now: Timestamp,
        read: ReadRecord<'_>,
        read_only: bool,
    ) -> Result<Vec<RunId>> {
        let mut table = self.table();
        let mut interrupted = Vec::new();
        // The forks' ancestors, found before the summaries are borrowed for changing.
        let live_forks: Vec<RunId> = table
            .summaries_mut()
            .filter(|(_, s)| s.fork_point.is_some() && !s.status.is_terminal())
            .map(|(run, _)| *run)
            .collect();
        let mut ancestors: std::collections::HashMap<RunId, Vec<super::state::Ancestor>> =
            live_forks
                .into_iter()
                .map(|run| (run, table.ancestors(run)))
                .collect();
        for (&run, summary) in table.summaries_mut() {
            if summary.status == RunStatus::Active && !read_only {
                summary.status = RunStatus::Interrupted;
            }
            if summary.status.is_terminal() {
                // Pinned by `recover_record`, from the record's end time.
                continue;
            }
            let mut lifecycle = Lifecycle::from_record(read_record(run, &summary.agent.id, read)?);
            let origin = Origin {
                parent: summary.parent,
                fork_point: summary.fork_point,
                ancestors: ancestors.remove(&run).unwrap_or_default(),
            };
            lifecycle.status = summary.status;
            if summary.status == RunStatus::Interrupted {
                interrupted.push(run);
                let expiry = now.saturating_add(self.policy.interrupted_grace);
                self.pins.pin_until(summary.snapshot, expiry);
                summary.pin = Pin::Until(expiry);
            } else {
                self.pins.pin(summary.snapshot);
                summary.pin = Pin::Live;
            }
            let state = Arc::new(RunState::new(
                run,
                Arc::clone(&summary.agent),
                origin,
                summary.snapshot,
                summary.created_at,
                lifecycle,
            ));
            self.live.insert(run, Arc::clone(&state));
            summary.live = Some(state);
        }
        table.build_indexes();
        interrupted.sort();
        Ok(interrupted)
    }

    /// A read-only open's refresh applied a record of `run` (a new run, a transition, new tags
    /// or metadata, a deletion): its live state is rebuilt from the stored record (or dropped,
    /// for an ended or deleted run), and every thread's cached state is forgotten.
    pub fn refreshed(&self, run: RunId, read: ReadRecord<'_>) -> Result<()> {
        self.refreshed_unless(run, read, &|| false)
    }

    /// [`RunRegistry::refreshed`], unless `keep()` says, under the run table's lock, that the
    /// live state must stay (shared mode: a run this host has just come to own).
    pub fn refreshed_unless(
        &self,
        run: RunId,
        read: ReadRecord<'_>,
        keep: &dyn Fn() -> bool,
    ) -> Result<()> {
        let mut table = self.table();
        if keep() {
            return Ok(());
        }
        self.live.remove(&run);
        let ancestors = table.ancestors(run);
        let Some(summary) = table.get(run).cloned() else {
            self.id.store(cache::next_registry_id(), Ordering::Release);
            return Ok(());
        };
        if !summary.status.is_terminal() {
            let mut lifecycle = Lifecycle::from_record(read_record(run, &summary.agent.id, read)?);
            lifecycle.status = summary.status;
            let origin = Origin {
                parent: summary.parent,
                fork_point: summary.fork_point,
                ancestors,
            };
            let state = Arc::new(RunState::new(
                run,
                Arc::clone(&summary.agent),
                origin,
                summary.snapshot,
                summary.created_at,
                lifecycle,
            ));
            self.live.insert(run, Arc::clone(&state));
            table.update(run, |s| s.live = Some(state));
        }
        self.id.store(cache::next_registry_id(), Ordering::Release);
        Ok(())
    }

    fn table(&self) -> MutexGuard<'_, RunTable> {
        // Every update under this lock leaves the table consistent before it can panic.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The stored record of `run` of `agent`.
pub(crate) fn read_record(run: RunId, agent: &AgentId, read: ReadRecord<'_>) -> Result<RunRecord> {
    let key = [&data_prefix(agent, run)[..], &[TypeTag::Run.as_byte()]].concat();
    let bytes = read(&key)
        .ok_or_else(|| damaged(run, Damage::Record("its record is missing".to_owned())))?;
    RunRecord::decode(&bytes).map_err(|e| damaged(run, Damage::Record(e.to_string())))
}

fn damaged(run: RunId, damage: Damage) -> Error {
    Error::Damaged {
        what: format!("run record of {run}"),
        damage,
    }
}
