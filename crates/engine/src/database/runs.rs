//! The run lifecycle and the run index: begin (with lineage, tags and metadata), the status
//! transitions, and queries over every run the database knows.

use std::collections::BTreeMap;

use in_mem_core_types::Timestamp;

use super::{
    AgentId, Arc, Database, Error, Lifecycle, Namespace, PendingOp, PendingWrite, Result, RunId,
    RunInfo, RunState, RunStatus, Value,
};

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

/// Which runs [`Database::query_runs`] returns: every condition that is set must hold. Results
/// come oldest first, at most `limit` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    tenant: Option<String>,
    app: Option<String>,
    agent: Option<String>,
    status: Option<RunStatus>,
    tag: Option<String>,
    created_from: Option<Timestamp>,
    created_before: Option<Timestamp>,
    parent: Option<RunId>,
    limit: Option<usize>,
}

impl RunQuery {
    /// Every run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs of this tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Runs of this app.
    #[must_use]
    pub fn app(mut self, app: impl Into<String>) -> Self {
        self.app = Some(app.into());
        self
    }

    /// Runs of this agent name.
    #[must_use]
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Runs of exactly this agent (tenant, app and agent).
    #[must_use]
    pub fn agent_id(self, agent: &AgentId) -> Self {
        self.tenant(agent.tenant())
            .app(agent.app())
            .agent(agent.agent())
    }

    /// Runs in this status.
    #[must_use]
    pub fn status(mut self, status: RunStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Runs carrying this tag.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Runs created at or after `from` and before `before`.
    #[must_use]
    pub fn created_between(mut self, from: Timestamp, before: Timestamp) -> Self {
        self.created_from = Some(from);
        self.created_before = Some(before);
        self
    }

    /// Runs whose parent is `parent`.
    #[must_use]
    pub fn parent(mut self, parent: RunId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// At most `limit` runs.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    fn matches(&self, info: &RunInfo) -> bool {
        let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        same(&self.tenant, info.agent.tenant())
            && same(&self.app, info.agent.app())
            && same(&self.agent, info.agent.agent())
            && self.status.is_none_or(|s| s == info.status)
            && self.tag.as_ref().is_none_or(|t| info.tags.contains(t))
            && self.created_from.is_none_or(|t| info.created_at >= t)
            && self.created_before.is_none_or(|t| info.created_at < t)
            && self.parent.is_none_or(|p| info.parent == Some(p))
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
        if let Err(e) = self.begin(run, AgentId::default_agent(), None, &lifecycle, true) {
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
        let agent = options.agent.unwrap_or_else(AgentId::default_agent);
        agent.validate()?;
        let run = options.id.unwrap_or_else(RunId::new);
        if run.is_nil() {
            return Err(in_mem_core_types::Error::NilRunId.into());
        }
        if self.instance.runs().get(run).is_ok() {
            return Err(Error::RunState {
                run,
                status: "existing",
                action: "begun again",
            });
        }
        if let Some(parent) = options.parent {
            self.instance
                .runs()
                .get(parent)
                .map_err(|_| Error::UnknownParent { parent })?;
        }
        let tags = clean_tags(options.tags)?;
        options.metadata.check_depth()?;
        let lifecycle = Lifecycle::begun(self.instance.now(), tags, options.metadata);
        self.begin(run, agent, options.parent, &lifecycle, false)?;
        Ok(run)
    }

    fn begin(
        &self,
        run: RunId,
        agent: AgentId,
        parent: Option<RunId>,
        lifecycle: &Lifecycle,
        keep_on_failure: bool,
    ) -> Result<()> {
        let instance = &self.instance;
        let created_at = lifecycle.updated_at;
        let snapshot = instance
            .runs()
            .pins
            .pin_new(|| instance.versions().visible());
        let state = Arc::new(RunState::new(
            run,
            agent,
            parent,
            snapshot,
            created_at,
            lifecycle.clone(),
        ));
        instance.runs().insert(Arc::clone(&state));
        let result = self.write_run_record(&state, lifecycle);
        if result.is_err() && !keep_on_failure {
            instance.runs().remove(run);
            instance.runs().pins.end(snapshot, created_at);
        }
        result
    }

    /// Ends a run as `Completed`: it takes no more writes and stays readable (its exact view is
    /// kept for `OpenOptions::ended_run_retention`). Allowed from Active, Paused and Interrupted.
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
    /// it had (its start snapshot plus its own writes).
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
        self.update_run(run, |lifecycle| lifecycle.tags = tags)
    }

    /// Replaces a run's metadata (allowed in any status).
    pub fn set_run_metadata(&self, run: RunId, metadata: Value) -> Result<()> {
        metadata.check_depth()?;
        self.update_run(run, |lifecycle| lifecycle.metadata = metadata)
    }

    /// A description of `run`.
    pub fn run_info(&self, run: RunId) -> Result<RunInfo> {
        Ok(self.instance.runs().get(run)?.info())
    }

    /// Every run this database knows, oldest first.
    pub fn runs(&self) -> Vec<RunInfo> {
        self.instance.runs().all()
    }

    /// The runs that match `query`, oldest first.
    pub fn query_runs(&self, query: &RunQuery) -> Vec<RunInfo> {
        let mut found: Vec<RunInfo> = self
            .instance
            .runs()
            .all()
            .into_iter()
            .filter(|info| query.matches(info))
            .collect();
        if let Some(limit) = query.limit {
            found.truncate(limit);
        }
        found
    }

    /// How many runs are in each status (every status is present, with 0 if none).
    pub fn run_counts(&self) -> BTreeMap<RunStatus, u64> {
        let mut counts: BTreeMap<RunStatus, u64> = RunStatus::ALL.iter().map(|&s| (s, 0)).collect();
        for info in self.instance.runs().all() {
            *counts.entry(info.status).or_default() += 1;
        }
        counts
    }

    fn transition(&self, run: RunId, to: RunStatus, error: Option<String>) -> Result<()> {
        let state = self.instance.runs().get(run)?;
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
        let now = self.instance.now();
        let mut next = lifecycle.clone();
        next.status = to;
        next.updated_at = now;
        if to.is_terminal() {
            next.ended_at = Some(now);
            next.error = error;
        }
        self.write_run_record(&state, &next)?;
        *lifecycle = next;
        if to.is_terminal() {
            self.instance.runs().pins.end(state.snapshot, now);
        }
        Ok(())
    }

    fn update_run(&self, run: RunId, change: impl FnOnce(&mut Lifecycle)) -> Result<()> {
        let state = self.instance.runs().get(run)?;
        let mut lifecycle = state.transition();
        let mut next = lifecycle.clone();
        change(&mut next);
        next.updated_at = self.instance.now();
        self.write_run_record(&state, &next)?;
        *lifecycle = next;
        Ok(())
    }

    fn write_run_record(&self, state: &RunState, lifecycle: &Lifecycle) -> Result<()> {
        let value = state.record(lifecycle).to_value().encode_record()?;
        let write = PendingWrite {
            key: Arc::from(&*state.record_key),
            op: PendingOp::Put {
                value: Arc::from(value),
                ttl: None,
            },
        };
        self.instance
            .commit(state, &[write], &[], self.handle.wait)?;
        Ok(())
    }
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
