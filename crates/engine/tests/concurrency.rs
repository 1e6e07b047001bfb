//! Many threads writing and reading at once.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::sync::Arc;
use std::thread;

use in_mem_engine::{Database, DurabilityMode};

#[test]
fn eight_threads_write_and_read_one_run_and_everything_survives() {
    const THREADS: u32 = 8;
    const PER_THREAD: u32 = 300;
    let dir = tempfile::tempdir().unwrap();
    let run = {
        let db = Arc::new(common::open(
            dir.path(),
            DurabilityMode::Batched {
                interval_ms: 20,
                max_commits: 64,
            },
        ));
        let run = db.begin_run();
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let db = Arc::clone(&db);
                thread::spawn(move || {
                    let mut last_version = 0;
                    for i in 0..PER_THREAD {
                        let key = format!("t{t}:{i:04}");
                        let version = db.put(run, &key, format!("{t}/{i}")).unwrap();
                        assert!(version > last_version, "a thread's versions increase");
                        last_version = version;
                        // Read-your-writes, at once.
                        assert_eq!(
                            db.get(run, &key).unwrap(),
                            Some(format!("{t}/{i}").into_bytes())
                        );
                        // Another thread's key is absent or exactly what it wrote.
                        let other = format!("t{}:{i:04}", (t + 1) % THREADS);
                        if let Some(v) = db.get(run, &other).unwrap() {
                            assert_eq!(v, format!("{}/{i}", (t + 1) % THREADS).into_bytes());
                        }
                        if i % 50 == 0 {
                            let mine = db.list(run, format!("t{t}:")).unwrap();
                            assert_eq!(mine.len() as u32, i + 1, "list sees all my writes");
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        run
    };
    let db: Database = common::open(dir.path(), DurabilityMode::Strict);
    assert_eq!(
        db.list(run, b"t").unwrap().len() as u32,
        THREADS * PER_THREAD
    );
    assert_eq!(
        db.recovery_report().last_version,
        u64::from(THREADS * PER_THREAD) + 1
    );
}

#[test]
fn strict_writers_on_many_threads_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = common::open(dir.path(), DurabilityMode::Strict);
        let run = db.begin_run();
        thread::scope(|s| {
            for t in 0..8 {
                let db = &db;
                s.spawn(move || {
                    for i in 0..40 {
                        db.put(run, format!("{t}:{i}"), b"x").unwrap();
                    }
                });
            }
        });
    }
    let db = common::open(dir.path(), DurabilityMode::Strict);
    assert_eq!(db.list(db.begin_run(), b"").unwrap().len(), 320);
}
