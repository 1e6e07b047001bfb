//! Shared mode: the host's cache within its budget (`RemoteOptions::cache_bytes`).
//!
//! The memtable is the host's cache of the agents it has touched. When what it holds passes
//! the budget, the agents used least recently are evicted whole: their keys leave the memtable
//! and their version counters start over, to be filled again from the store by the next call
//! that needs them. An agent is never evicted while this host owns one of its runs (those read
//! from the cache without asking the store, and their writes go into it), nor while a call
//! holds it: every call on a run holds its agent (`RunRef`, `CacheHold`) from before it reads
//! until it returns, and a hold that finds the agent evicted catches it up again first.

use std::cmp::Reverse;
use std::ops::Deref;
use std::sync::Arc;

use super::Instance;
use crate::error::Result;
use crate::runs::{Agent, RunState};
use crate::shared::{AgentCache, BriefHold, CacheHold, SharedLog};

/// A run's state for one call; in shared mode its agent's cache is held as long as this lives
/// (no eviction takes what the call reads meanwhile).
#[derive(Clone, Debug)]
pub(crate) struct RunRef {
    state: Arc<RunState>,
    _hold: Option<CacheHold>,
}

impl RunRef {
    /// A run of an embedded database, whose memtable holds everything.
    pub fn embedded(state: Arc<RunState>) -> Self {
        RunRef { state, _hold: None }
    }

    /// A run of a connected database, its agent held.
    pub fn held(state: Arc<RunState>, hold: CacheHold) -> Self {
        RunRef {
            state,
            _hold: Some(hold),
        }
    }
}

impl Deref for RunRef {
    type Target = Arc<RunState>;
    fn deref(&self) -> &Arc<RunState> {
        &self.state
    }
}

impl Instance {
    /// Holds `cache`'s agent for a call, first loading again what an eviction took from it.
    pub(super) fn hold_cache(
        &self,
        shared: &SharedLog,
        cache: &Arc<AgentCache>,
    ) -> Result<CacheHold> {
        let hold = cache.hold();
        self.reload_if_evicted(shared, cache)?;
        Ok(hold)
    }

    /// [`Instance::hold_cache`] for one call, borrowed.
    pub(super) fn hold_cache_briefly<'c>(
        &self,
        shared: &SharedLog,
        cache: &'c Arc<AgentCache>,
    ) -> Result<BriefHold<'c>> {
        let hold = cache.hold_briefly();
        self.reload_if_evicted(shared, cache)?;
        Ok(hold)
    }

    fn reload_if_evicted(&self, shared: &SharedLog, cache: &Arc<AgentCache>) -> Result<()> {
        if let Some(mark) = cache.reload_needed() {
            tracing::debug!(agent = %cache.agent, through = %mark, "loading an evicted agent again");
            self.catch_up(shared, cache, mark)?;
        }
        Ok(())
    }

    /// Evicts the agents used least recently until the cache is back under its budget (down to
    /// a low-water mark), if it is over. One round at a time: a caller that finds a round
    /// running goes on. Agents held or with runs owned here are passed over.
    pub(super) fn keep_cache_in_budget(&self, shared: &SharedLog) {
        let budget = &shared.budget;
        if !budget.round_due() {
            return;
        }
        let Some(_round) = budget.begin_round() else {
            return;
        };
        let mut agents = shared.agents();
        agents.retain(|cache| cache.bytes() > 0);
        agents.sort_by_key(|cache| (cache.used_in_round(), Reverse(cache.bytes())));
        for cache in agents {
            if budget.low_enough() {
                break;
            }
            if let Some(freed) = cache.try_evict(&self.memtable) {
                tracing::debug!(agent = %cache.agent, freed, "evicted an agent from the cache");
            }
        }
        budget.round_ended();
        if budget.over() {
            tracing::debug!(
                used = budget.used(),
                limit = budget.limit(),
                "the cache stays over its budget: the agents left are in use or have runs owned here"
            );
        }
    }
}

/// The cache state of `agent`: found by name once, then kept with the interned agent.
pub(super) fn interned_cache<'a>(shared: &SharedLog, agent: &'a Agent) -> &'a Arc<AgentCache> {
    agent.cache.get_or_init(|| shared.agent(&agent.id))
}
