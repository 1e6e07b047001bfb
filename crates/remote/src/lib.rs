//! The backend boundary of shared mode: everything that leaves the process when many hosts share
//! one agent memory through a replicated engine instead of a local log.
//!
//! [`RemoteStore`] is the narrow interface: runs (begin, take over, update), commits in batches
//! (idempotent by commit id, fenced by the run owner's epoch), catch-up of an agent's versions,
//! cold reads, run queries and garbage collection. [`MemStore`] implements it in process,
//! deterministically and with injectable faults, for unit and model tests; `in-mem-pg`
//! implements it on PostgreSQL. [`conformance`] is the one suite every implementation passes.
//! [`Shipper`] is the group commit at the network boundary: many committers, one batch in
//! flight.
//!
//! The semantics every implementation keeps (the shape is in docs/REMOTE.md):
//! - **Agents are the shards.** Each agent has its own clock; a commit takes the next version of
//!   its agent's clock, so versions are dense and in commit order per agent, and are comparable
//!   only within one agent.
//! - **A run's snapshot is its agent's clock when it begins**: every version at or below it is
//!   committed, and no later commit gets one at or below it.
//! - **One owner per run.** A run is owned by one host at a time, named by an epoch that goes up
//!   at every takeover; a commit or update carrying an older epoch is refused as fenced, so the
//!   optimistic validation of a run's transactions can stay on its owner's host.
//! - **A commit is applied at most once**: it carries a commit id, and sending it again returns
//!   the version it already got, so a commit whose outcome was lost with a connection is resolved
//!   by sending it again or by asking [`RemoteStore::commit_status`].
//! - **Create-only keys** (event records) are written once: a commit that would write one again
//!   is refused and changes nothing.

pub mod conformance;
mod mem_store;
mod shipper;
mod types;

pub use mem_store::{MemStore, MemStoreCalls, MemStoreFault};
pub use shipper::{OnAnswered, Shipper, ShipperOptions, Ticket};
pub use types::{
    BeginRun, CatchUp, CommitId, CommitOutcome, CommitRecord, CommitRequest, GcPolicy, GcReport,
    RemoteError, RemoteResult, RemoteRunQuery, RemoteView, RemoteWrite, RunRow, RunStart,
    RunUpdate, StoreStats, StoredRunStatus, StoredVersion,
};

use std::time::Duration;

use in_mem_core_types::{AgentId, RunId, Timestamp, Version};

/// What shared mode needs from the engine that holds the agents' memory. Every call is
/// synchronous and may block on the network; implementations are shared across threads.
pub trait RemoteStore: Send + Sync {
    /// A short human description of where the store is, for errors and reports.
    fn describe(&self) -> String;

    /// The store's clock: commit timestamps, TTL expiry and leases are all read from it, so that
    /// hosts with skewed clocks still agree.
    fn now(&self) -> RemoteResult<Timestamp>;

    /// Registers `host` or extends its lease to `ttl` from now. Active runs owned by a host
    /// whose lease has run out are reported [`StoredRunStatus::Interrupted`].
    fn renew_lease(&self, host: &str, ttl: Duration) -> RemoteResult<()>;

    /// Begins a run owned by `begin.host` (whose lease must exist), with its agent's current
    /// clock as its snapshot and epoch 1. Sent again after a lost answer (the same
    /// [`BeginRun::request`]), it answers as the first send did if that one registered the run,
    /// rather than [`RemoteError::RunExists`]. Like every call that changes a run, it returns
    /// [`RemoteError::OutcomeUnknown`] when the connection broke after the request was sent.
    fn begin_run(&self, begin: &BeginRun) -> RemoteResult<RunStart>;

    /// Makes `host` the owner of an Active, Paused or Interrupted run, at the next epoch: commits
    /// and updates of the former owner are fenced from now on. The run becomes Active.
    /// [`RunStart::former_lease_left`] says how long the former owner's lease still had to run.
    fn take_over_run(&self, run: RunId, host: &str) -> RemoteResult<RunStart>;

    /// The runs `host` owns that have not ended, each with the epoch it owns it at. A host asks
    /// after renewing its lease, to learn which of its runs another host took over.
    fn owned_runs(&self, host: &str) -> RemoteResult<Vec<(RunId, u64)>>;

    /// Changes a run's status, tags or metadata on behalf of its owner at `update.epoch`.
    /// Ending a run its owner ended already with the same status (an update sent again after a
    /// lost answer) succeeds and changes nothing.
    fn update_run(&self, update: &RunUpdate) -> RemoteResult<RunRow>;

    /// Commits each request atomically, in order; one batch is one round trip and one durable
    /// flush of the engine. Each request gets its own outcome: a fenced or refused commit does
    /// not stop the others. An `Err` means the outcome of every request is unknown.
    fn commit_batch(&self, batch: &[CommitRequest]) -> RemoteResult<Vec<CommitOutcome>>;

    /// The version a commit got, if it was committed.
    fn commit_status(&self, agent: &AgentId, commit: CommitId) -> RemoteResult<Option<Version>>;

    /// The agent's clock: the version of its newest commit (`Version::ZERO` for none).
    fn clock(&self, agent: &AgentId) -> RemoteResult<Version>;

    /// Every commit of the agent with a version in `after < v <= through`, and the stored
    /// versions they wrote that still exist, in version order (then key order).
    fn catch_up(&self, agent: &AgentId, after: Version, through: Version) -> RemoteResult<CatchUp>;

    /// The newest version of `key` that `view` sees, deleted (value `None`) or not; expired
    /// values are returned with their expiry for the caller to judge.
    fn get(
        &self,
        agent: &AgentId,
        key: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Option<StoredVersion>>;

    /// The newest version `view` sees of every key that starts with `prefix`, in key order,
    /// without the deleted keys and the values expired at `view.now`.
    fn scan(
        &self,
        agent: &AgentId,
        prefix: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Vec<StoredVersion>>;

    /// One run's row.
    fn run(&self, run: RunId) -> RemoteResult<Option<RunRow>>;

    /// The runs that match `query`, oldest first.
    fn runs(&self, query: &RemoteRunQuery) -> RemoteResult<Vec<RunRow>>;

    /// Removes the versions of `agent` that no view can read any more, at a horizon the store
    /// computes from every host's runs (the oldest snapshot of the agent's unended runs and of
    /// those ended within `policy.ended_retention`, forks counting their lineage's; with
    /// `policy.keep_for`, the newest commit that old) and records ([`CatchUp::gc_horizon`]).
    /// A version goes when a newer version of its key is at or below the horizon, its run
    /// wrote the key again after it (a run's newest write of each key stays), no fork of its
    /// run reads it (forked at or after it with no write of the run to the key between), and
    /// `policy.keep_min_versions` newer versions of the key remain. `None` when another host
    /// is collecting the agent, or a fork of one of its runs is beginning, right now.
    fn collect_garbage(&self, agent: &AgentId, policy: &GcPolicy)
    -> RemoteResult<Option<GcReport>>;

    /// What the store holds, counted (for `in-mem stats` of a shared store): a full count, so
    /// as slow as reading every version once on a store that keeps them on disk. A store that
    /// cannot count says so (the default).
    fn stats(&self) -> RemoteResult<StoreStats> {
        Err(RemoteError::Store(format!(
            "{} does not count what it holds",
            self.describe()
        )))
    }
}
