//! `MemStore`: the backend boundary implemented in process, for unit and model tests. It keeps
//! the same semantics as a real store (per-agent dense clocks, fencing, idempotent commits,
//! create-only keys, leases on the store's clock) deterministically, and fails on request:
//! unavailable calls, commits whose request or reply is lost, and run changes whose reply is
//! lost.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use in_mem_core_types::{AgentId, RunId, Timestamp, TypeTag, Version};

use super::RemoteStore;
use super::types::{
    BeginRun, CatchUp, CommitId, CommitOutcome, CommitRecord, CommitRequest, GcPolicy, GcReport,
    RemoteError, RemoteResult, RemoteRunQuery, RemoteView, RunRow, RunStart, RunUpdate, StoreStats,
    StoredRunStatus, StoredVersion,
};
use in_mem_core_types::{Clock, SystemClock};
use uuid::Uuid;

/// A failure `MemStore` injects into a later call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemStoreFault {
    /// The next call fails with `Unavailable` and changes nothing.
    Unavailable,
    /// The next commit batch never arrives: `OutcomeUnknown`, nothing applied.
    LoseCommitRequest,
    /// The next commit batch is applied but its reply is lost: `OutcomeUnknown`.
    LoseCommitReply,
    /// The next `begin_run`, `take_over_run` or `update_run` is applied but its reply is lost:
    /// `OutcomeUnknown`.
    LoseRunReply,
}

/// How often some calls reached a [`MemStore`], for tests of what a host asks the store.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemStoreCalls {
    /// Commit batches that arrived.
    pub commit_batches: u64,
    /// Commits in them.
    pub commits: u64,
    /// Catch-ups that arrived.
    pub catch_ups: u64,
}

/// An in-process [`RemoteStore`].
#[derive(Debug)]
pub struct MemStore {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each host's lease: until when it holds.
    leases: HashMap<String, Timestamp>,
    agents: BTreeMap<AgentId, AgentState>,
    /// Each run's row with its stored status (`visible_row` derives `Interrupted`).
    runs: HashMap<RunId, RunRow>,
    /// The request that registered each run (see `BeginRun::request`).
    begin_requests: HashMap<RunId, Uuid>,
    /// Runs in the order they began, for queries.
    run_order: Vec<RunId>,
    faults: VecDeque<MemStoreFault>,
    /// While set, every catch-up fails with `Unavailable`.
    catch_up_unavailable: bool,
    /// Calls so far (see [`MemStore::calls`]).
    calls: MemStoreCalls,
    /// Each run's handover: until when its former owner may still read it from its cache.
    handovers: HashMap<RunId, Timestamp>,
}

#[derive(Debug, Default)]
struct AgentState {
    clock: u64,
    /// The horizon of the newest collection: versions below it may be gone.
    gc_horizon: Version,
    /// Every stored version of every key, by key then version.
    keys: BTreeMap<Vec<u8>, BTreeMap<Version, StoredVersion>>,
    commits: BTreeMap<Version, CommitRecord>,
    commit_ids: HashMap<CommitId, Version>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store on `clock` (a `ManualClock` moves leases and TTLs by hand).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemStore {
            clock,
            state: Mutex::new(State::default()),
        }
    }

    /// While `unavailable`, every catch-up fails with `Unavailable` (other calls go on): the
    /// store lost between a commit's reply and the fetch that follows it.
    pub fn set_catch_up_unavailable(&self, unavailable: bool) {
        self.lock().catch_up_unavailable = unavailable;
    }

    /// How often commit batches and catch-ups reached the store so far.
    pub fn calls(&self) -> MemStoreCalls {
        self.lock().calls
    }

    /// Queues `fault` for a later call (faults fire in the order they were queued).
    pub fn inject(&self, fault: MemStoreFault) {
        self.lock().faults.push_back(fault);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is changed only where a panic cannot leave it half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, after the next queued `Unavailable` fault (if it is first) has fired.
    fn enter(&self) -> RemoteResult<MutexGuard<'_, State>> {
        let mut state = self.lock();
        if state.faults.front() == Some(&MemStoreFault::Unavailable) {
            state.faults.pop_front();
            return Err(RemoteError::Unavailable(
                "injected: store unavailable".into(),
            ));
        }
        Ok(state)
    }

    /// `answer`, or `OutcomeUnknown` if a `LoseRunReply` fault was first in line when `state`
    /// was entered (the change is made either way).
    fn lose_run_reply<T>(
        state: &mut State,
        answer: impl FnOnce(&mut State) -> RemoteResult<T>,
    ) -> RemoteResult<T> {
        let lose = state.faults.front() == Some(&MemStoreFault::LoseRunReply);
        if lose {
            state.faults.pop_front();
        }
        let answer = answer(state);
        if lose {
            return Err(RemoteError::OutcomeUnknown("injected: reply lost".into()));
        }
        answer
    }
}

impl State {
    /// The oldest snapshot in `run`'s lineage (itself and the runs it was forked from): what
    /// its view, and a fork of it, reads from. A fork's own snapshot is the clock at its fork.
    fn lineage_snapshot(&self, run: RunId) -> Version {
        let mut oldest = Version::MAX;
        let mut next = Some(run);
        while let Some(id) = next {
            let Some(row) = self.runs.get(&id) else { break };
            oldest = oldest.min(row.snapshot);
            next = row.parent.filter(|p| *p != id);
        }
        oldest
    }

    /// See [`RemoteStore::collect_garbage`]: the horizon computed from the runs, recorded, and
    /// what no view reads below it removed.
    fn collect_garbage(&mut self, agent: &AgentId, policy: &GcPolicy, now: Timestamp) -> GcReport {
        let Some(clock) = self.agents.get(agent).map(|a| Version::new(a.clock)) else {
            return GcReport::default();
        };
        let retained_since = now
            .as_micros()
            .saturating_sub(micros(policy.ended_retention));
        let mut horizon = clock;
        for row in self.runs.values().filter(|r| r.agent == *agent) {
            let retained = row
                .ended_at
                .is_none_or(|ended| ended.as_micros() > retained_since);
            // An Interrupted run (Active, its owner's lease run out) pins for its grace.
            let past_grace = row.status == StoredRunStatus::Active
                && self.leases.get(&row.owner).is_some_and(|until| {
                    until
                        .as_micros()
                        .saturating_add(micros(policy.interrupted_grace))
                        <= now.as_micros()
                });
            if (!row.status.is_ended() && !past_grace) || (row.status.is_ended() && retained) {
                horizon = horizon.min(self.lineage_snapshot(row.run));
            }
        }
        let Some(state) = self.agents.get(agent) else {
            return GcReport::default();
        };
        if !policy.keep_for.is_zero() {
            let cutoff = now.as_micros().saturating_sub(micros(policy.keep_for));
            let by_time = state
                .commits
                .values()
                .filter(|c| c.timestamp.as_micros() <= cutoff)
                .map(|c| c.version)
                .max()
                .unwrap_or(Version::ZERO);
            horizon = horizon.min(by_time);
        }
        let horizon = horizon.max(state.gc_horizon);
        // Each run's bounds in forks' views: a fork reads its parent up to its fork point, that
        // parent's parent up to the lower of the two fork points, and so on up its lineage.
        let mut forks: HashMap<RunId, Vec<Version>> = HashMap::new();
        for row in self.runs.values() {
            let (mut parent, mut bound) = (row.parent, row.fork_point);
            let mut steps = 0;
            while let (Some(run), Some(upto)) = (parent, bound) {
                forks.entry(run).or_default().push(upto);
                let Some(up) = self.runs.get(&run) else { break };
                parent = up.parent.filter(|p| *p != run);
                bound = up.fork_point.map(|point| point.min(upto));
                steps += 1;
                if steps > self.runs.len() {
                    break;
                }
            }
        }
        let Some(state) = self.agents.get_mut(agent) else {
            return GcReport::default();
        };
        state.gc_horizon = horizon;
        let mut removed = 0;
        for versions in state.keys.values_mut() {
            let all: Vec<(Version, RunId)> =
                versions.values().map(|v| (v.version, v.run)).collect();
            let doomed: Vec<Version> = all
                .iter()
                .enumerate()
                .filter(|&(i, &(version, run))| {
                    let newer = &all[i + 1..];
                    let superseded = version < horizon && newer.iter().any(|(n, _)| *n <= horizon);
                    let written_again = newer.iter().any(|(_, r)| *r == run);
                    let forked_from = forks.get(&run).is_some_and(|points| {
                        points.iter().any(|point| {
                            *point >= version && !newer.iter().any(|(n, r)| *r == run && n <= point)
                        })
                    });
                    let enough_newer = newer.iter().filter(|(n, _)| *n <= horizon).count()
                        >= policy.keep_min_versions as usize;
                    superseded && written_again && !forked_from && enough_newer
                })
                .map(|(_, &(version, _))| version)
                .collect();
            for version in doomed {
                versions.remove(&version);
                removed += 1;
            }
        }
        GcReport { removed, horizon }
    }
    fn begin_run(&mut self, begin: &BeginRun, now: Timestamp) -> RemoteResult<RunStart> {
        if !self.lease_holds(&begin.host, now) {
            return Err(RemoteError::NoLease(begin.host.clone()));
        }
        if let Some(row) = self.runs.get(&begin.run) {
            // Sent again after a lost answer: answered as the first send was, while nothing
            // happened to the run since (no takeover, no end).
            let untouched = row.owner == begin.host && row.epoch == 1 && !row.status.is_ended();
            if untouched && self.begin_requests.get(&begin.run) == Some(&begin.request) {
                return Ok(RunStart::begun(row.snapshot));
            }
            return Err(RemoteError::RunExists(begin.run));
        }
        if let Some(parent) = begin.parent {
            let horizon = self
                .agents
                .get(&begin.agent)
                .map_or(Version::ZERO, |a| a.gc_horizon);
            if self.lineage_snapshot(parent) < horizon {
                return Err(RemoteError::ForkPruned { parent, horizon });
            }
        }
        let snapshot = Version::new(self.agents.entry(begin.agent.clone()).or_default().clock);
        let row = RunRow {
            run: begin.run,
            agent: begin.agent.clone(),
            parent: begin.parent,
            fork_point: begin.fork_point,
            snapshot,
            status: StoredRunStatus::Active,
            owner: begin.host.clone(),
            epoch: 1,
            created_at: now,
            updated_at: now,
            ended_at: None,
            tags: tag_set(&begin.tags),
            metadata: begin.metadata.clone(),
            error: None,
        };
        self.runs.insert(begin.run, row);
        self.run_order.push(begin.run);
        self.begin_requests.insert(begin.run, begin.request);
        Ok(RunStart::begun(snapshot))
    }

    fn take_over_run(&mut self, run: RunId, host: &str, now: Timestamp) -> RemoteResult<RunStart> {
        if !self.lease_holds(host, now) {
            return Err(RemoteError::NoLease(host.to_owned()));
        }
        let row = self.runs.get(&run).ok_or(RemoteError::NoSuchRun(run))?;
        if row.status.is_ended() {
            return Err(RemoteError::RunEnded {
                run,
                status: row.status,
            });
        }
        // The handover lasts until the former owner's lease ends; taking the run again (a
        // retry, another thread of the new owner) waits out what is left of it.
        let mut until = self
            .handovers
            .get(&run)
            .copied()
            .unwrap_or(Timestamp::EPOCH);
        if row.owner != host
            && let Some(&lease) = self.leases.get(&row.owner)
        {
            until = until.max(lease);
        }
        self.handovers.insert(run, until);
        let row = self.runs.get_mut(&run).ok_or(RemoteError::NoSuchRun(run))?;
        row.epoch += 1;
        host.clone_into(&mut row.owner);
        row.status = StoredRunStatus::Active;
        row.updated_at = now;
        Ok(RunStart {
            snapshot: row.snapshot,
            epoch: row.epoch,
            former_lease_left: until.saturating_since(now),
        })
    }

    fn update_run(&mut self, update: &RunUpdate, now: Timestamp) -> RemoteResult<RunRow> {
        if update.status == Some(StoredRunStatus::Interrupted) {
            return Err(RemoteError::Store(
                "Interrupted is derived from the owner's lease and is never set".into(),
            ));
        }
        let row = self
            .runs
            .get_mut(&update.run)
            .ok_or(RemoteError::NoSuchRun(update.run))?;
        if row.epoch != update.epoch {
            return Err(RemoteError::Fenced {
                run: update.run,
                held: update.epoch,
                current: row.epoch,
            });
        }
        if row.status.is_ended() {
            if ends_again(update, row.status) {
                let row = row.clone();
                return Ok(self.visible_row(&row, now));
            }
            return Err(RemoteError::RunEnded {
                run: update.run,
                status: row.status,
            });
        }
        if let Some(status) = update.status {
            row.status = status;
            if status.is_ended() {
                row.ended_at = Some(now);
            }
        }
        if let Some(error) = &update.error {
            row.error = Some(error.clone());
        }
        if let Some(tags) = &update.tags {
            row.tags = tag_set(tags);
        }
        if let Some(metadata) = &update.metadata {
            row.metadata = Some(metadata.clone());
        }
        row.updated_at = now;
        let row = row.clone();
        Ok(self.visible_row(&row, now))
    }

    fn lease_holds(&self, host: &str, now: Timestamp) -> bool {
        self.leases.get(host).is_some_and(|until| now < *until)
    }

    /// The row as readers see it: Active with an expired owner lease reads as Interrupted.
    fn visible_row(&self, stored: &RunRow, now: Timestamp) -> RunRow {
        let mut row = stored.clone();
        if row.status == StoredRunStatus::Active && !self.lease_holds(&row.owner, now) {
            row.status = StoredRunStatus::Interrupted;
        }
        row
    }

    fn commit_one(&mut self, request: &CommitRequest, now: Timestamp) -> CommitOutcome {
        let agent = self.agents.entry(request.agent.clone()).or_default();
        if let Some(version) = agent.commit_ids.get(&request.commit) {
            return CommitOutcome::AlreadyCommitted { version: *version };
        }
        let Some(run) = self.runs.get(&request.run) else {
            return CommitOutcome::RunNotWritable;
        };
        if run.status != StoredRunStatus::Active || run.agent != request.agent {
            return CommitOutcome::RunNotWritable;
        }
        if run.epoch != request.epoch {
            return CommitOutcome::Fenced { current: run.epoch };
        }
        let mut created = std::collections::HashSet::new();
        for write in request.writes.iter().filter(|w| w.tag == TypeTag::Event) {
            if agent.keys.contains_key(&write.key) || !created.insert(write.key.as_slice()) {
                return CommitOutcome::CreateOnlyExists {
                    key: write.key.clone(),
                };
            }
        }
        agent.clock += 1;
        let version = Version::new(agent.clock);
        for write in &request.writes {
            let stored = StoredVersion {
                key: write.key.clone(),
                version,
                run: request.run,
                timestamp: now,
                expires_at: write.ttl.map(|ttl| now.saturating_add(ttl)),
                value: write.value.clone(),
            };
            agent
                .keys
                .entry(write.key.clone())
                .or_default()
                .insert(version, stored);
        }
        agent.commits.insert(
            version,
            CommitRecord {
                version,
                run: request.run,
                commit: request.commit,
                timestamp: now,
            },
        );
        agent.commit_ids.insert(request.commit, version);
        CommitOutcome::Committed {
            version,
            timestamp: now,
        }
    }
}

impl RemoteStore for MemStore {
    fn describe(&self) -> String {
        "in-process MemStore".into()
    }

    fn now(&self) -> RemoteResult<Timestamp> {
        drop(self.enter()?);
        Ok(self.clock.now())
    }

    fn renew_lease(&self, host: &str, ttl: Duration) -> RemoteResult<()> {
        let mut state = self.enter()?;
        let until = self.clock.now().saturating_add(ttl);
        state.leases.insert(host.to_owned(), until);
        Ok(())
    }

    fn begin_run(&self, begin: &BeginRun) -> RemoteResult<RunStart> {
        let mut state = self.enter()?;
        let now = self.clock.now();
        Self::lose_run_reply(&mut state, |state| state.begin_run(begin, now))
    }

    fn take_over_run(&self, run: RunId, host: &str) -> RemoteResult<RunStart> {
        let mut state = self.enter()?;
        let now = self.clock.now();
        Self::lose_run_reply(&mut state, |state| state.take_over_run(run, host, now))
    }

    fn owned_runs(&self, host: &str) -> RemoteResult<Vec<(RunId, u64)>> {
        let state = self.enter()?;
        Ok(state
            .run_order
            .iter()
            .filter_map(|run| state.runs.get(run))
            .filter(|row| row.owner == host && !row.status.is_ended())
            .map(|row| (row.run, row.epoch))
            .collect())
    }

    fn update_run(&self, update: &RunUpdate) -> RemoteResult<RunRow> {
        let mut state = self.enter()?;
        let now = self.clock.now();
        Self::lose_run_reply(&mut state, |state| state.update_run(update, now))
    }

    fn commit_batch(&self, batch: &[CommitRequest]) -> RemoteResult<Vec<CommitOutcome>> {
        let mut state = self.enter()?;
        state.calls.commit_batches += 1;
        state.calls.commits += batch.len() as u64;
        let fault = match state.faults.front() {
            Some(f @ (MemStoreFault::LoseCommitRequest | MemStoreFault::LoseCommitReply)) => {
                let f = *f;
                state.faults.pop_front();
                Some(f)
            }
            _ => None,
        };
        if fault == Some(MemStoreFault::LoseCommitRequest) {
            return Err(RemoteError::OutcomeUnknown("injected: request lost".into()));
        }
        let now = self.clock.now();
        let outcomes = batch.iter().map(|r| state.commit_one(r, now)).collect();
        if fault == Some(MemStoreFault::LoseCommitReply) {
            return Err(RemoteError::OutcomeUnknown("injected: reply lost".into()));
        }
        Ok(outcomes)
    }

    fn commit_status(&self, agent: &AgentId, commit: CommitId) -> RemoteResult<Option<Version>> {
        let state = self.enter()?;
        Ok(state
            .agents
            .get(agent)
            .and_then(|a| a.commit_ids.get(&commit).copied()))
    }

    fn clock(&self, agent: &AgentId) -> RemoteResult<Version> {
        let state = self.enter()?;
        Ok(Version::new(state.agents.get(agent).map_or(0, |a| a.clock)))
    }

    fn catch_up(&self, agent: &AgentId, after: Version, through: Version) -> RemoteResult<CatchUp> {
        let mut state = self.enter()?;
        state.calls.catch_ups += 1;
        if state.catch_up_unavailable {
            return Err(RemoteError::Unavailable(
                "injected: catch-up unavailable".into(),
            ));
        }
        let Some(agent) = state.agents.get(agent) else {
            return Ok(CatchUp::default());
        };
        if through <= after {
            return Ok(CatchUp::default());
        }
        let range = after.next()..=through;
        let commits = agent
            .commits
            .range(range.clone())
            .map(|(_, c)| *c)
            .collect();
        let mut versions: Vec<StoredVersion> = agent
            .keys
            .values()
            .flat_map(|versions| versions.range(range.clone()).map(|(_, v)| v.clone()))
            .collect();
        versions.sort_by(|a, b| (a.version, &a.key).cmp(&(b.version, &b.key)));
        let gc_horizon = agent.gc_horizon;
        Ok(CatchUp {
            commits,
            versions,
            gc_horizon,
        })
    }

    fn get(
        &self,
        agent: &AgentId,
        key: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Option<StoredVersion>> {
        let state = self.enter()?;
        Ok(state
            .agents
            .get(agent)
            .and_then(|a| a.keys.get(key))
            .and_then(|versions| newest_seen(versions, view).cloned()))
    }

    fn scan(
        &self,
        agent: &AgentId,
        prefix: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Vec<StoredVersion>> {
        let state = self.enter()?;
        let Some(agent) = state.agents.get(agent) else {
            return Ok(Vec::new());
        };
        Ok(agent
            .keys
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter_map(|(_, versions)| newest_seen(versions, view))
            .filter(|v| v.is_live_at(view.now))
            .cloned()
            .collect())
    }

    fn run(&self, run: RunId) -> RemoteResult<Option<RunRow>> {
        let state = self.enter()?;
        let now = self.clock.now();
        Ok(state.runs.get(&run).map(|r| state.visible_row(r, now)))
    }

    fn runs(&self, query: &RemoteRunQuery) -> RemoteResult<Vec<RunRow>> {
        let state = self.enter()?;
        let now = self.clock.now();
        Ok(state
            .run_order
            .iter()
            .filter_map(|id| state.runs.get(id))
            .map(|r| state.visible_row(r, now))
            .filter(|row| query.matches(row))
            .take(query.limit.unwrap_or(usize::MAX))
            .collect())
    }

    fn collect_garbage(
        &self,
        agent: &AgentId,
        policy: &GcPolicy,
    ) -> RemoteResult<Option<GcReport>> {
        let mut state = self.enter()?;
        let now = self.clock.now();
        Ok(Some(state.collect_garbage(agent, policy, now)))
    }

    fn stats(&self) -> RemoteResult<StoreStats> {
        let state = self.enter()?;
        let now = self.clock.now();
        let mut runs = BTreeMap::<StoredRunStatus, u64>::new();
        for row in state.runs.values() {
            *runs.entry(state.visible_row(row, now).status).or_default() += 1;
        }
        let agents = state.agents.values();
        Ok(StoreStats {
            agents: state.agents.len() as u64,
            commits: agents.clone().map(|a| a.clock).sum(),
            versions: agents
                .clone()
                .flat_map(|a| a.keys.values())
                .map(|versions| versions.len() as u64)
                .sum(),
            keys: agents.map(|a| a.keys.len() as u64).sum(),
            runs: runs.into_iter().collect(),
            live_hosts: state.leases.values().filter(|until| now < **until).count() as u64,
            bytes: None,
        })
    }
}

/// Tags as a run keeps them: sorted, each once.
fn tag_set(tags: &[String]) -> Vec<String> {
    let mut tags = tags.to_vec();
    tags.sort();
    tags.dedup();
    tags
}

/// The newest version of one key that `view` sees.
fn newest_seen<'a>(
    versions: &'a BTreeMap<Version, StoredVersion>,
    view: &RemoteView,
) -> Option<&'a StoredVersion> {
    versions
        .values()
        .rev()
        .find(|v| view.sees(v.version, v.run))
}

/// Whether `update` only ends a run again with the status it ended with (sent again after a
/// lost answer): done already, so it succeeds and changes nothing.
fn ends_again(update: &RunUpdate, ended: StoredRunStatus) -> bool {
    update.status == Some(ended) && update.tags.is_none() && update.metadata.is_none()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
