//! Which runs this host owns, and for how long it may trust that without asking the store.
//!
//! A host serves reads of the runs it owns from its cache. That is only right while no other
//! host has taken one of them over, since the new owner's writes never reach this cache. So
//! ownership is a lease of its own: each renewal of the host's lease is followed by a question
//! to the store (`owned_runs`), runs taken over meanwhile are let go, and the answer is trusted
//! until the renewed lease would run out, measured from *before* the renewal was sent, so the
//! host stops trusting no later than the store's lease ends. A takeover of a run whose owner is
//! alive makes the new owner wait out the former owner's lease (`RunStart::former_lease_left`),
//! so by the time the new owner writes, the former one has asked again or stopped serving.
//! A read that finds the answer too old asks again itself before it goes on.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dashmap::DashMap;

use in_mem_core_types::RunId;
use in_mem_remote::{RemoteError, RemoteResult, RemoteStore};

use super::AgentCache;

/// The clock the trust is measured on: the kernel's coarse monotonic clock
/// (`CLOCK_MONOTONIC_COARSE`, through `coarsetime`), which every read of a run owned here reads:
/// a few nanoseconds where `Instant::now` costs about 17 (a sixth of a cached get). It is the
/// monotonic clock as of the last kernel tick, so it may lag by up to one tick: a confirmation
/// measured on it starts no later than it did, and a reader's "now" may be early by a tick,
/// which `COARSE_TICK` (the longest tick, at 100 Hz) adds to the spare.
fn now() -> coarsetime::Instant {
    // Not `now()`, which also writes the crate's shared "recent" value on every call.
    coarsetime::Instant::now_without_cache_update()
}

const COARSE_TICK: Duration = Duration::from_millis(10);

/// Gives each [`Ownership`] its `id`.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The run this thread last found owned: its `Ownership`'s id, the run, and that
    /// `Ownership`'s `owned_changes` when it was found.
    static LAST_OWNED: Cell<Option<(u64, RunId, u64)>> = const { Cell::new(None) };
}

/// A run this host owns.
#[derive(Debug, Clone)]
struct Owned {
    /// The epoch the store gave this host for it.
    epoch: u64,
    /// The confirmation round in which it became this host's: the store's answer of an earlier
    /// round cannot know of it, so that round leaves it alone.
    round: u64,
    /// Its agent's cache, which counts the runs owned here (such an agent is not evicted).
    cache: Arc<AgentCache>,
}

/// The runs this host owns, and until when that list is known to be right.
pub(crate) struct Ownership {
    store: Arc<dyn RemoteStore>,
    host: String,
    lease_ttl: Duration,
    /// Read on every call naming a run, so sharded rather than behind one lock.
    owned: DashMap<RunId, Owned, foldhash::fast::RandomState>,
    /// Bumped after every change to `owned`: a thread's memo of the run it last found owned
    /// (`LAST_OWNED`) holds while this has not moved.
    owned_changes: AtomicU64,
    /// Tells this host's memos from another `Ownership`'s in the same process.
    id: u64,
    /// A tenth of the lease and a coarse clock's tick, in nanoseconds (see
    /// [`Ownership::trusted`]).
    spare_nanos: u64,
    /// The current confirmation round (see `Owned::round`).
    round: AtomicU64,
    /// Nanoseconds after `base` until which the list is trusted (0: not yet confirmed).
    trusted_until: AtomicU64,
    base: coarsetime::Instant,
    /// One confirmation at a time: readers that find the list stale wait for one answer.
    confirming: Mutex<()>,
    /// Confirmation attempts finished, and the last one's error (`None` if it succeeded): a
    /// reader that waited while an attempt failed takes its error rather than try again at
    /// once (readers queued behind a store that is down would each wait out a timeout).
    attempts: AtomicU64,
    last_error: Mutex<Option<RemoteError>>,
    /// Runs let go because another host took them over, until a call on each notices (its
    /// state here may predate the new owner's records, which this host skipped as its own).
    let_go: Mutex<HashSet<RunId>>,
}

impl Ownership {
    /// No runs owned yet, and nothing confirmed.
    pub fn new(store: Arc<dyn RemoteStore>, host: String, lease_ttl: Duration) -> Self {
        Ownership {
            store,
            host,
            lease_ttl,
            owned: DashMap::default(),
            owned_changes: AtomicU64::new(0),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            spare_nanos: u64::try_from((lease_ttl / 10 + COARSE_TICK).as_nanos())
                .unwrap_or(u64::MAX),
            round: AtomicU64::new(0),
            trusted_until: AtomicU64::new(0),
            base: now(),
            confirming: Mutex::new(()),
            attempts: AtomicU64::new(0),
            last_error: Mutex::new(None),
            let_go: Mutex::new(HashSet::new()),
        }
    }

    /// Notes that this host owns `run` at `epoch`. Called once the store's answer that says
    /// so is in: a confirmation whose question left before this call cannot know of the run and
    /// leaves it alone (its answer is trusted for a lease either way); every later one checks it.
    pub fn own(&self, run: RunId, epoch: u64, cache: &Arc<AgentCache>) {
        let round = self.round.load(Ordering::SeqCst);
        // Counted before the run is listed: an eviction that misses the count misses nothing
        // (see `AgentCache::try_evict`).
        cache.note_owned();
        let owned = Owned {
            epoch,
            round,
            cache: Arc::clone(cache),
        };
        if let Some(before) = self.owned.insert(run, owned) {
            before.cache.note_disowned();
        }
        self.owned_changes.fetch_add(1, Ordering::AcqRel);
        lock(&self.let_go).remove(&run);
    }

    /// Whether `run` was let go because another host took it over, since the last call here
    /// (which the caller answers by refreshing the run's state from its newest record).
    pub fn take_let_go(&self, run: RunId) -> bool {
        lock(&self.let_go).remove(&run)
    }

    /// Forgets that this host owns `run` (it ended, or another host took it over).
    pub fn disown(&self, run: RunId) {
        if let Some((_, owned)) = self.owned.remove(&run) {
            owned.cache.note_disowned();
        }
        self.owned_changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether this host owns `run`, as far as it knows (see [`Ownership::owns_confirmed`]).
    /// Every read of a run asks, so the answer for the run a thread last found owned is kept
    /// (in `LAST_OWNED`) until the list changes: a look-up of the map saved per read.
    pub fn owns(&self, run: RunId) -> bool {
        // Loaded before the look-up: a change after it moves the count, so the memo stored
        // below is never newer than the list it was read from.
        let changes = self.owned_changes.load(Ordering::Acquire);
        let memo = Some((self.id, run, changes));
        if LAST_OWNED.with(Cell::get) == memo {
            return true;
        }
        let owned = self.owned.contains_key(&run);
        if owned {
            LAST_OWNED.with(|last| last.set(memo));
        }
        owned
    }

    /// The epoch this host owns `run` at, if it does.
    pub fn epoch(&self, run: RunId) -> Option<u64> {
        self.owned.get(&run).map(|owned| owned.epoch)
    }

    /// Whether this host owns `run`, confirmed by the store within the lease: what a read of
    /// the run from the cache needs. Asks the store first if the last answer is too old, and
    /// fails with the store's error if it cannot.
    pub fn owns_confirmed(&self, run: RunId) -> RemoteResult<bool> {
        if !self.owns(run) {
            return Ok(false);
        }
        if !self.trusted() {
            let attempts = self.attempts.load(Ordering::SeqCst);
            let _one = lock(&self.confirming);
            // Another call may have confirmed while this one waited, or failed to.
            if !self.trusted() {
                if self.attempts.load(Ordering::SeqCst) != attempts
                    && let Some(failed) = lock(&self.last_error).clone()
                {
                    return Err(failed);
                }
                self.confirm_now()?;
            }
        }
        Ok(self.owns(run))
    }

    /// Renews the lease and confirms which runs this host still owns (the renewal thread's
    /// round; readers call it through [`Ownership::owns_confirmed`] when the last one is old).
    pub fn renew_and_confirm(&self) -> RemoteResult<()> {
        let _one = lock(&self.confirming);
        self.confirm_now()
    }

    /// Whether the last confirmation still holds, with a tenth of the lease to spare for the
    /// read that relies on it and for clocks that tick at slightly different rates, and a tick
    /// of the coarse clock (see [`now`]).
    fn trusted(&self) -> bool {
        let now = self.nanos_since_base(now());
        now.saturating_add(self.spare_nanos) < self.trusted_until.load(Ordering::Acquire)
    }

    /// One confirmation round; the caller holds `confirming`.
    fn confirm_now(&self) -> RemoteResult<()> {
        let result = self.ask_store();
        *lock(&self.last_error) = result.as_ref().err().cloned();
        self.attempts.fetch_add(1, Ordering::SeqCst);
        result
    }

    fn ask_store(&self) -> RemoteResult<()> {
        // Measured before the renewal leaves: the store's lease ends no earlier than this plus
        // the lease's length.
        let sent = now();
        self.store.renew_lease(&self.host, self.lease_ttl)?;
        // Runs owned from here on may be missing from the answer: they belong to a later round.
        let round = self.round.fetch_add(1, Ordering::SeqCst);
        let held: HashMap<RunId, u64> = self.store.owned_runs(&self.host)?.into_iter().collect();
        let mut let_go = Vec::new();
        self.owned.retain(|run, owned| {
            let kept = owned.round > round || held.get(run) == Some(&owned.epoch);
            if !kept {
                tracing::info!(%run, host = %self.host, "another host took this run over; letting it go");
                owned.cache.note_disowned();
                let_go.push(*run);
            }
            kept
        });
        if !let_go.is_empty() {
            self.owned_changes.fetch_add(1, Ordering::AcqRel);
        }
        lock(&self.let_go).extend(let_go);
        let lease = u64::try_from(self.lease_ttl.as_nanos()).unwrap_or(u64::MAX);
        let until = self.nanos_since_base(sent).saturating_add(lease);
        self.trusted_until.fetch_max(until, Ordering::AcqRel);
        Ok(())
    }

    fn nanos_since_base(&self, at: coarsetime::Instant) -> u64 {
        u64::try_from(Duration::from(at - self.base).as_nanos()).unwrap_or(u64::MAX)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every change under these locks is a single assignment, insert or remove.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for Ownership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ownership")
            .field("host", &self.host)
            .field("owned", &self.owned.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
