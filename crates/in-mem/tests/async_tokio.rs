//! Calling in-mem from async code (tokio): the `spawn_blocking` pattern that `docs/async.md`
//! describes, tested.
//!
//! Every `Database` call is synchronous, and a commit in `Strict` mode waits for an fdatasync
//! (milliseconds on a disk). Made directly from an async task, that wait holds an executor thread,
//! and every task scheduled on that thread waits with it. Made inside
//! `tokio::task::spawn_blocking`, it holds a thread of tokio's blocking pool instead, and the
//! executor keeps running other tasks; many commits in flight at once share syncs (group commit).
//!
//! No test here asserts a duration: each asserts something a direct call from the executor
//! would make impossible (a deadlock it would cause, a timer tick it would prevent), or what the
//! commits left in the database.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use in_mem::primitives::{EventLog, KVStore};
use in_mem::{Database, DurabilityMode, RunId};

/// How long a blocking closure waits for the executor before the test gives up: a deadline that
/// turns a deadlock into a failure, not a timing assertion.
const DEADLOCK_DEADLINE: Duration = Duration::from_secs(60);

fn strict_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with_mode(dir.path(), DurabilityMode::Strict).unwrap();
    (dir, db)
}

/// The pattern: clone the handle (an `Arc` inside) into the closure, run the call on the blocking
/// pool, and await it; the outer `?` is a panic in the closure, the inner one the database's error.
async fn put_async(db: &Database, run: RunId, key: String, value: Vec<u8>) -> in_mem::Result<u64> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || db.put(run, key, value))
        .await
        .expect("the closure does not panic")
}

#[test]
fn a_commit_in_spawn_blocking_leaves_the_only_executor_thread_free() {
    // One executor thread: while the commit's closure waits, only a free executor can run the
    // task that releases it. Run directly on the executor, the closure would wait forever.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_dir, db) = strict_db();
    let run = db.begin_run();
    let executor_thread = std::thread::current().id();
    let (release, released) = mpsc::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();

    let outcome = runtime.block_on(async {
        let writer = {
            let db = db.clone();
            tokio::task::spawn_blocking(move || {
                assert_ne!(std::thread::current().id(), executor_thread);
                started_tx.send(()).unwrap();
                released
                    .recv_timeout(DEADLOCK_DEADLINE)
                    .expect("the executor ran the releasing task while this closure waited");
                db.put(run, b"key", b"value")
            })
        };
        started.await.unwrap();
        // The executor is free: this task runs, ticks a timer, and releases the writer.
        tokio::time::sleep(Duration::from_millis(1)).await;
        release.send(()).unwrap();
        writer.await.unwrap()
    });
    assert!(outcome.unwrap() > 0);
    assert_eq!(db.get(run, b"key").unwrap(), Some(b"value".to_vec()));
}

#[test]
fn strict_commits_from_128_tasks_all_land() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, db) = strict_db();
    let run = db.begin_run();
    let tasks = 128;
    let per_task = 4;
    runtime.block_on(async {
        let mut handles = Vec::new();
        for t in 0..tasks {
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..per_task {
                    put_async(&db, run, format!("t{t:03}:{i}"), vec![t as u8, i as u8])
                        .await
                        .unwrap();
                }
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let written = db.list(run, b"t").unwrap();
    assert_eq!(written.len(), tasks * per_task);
    assert_eq!(written[0], (b"t000:0".to_vec(), vec![0, 0]));
    assert_eq!(db.get(run, b"t127:3").unwrap(), Some(vec![127, 3]));
}

#[test]
fn a_1ms_timer_keeps_firing_while_128_tasks_commit_strict() {
    // One executor thread, so a blocked executor would stop the timer outright. The timer counts
    // the ticks it sees while commits are in flight: a commit made on the executor is never in
    // flight when the timer runs, whatever the number of commits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_dir, db) = strict_db();
    let run = db.begin_run();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let ticks_during_commits = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        let timer = {
            let (in_flight, ticks) = (Arc::clone(&in_flight), Arc::clone(&ticks_during_commits));
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(1));
                loop {
                    interval.tick().await;
                    if in_flight.load(Ordering::SeqCst) > 0 {
                        ticks.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        let mut round = 0;
        while ticks_during_commits.load(Ordering::SeqCst) < 20 && round < 300 {
            let mut writers = Vec::new();
            for t in 0..128 {
                let (db, in_flight) = (db.clone(), Arc::clone(&in_flight));
                writers.push(tokio::spawn(async move {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let key = format!("r{round:03}:t{t:03}");
                    let written = put_async(&db, run, key, vec![1]).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    written.unwrap();
                }));
            }
            for writer in writers {
                writer.await.unwrap();
            }
            round += 1;
        }
        timer.abort();
    });
    let ticks = ticks_during_commits.load(Ordering::SeqCst);
    assert!(
        ticks >= 20,
        "the timer fired {ticks} times during Strict commits"
    );
}

#[test]
fn a_transaction_runs_whole_inside_one_spawn_blocking() {
    // A transaction's closure borrows the database, so the whole transaction (not each call) goes
    // to the blocking pool; primitives work the same way.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_dir, db) = strict_db();
    let run = db.begin_run();
    let version = runtime.block_on(async {
        let db = db.clone();
        tokio::task::spawn_blocking(move || {
            db.transaction(run, |tx| {
                EventLog::append_in(tx, "tool_called", "search")?;
                tx.put(b"last_tool", b"search")
            })?;
            KVStore::new(&db).put(run, "steps", 1u64)
        })
        .await
        .expect("the closure does not panic")
    });
    assert!(version.unwrap() > 0);
    assert_eq!(EventLog::new(&db).len(run).unwrap(), 1);
    assert_eq!(KVStore::new(&db).get::<u64>(run, "steps").unwrap(), Some(1));
}
