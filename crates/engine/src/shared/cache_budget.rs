//! The host's cache budget (`RemoteOptions::cache_bytes`): the bytes every cached agent takes,
//! and the eviction rounds that bring them back under it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// How much of the budget an eviction round leaves in use: evicting down to a little below
/// the limit keeps the next few catch-ups from starting another round at once.
const LOW_WATER_PERCENT: u64 = 90;
/// After a round that could not get under the budget (the agents left were held or owned),
/// the next waits until the cache has grown by this share of the budget: a host whose owned
/// agents alone exceed it would otherwise sort every agent after every commit.
const RETRY_GROWTH_DIVISOR: u64 = 16;

/// The bytes the host's cached agents take, against the limit.
#[derive(Debug)]
pub(crate) struct CacheBudget {
    limit: u64,
    used: AtomicU64,
    /// Eviction rounds begun; an agent remembers the round of its last use.
    round: AtomicU64,
    /// Agents evicted so far.
    evictions: AtomicU64,
    /// Usage when the last round ended still over the budget (0: it did not).
    stuck_at: AtomicU64,
    /// One eviction round at a time (another caller over the budget goes on without waiting).
    evicting: Mutex<()>,
}

/// The cache's state, for monitoring ([`Database::cache_stats`](crate::Database::cache_stats)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Approximate bytes of the cached agents' data (keys, values and per-version overhead).
    pub bytes: u64,
    /// The budget (`RemoteOptions::cache_bytes`).
    pub limit: u64,
    /// Agents with data in the cache.
    pub agents: usize,
    /// Agents evicted since the database was connected.
    pub evictions: u64,
}

impl CacheBudget {
    pub fn new(limit: u64) -> Self {
        CacheBudget {
            limit,
            used: AtomicU64::new(0),
            round: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            stuck_at: AtomicU64::new(0),
            evicting: Mutex::new(()),
        }
    }

    pub fn charge(&self, bytes: u64) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Notes an agent evicted, which freed `bytes`.
    pub fn evicted(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// The current eviction round.
    pub fn round(&self) -> u64 {
        self.round.load(Ordering::Relaxed)
    }

    /// Whether the cache holds more than its budget.
    pub fn over(&self) -> bool {
        self.used() > self.limit
    }

    /// Whether an eviction round is worth starting: over the budget, and grown since a round
    /// last failed to get under it (see `RETRY_GROWTH_DIVISOR`).
    pub fn round_due(&self) -> bool {
        let used = self.used();
        let stuck_at = self.stuck_at.load(Ordering::Relaxed);
        used > self.limit
            && (stuck_at == 0 || used >= stuck_at.saturating_add(self.limit / RETRY_GROWTH_DIVISOR))
    }

    /// Notes how a round ended: still over the budget or not.
    pub fn round_ended(&self) {
        let used = self.used();
        let stuck_at = if used > self.limit { used.max(1) } else { 0 };
        self.stuck_at.store(stuck_at, Ordering::Relaxed);
    }

    /// Whether an eviction round may stop: usage is down to the low-water mark.
    pub fn low_enough(&self) -> bool {
        self.used() <= self.limit / 100 * LOW_WATER_PERCENT
    }

    /// Starts an eviction round, unless one is running (`None`): agents used from now on count
    /// as used after it.
    pub fn begin_round(&self) -> Option<MutexGuard<'_, ()>> {
        let round = match self.evicting.try_lock() {
            Ok(round) => round,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        self.round.fetch_add(1, Ordering::Relaxed);
        Some(round)
    }
}

#[cfg(test)]
mod tests {
    use super::CacheBudget;

    #[test]
    fn after_a_round_that_stayed_over_the_next_waits_for_growth() {
        let budget = CacheBudget::new(1600);
        budget.charge(1000);
        assert!(!budget.round_due());
        budget.charge(1000);
        assert!(budget.round_due());
        // Nothing could be evicted: 2000 of 1600 stay.
        budget.round_ended();
        assert!(budget.over() && !budget.round_due());
        budget.charge(99);
        assert!(
            !budget.round_due(),
            "grown by less than a sixteenth of the budget"
        );
        budget.charge(1);
        assert!(budget.round_due());
        // A round that gets under the budget clears the wait.
        budget.evicted(1500);
        budget.round_ended();
        budget.charge(1100);
        assert!(budget.round_due());
    }
}
