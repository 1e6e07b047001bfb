//! `Strict` commits of one sync group, applied for all of them by the sync's leader
//! (`instance/group_apply.rs`): each committer still reads its own write the moment its put
//! returns, so does a run begun after it, everything acknowledged survives a reopen, and when
//! a group's fdatasync fails, no commit that failed is ever visible while every one that was
//! acknowledged is, and nobody waits forever.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::Path;

use in_mem_durability::{SimFaults, SimFs};
use in_mem_engine::{Database, DurabilityMode, Error};

const THREADS: u64 = 8;

fn key_of(thread: u64, i: u64) -> String {
    format!("key:{thread}:{i:04}")
}

fn value_of(thread: u64, i: u64) -> Vec<u8> {
    format!("value {thread} {i} {}", "v".repeat((i * 13 % 90) as usize)).into_bytes()
}

#[test]
fn concurrent_strict_committers_read_their_own_writes_at_once_and_keep_them() {
    const PUTS: u64 = 60;
    let dir = tempfile::tempdir().unwrap();
    let db = common::open(dir.path(), DurabilityMode::Strict);
    // Half the threads share one run (their commits contend on its pending writes), half
    // have a run each.
    let shared = db.begin_run();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let db = &db;
            s.spawn(move || {
                let run = if t % 2 == 0 { shared } else { db.begin_run() };
                for i in 0..PUTS {
                    let version = db.put(run, key_of(t, i), value_of(t, i)).unwrap();
                    assert_eq!(
                        db.get(run, key_of(t, i)).unwrap(),
                        Some(value_of(t, i)),
                        "thread {t} put {i} (v{version}) reads back in its run at once"
                    );
                    assert!(
                        db.get_versioned(run, key_of(t, i))
                            .unwrap()
                            .is_some_and(|v| v.version == version),
                        "thread {t} put {i} reads back at the version it was acknowledged with"
                    );
                }
            });
        }
    });
    db.close().unwrap();
    let db = common::open(dir.path(), DurabilityMode::Strict);
    let reader = db.begin_run();
    // Runs write the agent's memory: a run begun after sees every put of every run.
    let all = db.list(reader, b"key:").unwrap();
    assert_eq!(all.len() as u64, THREADS * PUTS);
    for t in 0..THREADS {
        for i in 0..PUTS {
            assert_eq!(
                db.get(reader, key_of(t, i)).unwrap(),
                Some(value_of(t, i)),
                "after a reopen, a new run reads thread {t}'s put {i}"
            );
        }
    }
    db.close().unwrap();
}

/// One thread's puts until the first error: the acknowledged ones and the one that failed.
#[derive(Debug, Default)]
struct Thread {
    acked: Vec<u64>,
    failed: Option<(u64, Error)>,
}

fn faulty_group(
    fs: &SimFs,
    path: &Path,
    puts: u64,
) -> (Database, Vec<(in_mem_core_types::RunId, Thread)>) {
    let options = common::sim_options(fs, DurabilityMode::Strict).segment_bytes(1 << 20);
    let db = Database::open_with_options(path, options).unwrap();
    let runs: Vec<_> = (0..THREADS).map(|_| db.try_begin_run().unwrap()).collect();
    let threads = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .enumerate()
            .map(|(t, &run)| {
                let db = &db;
                s.spawn(move || {
                    let t = t as u64;
                    let mut out = Thread::default();
                    for i in 0..puts {
                        match db.put(run, key_of(t, i), value_of(t, i)) {
                            Ok(_) => out.acked.push(i),
                            Err(e) => {
                                out.failed = Some((i, e));
                                break;
                            }
                        }
                    }
                    (run, out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (db, threads)
}

#[test]
fn a_failed_group_sync_shows_every_acknowledged_commit_and_no_failed_one() {
    const PUTS: u64 = 40;
    let first_segment = "/wal/00000000000000000001.seg";
    for nth in [12, 15, 19, 26, 33] {
        let fs = SimFs::new(nth);
        fs.set_faults(
            SimFaults::none()
                .only_files_containing(first_segment)
                .fail_sync(nth),
        );
        let path = Path::new("/in-mem-group-apply/db");
        let (db, threads) = faulty_group(&fs, path, PUTS);
        let failed = threads.iter().filter(|(_, t)| t.failed.is_some()).count();
        assert!(
            failed > 0,
            "sync {nth}: the failed fdatasync failed some commit"
        );
        for (t, (run, thread)) in threads.iter().enumerate() {
            let t = t as u64;
            for &i in &thread.acked {
                assert_eq!(
                    db.get(*run, key_of(t, i)).unwrap(),
                    Some(value_of(t, i)),
                    "sync {nth}: thread {t}'s acknowledged put {i} is visible"
                );
            }
            if let Some((i, error)) = &thread.failed {
                assert!(error.to_string().contains("fdatasync"), "{error}");
                assert_eq!(
                    db.get(*run, key_of(t, *i)).unwrap(),
                    None,
                    "sync {nth}: thread {t}'s failed put {i} is never visible"
                );
            }
        }
        drop(db);
        // A power loss now keeps every acknowledged put.
        let image = fs.crash_durable_only();
        let options = common::sim_options(&image, DurabilityMode::Strict).segment_bytes(1 << 20);
        let db = Database::open_with_options(path, options).unwrap();
        for (t, (run, thread)) in threads.iter().enumerate() {
            let t = t as u64;
            for &i in &thread.acked {
                assert_eq!(
                    db.get(*run, key_of(t, i)).unwrap(),
                    Some(value_of(t, i)),
                    "sync {nth}, after a power loss: thread {t}'s acknowledged put {i}"
                );
            }
        }
    }
}
