//! One agent's part of the host's cache: which of its versions the memtable holds.
//!
//! Versions are the agent's own (the store hands them out, dense and in commit order), so each
//! agent has its own `VersionCounter`: *visible* is the version through which the memtable
//! holds every commit of the agent, the snapshot a run begun here now would read at. This
//! host's own commits are applied as soon as the store has given them a version, possibly above
//! a gap left by other hosts' commits; catch-up fills the gaps, skipping what is applied
//! already.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use in_mem_core_types::{AgentId, Version};
use in_mem_storage::VersionCounter;

/// The cache state of one agent.
#[derive(Debug)]
pub(crate) struct AgentCache {
    pub agent: AgentId,
    /// Publishes the agent's versions as the memtable gets them.
    pub versions: VersionCounter,
    /// Versions applied above `versions.visible()`; its lock serializes applying.
    applied: Mutex<BTreeSet<u64>>,
}

/// The lock under which an agent's commits are applied: a commit is applied once, whether by
/// its own committer or by a catch-up that fetched it first.
pub(crate) struct Applying<'a> {
    cache: &'a AgentCache,
    above: MutexGuard<'a, BTreeSet<u64>>,
}

impl AgentCache {
    /// An agent of which nothing is cached yet.
    pub fn new(agent: AgentId) -> Self {
        AgentCache {
            agent,
            versions: VersionCounter::new(Version::ZERO),
            applied: Mutex::new(BTreeSet::new()),
        }
    }

    /// The version through which every commit of the agent is cached.
    pub fn visible(&self) -> Version {
        self.versions.visible()
    }

    /// The highest version cached (others below it may be missing).
    pub fn highest(&self) -> Version {
        self.versions.allocated()
    }

    /// Takes the lock under which commits are applied.
    pub fn applying(&self) -> Applying<'_> {
        Applying {
            cache: self,
            // A panic while applying leaves the set as it was (the memtable insert comes
            // first); going on can only re-apply a version, which `publish` refuses loudly.
            above: self.applied.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }
}

impl Applying<'_> {
    /// Whether commit `v` is in the memtable already.
    pub fn has(&self, v: Version) -> bool {
        v <= self.cache.versions.visible() || self.above.contains(&v.get())
    }

    /// Marks commit `v` applied (its writes are in the memtable) and publishes it.
    pub fn applied(&mut self, v: Version) {
        self.cache.versions.allocate_through(v);
        self.cache.versions.publish(v);
        let visible = self.cache.versions.visible().get();
        if v.get() > visible {
            self.above.insert(v.get());
        }
        // What `visible` has passed needs no remembering.
        while self.above.first().is_some_and(|&first| first <= visible) {
            self.above.pop_first();
        }
    }
}
