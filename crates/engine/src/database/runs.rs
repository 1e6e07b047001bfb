//! The run lifecycle and the run index: begin (with lineage, tags and metadata), the status
//! transitions, and queries over every run the database knows.

use std::collections::BTreeMap;

use super::{
    AgentId, Database, Error, Lifecycle, Namespace, Result, RunId, RunInfo, RunStatus, Value,
};
use crate::instance::OnLogFailure;
use crate::runs::{Origin, RunQuery};

/// How to begin a run: its agent, its id, its parent, tags and metadata. Start from
/// `RunOptions::new()`; everything is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    agent: Option<AgentId>,
    id: Option<RunId>,
    parent: Option<RunId>,
    tags: Vec<String>,
    metadata: Value,
}

impl RunOptions {
    /// No options: a fresh id in the default agent, no parent, tags or metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The agent (tenant, app, agent) the run belongs to.
    #[must_use]
    pub fn agent(mut self, agent: AgentId) -> Self {
        self.agent = Some(agent);
        self
    }

    /// A caller-chosen id (it must not name an existing run, nor be nil).
    #[must_use]
    pub fn id(mut self, id: RunId) -> Self {
        self.id = Some(id);
        self
    }

    /// The run this one continues or was forked from (it must exist).
    #[must_use]
    pub fn parent(mut self, parent: RunId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// A tag (1 to 128 bytes, no control characters).
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// The caller's metadata, any value (typically a map).
    #[must_use]
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

impl Database {
    /// Begins a run of the default agent (`default/default/default`). Its view is the agent's
    /// memory as of now plus its own writes.
    ///
    /// Infallible, as the getting-started guide uses it: if the run's record cannot be logged
    /// (the log is poisoned or closed), the run still exists in memory and its first write
    /// returns that error. Use [`Database::try_begin_run`] to see the error here.
    pub fn begin_run(&self) -> RunId {
        let run = RunId::new();
        let lifecycle = Lifecycle::begun(self.instance.now(), Vec::new(), Value::Null);
        let agent = AgentId::default_agent();
        let begun = self.instance.begin_run(
            run,
            &agent,
            Origin::default(),
            lifecycle,
            self.handle.wait,
            OnLogFailure::Keep,
        );
        if let Err(e) = begun {
            tracing::warn!(%run, error = %e, "could not log the beginning of a run");
        }
        run
    }

    /// Begins a run of the default agent, returning any error from logging its record.
    pub fn try_begin_run(&self) -> Result<RunId> {
        self.begin_run_with(RunOptions::new())
    }

    /// Begins a run of the given agent (tenant, app, agent). Runs of one agent share its memory;
    /// different agents never see each other's data.
    pub fn begin_run_in(&self, agent: &AgentId) -> Result<RunId> {
        self.begin_run_with(RunOptions::new().agent(agent.clone()))
    }

    /// Begins a run with the id and agent of `namespace` (for ids made elsewhere, e.g.
    /// `Namespace::new("tenant1", "my-app", "agent-v1", run_id)`).
    pub fn begin_run_with_namespace(&self, namespace: &Namespace) -> Result<RunId> {
        self.begin_run_with(
            RunOptions::new()
                .agent(namespace.agent_id().clone())
                .id(namespace.run()),
        )
    }

    /// Begins a run as `options` say: agent, id, parent, tags, metadata.
    pub fn begin_run_with(&self, options: RunOptions) -> Result<RunId> {
        let RunOptions {
            agent,
            id,
            parent,
            tags,
            metadata,
        } = options;
        let agent = agent.unwrap_or_else(AgentId::default_agent);
        agent.validate()?;
        let begin = checked_begin(id, tags, metadata)?;
        let run = begin.run;
        let lifecycle = Lifecycle::begun(self.instance.now(), begin.tags, begin.metadata);
        let origin = Origin {
            parent,
            ..Origin::default()
        };
        self.instance.begin_run(
            run,
            &agent,
            origin,
            lifecycle,
            self.handle.wait,
            OnLogFailure::Forget,
        )?;
        Ok(run)
    }

    /// Ends a run as `Completed`: it takes no more writes and stays readable. Its own data
    /// (the keys it wrote, its events, cells and spans) stays readable for as long as the run
    /// exists; its view of the rest of the agent's memory as of its start is kept for
    /// `OpenOptions::ended_run_retention`. Allowed from Active, Paused and Interrupted.
    pub fn end_run(&self, run: RunId) -> Result<()> {
        self.transition(run, RunStatus::Completed, None)
    }

    /// Ends a run as `Failed`, recording why.
    pub fn fail_run(&self, run: RunId, error: impl Into<String>) -> Result<()> {
        self.transition(run, RunStatus::Failed, Some(error.into()))
    }

    /// Ends a run as `Cancelled`.
    pub fn cancel_run(&self, run: RunId) -> Result<()> {
        self.transition(run, RunStatus::Cancelled, None)
    }

    /// Pauses an active run: it stays readable and takes no writes until resumed.
    pub fn pause_run(&self, run: RunId) -> Result<()> {
        self.transition(run, RunStatus::Paused, None)
    }

    /// Resumes a paused run, or one interrupted by a crash: it takes writes again, with the view
    /// it had (its start snapshot plus its own writes). An interrupted run can be resumed within
    /// `OpenOptions::interrupted_run_grace` of the open that found it with its whole view; after
    /// that its view of shared memory may be reclaimed: it can still be resumed (its own data is
    /// all there), but a read of what it saw of shared memory that a sweep reclaimed is
    /// [`Error::HistoryPruned`].
    pub fn resume_run(&self, run: RunId) -> Result<()> {
        self.transition(run, RunStatus::Active, None)
    }

    /// Replaces a run's tags (allowed in any status: tags describe, they do not write data).
    pub fn set_run_tags<S: Into<String>>(
        &self,
        run: RunId,
        tags: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        let tags = clean_tags(tags.into_iter().map(Into::into).collect())?;
        self.instance
            .update_run(run, |lifecycle| lifecycle.tags = tags, self.handle.wait)
    }

    /// Replaces a run's metadata (allowed in any status).
    pub fn set_run_metadata(&self, run: RunId, metadata: Value) -> Result<()> {
        metadata.check_depth()?;
        self.instance.update_run(
            run,
            |lifecycle| lifecycle.metadata = metadata,
            self.handle.wait,
        )
    }

    /// Deletes a run that has ended (or was interrupted): its record and its own data (events,
    /// state cells, spans) go in one commit, and the memory they held is reclaimed by the next
    /// sweeps. The keys it wrote to the agent's memory stay: they are the agent's. Refused for
    /// an active or paused run. Afterwards the run is unknown, as if never begun.
    pub fn delete_run(&self, run: RunId) -> Result<()> {
        self.instance.delete_run(run, self.handle.wait)
    }

    /// A description of `run`.
    pub fn run_info(&self, run: RunId) -> Result<RunInfo> {
        self.instance.run_info(run)
    }

    /// Every run this database knows, oldest first.
    pub fn runs(&self) -> Vec<RunInfo> {
        self.instance.query_runs(&RunQuery::new())
    }

    /// The runs that match `query`, oldest first (or newest first, if it asks), answered from
    /// indexes by status, tag, parent, agent and creation time. On a connected database (shared
    /// mode) the runs every host began are found in the store first; if the store cannot be
    /// reached, the answer covers the runs this host knows and the failure is logged
    /// ([`Database::try_query_runs`] returns it instead).
    pub fn query_runs(&self, query: &RunQuery) -> Vec<RunInfo> {
        self.instance.query_runs(query)
    }

    /// [`Database::query_runs`], returning the error where it would fall back: in shared mode,
    /// when the runs other hosts began cannot be loaded from the store.
    pub fn try_query_runs(&self, query: &RunQuery) -> Result<Vec<RunInfo>> {
        self.instance.try_query_runs(query)
    }

    /// How many runs are in each status (every status is present, with 0 if none).
    pub fn run_counts(&self) -> BTreeMap<RunStatus, u64> {
        self.instance.run_counts()
    }

    fn transition(&self, run: RunId, to: RunStatus, error: Option<String>) -> Result<()> {
        self.instance
            .transition_run(run, to, error, self.handle.wait)
    }
}

/// A new run's id, tags and metadata, checked (see [`checked_begin`]).
pub(crate) struct CheckedBegin {
    pub run: RunId,
    pub tags: Vec<String>,
    pub metadata: Value,
}

impl RunOptions {
    /// These options checked for a fork of `parent`, a run of `agent`.
    pub(crate) fn for_fork_of(self, parent: RunId, agent: &AgentId) -> Result<CheckedBegin> {
        if self.agent.as_ref().is_some_and(|a| a != agent)
            || self.parent.is_some_and(|p| p != parent)
        {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "a fork of run {parent} runs in its agent {agent} and names it as its \
                     parent: leave the options' agent and parent unset"
                ),
            });
        }
        checked_begin(self.id, self.tags, self.metadata)
    }
}

/// A new run's id (a fresh one if none is given; never nil), its tags cleaned and its metadata
/// checked: what beginning a run and forking one both take from `RunOptions`.
fn checked_begin(id: Option<RunId>, tags: Vec<String>, metadata: Value) -> Result<CheckedBegin> {
    let run = id.unwrap_or_else(RunId::new);
    if run.is_nil() {
        return Err(in_mem_core_types::Error::NilRunId.into());
    }
    let tags = clean_tags(tags)?;
    metadata.check_depth()?;
    Ok(CheckedBegin {
        run,
        tags,
        metadata,
    })
}

/// Checks tags (1 to 128 bytes, no control characters) and returns them sorted, without
/// duplicates.
fn clean_tags(mut tags: Vec<String>) -> Result<Vec<String>> {
    for tag in &tags {
        let problem = if tag.is_empty() {
            Some("it is empty")
        } else if tag.len() > RUN_TAG_BYTES_MAX {
            Some("it is longer than 128 bytes")
        } else if tag.chars().any(char::is_control) {
            Some("it contains a control character")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Error::InvalidOptions {
                reason: format!("run tag {tag:?} is invalid: {problem}"),
            });
        }
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// Longest run tag, in bytes.
const RUN_TAG_BYTES_MAX: usize = 128;
