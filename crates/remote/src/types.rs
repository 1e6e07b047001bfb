//! The values that cross the backend boundary.

use std::fmt;
use std::time::Duration;

use in_mem_core_types::{AgentId, RunId, Timestamp, TypeTag, Version};
use uuid::Uuid;

/// The result of a call to a [`RemoteStore`](super::RemoteStore).
pub type RemoteResult<T> = std::result::Result<T, RemoteError>;

/// Why a call to the store failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The store could not be reached or the connection broke before anything was sent; nothing
    /// was changed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The connection broke after a request was sent: it may or may not have been applied.
    /// Commits are resolved by their commit id ([`RemoteStore::commit_status`](super::RemoteStore::commit_status));
    /// a run's begin by its request id, its end by sending it again (see
    /// [`RemoteStore::begin_run`](super::RemoteStore::begin_run)).
    #[error("the outcome is unknown, the connection was lost after the request was sent: {0}")]
    OutcomeUnknown(String),
    /// The run is owned by a later epoch: another host took it over.
    #[error("run {run} was taken over (epoch {current}, this owner has {held})")]
    Fenced {
        /// The run.
        run: RunId,
        /// The epoch this caller holds.
        held: u64,
        /// The run's current epoch.
        current: u64,
    },
    /// No such run.
    #[error("run {0} does not exist in the store")]
    NoSuchRun(RunId),
    /// The run exists already (`begin_run` with an id in use).
    #[error("run {0} exists already in the store")]
    RunExists(RunId),
    /// A fork refused: its view would read versions a collection removed (its parent's
    /// lineage began below the agent's recorded horizon).
    #[error("run {parent} cannot be forked: its history below version {horizon} was collected")]
    ForkPruned {
        /// The run it was to be forked from.
        parent: RunId,
        /// The agent's recorded collection horizon.
        horizon: Version,
    },
    /// The run has ended and takes no more changes.
    #[error("run {run} has ended ({status:?})")]
    RunEnded {
        /// The run.
        run: RunId,
        /// Its status.
        status: StoredRunStatus,
    },
    /// The host has no lease (`renew_lease` first).
    #[error("host {0:?} holds no lease")]
    NoLease(String),
    /// The store's versions of an agent are not dense where they must be.
    #[error("agent {agent}: commits {after}..={through} are not all there (missing {missing})")]
    Gap {
        /// The agent.
        agent: String,
        /// The range asked for.
        after: u64,
        /// The range asked for.
        through: u64,
        /// The first version missing.
        missing: u64,
    },
    /// An earlier batch of this host's commits has an unknown outcome, so no later commit is
    /// sent: it could land while an earlier one is lost.
    #[error("no commit is sent any more: {0}")]
    Poisoned(String),
    /// The store refused or failed a request for another reason.
    #[error("the store failed: {0}")]
    Store(String),
}

/// Names one commit, so that it is applied at most once whatever is resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub [u8; 16]);

impl CommitId {
    /// A new random id.
    pub fn new() -> Self {
        CommitId(RunId::new().to_bytes())
    }
}

impl Default for CommitId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&RunId::from_bytes(self.0), f)
    }
}

/// A run's status as the store keeps it; `Interrupted` is derived: an Active run whose owner's
/// lease has run out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoredRunStatus {
    /// Taking writes from its owner.
    Active,
    /// Paused by its owner.
    Paused,
    /// Ended normally.
    Completed,
    /// Ended with an error.
    Failed,
    /// Ended by cancellation.
    Cancelled,
    /// Active, but its owner's lease ran out.
    Interrupted,
}

impl StoredRunStatus {
    /// Whether the run has ended (takes no changes any more).
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            StoredRunStatus::Completed | StoredRunStatus::Failed | StoredRunStatus::Cancelled
        )
    }

    /// The number a store keeps for it (`Interrupted` is never stored).
    pub fn code(self) -> i16 {
        match self {
            StoredRunStatus::Active | StoredRunStatus::Interrupted => 0,
            StoredRunStatus::Paused => 1,
            StoredRunStatus::Completed => 2,
            StoredRunStatus::Failed => 3,
            StoredRunStatus::Cancelled => 4,
        }
    }

    /// The status a stored number names.
    pub fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            0 => StoredRunStatus::Active,
            1 => StoredRunStatus::Paused,
            2 => StoredRunStatus::Completed,
            3 => StoredRunStatus::Failed,
            4 => StoredRunStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A new run.
#[derive(Debug, Clone)]
pub struct BeginRun {
    /// Its agent.
    pub agent: AgentId,
    /// Its id.
    pub run: RunId,
    /// The run it was begun from (lineage), if any.
    pub parent: Option<RunId>,
    /// For a fork: the parent's version it was forked at.
    pub fork_point: Option<Version>,
    /// The host that owns it.
    pub host: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// The caller's metadata, as canonical `Value` bytes (`None` for none).
    pub metadata: Option<Vec<u8>>,
    /// A random id of this request, kept with the run it registers: the same request sent
    /// again after a lost answer finds the run its first send registered and answers as that
    /// one did, where another request for the same run id is refused.
    pub request: Uuid,
}

impl BeginRun {
    /// A run of `agent` owned by `host`, with no lineage, tags or metadata, under a new
    /// request id.
    pub fn new(agent: AgentId, run: RunId, host: impl Into<String>) -> Self {
        BeginRun {
            agent,
            run,
            parent: None,
            fork_point: None,
            host: host.into(),
            tags: Vec::new(),
            metadata: None,
            request: Uuid::new_v4(),
        }
    }

    /// Whether `other` asks for the same run as this one (request ids aside).
    pub fn same_run_as(&self, other: &BeginRun) -> bool {
        self.agent == other.agent
            && self.run == other.run
            && self.parent == other.parent
            && self.fork_point == other.fork_point
            && self.host == other.host
            && self.tags == other.tags
            && self.metadata == other.metadata
    }
}

/// A run as its (new) owner begins or takes it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStart {
    /// The run's snapshot: its agent's clock when it began.
    pub snapshot: Version,
    /// The owner's epoch: every commit and update carries it.
    pub epoch: u64,
    /// After a takeover, how long the former owner's lease still had to run (zero when it had
    /// run out, when the former owner is the new one, and for a run just begun). Until then the
    /// former owner may still serve reads of the run from its cache (its commits are fenced at
    /// once), so the new owner writes only after it.
    pub former_lease_left: Duration,
}

impl RunStart {
    /// A run just begun: nobody owned it before.
    pub fn begun(snapshot: Version) -> Self {
        RunStart {
            snapshot,
            epoch: 1,
            former_lease_left: Duration::ZERO,
        }
    }
}

/// A change to a run by its owner. `None` fields stay as they are.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    /// The run.
    pub run: RunId,
    /// The owner's epoch.
    pub epoch: u64,
    /// The new status (`Interrupted` is refused: it is derived, never set).
    pub status: Option<StoredRunStatus>,
    /// Why it failed, with `Failed`.
    pub error: Option<String>,
    /// The new tags.
    pub tags: Option<Vec<String>>,
    /// New metadata, as canonical `Value` bytes.
    pub metadata: Option<Vec<u8>>,
}

impl RunUpdate {
    /// An update that changes nothing yet.
    pub fn new(run: RunId, epoch: u64) -> Self {
        RunUpdate {
            run,
            epoch,
            status: None,
            error: None,
            tags: None,
            metadata: None,
        }
    }
}

/// A run's row in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// The run.
    pub run: RunId,
    /// Its agent.
    pub agent: AgentId,
    /// The run it was begun from.
    pub parent: Option<RunId>,
    /// For a fork: where it was forked.
    pub fork_point: Option<Version>,
    /// Its snapshot.
    pub snapshot: Version,
    /// Its status (`Interrupted` when Active and its owner's lease has run out).
    pub status: StoredRunStatus,
    /// The host that owns it.
    pub owner: String,
    /// The owner's epoch.
    pub epoch: u64,
    /// When it began (store clock).
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// Its metadata bytes.
    pub metadata: Option<Vec<u8>>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One write of a commit. Keys are a `Key`'s encoding (memcomparable), so the store's byte
/// order is key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteWrite {
    /// The encoded key.
    pub key: Vec<u8>,
    /// The key's type tag (event keys are create-only).
    pub tag: TypeTag,
    /// Canonical `Value` bytes, or `None` to delete.
    pub value: Option<Vec<u8>>,
    /// Time to live, from the commit's timestamp.
    pub ttl: Option<Duration>,
}

impl RemoteWrite {
    /// A KV put of `value` at `key`, without a TTL.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        RemoteWrite {
            key: key.into(),
            tag: TypeTag::Kv,
            value: Some(value.into()),
            ttl: None,
        }
    }

    /// A KV deletion of `key`.
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        RemoteWrite {
            key: key.into(),
            tag: TypeTag::Kv,
            value: None,
            ttl: None,
        }
    }
}

/// One commit of one run.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// The agent whose clock it takes a version of.
    pub agent: AgentId,
    /// The run that commits.
    pub run: RunId,
    /// The run owner's epoch.
    pub epoch: u64,
    /// The commit's id.
    pub commit: CommitId,
    /// Its writes (at least one).
    pub writes: Vec<RemoteWrite>,
}

/// What became of one commit of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Committed now, at this version and time.
    Committed {
        /// Its version.
        version: Version,
        /// Its timestamp (store clock).
        timestamp: Timestamp,
    },
    /// Committed earlier, by a request with the same commit id; nothing was written again.
    AlreadyCommitted {
        /// The version it got then.
        version: Version,
    },
    /// Refused: the run was taken over (the caller's epoch is stale).
    Fenced {
        /// The run's current epoch.
        current: u64,
    },
    /// Refused: the run does not exist or is not Active.
    RunNotWritable,
    /// Refused: it would write a create-only key (an event) that exists already.
    CreateOnlyExists {
        /// The key.
        key: Vec<u8>,
    },
}

impl CommitOutcome {
    /// The version the commit has, if it is committed.
    pub fn version(&self) -> Option<Version> {
        match self {
            CommitOutcome::Committed { version, .. }
            | CommitOutcome::AlreadyCommitted { version } => Some(*version),
            _ => None,
        }
    }
}

/// One stored version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// The encoded key.
    pub key: Vec<u8>,
    /// Its version.
    pub version: Version,
    /// The run that wrote it.
    pub run: RunId,
    /// When it was committed.
    pub timestamp: Timestamp,
    /// When it expires, if it has a TTL.
    pub expires_at: Option<Timestamp>,
    /// The value bytes, `None` for a deletion.
    pub value: Option<Vec<u8>>,
}

impl StoredVersion {
    /// Whether it is a value that has not expired at `now`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.value.is_some() && self.expires_at.is_none_or(|at| now < at)
    }
}

/// What a read sees: every version at or below the snapshot, and the reader's own writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteView {
    /// The snapshot version.
    pub snapshot: Version,
    /// The run whose own writes are visible above the snapshot.
    pub own: Option<RunId>,
    /// The time expiry is judged at.
    pub now: Timestamp,
}

impl RemoteView {
    /// Whether the view sees a version written by `run`.
    pub fn sees(&self, version: Version, run: RunId) -> bool {
        version <= self.snapshot || self.own == Some(run)
    }
}

/// One commit as catch-up reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitRecord {
    /// Its version.
    pub version: Version,
    /// The run that made it.
    pub run: RunId,
    /// Its id.
    pub commit: CommitId,
    /// Its timestamp.
    pub timestamp: Timestamp,
}

/// An agent's commits in a range of versions, and what they wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// The commits, in version order.
    pub commits: Vec<CommitRecord>,
    /// The versions they wrote that still exist, in version order, then key order.
    pub versions: Vec<StoredVersion>,
    /// The agent's recorded collection horizon, read after the versions: a collection that
    /// removed any of them had recorded at least this much. Below it, versions may be missing.
    pub gc_horizon: Version,
}

impl CatchUp {
    /// Checks that every version in `after < v <= through` is there, once and in order:
    /// versions are dense, so a hole means a lost or not yet visible commit.
    pub fn check_dense(
        &self,
        agent: &AgentId,
        after: Version,
        through: Version,
    ) -> RemoteResult<()> {
        let expected = (after.get() + 1)..=through.get();
        let mut found = self.commits.iter().map(|c| c.version.get());
        for version in expected {
            if found.next() != Some(version) {
                return Err(RemoteError::Gap {
                    agent: agent.to_string(),
                    after: after.get(),
                    through: through.get(),
                    missing: version,
                });
            }
        }
        match found.next() {
            None => Ok(()),
            Some(extra) => Err(RemoteError::Store(format!(
                "agent {agent}: catch-up through {} returned commit {extra}",
                through.get()
            ))),
        }
    }
}

/// Which runs a query returns. Unset fields match every run.
#[derive(Debug, Clone, Default)]
pub struct RemoteRunQuery {
    /// Runs of this agent.
    pub agent: Option<AgentId>,
    /// Runs of any agent of this tenant, and of this app in it if one is given (a prefix of
    /// the agent's encoding, so a store can answer it as a range of agents).
    pub tenant_app: Option<(String, Option<String>)>,
    /// Runs with this status (`Interrupted` as derived).
    pub status: Option<StoredRunStatus>,
    /// Runs with this tag.
    pub tag: Option<String>,
    /// Runs begun from this run.
    pub parent: Option<RunId>,
    /// At most this many.
    pub limit: Option<usize>,
}

impl RemoteRunQuery {
    /// Whether `row` matches.
    pub fn matches(&self, row: &RunRow) -> bool {
        self.agent.as_ref().is_none_or(|a| *a == row.agent)
            && self.tenant_app.as_ref().is_none_or(|(tenant, app)| {
                row.agent.tenant() == tenant && app.as_ref().is_none_or(|a| row.agent.app() == a)
            })
            && self.status.is_none_or(|s| s == row.status)
            && self.tag.as_ref().is_none_or(|t| row.tags.contains(t))
            && self.parent.is_none_or(|p| row.parent == Some(p))
    }
}

/// What a garbage collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Stored versions removed.
    pub removed: u64,
    /// The horizon collected at, now the agent's recorded horizon: versions below it may be
    /// gone (never lower than an earlier collection's).
    pub horizon: Version,
}

/// What a garbage collection keeps beyond what views read (see
/// [`RemoteStore::collect_garbage`](super::RemoteStore::collect_garbage)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcPolicy {
    /// Superseded versions stay readable by views this far back in time (zero: none kept for
    /// time's sake).
    pub keep_for: Duration,
    /// An ended run's view stays readable this long after it ended.
    pub ended_retention: Duration,
    /// Each key keeps at least this many versions.
    pub keep_min_versions: u32,
    /// An Interrupted run's view (its owner's lease ran out) stays readable this long after
    /// the lease ran out; a run taken over later reads what it lost as `HistoryPruned`.
    pub interrupted_grace: Duration,
}

/// What a store holds, counted ([`RemoteStore::stats`](super::RemoteStore::stats)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Agents with a clock (every agent a run was begun in).
    pub agents: u64,
    /// Commits, over all agents (the sum of their clocks).
    pub commits: u64,
    /// Stored versions of keys (garbage collection removes the ones no view can see).
    pub versions: u64,
    /// Distinct keys those versions are of.
    pub keys: u64,
    /// Runs in each status as readers see them (`Interrupted` derived from leases), only the
    /// statuses some run is in, in the order of [`StoredRunStatus`]'s variants.
    pub runs: Vec<(StoredRunStatus, u64)>,
    /// Hosts whose lease holds now (the asking host among them: connecting takes a lease).
    pub live_hosts: u64,
    /// Bytes the store's tables and indexes take on disk, where the store can tell.
    pub bytes: Option<u64>,
}

impl StoreStats {
    /// Runs of every status.
    pub fn total_runs(&self) -> u64 {
        self.runs.iter().map(|(_, n)| n).sum()
    }
}
