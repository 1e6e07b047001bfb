//! The backend boundary's conformance suite against the in-process `MemStore`, on a manual
//! clock, and what only `MemStore` can do: lose a commit's request or reply on purpose, so that
//! resolving an unknown outcome by commit id is tested without a network.

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::ManualClock;
use in_mem_core_types::{AgentId, RunId, Timestamp, Version};
use in_mem_remote::conformance::{self, Kit};
use in_mem_remote::{
    BeginRun, CommitId, CommitOutcome, CommitRequest, MemStore, MemStoreFault, RemoteError,
    RemoteStore, RemoteWrite,
};

fn store() -> (Arc<ManualClock>, MemStore) {
    let clock = Arc::new(ManualClock::new(Timestamp::from_micros(
        1_700_000_000_000_000,
    )));
    let store = MemStore::with_clock(clock.clone());
    (clock, store)
}

#[test]
fn mem_store_passes_the_conformance_suite() {
    let (clock, store) = store();
    let pass_time = |d: Duration| clock.advance(d);
    conformance::run_all(&Kit {
        store: &store,
        pass_time: &pass_time,
    });
}

fn begun(store: &MemStore) -> (AgentId, RunId, u64) {
    let agent = AgentId::new("t", "faults", "agent");
    let run = RunId::new();
    store
        .renew_lease("host", Duration::from_secs(60))
        .expect("lease");
    let start = store
        .begin_run(&BeginRun::new(agent.clone(), run, "host"))
        .expect("begin");
    (agent, run, start.epoch)
}

fn request(agent: &AgentId, run: RunId, epoch: u64) -> CommitRequest {
    CommitRequest {
        agent: agent.clone(),
        run,
        epoch,
        commit: CommitId::new(),
        writes: vec![RemoteWrite::put(b"k", b"v")],
    }
}

#[test]
fn a_lost_reply_is_resolved_by_the_commit_id_without_applying_twice() {
    let (_clock, store) = store();
    let (agent, run, epoch) = begun(&store);
    let commit = request(&agent, run, epoch);
    store.inject(MemStoreFault::LoseCommitReply);
    assert!(matches!(
        store.commit_batch(std::slice::from_ref(&commit)),
        Err(RemoteError::OutcomeUnknown(_))
    ));
    assert_eq!(
        store.commit_status(&agent, commit.commit).expect("status"),
        Some(Version::new(1)),
        "the commit whose reply was lost was applied"
    );
    let resent = store.commit_batch(&[commit]).expect("resend");
    assert_eq!(
        resent,
        vec![CommitOutcome::AlreadyCommitted {
            version: Version::new(1)
        }]
    );
    assert_eq!(store.clock(&agent).expect("clock"), Version::new(1));
}

#[test]
fn a_lost_request_changes_nothing_and_a_resend_commits_it_once() {
    let (_clock, store) = store();
    let (agent, run, epoch) = begun(&store);
    let commit = request(&agent, run, epoch);
    store.inject(MemStoreFault::LoseCommitRequest);
    assert!(matches!(
        store.commit_batch(std::slice::from_ref(&commit)),
        Err(RemoteError::OutcomeUnknown(_))
    ));
    assert_eq!(
        store.commit_status(&agent, commit.commit).expect("status"),
        None
    );
    assert_eq!(store.clock(&agent).expect("clock"), Version::ZERO);
    let resent = store.commit_batch(&[commit]).expect("resend");
    assert_eq!(resent[0].version(), Some(Version::new(1)));
}

#[test]
fn an_unavailable_store_fails_one_call_and_changes_nothing() {
    let (_clock, store) = store();
    let (agent, run, epoch) = begun(&store);
    store.inject(MemStoreFault::Unavailable);
    assert!(matches!(
        store.commit_batch(&[request(&agent, run, epoch)]),
        Err(RemoteError::Unavailable(_))
    ));
    assert_eq!(store.clock(&agent).expect("clock"), Version::ZERO);
}
