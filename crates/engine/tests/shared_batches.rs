//! Shared mode's group commit as a connected database meets it: committers of one agent whose
//! commits the store answered in one batch apply their own commits as they wake, and none of
//! them asks the store for what another committer of this host is about to apply (which cost a
//! round trip per commit, and halved the rate of eight threads writing one agent).

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::AgentId;
use in_mem_engine::remote::MemStore;
use in_mem_engine::{Database, RemoteOptions};

const THREADS: usize = 8;
const PUTS_PER_THREAD: usize = 200;

#[test]
fn committers_of_one_batch_never_fetch_what_their_own_host_wrote() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("")
        .host_id("a")
        .lease_ttl(Duration::from_secs(600));
    let db = Database::connect_store(store.clone(), options).unwrap();
    let agent = AgentId::new("tenant", "batches", "agent");
    let runs: Vec<_> = (0..THREADS)
        .map(|_| db.begin_run_in(&agent).unwrap())
        .collect();
    let before = store.calls();
    std::thread::scope(|scope| {
        for (t, &run) in runs.iter().enumerate() {
            let db = &db;
            scope.spawn(move || {
                for i in 0..PUTS_PER_THREAD {
                    let key = format!("t{t}-{i}");
                    let version = db.put(run, key.as_bytes(), b"value").unwrap();
                    // The commit is visible to its run at once, whatever its batch-mates did.
                    let got = db.get_versioned(run, key.as_bytes()).unwrap().unwrap();
                    assert_eq!(got.version, version);
                }
            });
        }
    });
    let calls = store.calls();
    let commits = calls.commits - before.commits;
    let batches = calls.commit_batches - before.commit_batches;
    assert_eq!(commits, (THREADS * PUTS_PER_THREAD) as u64);
    // The committers shared batches (else nothing here could have been fetched in the first
    // place) ...
    assert!(
        commits * 10 >= batches * 12,
        "{commits} commits in {batches} batches: too few shared a batch to test anything"
    );
    // ... and caught up without the store: each version is this host's, applied by its own
    // committer. (A committer descheduled past the wait's patience makes a rare fetch.)
    let catch_ups = calls.catch_ups - before.catch_ups;
    assert!(
        catch_ups * 50 <= commits,
        "{catch_ups} catch-ups from the store for {commits} commits of this host alone"
    );
}
