//! `RunIndex`: the runs of a database, their lifecycle and metadata, and queries over them.
//!
//! A view over the engine's run registry (the engine owns run state, because a run's status
//! decides whether it may write); this gives it the primitives' shape.

use std::collections::BTreeMap;

use in_mem_core_types::{RunId, Value};
use in_mem_engine::{Database, Result, RunInfo, RunOptions, RunQuery, RunStatus};

/// The index of a database's runs.
///
/// ```
/// use in_mem_engine::{Database, RunOptions, RunQuery, RunStatus};
/// use in_mem_primitives::RunIndex;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let runs = RunIndex::new(&db);
/// let run = runs.begin(RunOptions::new().tag("nightly"))?;
/// runs.fail(run, "the model timed out")?;
/// let failed = runs.query(&RunQuery::new().status(RunStatus::Failed).tag("nightly"));
/// assert_eq!(failed[0].error.as_deref(), Some("the model timed out"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RunIndex {
    db: Database,
}

impl RunIndex {
    /// The run index of `db`.
    pub fn new(db: &Database) -> Self {
        RunIndex { db: db.clone() }
    }

    /// Begins a run as `options` say (agent, id, parent, tags, metadata).
    pub fn begin(&self, options: RunOptions) -> Result<RunId> {
        self.db.begin_run_with(options)
    }

    /// A description of `run`.
    pub fn get(&self, run: RunId) -> Result<RunInfo> {
        self.db.run_info(run)
    }

    /// The runs matching `query`, oldest first.
    pub fn query(&self, query: &RunQuery) -> Vec<RunInfo> {
        self.db.query_runs(query)
    }

    /// How many runs are in each status.
    pub fn counts(&self) -> BTreeMap<RunStatus, u64> {
        self.db.run_counts()
    }

    /// Ends `run` as completed.
    pub fn complete(&self, run: RunId) -> Result<()> {
        self.db.end_run(run)
    }

    /// Ends `run` as failed, with why.
    pub fn fail(&self, run: RunId, error: impl Into<String>) -> Result<()> {
        self.db.fail_run(run, error)
    }

    /// Ends `run` as cancelled.
    pub fn cancel(&self, run: RunId) -> Result<()> {
        self.db.cancel_run(run)
    }

    /// Pauses `run`.
    pub fn pause(&self, run: RunId) -> Result<()> {
        self.db.pause_run(run)
    }

    /// Resumes a paused or interrupted run.
    pub fn resume(&self, run: RunId) -> Result<()> {
        self.db.resume_run(run)
    }

    /// Replaces `run`'s tags.
    pub fn set_tags<S: Into<String>>(
        &self,
        run: RunId,
        tags: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        self.db.set_run_tags(run, tags)
    }

    /// Replaces `run`'s metadata.
    pub fn set_metadata(&self, run: RunId, metadata: Value) -> Result<()> {
        self.db.set_run_metadata(run, metadata)
    }

    /// The runs that were active when the process stopped (status `Interrupted`).
    pub fn interrupted(&self) -> Vec<RunInfo> {
        self.query(&RunQuery::new().status(RunStatus::Interrupted))
    }
}
