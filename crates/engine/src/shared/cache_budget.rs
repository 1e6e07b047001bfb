//! The host's cache budget (`RemoteOptions::cache_bytes`): the bytes every cached agent takes,
//! and the eviction rounds that bring them back under it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// How much of the budget an eviction round leaves in use: evicting down to a little below
/// the limit keeps the next few catch-ups from starting another round at once.
const LOW_WATER_PERCENT: u64 = 90;

/// The bytes the host's cached agents take, against the limit.
#[derive(Debug)]
pub(crate) struct CacheBudget {
    limit: u64,
    used: AtomicU64,
    /// Eviction rounds begun; an agent remembers the round of its last use.
    round: AtomicU64,
    /// Agents evicted so far.
    evictions: AtomicU64,
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
