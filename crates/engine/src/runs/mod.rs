//! Runs: every run of the database, its agent, its view and its lifecycle (`state.rs`), how it
//! is stored (`record.rs`), the registry of live runs and the table and indexes of all of them
//! (`registry.rs`, `table.rs`, `query.rs`), and the snapshots runs pin (`pins.rs`).
//!
//! A run's *view* is the agent's memory as of its start snapshot plus its own writes. Its
//! *lifecycle* is Active until `end_run` (Completed); a run that was still Active when the
//! process stopped comes back Interrupted. Writers hold the run's lifecycle lock shared for the
//! whole commit and transitions take it exclusively, so no write lands after the record that
//! ends its run.

mod cache;
mod pins;
mod query;
mod record;
mod registry;
mod state;
mod table;

use std::fmt;

use in_mem_core_types::{AgentId, Namespace, RunId, Timestamp, Value};

pub use query::RunQuery;
pub(crate) use record::{RecordHead, RunRecord, StoredStatus};
pub(crate) use registry::{PinPolicy, RunRegistry};
pub(crate) use state::{Agent, Lifecycle, Origin, PendingWrites, RunState};

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

    pub(crate) fn stored(self) -> record::StoredStatus {
        use record::StoredStatus;
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
    /// For a fork (`Database::fork_run`): the version of its parent's life it was forked at.
    pub fork_point: Option<u64>,
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
