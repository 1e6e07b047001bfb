//! Shared mode when the store is away or its answers are lost, on the in-process `MemStore`
//! with injected faults: commits ridden out and resolved by commit id, and a run's begin, end,
//! takeover and status changes sent again after a lost answer and made once, in order.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{AgentId, RunId};
use in_mem_engine::remote::{MemStore, MemStoreFault, RemoteError, RemoteStore, StoredRunStatus};
use in_mem_engine::{Database, Error, RemoteOptions, RunOptions, RunQuery, RunStatus};

fn agent() -> AgentId {
    AgentId::new("tenant", "app", "agent")
}

#[test]
fn an_unreachable_store_is_ridden_out_by_commits_and_a_typed_error_elsewhere() {
    let store = Arc::new(MemStore::new());
    // A long lease: its renewal thread must not take the faults meant for the calls below.
    let options = RemoteOptions::new("").lease_ttl(Duration::from_secs(600));
    let db = Database::connect_store(store.clone(), options).unwrap();
    let run = db.begin_run();
    db.put(run, b"k", b"1").unwrap();
    // A commit whose batch found the store unavailable is sent again (nothing was applied).
    store.inject(MemStoreFault::Unavailable);
    let version = db.put(run, b"k", b"2").unwrap();
    assert_eq!(db.get(run, b"k").unwrap(), Some(b"2".to_vec()));
    // So is a run's begin (the store makes it once however often it is sent).
    store.inject(MemStoreFault::Unavailable);
    let begun = db.try_begin_run().unwrap();
    let in_new_run = db.put(begun, b"k", b"in the new run").unwrap();
    assert!(in_new_run > version);
    // A read that is not a commit reports it, typed, and changes nothing.
    store.inject(MemStoreFault::Unavailable);
    let failed = db.try_query_runs(&RunQuery::default());
    assert!(
        matches!(failed, Err(Error::Remote(RemoteError::Unavailable(_)))),
        "{failed:?}"
    );
    assert_eq!(db.put(run, b"k", b"3").unwrap(), in_new_run + 1);
    assert_eq!(db.get(run, b"k").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn a_store_away_longer_than_the_outage_limit_fails_commits_typed_and_they_go_on_after() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("")
        .lease_ttl(Duration::from_secs(600))
        .outage_limit(Duration::ZERO);
    let db = Database::connect_store(store.clone(), options).unwrap();
    let run = db.begin_run();
    let first = db.put(run, b"k", b"1").unwrap();
    store.inject(MemStoreFault::Unavailable);
    let failed = db.put(run, b"k", b"2");
    assert!(
        matches!(failed, Err(Error::Remote(RemoteError::Unavailable(_)))),
        "{failed:?}"
    );
    assert_eq!(db.get(run, b"k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        db.put(run, b"k", b"3").unwrap(),
        first + 1,
        "the failed put took no version"
    );
    assert_eq!(db.stats().visible_version, first + 1);
}

#[test]
fn a_lost_reply_is_resolved_by_commit_id_and_applied_once() {
    let store = Arc::new(MemStore::new());
    let db = Database::connect_store(store.clone(), RemoteOptions::new("")).unwrap();
    let run = db.begin_run();
    store.inject(MemStoreFault::LoseCommitReply);
    let version = db.put(run, b"k", b"once").unwrap();
    assert_eq!(db.get(run, b"k").unwrap(), Some(b"once".to_vec()));
    let next = db.put(run, b"k2", b"after").unwrap();
    assert_eq!(
        next,
        version + 1,
        "the resent commit took one version, not two"
    );
}

#[test]
fn a_begin_whose_answer_was_lost_is_sent_again_and_begins_the_run_once() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("")
        .lease_ttl(Duration::from_secs(600))
        .host_id("h");
    let db = Database::connect_store(store.clone(), options).unwrap();
    let run = RunId::new();
    // The store registers the run, and the answer saying so is lost.
    store.inject(MemStoreFault::LoseRunReply);
    let begun = db.begin_run_with(RunOptions::new().id(run)).unwrap();
    assert_eq!(begun, run);
    db.put(run, b"k", b"v").unwrap();
    assert_eq!(db.get(run, b"k").unwrap(), Some(b"v".to_vec()));
    // Begun once: another begin of the same id is refused, here and in the store.
    assert!(matches!(
        db.begin_run_with(RunOptions::new().id(run)),
        Err(Error::RunState {
            status: "existing",
            ..
        })
    ));
    let row = store.run(run).unwrap().unwrap();
    assert_eq!((row.owner.as_str(), row.epoch), ("h", 1));
}

#[test]
fn a_begin_still_unanswered_after_the_outage_limit_is_resolved_by_beginning_it_again() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("")
        .lease_ttl(Duration::from_secs(600))
        .outage_limit(Duration::ZERO);
    let db = Database::connect_store(store.clone(), options).unwrap();
    let run = RunId::new();
    store.inject(MemStoreFault::LoseRunReply);
    let lost = db.begin_run_with(RunOptions::new().id(run));
    assert!(
        matches!(lost, Err(Error::Remote(RemoteError::OutcomeUnknown(_)))),
        "{lost:?}"
    );
    // The run was registered. A try that finds the store away is still unknown (not
    // "unavailable": the kept request may have begun it), and keeps the request.
    assert!(store.run(run).unwrap().is_some());
    store.inject(MemStoreFault::Unavailable);
    let away = db.begin_run_with(RunOptions::new().id(run));
    assert!(
        matches!(away, Err(Error::Remote(RemoteError::OutcomeUnknown(_)))),
        "{away:?}"
    );
    // A begin with other tags is another request: refused, the run being there.
    assert!(matches!(
        db.begin_run_with(RunOptions::new().id(run).tag("other")),
        Err(Error::RunState {
            status: "existing",
            ..
        })
    ));
    // Beginning it again as first asked finds this host's own begin.
    db.begin_run_with(RunOptions::new().id(run)).unwrap();
    db.put(run, b"k", b"v").unwrap();
    assert_eq!(db.get(run, b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn a_begin_whose_answer_was_lost_stays_unknown_when_the_store_then_goes_away() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("")
        .lease_ttl(Duration::from_secs(600))
        .outage_limit(Duration::from_millis(120));
    let db = Database::connect_store(store.clone(), options).unwrap();
    let run = RunId::new();
    // The first send registers the run and its answer is lost; the store is away for the next.
    store.inject(MemStoreFault::LoseRunReply);
    store.inject(MemStoreFault::Unavailable);
    let lost = db.begin_run_with(RunOptions::new().id(run));
    assert!(
        matches!(lost, Err(Error::Remote(RemoteError::OutcomeUnknown(_)))),
        "not 'unavailable': the first send may have begun it: {lost:?}"
    );
    db.begin_run_with(RunOptions::new().id(run)).unwrap();
    db.put(run, b"k", b"v").unwrap();
}

#[test]
fn a_takeover_whose_answer_was_lost_is_sent_again_and_the_run_is_this_hosts() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("").lease_ttl(Duration::from_millis(300));
    let a = Database::connect_store(store.clone(), options.clone().host_id("a")).unwrap();
    let run = a.begin_run_in(&agent()).unwrap();
    a.put(run, b"step", b"1").unwrap();
    drop(a);
    let b = Database::connect_store(store.clone(), options.host_id("b")).unwrap();
    store.inject(MemStoreFault::LoseRunReply);
    b.take_over_run(run).unwrap();
    b.put(run, b"step", b"2").unwrap();
    let row = store.run(run).unwrap().unwrap();
    assert_eq!(
        (row.owner.as_str(), row.epoch),
        ("b", 3),
        "taken twice, by b"
    );
    b.end_run(run).unwrap();
    assert_eq!(b.get(run, b"step").unwrap(), Some(b"2".to_vec()));
}

#[test]
fn a_pause_sent_again_after_a_lost_answer_never_lands_after_a_later_resume() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("").lease_ttl(Duration::from_secs(600));
    let db = Database::connect_store(store.clone(), options).unwrap();
    let run = db.begin_run();
    // The pause is made, its answer lost, and it is sent again 50 ms later.
    store.inject(MemStoreFault::LoseRunReply);
    std::thread::scope(|s| {
        s.spawn(|| db.pause_run(run).unwrap());
        // Resumed as soon as the pause is made here (before its resend).
        loop {
            match db.resume_run(run) {
                Ok(()) => break,
                Err(Error::RunState { .. }) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("{e}"),
            }
        }
    });
    let row = store.run(run).unwrap().unwrap();
    assert_eq!(
        row.status,
        StoredRunStatus::Active,
        "the store kept the resume"
    );
    assert_eq!(db.run_info(run).unwrap().status, RunStatus::Active);
    db.put(run, b"k", b"written after the resume").unwrap();
}

#[test]
fn an_end_whose_answer_was_lost_is_sent_again_and_the_run_ends_once() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("").lease_ttl(Duration::from_secs(600));
    let db = Database::connect_store(store.clone(), options).unwrap();
    let run = db.begin_run();
    db.put(run, b"k", b"v").unwrap();
    store.inject(MemStoreFault::LoseRunReply);
    db.end_run(run).unwrap();
    let row = store.run(run).unwrap().unwrap();
    assert_eq!(row.status, StoredRunStatus::Completed);
    assert!(matches!(
        db.put(run, b"k", b"late"),
        Err(Error::RunEnded { .. })
    ));
    assert_eq!(db.get(run, b"k").unwrap(), Some(b"v".to_vec()));
}
