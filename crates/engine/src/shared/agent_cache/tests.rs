//! `expect_own` and `wait_for_own`: a catch-up waits for this host's own commits of a batch,
//! never for another host's (which only the store has), and never past its patience.

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{AgentId, Version};

use super::AgentCache;
use crate::shared::CacheBudget;

/// Long enough that a wait that should not happen would stall the test (and nextest's timeout
/// names it), not fail it by chance.
const FOREVER: Duration = Duration::from_secs(3600);

fn cache() -> Arc<AgentCache> {
    Arc::new(AgentCache::new(
        AgentId::new("t", "a", "x"),
        Arc::new(CacheBudget::new(u64::MAX)),
    ))
}

fn v(n: u64) -> Version {
    Version::new(n)
}

#[test]
fn a_catch_up_waits_for_its_own_commits_applied_out_of_order() {
    let cache = cache();
    for n in 1..=3 {
        cache.expect_own(v(n));
    }
    let applier = {
        let cache = Arc::clone(&cache);
        std::thread::spawn(move || {
            for n in [3, 1, 2] {
                std::thread::sleep(Duration::from_millis(5));
                cache.applying().applied(v(n), &[]);
            }
        })
    };
    assert!(cache.wait_for_own(v(3), FOREVER));
    assert_eq!(cache.visible(), v(3));
    applier.join().unwrap();
}

#[test]
fn another_hosts_commit_in_the_gap_is_fetched_without_waiting() {
    let cache = cache();
    // Version 1 is another host's: nothing here will ever apply it.
    cache.expect_own(v(2));
    cache.applying().applied(v(2), &[]);
    assert!(!cache.wait_for_own(v(2), FOREVER));
    assert_eq!(cache.visible(), v(0));
}

#[test]
fn a_committer_that_never_applies_is_waited_for_only_as_long_as_the_patience() {
    let cache = cache();
    cache.expect_own(v(1));
    assert!(!cache.wait_for_own(v(1), Duration::from_millis(20)));
    // Applied later (by a catch-up, say), it is forgotten with the rest.
    cache.applying().applied(v(1), &[]);
    assert!(cache.wait_for_own(v(1), FOREVER));
}

#[test]
fn a_version_applied_before_it_was_expected_is_not_waited_for() {
    let cache = cache();
    cache.applying().applied(v(2), &[]);
    cache.expect_own(v(2));
    cache.expect_own(v(1));
    cache.applying().applied(v(1), &[]);
    assert!(cache.wait_for_own(v(2), FOREVER));
    assert!(cache.lock_arrivals().landing.is_empty());
}
