//! Shared mode: collecting the store's garbage for the agents this host caches. The store
//! decides what goes (`RemoteStore::collect_garbage`: its horizon counts every host's runs);
//! a host only says when, for the agents it has seen grow. Hosts collecting the same agent at
//! once are turned away by the store but one, so any host may ask.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use in_mem_core_types::AgentId;
use in_mem_remote::{GcPolicy, RemoteStore};

use super::AgentCache;

/// Commits an agent's cache must have grown by since its last collection before the
/// background asks for another: each collection reads the agent's versions below its horizon.
pub(crate) const COLLECT_AFTER_COMMITS: u64 = 4096;

/// What one round of collections did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Collected {
    /// Agents the store collected.
    pub agents: u64,
    /// Stored versions it removed.
    pub removed: u64,
}

pub(crate) struct Collector {
    store: Arc<dyn RemoteStore>,
    agents: Arc<Mutex<HashMap<AgentId, Arc<AgentCache>>>>,
    policy: GcPolicy,
    /// For each agent, the highest version its cache held when it was last collected.
    last: Mutex<HashMap<AgentId, u64>>,
}

impl Collector {
    pub fn new(
        store: Arc<dyn RemoteStore>,
        agents: Arc<Mutex<HashMap<AgentId, Arc<AgentCache>>>>,
        policy: GcPolicy,
    ) -> Self {
        Collector {
            store,
            agents,
            policy,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Asks the store to collect every cached agent whose cache grew by at least `min_new`
    /// commits since its last collection here. A failure is logged and the agent is asked
    /// again next round; an agent another host is collecting is skipped.
    pub fn collect(&self, min_new: u64) -> Collected {
        let agents: Vec<Arc<AgentCache>> = lock(&self.agents).values().cloned().collect();
        let mut done = Collected::default();
        for cache in agents {
            let highest = cache.highest().get();
            let since = lock(&self.last).get(&cache.agent).copied().unwrap_or(0);
            if highest < since.saturating_add(min_new) {
                continue;
            }
            match self.store.collect_garbage(&cache.agent, &self.policy) {
                Ok(Some(report)) => {
                    done.agents += 1;
                    done.removed += report.removed;
                    lock(&self.last).insert(cache.agent.clone(), highest);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(agent = %cache.agent, error = %e, "collecting the store's garbage failed");
                }
            }
        }
        done
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every change under these locks is a single insert.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
