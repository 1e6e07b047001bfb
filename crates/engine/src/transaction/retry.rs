//! How `Database::transaction_with_retry` retries a transaction that lost a conflict.

use std::time::Duration;

/// Bounded retries with exponential backoff.
///
/// The closure of a retried transaction may run up to `max_attempts` times, so it must not have
/// effects outside the transaction (or they must be safe to repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each time.
    pub base_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 32 attempts, waits from 10 us doubling up to 5 ms.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 32,
            base_delay: Duration::from_micros(10),
            max_delay: Duration::from_millis(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt` (2 for the first retry), with jitter derived from
    /// `salt` so that contending threads spread out instead of retrying in lockstep.
    pub(crate) fn delay(&self, attempt: u32, salt: u64) -> Duration {
        let doublings = attempt.saturating_sub(2).min(20);
        let full = self
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay);
        // Jitter: between half and all of the full wait.
        let mixed = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17);
        let per_mille = 500 + u32::try_from(mixed % 501).expect("below 501");
        full * per_mille / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_bounded() {
        let policy = RetryPolicy::default();
        let first = policy.delay(2, 1);
        assert!(first >= policy.base_delay / 2 && first <= policy.base_delay);
        assert!(policy.delay(8, 1) > policy.delay(3, 1));
        for attempt in 2..64 {
            assert!(policy.delay(attempt, attempt.into()) <= policy.max_delay);
        }
    }
}
