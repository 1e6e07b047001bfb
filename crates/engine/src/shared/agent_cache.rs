//! One agent's part of the host's cache: which of its versions the memtable holds, how many
//! bytes they take, and who is reading them (so that an eviction never happens under a reader).
//!
//! Versions are the agent's own (the store hands them out, dense and in commit order), so each
//! agent has its own `VersionCounter`: *visible* is the version through which the memtable
//! holds every commit of the agent, the snapshot a run begun here now would read at. This
//! host's own commits are applied as soon as the store has given them a version, possibly above
//! a gap left by other hosts' commits; catch-up fills the gaps, skipping what is applied
//! already.
//!
//! Evicting an agent (see `instance/eviction.rs`) drops its keys from the memtable and starts
//! its counter over at zero; it remembers how far the cache had got (`reload_mark`), and the
//! next call that holds the agent catches it up that far again before it reads.
//!
//! A catch-up through a commit of this host waits for the gap below it to close when the gap is
//! this host's own commits of the same batch, which their committers are applying as they wake
//! (`expect_own`, `wait_for_own`): asking the store for them would be a round trip per commit
//! for what is about to be in memory anyway.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use in_mem_core_types::{AgentId, Version};
use in_mem_storage::{Memtable, Mutation, MutationKind, VersionCounter};

use super::CacheBudget;

/// Set in `AgentCache::holds` while the agent is being evicted; the bits below count holds.
const EVICTING: u64 = 1 << 63;

/// What one cached version costs beyond its key and value bytes: the skiplist node, the index
/// entry's share, the record and its reference counts (the memory benchmark measures ~325
/// bytes of overhead per small entry in embedded mode).
pub(crate) const VERSION_OVERHEAD_BYTES: u64 = 320;

/// The cache state of one agent.
#[derive(Debug)]
pub(crate) struct AgentCache {
    pub agent: AgentId,
    /// Publishes the agent's versions as the memtable gets them.
    pub versions: VersionCounter,
    /// Versions applied above `versions.visible()` and versions on their way in; its lock
    /// serializes applying, and an eviction holds it throughout.
    arrivals: Mutex<Arrivals>,
    /// Woken whenever a version is applied (waited on by `wait_for_own`).
    landed: Condvar,
    /// Calls that read or fill the agent's part of the memtable now (`CacheHold`s), and
    /// `EVICTING` while an eviction runs: one excludes the other.
    holds: AtomicU64,
    /// The highest version the cache held when it was last evicted: a hold catches the agent
    /// up this far before its caller reads (0: never evicted).
    reload_mark: AtomicU64,
    /// The version through which every commit was applied (and its run records registered)
    /// when the agent was last evicted: a reload applies those commits again but leaves the
    /// run registry alone, which already has their records (replaying them would take runs
    /// back through their past states while the reload goes on).
    registered_through: AtomicU64,
    /// Approximate memory of the agent's cached versions (see `VERSION_OVERHEAD_BYTES`).
    bytes: AtomicU64,
    /// The budget's eviction round in which a call last held the agent (least recent goes first).
    used_in_round: AtomicU64,
    /// Runs of the agent this host owns: such an agent stays cached (its runs read from the
    /// cache without asking the store).
    owned_runs: AtomicUsize,
    /// Below this version the cache may lack versions a collection in the store removed (it
    /// was filled from the store after the collection): views older than this are answered
    /// only where the collection's keep rules kept the answer (see `instance/read.rs`).
    history_from: AtomicU64,
    budget: Arc<CacheBudget>,
}

/// An agent's versions above its visible one: those applied, and those the store gave this
/// host's commits whose committers have yet to apply them.
#[derive(Debug, Default)]
struct Arrivals {
    above: BTreeSet<u64>,
    landing: BTreeSet<u64>,
}

/// The lock under which an agent's commits are applied: a commit is applied once, whether by
/// its own committer or by a catch-up that fetched it first.
pub(crate) struct Applying<'a> {
    cache: &'a AgentCache,
    arrivals: MutexGuard<'a, Arrivals>,
}

/// A call's claim on an agent's cached data: no eviction of the agent starts while one is
/// held (one in progress finishes first). Released when dropped.
#[derive(Debug)]
pub(crate) struct CacheHold {
    cache: Arc<AgentCache>,
}

/// A [`CacheHold`] for the length of one call, borrowed from the caller's reference to the
/// agent's cache (no reference count taken and given back: every read of a run takes one).
#[derive(Debug)]
pub(crate) struct BriefHold<'a> {
    cache: &'a AgentCache,
}

impl AgentCache {
    /// An agent of which nothing is cached yet, its bytes counted against `budget`.
    pub fn new(agent: AgentId, budget: Arc<CacheBudget>) -> Self {
        AgentCache {
            agent,
            versions: VersionCounter::new(Version::ZERO),
            arrivals: Mutex::new(Arrivals::default()),
            landed: Condvar::new(),
            holds: AtomicU64::new(0),
            reload_mark: AtomicU64::new(0),
            registered_through: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            used_in_round: AtomicU64::new(budget.round()),
            owned_runs: AtomicUsize::new(0),
            history_from: AtomicU64::new(0),
            budget,
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
            arrivals: self.lock_arrivals(),
        }
    }

    fn lock_arrivals(&self) -> MutexGuard<'_, Arrivals> {
        // A panic while applying leaves the sets as they were (the memtable insert comes
        // first); going on can only re-apply a version, which `publish` refuses loudly.
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that the store gave `version` to a commit of this host, whose committer applies it
    /// when it wakes. Called before any committer of the batch wakes, so that whichever wakes
    /// first knows what the others are about to apply.
    pub fn expect_own(&self, version: Version) {
        let mut arrivals = self.lock_arrivals();
        if version > self.visible() && !arrivals.above.contains(&version.get()) {
            arrivals.landing.insert(version.get());
        }
    }

    /// Waits until every commit through `through` is applied, if every one still missing is
    /// this host's own on its way in (see [`AgentCache::expect_own`]); true once they are.
    /// False at once if another host's commit is missing (only the store has it), and after
    /// `patience` (a committer that never applied its commit): the caller asks the store.
    pub fn wait_for_own(&self, through: Version, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        let mut arrivals = self.lock_arrivals();
        loop {
            let visible = self.visible().get();
            if visible >= through.get() {
                return true;
            }
            let missing = through.get() - visible;
            let known = arrivals.above.len() + arrivals.landing.len();
            if usize::try_from(missing).map_or(true, |missing| missing > known)
                || !(visible + 1..=through.get())
                    .all(|v| arrivals.above.contains(&v) || arrivals.landing.contains(&v))
            {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Woken by every `Applying::applied`; the deadline bounds a committer that never
            // applies.
            arrivals = self
                .landed
                .wait_timeout(arrivals, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Holds the agent's cached data for a call (waiting out an eviction in progress). The
    /// caller then catches the agent up to [`AgentCache::reload_needed`] before it reads.
    pub fn hold(self: &Arc<Self>) -> CacheHold {
        self.take_hold();
        CacheHold {
            cache: Arc::clone(self),
        }
    }

    /// [`AgentCache::hold`], borrowed.
    pub fn hold_briefly(&self) -> BriefHold<'_> {
        self.take_hold();
        BriefHold { cache: self }
    }

    fn take_hold(&self) {
        loop {
            let holds = self.holds.load(Ordering::SeqCst);
            if holds & EVICTING != 0 {
                // The eviction holds the applying lock from before it sets the mark until after
                // it clears it: taking the lock waits for the eviction to end.
                drop(self.applying());
                continue;
            }
            if self
                .holds
                .compare_exchange_weak(holds, holds + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                break;
            }
        }
        // Written only when the round moved: readers of one agent on many threads would
        // otherwise all write this one cache line on every read.
        let round = self.budget.round();
        if self.used_in_round.load(Ordering::Relaxed) != round {
            self.used_in_round.store(round, Ordering::Relaxed);
        }
    }

    /// The version the agent must be caught up to before a read, if it was evicted since it
    /// last held that much.
    pub fn reload_needed(&self) -> Option<Version> {
        let mark = Version::new(self.reload_mark.load(Ordering::SeqCst));
        (self.visible() < mark).then_some(mark)
    }

    /// Whether the run records of commit `v` are in the run registry already: it was applied
    /// before the agent's last eviction.
    pub fn registered(&self, v: Version) -> bool {
        v.get() <= self.registered_through.load(Ordering::SeqCst)
    }

    /// Whether the agent was evicted and nothing of it has been loaded again.
    pub fn is_evicted(&self) -> bool {
        self.reload_mark.load(Ordering::SeqCst) > 0 && self.highest() == Version::ZERO
    }

    /// See `history_from`: the version below which old views may lack what a collection
    /// removed.
    pub fn history_from(&self) -> Version {
        Version::new(self.history_from.load(Ordering::SeqCst))
    }

    /// Notes that versions below `horizon` may be missing from what a catch-up is about to
    /// apply (the store collected them first). Called before the catch-up's versions are
    /// published, so no reader trusts an old view over them.
    pub fn note_collected(&self, horizon: Version) {
        self.history_from.fetch_max(horizon.get(), Ordering::SeqCst);
    }

    /// Approximate bytes of the agent's cached versions.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The eviction round in which the agent was last held.
    pub fn used_in_round(&self) -> u64 {
        self.used_in_round.load(Ordering::Relaxed)
    }

    /// Notes a run of this agent that this host now owns.
    pub fn note_owned(&self) {
        self.owned_runs.fetch_add(1, Ordering::SeqCst);
    }

    /// Notes that this host no longer owns one of the agent's runs.
    pub fn note_disowned(&self) {
        self.owned_runs.fetch_sub(1, Ordering::SeqCst);
    }

    /// Drops the agent's versions from `memtable` unless a call holds it or this host owns one
    /// of its runs; returns the bytes freed (`None` if it stayed).
    pub fn try_evict(&self, memtable: &Memtable) -> Option<u64> {
        // Agents in use are passed over without waiting for their lock (a catch-up may hold it
        // for a whole chunk); the checks are made again under it.
        if self.owned_runs.load(Ordering::SeqCst) > 0 || self.holds.load(Ordering::SeqCst) != 0 {
            return None;
        }
        // The applying lock before the mark: appliers hold it briefly, and a hold that meets
        // the mark waits on it (see `hold`).
        let mut applying = self.applying();
        if self.owned_runs.load(Ordering::SeqCst) > 0
            || self
                .holds
                .compare_exchange(0, EVICTING, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return None;
        }
        // Cleared however this ends, a panic included: a mark left set would keep every later
        // hold waiting.
        let _mark = ClearOnDrop(&self.holds);
        // Checked again after the mark: a run owned meanwhile is caught up under a hold, which
        // waits for this eviction to end and then reloads what it drops.
        if self.owned_runs.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.reload_mark
            .fetch_max(self.highest().get(), Ordering::SeqCst);
        self.registered_through
            .fetch_max(self.visible().get(), Ordering::SeqCst);
        // The counter first: from here on the agent reads as evicted, whatever is left of it.
        self.versions.reset(Version::ZERO);
        applying.arrivals.above.clear();
        applying.arrivals.landing.clear();
        memtable.remove_prefix(&self.agent.encode());
        let freed = self.bytes.swap(0, Ordering::Relaxed);
        self.budget.evicted(freed);
        Some(freed)
    }
}

/// Clears an agent's eviction mark when dropped (before the applying lock is released, as it
/// is declared after it).
struct ClearOnDrop<'a>(&'a AtomicU64);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

impl Clone for CacheHold {
    /// Another hold of the same agent (no wait: no eviction starts while this one lives).
    fn clone(&self) -> Self {
        self.cache.holds.fetch_add(1, Ordering::SeqCst);
        CacheHold {
            cache: Arc::clone(&self.cache),
        }
    }
}

impl Drop for CacheHold {
    fn drop(&mut self) {
        self.cache.holds.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for BriefHold<'_> {
    fn drop(&mut self) {
        self.cache.holds.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Applying<'_> {
    /// Whether commit `v` is in the memtable already.
    pub fn has(&self, v: Version) -> bool {
        v <= self.cache.versions.visible() || self.arrivals.above.contains(&v.get())
    }

    /// Marks commit `v`, whose `mutations` are now in the memtable, applied and publishes it.
    pub fn applied(&mut self, v: Version, mutations: &[Mutation]) {
        self.cache.versions.allocate_through(v);
        self.cache.versions.publish(v);
        let visible = self.cache.versions.visible().get();
        let arrivals = &mut *self.arrivals;
        arrivals.landing.remove(&v.get());
        if v.get() > visible {
            arrivals.above.insert(v.get());
        }
        // What `visible` has passed needs no remembering.
        for set in [&mut arrivals.above, &mut arrivals.landing] {
            while set.first().is_some_and(|&first| first <= visible) {
                set.pop_first();
            }
        }
        self.cache.landed.notify_all();
        let bytes = cached_bytes(mutations);
        self.cache.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.cache.budget.charge(bytes);
    }
}

/// Approximate memory `mutations` take once applied.
fn cached_bytes(mutations: &[Mutation]) -> u64 {
    mutations
        .iter()
        .map(|m| {
            let value = match &m.kind {
                MutationKind::Put { value, .. } => value.len(),
                MutationKind::Delete => 0,
            };
            u64::try_from(m.key.len() + value).unwrap_or(u64::MAX) + VERSION_OVERHEAD_BYTES
        })
        .sum()
}

#[cfg(test)]
mod tests;
