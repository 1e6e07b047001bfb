use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{AgentId, RunId};
use in_mem_remote::{BeginRun, MemStore, RemoteStore};

use super::Ownership;
use crate::shared::{AgentCache, CacheBudget};

const LEASE: Duration = Duration::from_millis(400);

fn begun(store: &MemStore, host: &str) -> (RunId, u64) {
    let run = RunId::new();
    let start = store
        .begin_run(&BeginRun::new(AgentId::new("t", "a", "x"), run, host))
        .unwrap();
    (run, start.epoch)
}

fn agent_cache() -> Arc<AgentCache> {
    Arc::new(AgentCache::new(
        AgentId::new("t", "a", "x"),
        Arc::new(CacheBudget::new(u64::MAX)),
    ))
}

/// A store, and host "a"'s ownership on it, confirmed once.
fn confirmed() -> (Arc<MemStore>, Ownership) {
    let store = Arc::new(MemStore::new());
    let ownership = Ownership::new(store.clone(), "a".into(), LEASE);
    ownership.renew_and_confirm().unwrap();
    (store, ownership)
}

#[test]
fn a_run_taken_over_is_let_go_at_the_next_confirmation() {
    let (store, ownership) = confirmed();
    store.renew_lease("b", LEASE).unwrap();
    let (kept, kept_epoch) = begun(&store, "a");
    let (taken, taken_epoch) = begun(&store, "a");
    ownership.own(kept, kept_epoch, &agent_cache());
    ownership.own(taken, taken_epoch, &agent_cache());
    store.take_over_run(taken, "b").unwrap();
    // Within the confirmed lease the list is trusted as it is.
    assert!(ownership.owns_confirmed(taken).unwrap());
    ownership.renew_and_confirm().unwrap();
    assert!(!ownership.owns(taken));
    assert_eq!(ownership.epoch(kept), Some(kept_epoch));
}

#[test]
fn a_read_after_the_confirmation_went_stale_asks_the_store_itself() {
    let (store, ownership) = confirmed();
    store.renew_lease("b", LEASE).unwrap();
    let (run, epoch) = begun(&store, "a");
    ownership.own(run, epoch, &agent_cache());
    // No renewal thread here: the confirmation ages past its lease, as if the host had paused,
    // and meanwhile another host takes the run over.
    std::thread::sleep(LEASE);
    store.renew_lease("b", LEASE).unwrap();
    store.take_over_run(run, "b").unwrap();
    assert!(!ownership.owns_confirmed(run).unwrap());
    assert!(!ownership.owns(run));
}

#[test]
fn a_run_owned_after_the_question_left_is_not_let_go() {
    use std::sync::atomic::Ordering;
    let (_store, ownership) = confirmed();
    // Neither run is in the store's answer: one was owned before the question left (so the
    // store would have listed it, had this host still owned it), the other in the round after
    // it, as a run whose begin raced the question is.
    let before = RunId::new();
    let after = RunId::new();
    ownership.own(before, 1, &agent_cache());
    let round = ownership.round.load(Ordering::SeqCst);
    ownership.round.store(round + 1, Ordering::SeqCst);
    ownership.own(after, 1, &agent_cache());
    ownership.round.store(round, Ordering::SeqCst);
    ownership.renew_and_confirm().unwrap();
    assert!(!ownership.owns(before));
    assert!(ownership.owns(after));
}

#[test]
fn a_store_out_of_reach_fails_a_read_whose_confirmation_is_stale() {
    let (store, ownership) = confirmed();
    let (run, epoch) = begun(&store, "a");
    ownership.own(run, epoch, &agent_cache());
    std::thread::sleep(LEASE);
    store.inject(in_mem_remote::MemStoreFault::Unavailable);
    assert!(ownership.owns_confirmed(run).is_err());
    // Once the store answers again, so does the read.
    assert!(ownership.owns_confirmed(run).unwrap());
}

#[test]
fn a_failed_confirmation_is_counted_and_a_later_reader_asks_again() {
    let (store, ownership) = confirmed();
    let (run, epoch) = begun(&store, "a");
    ownership.own(run, epoch, &agent_cache());
    std::thread::sleep(LEASE);
    // One confirmation fails and is counted (a reader that waited on it answers with its
    // error); a reader that comes later asks the store again.
    store.inject(in_mem_remote::MemStoreFault::Unavailable);
    let attempts = ownership.attempts.load(std::sync::atomic::Ordering::SeqCst);
    assert!(ownership.renew_and_confirm().is_err());
    assert_eq!(
        ownership.attempts.load(std::sync::atomic::Ordering::SeqCst),
        attempts + 1
    );
    assert!(
        ownership.owns_confirmed(run).unwrap(),
        "a fresh reader asks again"
    );
}

#[test]
fn a_run_let_go_is_reported_once() {
    let (store, ownership) = confirmed();
    store.renew_lease("b", LEASE).unwrap();
    let (run, epoch) = begun(&store, "a");
    ownership.own(run, epoch, &agent_cache());
    store.take_over_run(run, "b").unwrap();
    ownership.renew_and_confirm().unwrap();
    assert!(ownership.take_let_go(run));
    assert!(!ownership.take_let_go(run));
}

#[test]
fn an_agent_stays_cached_while_a_run_of_it_is_owned_here() {
    let (store, ownership) = confirmed();
    store.renew_lease("b", LEASE).unwrap();
    let cache = agent_cache();
    let memtable = in_mem_storage::Memtable::new(in_mem_core_types::Version::ZERO);
    let (ended, ended_epoch) = begun(&store, "a");
    let (taken, taken_epoch) = begun(&store, "a");
    ownership.own(ended, ended_epoch, &cache);
    ownership.own(taken, taken_epoch, &cache);
    // Owned again (a takeover by this host itself): still one run.
    ownership.own(taken, taken_epoch, &cache);
    assert_eq!(cache.try_evict(&memtable), None);
    ownership.disown(ended);
    assert_eq!(cache.try_evict(&memtable), None);
    store.take_over_run(taken, "b").unwrap();
    ownership.renew_and_confirm().unwrap();
    assert!(!ownership.owns(taken));
    assert_eq!(cache.try_evict(&memtable), Some(0));
    // A hold keeps it too.
    let hold = cache.hold();
    assert_eq!(cache.try_evict(&memtable), None);
    drop(hold);
    assert_eq!(cache.try_evict(&memtable), Some(0));
}

#[test]
fn a_thread_remembers_an_owned_run_only_until_the_list_changes() {
    let (store, ownership) = confirmed();
    let (run, epoch) = begun(&store, "a");
    assert!(!ownership.owns(run));
    ownership.own(run, epoch, &agent_cache());
    // Found owned twice: the second answer is this thread's memo of the first.
    assert!(ownership.owns(run));
    assert!(ownership.owns(run));
    ownership.disown(run);
    assert!(
        !ownership.owns(run),
        "a run let go is not owned, memo or not"
    );
    ownership.own(run, epoch, &agent_cache());
    assert!(ownership.owns(run));
    // Another host's list in the same process, which lacks the run, is not answered from
    // this one's memo.
    let (_, other) = confirmed();
    assert!(!other.owns(run));
    assert!(ownership.owns(run));
}
