//! Shared mode: what a dump of a shared store reads, one agent at a time (see `transfer`).

use std::collections::BTreeSet;

use in_mem_core_types::{AgentId, RunId};
use in_mem_remote::RemoteRunQuery;
use in_mem_storage::StoredVersion;

use super::Instance;
use crate::error::Result;
use crate::shared::SharedLog;

impl Instance {
    /// The agents a dump of the store covers, in the order of their encodings: those of
    /// `runs` (loaded from the store if this host does not know them yet), or every agent the
    /// store has a run of (every agent: one comes to be with its first run).
    pub(crate) fn agents_to_dump(
        &self,
        shared: &SharedLog,
        runs: Option<&BTreeSet<RunId>>,
    ) -> Result<Vec<AgentId>> {
        let mut agents = Vec::new();
        match runs {
            Some(runs) => {
                for &run in runs {
                    agents.push(self.run_state(run)?.agent.id.clone());
                }
            }
            None => {
                for row in shared.store.runs(&RemoteRunQuery::default())? {
                    agents.push(row.agent);
                }
            }
        }
        agents.sort_by_key(AgentId::encode);
        agents.dedup();
        Ok(agents)
    }

    /// Every version of `agent`'s keys the store had committed when this was called, as this
    /// host's cache holds them once caught up to the store's clock, and the version below
    /// which the cache may lack what a collection in the store removed (0: it lacks nothing).
    /// The agent is held meanwhile, so no eviction takes them away half read.
    pub(crate) fn agent_versions(
        &self,
        shared: &SharedLog,
        agent: &AgentId,
    ) -> Result<(Vec<StoredVersion>, in_mem_core_types::Version)> {
        let cache = shared.agent(agent);
        let _hold = self.hold_cache(shared, &cache)?;
        let clock = shared.store.clock(agent)?;
        self.catch_up(shared, &cache, clock.max(cache.highest()))?;
        let visible = self.visible_for(agent);
        let prefix = agent.encode();
        let versions = self
            .memtable
            .versions_under(&prefix)
            .filter(|stored| stored.version <= visible)
            .collect();
        Ok((versions, cache.history_from()))
    }
}
