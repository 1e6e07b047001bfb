//! Waiting levels, group commit, sync policies and poisoning, observed through `TestFs`.
#![allow(clippy::unwrap_used)] // helpers of tests, where unwrap is the assertion

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use in_mem_core_types::Version;
use in_mem_durability::{DataDir, Error, SyncPolicy, WaitFor, Wal};

fn open_test(path: &std::path::Path, fs: &TestFs) -> (DataDir, Wal) {
    let dir = DataDir::open(Arc::new(fs.clone()), path).unwrap();
    let (wal, _) = Wal::open(&dir, options(SEGMENT), Version::ZERO, &mut |_| Ok(())).unwrap();
    (dir, wal)
}

/// Polls `done` until it holds, failing after a generous timeout (never a timing assertion:
/// the property is that it happens, not how fast).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn file_contains(path: &std::path::Path, needle: &[u8]) -> bool {
    let live = live_segments(path);
    live.iter().any(|s| {
        std::fs::read(s)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
    })
}

#[test]
fn buffered_written_and_synced_mean_what_they_say() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);

    let ticket = wal.append(&body(1), || Version::new(1)).unwrap();
    wal.wait(ticket, WaitFor::Buffered).unwrap();
    assert_eq!(
        fs.segment_writes(),
        0,
        "buffered: nothing handed to the OS yet"
    );
    assert!(!file_contains(tmp.path(), &value_of(1)));

    wal.wait(ticket, WaitFor::Written).unwrap();
    assert_eq!(fs.segment_writes(), 1, "written: one write");
    assert_eq!(fs.segment_syncs(), 0, "written: no sync");
    assert!(file_contains(tmp.path(), &value_of(1)));

    let image = tempfile::tempdir().unwrap();
    fs.write_durable_image(image.path());
    assert!(
        !file_contains(image.path(), &value_of(1)),
        "not durable before a sync"
    );

    wal.wait(ticket, WaitFor::Synced).unwrap();
    assert_eq!(fs.segment_syncs(), 1);
    let image = tempfile::tempdir().unwrap();
    fs.write_durable_image(image.path());
    assert!(
        file_contains(image.path(), &value_of(1)),
        "durable after Synced"
    );

    // Waiting again costs nothing.
    wal.wait(ticket, WaitFor::Synced).unwrap();
    wal.wait(ticket, WaitFor::Written).unwrap();
    assert_eq!((fs.segment_writes(), fs.segment_syncs()), (1, 1));
}

#[test]
fn written_groups_everything_pending_into_one_write() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    let tickets: Vec<_> = (1..=10)
        .map(|v| wal.append(&body(v), || Version::new(v)).unwrap())
        .collect();
    wal.wait(tickets[0], WaitFor::Written).unwrap();
    assert_eq!(fs.segment_writes(), 1, "the first waiter wrote all ten");
    for t in &tickets {
        wal.wait(*t, WaitFor::Written).unwrap();
    }
    assert_eq!(fs.segment_writes(), 1);
}

/// Eight threads committing with `Synced` share fdatasyncs, and every acknowledged commit is
/// in the image a power loss would leave (only synced bytes).
#[test]
fn concurrent_synced_commits_share_fdatasyncs() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 40;
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    let next = std::sync::Mutex::new(0u64);
    let acked = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..PER_THREAD {
                    let ticket = wal
                        .append(&body(0), || {
                            let mut n = next.lock().unwrap();
                            *n += 1;
                            Version::new(*n)
                        })
                        .unwrap();
                    wal.wait(ticket, WaitFor::Synced).unwrap();
                    acked.lock().unwrap().push(ticket.version);
                }
            });
        }
    });
    let commits = THREADS * PER_THREAD;
    let syncs = fs.segment_syncs();
    eprintln!("{syncs} fdatasyncs for {commits} commits");
    assert!(
        syncs < commits,
        "{syncs} fdatasyncs for {commits} commits: no sharing"
    );

    let image = tempfile::tempdir().unwrap();
    fs.write_durable_image(image.path());
    let dir = std_dir(image.path());
    let (_wal, recovery, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    assert_eq!(
        records.len() as u64,
        commits,
        "every acknowledged commit survives"
    );
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.version, Version::new(i as u64 + 1));
    }
    assert_eq!(recovery.last_version, Version::new(commits));
    assert_eq!(acked.lock().unwrap().len() as u64, commits);
}

/// Many threads, mixed levels, flushes and a background policy, over many small segments:
/// segments are always synced in order, and nobody hangs.
#[test]
fn segments_are_synced_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    let _policy = wal.add_sync_policy(SyncPolicy {
        interval: Duration::from_millis(1),
        max_commits: Some(3),
    });
    let next = std::sync::Mutex::new(0u64);
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..20 {
                wal.flush().unwrap();
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        for t in 0..4 {
            let (wal, next) = (&wal, &next);
            s.spawn(move || {
                for i in 0..60 {
                    let ticket = wal
                        .append(&body(i), || {
                            let mut n = next.lock().unwrap();
                            *n += 1;
                            Version::new(*n)
                        })
                        .unwrap();
                    let level = if (t + i) % 3 == 0 {
                        WaitFor::Synced
                    } else {
                        WaitFor::Written
                    };
                    wal.wait(ticket, level).unwrap();
                }
            });
        }
    });
    wal.flush().unwrap();
    assert!(live_segments(tmp.path()).len() > 5);
    assert_eq!(fs.sync_order_violations(), 0);
}

#[test]
fn flush_makes_everything_appended_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    append_range(&wal, 1, 50, WaitFor::Buffered);
    wal.flush().unwrap();
    let image = tempfile::tempdir().unwrap();
    fs.write_durable_image(image.path());
    drop(wal);
    reopen_expect(image.path(), SEGMENT, 50);
}

#[test]
fn a_sync_policy_syncs_on_its_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    let _policy = wal.add_sync_policy(SyncPolicy {
        interval: Duration::from_millis(5),
        max_commits: None,
    });
    append_range(&wal, 1, 3, WaitFor::Buffered);
    eventually("the interval sync", || fs.segment_syncs() >= 1);
    let image = tempfile::tempdir().unwrap();
    fs.write_durable_image(image.path());
    drop(wal);
    reopen_expect(image.path(), SEGMENT, 3);
}

#[test]
fn a_sync_policy_syncs_at_max_commits_and_stops_when_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    let policy = wal.add_sync_policy(SyncPolicy {
        interval: Duration::from_secs(3600),
        max_commits: Some(5),
    });
    append_range(&wal, 1, 4, WaitFor::Buffered);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        fs.segment_syncs(),
        0,
        "below max_commits and long before the interval"
    );
    append_range(&wal, 5, 1, WaitFor::Buffered);
    eventually("the max_commits sync", || fs.segment_syncs() >= 1);

    drop(policy);
    let before = fs.segment_syncs();
    append_range(&wal, 6, 20, WaitFor::Buffered);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(fs.segment_syncs(), before, "no policy: no background sync");
}

#[test]
fn the_smallest_registered_interval_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    let _slow = wal.add_sync_policy(SyncPolicy {
        interval: Duration::from_secs(3600),
        max_commits: None,
    });
    let _fast = wal.add_sync_policy(SyncPolicy {
        interval: Duration::from_millis(5),
        max_commits: None,
    });
    append_range(&wal, 1, 1, WaitFor::Buffered);
    eventually("the fast policy's sync", || fs.segment_syncs() >= 1);
}

#[test]
fn a_failed_write_poisons_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    {
        let (_dir, wal) = open_test(tmp.path(), &fs);
        let early: Vec<_> = (1..=5)
            .map(|v| {
                let t = wal.append(&body(v), || Version::new(v)).unwrap();
                wal.wait(t, WaitFor::Synced).unwrap();
                t
            })
            .collect();
        fs.set_faults(Faults {
            fail_write: Some(1),
            ..Faults::default()
        });
        let failing = wal.append(&body(6), || Version::new(6)).unwrap();
        let err = wal.wait(failing, WaitFor::Synced).unwrap_err();
        assert!(matches!(err, Error::Poisoned { op: "write", .. }), "{err}");
        assert!(err.to_string().contains("reopen"), "{err}");
        // Later calls fail too; nothing is retried.
        let err = wal
            .append(&body(7), || unreachable!("no version once poisoned"))
            .unwrap_err();
        assert!(matches!(err, Error::Poisoned { .. }), "{err}");
        assert!(matches!(
            wal.wait(failing, WaitFor::Written),
            Err(Error::Poisoned { .. })
        ));
        assert!(matches!(
            wal.wait(failing, WaitFor::Buffered),
            Err(Error::Poisoned { .. })
        ));
        assert!(matches!(wal.flush(), Err(Error::Poisoned { .. })));
        // Commits covered before the failure still succeed.
        for t in &early {
            wal.wait(*t, WaitFor::Synced).unwrap();
        }
        let writes = fs.segment_writes();
        assert!(wal.close().is_err());
        assert_eq!(
            fs.segment_writes(),
            writes,
            "close after poisoning writes nothing"
        );
    }
    let (_dir, _wal, _) = reopen_expect(tmp.path(), SEGMENT, 5);
}

#[test]
fn a_failed_fdatasync_poisons_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    {
        let (_dir, wal) = open_test(tmp.path(), &fs);
        let early: Vec<_> = (1..=5)
            .map(|v| {
                let t = wal.append(&body(v), || Version::new(v)).unwrap();
                wal.wait(t, WaitFor::Synced).unwrap();
                t
            })
            .collect();
        fs.set_faults(Faults {
            fail_sync: Some(1),
            ..Faults::default()
        });
        let failing = wal.append(&body(6), || Version::new(6)).unwrap();
        let err = wal.wait(failing, WaitFor::Synced).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Poisoned {
                    op: "fdatasync",
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            wal.wait(failing, WaitFor::Synced),
            Err(Error::Poisoned { .. })
        ));
        // It was written before the sync failed: `Written` holds for it.
        wal.wait(failing, WaitFor::Written).unwrap();
        let err = wal
            .append(&body(7), || unreachable!("no version once poisoned"))
            .unwrap_err();
        assert!(matches!(err, Error::Poisoned { .. }), "{err}");
        for t in &early {
            wal.wait(*t, WaitFor::Synced).unwrap();
        }
    }
    // The failed sync's record reached the OS, so it may or may not be there; the earlier ones
    // must be.
    let dir = std_dir(tmp.path());
    let (_wal, _, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    assert!(records.len() >= 5);
    for (i, r) in records.iter().enumerate() {
        check_record(r, i as u64 + 1);
    }
}

/// Concurrent Synced waiters when the sync fails: each either was covered before, or errors;
/// none hangs, and none is acknowledged without being durable.
#[test]
fn a_failed_group_sync_fails_every_uncovered_waiter() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    fs.set_faults(Faults {
        fail_sync: Some(3),
        ..Faults::default()
    });
    let next = std::sync::Mutex::new(0u64);
    let acked = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    let Ok(t) = wal.append(&body(0), || {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        Version::new(*n)
                    }) else {
                        return;
                    };
                    match wal.wait(t, WaitFor::Synced) {
                        Ok(()) => acked.lock().unwrap().push(t.version),
                        Err(Error::Poisoned { .. }) => return,
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
            });
        }
    });
    let acked = acked.into_inner().unwrap();
    assert!(!acked.is_empty());
    let image = tempfile::tempdir().unwrap();
    fs.write_durable_image(image.path());
    drop(wal);
    let dir = std_dir(image.path());
    let (_wal, _, records) = open_wal(&dir, SEGMENT, Version::ZERO).unwrap();
    let max = acked.iter().max().unwrap().get();
    assert!(
        records.len() as u64 >= max,
        "{} durable < {max} acknowledged",
        records.len()
    );
}

/// `synced_version` names what a completed fdatasync covered, and never moves after a failed
/// one; the after-sync hook runs with it before the sync's committer returns.
#[test]
fn the_after_sync_hook_sees_each_sync_before_its_committers_return() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook_seen = Arc::clone(&seen);
    wal.set_after_sync(Box::new(move |synced| {
        hook_seen.lock().unwrap().push(synced);
    }));
    assert_eq!(wal.synced_version(), Version::ZERO);
    for v in 1..=3 {
        let ticket = wal.append(&body(v), || Version::new(v)).unwrap();
        wal.wait(ticket, WaitFor::Written).unwrap();
        assert_eq!(
            wal.synced_version(),
            Version::new(v - 1),
            "written is not synced"
        );
        wal.wait(ticket, WaitFor::Synced).unwrap();
        assert_eq!(wal.synced_version(), Version::new(v));
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&Version::new(v)),
            "the hook ran for this sync before the wait returned"
        );
    }
    fs.set_faults(Faults {
        fail_sync: Some(1),
        ..Faults::default()
    });
    let failing = wal.append(&body(4), || Version::new(4)).unwrap();
    wal.wait(failing, WaitFor::Synced).unwrap_err();
    assert_eq!(
        wal.synced_version(),
        Version::new(3),
        "a failed fdatasync covers nothing"
    );
    assert!(
        seen.lock().unwrap().iter().all(|v| *v <= Version::new(3)),
        "the hook never saw the failed sync's record as synced"
    );
}

/// A panic in the after-sync hook fails only the thread that ran it: the committers its sync
/// covered are still woken (they are marked awake before the hook runs) and every other
/// commit goes on.
#[test]
fn a_panicking_after_sync_hook_leaves_no_committer_asleep() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = TestFs::new();
    let (_dir, wal) = open_test(tmp.path(), &fs);
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let hook_calls = Arc::clone(&calls);
    wal.set_after_sync(Box::new(move |_| {
        let call = hook_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert!(call % 5 != 2, "the hook fails on call {call}");
    }));
    let next = std::sync::atomic::AtomicU64::new(0);
    let panicked = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..40 {
                        let ticket = wal
                            .append(&body(1), || {
                                Version::new(
                                    next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
                                )
                            })
                            .unwrap();
                        wal.wait(ticket, WaitFor::Synced).unwrap();
                    }
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().is_err())
            .filter(|failed| *failed)
            .count()
    });
    assert!(panicked > 0, "the hook panicked in some committer");
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) > 3);
}
