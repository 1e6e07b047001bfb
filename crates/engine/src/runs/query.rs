//! `RunQuery`: which runs `Database::query_runs` returns (the index that answers it is
//! `table.rs`).

use in_mem_core_types::{AgentId, RunId, Timestamp};

use super::RunStatus;

/// Which runs `Database::query_runs` returns: every condition that is set must hold. Results
/// come oldest first (newest first with [`RunQuery::newest_first`]), at most `limit` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub(super) tenant: Option<String>,
    pub(super) app: Option<String>,
    pub(super) agent: Option<String>,
    pub(super) status: Option<RunStatus>,
    pub(super) tag: Option<String>,
    pub(super) created_from: Option<Timestamp>,
    pub(super) created_before: Option<Timestamp>,
    pub(super) parent: Option<RunId>,
    pub(super) forks_only: bool,
    pub(super) limit: Option<usize>,
    pub(super) newest_first: bool,
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

    /// Runs forked from `run` (`Database::fork_run`), not runs that only name it as parent.
    #[must_use]
    pub fn forked_from(mut self, run: RunId) -> Self {
        self.parent = Some(run);
        self.forks_only = true;
        self
    }

    /// At most `limit` runs.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// What a shared store can filter on (an agent named in full, or a tenant and maybe its app;
    /// a stored status, a tag, a parent): a superset of the runs this query matches, which the
    /// run registry then narrows.
    pub(crate) fn in_store(&self) -> in_mem_remote::RemoteRunQuery {
        use in_mem_remote::StoredRunStatus as Stored;
        let agent = match (&self.tenant, &self.app, &self.agent) {
            (Some(tenant), Some(app), Some(agent)) => {
                Some(AgentId::new(tenant.clone(), app.clone(), agent.clone()))
            }
            _ => None,
        };
        // The store's status of a run can lag its record: a host writes the record that pauses
        // or ends a run, then tells the store, and may die in between (a takeover tells it
        // later). The record decides, so every status is asked for and the registry (its
        // records loaded) narrows them. (The store also reports an Active run whose owner's
        // lease ran out as Interrupted, which the registry is told.)
        let status: Option<Stored> = None;
        // Without the agent in full, a tenant (and its app) still narrows the store's rows.
        let tenant_app = match (&agent, &self.tenant) {
            (None, Some(tenant)) => Some((tenant.clone(), self.app.clone())),
            _ => None,
        };
        in_mem_remote::RemoteRunQuery {
            agent,
            tenant_app,
            status,
            tag: self.tag.clone(),
            parent: self.parent,
            limit: None,
        }
    }

    /// Newest first (by creation time) instead of oldest first.
    #[must_use]
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }
}
