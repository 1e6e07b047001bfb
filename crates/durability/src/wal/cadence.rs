//! The background sync cadence: the registered policies, the smallest interval and commit
//! count among them, when the oldest unsynced record was appended, and what the sync thread is
//! doing, so that appenders wake it only when it would otherwise sleep past their deadline.

use std::time::{Duration, Instant};

use super::SyncPolicy;

/// What the sync thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ThreadWait {
    /// Awake: it will look at the state again before sleeping.
    Busy,
    /// Asleep until this instant.
    Until(Instant),
    /// Asleep until notified.
    Forever,
}

/// Policies and the sync thread's schedule, behind the log lock.
pub(super) struct Cadence {
    policies: Vec<(u64, SyncPolicy)>,
    next_policy_id: u64,
    pub(super) interval_min: Option<Duration>,
    pub(super) max_commits_min: Option<u64>,
    /// When the oldest unsynced record was appended (tracked only while a policy exists).
    pub(super) first_unsynced_at: Option<Instant>,
    pub(super) thread_wait: ThreadWait,
}

impl Cadence {
    pub(super) fn new() -> Cadence {
        Cadence {
            policies: Vec::new(),
            next_policy_id: 0,
            interval_min: None,
            max_commits_min: None,
            first_unsynced_at: None,
            thread_wait: ThreadWait::Busy,
        }
    }

    /// Registers `policy`; returns its id.
    pub(super) fn add(&mut self, policy: SyncPolicy) -> u64 {
        let id = self.next_policy_id;
        self.next_policy_id += 1;
        self.policies.push((id, policy));
        self.recompute();
        id
    }

    /// Removes the policy registered under `id`.
    pub(super) fn remove(&mut self, id: u64) {
        self.policies.retain(|(i, _)| *i != id);
        self.recompute();
        if self.interval_min.is_none() {
            self.first_unsynced_at = None;
        }
    }

    fn recompute(&mut self) {
        self.interval_min = self.policies.iter().map(|(_, p)| p.interval).min();
        self.max_commits_min = self
            .policies
            .iter()
            .filter_map(|(_, p)| p.max_commits)
            .min()
            .map(|m| m.max(1));
    }
}
