#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! Transactions: atomic commits of several writes, read-your-writes, optimistic conflicts,
//! retries, and the run-data calls the primitives build on.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use in_mem_core_types::Value;
use in_mem_engine::{At, Database, DurabilityMode, Error, RetryPolicy};

fn db(dir: &tempfile::TempDir) -> Database {
    common::open(
        dir.path(),
        DurabilityMode::Batched {
            interval_ms: 20,
            max_commits: 100,
        },
    )
}

#[test]
fn all_writes_of_a_transaction_commit_together_with_one_version() {
    let dir = tempfile::tempdir().unwrap();
    let run;
    {
        let db = db(&dir);
        run = db.begin_run();
        let before = db.stats().visible_version;
        db.transaction(run, |tx| {
            tx.put(b"a", b"1")?;
            tx.put(b"b", b"2")?;
            tx.events().append("step", &Value::I64(7))?;
            Ok::<_, Error>(())
        })
        .unwrap();
        assert_eq!(
            db.stats().visible_version,
            before + 1,
            "one commit, one version"
        );
        let a = db.get_versioned(run, b"a").unwrap().unwrap();
        let b = db.get_versioned(run, b"b").unwrap().unwrap();
        assert_eq!(a.version, b.version);
    }
    let db = db(&dir);
    assert_eq!(db.get(run, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(run, b"b").unwrap(), Some(b"2".to_vec()));
    let e0 = db.transaction(run, |tx| tx.events().get(0)).unwrap();
    assert_eq!(e0.unwrap().payload, Value::I64(7));
}

#[test]
fn a_failed_closure_writes_nothing_even_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (run, before) = {
        let db = db(&dir);
        let run = db.begin_run();
        let before = db.stats().visible_version;
        let result: Result<(), Error> = db.transaction(run, |tx| {
            tx.put(b"a", b"1")?;
            tx.put(b"", b"bad key")?; // fails: nothing of this transaction may land
            Ok(())
        });
        assert!(matches!(result, Err(Error::Invalid(_))));
        assert_eq!(db.get(run, b"a").unwrap(), None);
        (run, before)
    };
    let db = db(&dir);
    assert_eq!(db.recovery_report().last_version, before);
    assert_eq!(db.get(run, b"a").unwrap(), None);
}

#[test]
fn a_transaction_reads_its_own_writes_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    db.put(run, b"k1", b"old").unwrap();
    db.put(run, b"k2", b"gone soon").unwrap();
    db.transaction(run, |tx| {
        tx.put(b"k1", b"new")?;
        assert_eq!(tx.get(b"k1")?, Some(b"new".to_vec()));
        assert_eq!(
            tx.get_versioned(b"k1")?.unwrap().version,
            0,
            "uncommitted: no version"
        );
        assert!(tx.delete(b"k2")?);
        assert_eq!(tx.get(b"k2")?, None);
        assert!(!tx.delete(b"k2")?);
        tx.put(b"k3", b"added")?;
        let keys: Vec<Vec<u8>> = tx.list(b"k")?.into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"k1".to_vec(), b"k3".to_vec()]);
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(db.get(run, b"k1").unwrap(), Some(b"new".to_vec()));
    assert_eq!(db.get(run, b"k2").unwrap(), None);
}

#[test]
fn a_transactions_list_merges_its_own_writes_into_the_committed_keys_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    for key in ["k/a", "k/c", "k/e", "k/g"] {
        db.put(run, key, format!("committed {key}")).unwrap();
    }
    db.transaction(run, |tx| {
        tx.put(b"k/0", b"own, before every committed key")?;
        tx.put(b"k/b", b"own, between two")?;
        tx.delete(b"k/c")?;
        tx.put(b"k/e", b"own, over a committed key")?;
        tx.put(b"k/h", b"own, after every committed key")?;
        tx.put(b"l/x", b"own, outside the prefix")?;
        let listed: Vec<(String, String)> = tx
            .list(b"k/")?
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect();
        let expected = [
            ("k/0", "own, before every committed key"),
            ("k/a", "committed k/a"),
            ("k/b", "own, between two"),
            ("k/e", "own, over a committed key"),
            ("k/g", "committed k/g"),
            ("k/h", "own, after every committed key"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(listed, expected);
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn a_key_changed_after_it_was_read_is_a_conflict_naming_it_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    db.put(run, b"balance", b"10").unwrap();
    let before = db.stats().visible_version;
    let result = db.transaction(run, |tx| {
        let seen = tx.get(b"balance")?;
        // Another commit of the same run changes the key in the meantime.
        db.put(run, b"balance", b"99").unwrap();
        tx.put(b"balance", [seen.unwrap(), b"-spent".to_vec()].concat())?;
        tx.put(b"receipt", b"1")?;
        Ok::<_, Error>(())
    });
    match result {
        Err(Error::Conflict {
            key, read, found, ..
        }) => {
            assert_eq!(key, "kv:balance");
            assert!(found > read);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(db.get(run, b"balance").unwrap(), Some(b"99".to_vec()));
    assert_eq!(db.get(run, b"receipt").unwrap(), None);
    assert_eq!(
        db.stats().visible_version,
        before + 1,
        "only the inner put committed"
    );
}

#[test]
fn a_deleted_key_counts_as_changed() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    db.put(run, b"k", b"v").unwrap();
    let result = db.transaction(run, |tx| {
        tx.get(b"k")?;
        assert!(db.delete(run, b"k").unwrap());
        tx.put(b"other", b"x")
    });
    assert!(matches!(result, Err(Error::Conflict { .. })), "{result:?}");
}

#[test]
fn read_only_transactions_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    db.put(run, b"k", b"v").unwrap();
    let before = db.stats().visible_version;
    let seen = db.transaction(run, |tx| tx.get(b"k")).unwrap();
    assert_eq!(seen, Some(b"v".to_vec()));
    assert_eq!(db.stats().visible_version, before);
    // Reading an ended run's data through a transaction works; writing does not.
    db.end_run(run).unwrap();
    assert_eq!(
        db.transaction(run, |tx| tx.get(b"k")).unwrap(),
        Some(b"v".to_vec())
    );
    let write = db.transaction(run, |tx| tx.put(b"k", b"w"));
    assert!(matches!(write, Err(Error::RunEnded { .. })), "{write:?}");
}

#[test]
fn retry_runs_the_closure_again_after_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    db.put(run, b"n", [0]).unwrap();
    let attempts = AtomicU32::new(0);
    db.transaction_with_retry(run, RetryPolicy::default(), |tx| {
        let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let n = tx.get(b"n")?.unwrap()[0];
        if attempt == 1 {
            db.put(run, b"n", [n + 10]).unwrap();
        }
        tx.put(b"n", [n + 1])
    })
    .unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(
        db.get(run, b"n").unwrap(),
        Some(vec![11]),
        "the retry saw the other write"
    );

    let policy = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let always = db.transaction_with_retry(run, policy, |tx| {
        tx.get(b"n")?;
        db.put(run, b"n", [0]).unwrap();
        tx.put(b"n", [1])
    });
    assert!(
        matches!(always, Err(Error::Conflict { .. })),
        "gives up after max_attempts"
    );
}

#[test]
fn eight_threads_incrementing_one_counter_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    db.put(run, b"counter", 0u64.to_le_bytes()).unwrap();
    let commits = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    db.transaction_with_retry(run, RetryPolicy::default(), |tx| {
                        let bytes = tx.get(b"counter")?.unwrap();
                        let n = u64::from_le_bytes(bytes.try_into().unwrap());
                        tx.put(b"counter", (n + 1).to_le_bytes())
                    })
                    .unwrap();
                    commits.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    let bytes = db.get(run, b"counter").unwrap().unwrap();
    assert_eq!(u64::from_le_bytes(bytes.try_into().unwrap()), 400);
    assert_eq!(commits.load(Ordering::SeqCst), 400);
}

#[test]
fn a_transaction_whose_read_a_concurrent_put_changed_commits_only_over_what_it_read() {
    // Puts outside transactions are not registered as pending (in every mode but Strict): a
    // validation waits until they are visible instead. Every transaction that commits must
    // have read the value the key has at its own commit version.
    for mode in [
        DurabilityMode::Batched {
            interval_ms: 20,
            max_commits: 100,
        },
        DurabilityMode::Async { interval_ms: 20 },
        DurabilityMode::Strict,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = common::open(dir.path(), mode);
        let run = db.begin_run();
        db.put(run, b"k", 0u64.to_le_bytes()).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        let committed = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                for i in 1..=2_000u64 {
                    db.put(run, b"k", i.to_le_bytes()).unwrap();
                }
                done.store(true, Ordering::SeqCst);
            });
            let mut committed = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let attempt = db.transaction_committed(
                    run,
                    RetryPolicy {
                        max_attempts: 1,
                        ..RetryPolicy::default()
                    },
                    |tx| {
                        let read = tx.get(b"k")?.unwrap();
                        tx.put(b"copy", &read)?;
                        Ok::<_, Error>(read)
                    },
                );
                match attempt {
                    Ok((read, version)) => committed.push((read, version.unwrap())),
                    Err(Error::Conflict { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            writer.join().unwrap();
            committed
        });
        assert!(!committed.is_empty(), "{mode:?}: no transaction committed");
        for (read, version) in committed {
            let view = db.run_view_at(run, At::Version(version)).unwrap();
            assert_eq!(
                view.get(b"k").unwrap(),
                Some(read),
                "{mode:?}: a transaction committed at v{version} over a value the key no \
                 longer had"
            );
        }
    }
}

#[test]
fn of_two_concurrent_deletes_exactly_one_says_the_key_existed() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    for round in 0..50u32 {
        let key = format!("k{round}");
        db.put(run, &key, b"v").unwrap();
        let barrier = std::sync::Barrier::new(2);
        let existed: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        db.delete(run, &key).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            existed.iter().filter(|e| **e).count(),
            1,
            "round {round}: {existed:?}"
        );
    }
}

#[test]
fn run_records_are_private_to_their_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let a = db.begin_run();
    db.transaction(a, |tx| tx.cells().init("cell", Value::I64(1)))
        .unwrap();
    let b = db.begin_run();
    let seen = db.transaction(b, |tx| tx.cells().get("cell")).unwrap();
    assert_eq!(
        seen, None,
        "another run's state cells are not in this run's data"
    );
    let listed = db.transaction(a, |tx| tx.cells().list()).unwrap();
    assert_eq!(listed.len(), 1);
}

#[test]
fn a_commit_over_the_write_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    let max = in_mem_core_types::limits::COMMIT_WRITES_MAX;
    let err = db
        .transaction(run, |tx| {
            for i in 0..=max {
                tx.put(i.to_le_bytes(), b"")?;
            }
            Ok::<_, Error>(())
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::CommitTooLarge { writes, .. } if writes == max + 1),
        "{err}"
    );
    assert_eq!(db.get(run, 0usize.to_le_bytes()).unwrap(), None);
}

#[test]
fn a_key_range_in_a_transaction_merges_its_own_writes_and_a_view_reads_its_point() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    for key in ["log:1", "log:2", "log:3", "log:4", "other"] {
        db.put(run, key, key.as_bytes()).unwrap();
    }
    let before = db.stats().visible_version;
    let keys = |pairs: Vec<(Vec<u8>, in_mem_core_types::VersionedValue)>| -> Vec<String> {
        pairs
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    };
    db.transaction(run, |tx| {
        // The transaction's own put and delete, merged into the committed keys.
        tx.put(b"log:25", b"mine")?;
        tx.delete(b"log:3")?;
        assert_eq!(
            keys(tx.range_versioned("log:2", Some(b"log:4".as_slice()))?),
            ["log:2", "log:25"]
        );
        assert_eq!(
            keys(tx.range_versioned("log:2", None)?),
            ["log:2", "log:25", "log:4", "other"]
        );
        let found = tx.range_versioned("log:25", Some(b"log:26".as_slice()))?;
        assert_eq!(found[0].1.value, Value::Bytes(b"mine".to_vec()));
        assert!(
            tx.range_versioned("log:4", Some(b"log:1".as_slice()))?
                .is_empty()
        );
        assert!(tx.range_versioned(vec![b'k'; 100_000], None).is_err());
        Ok::<(), Error>(())
    })
    .unwrap();
    // A view of the run before the transaction: the deleted key is there, the new one is not.
    let view = db
        .run_view_at(run, in_mem_engine::At::Version(before))
        .unwrap();
    assert_eq!(
        keys(
            view.range_versioned("log:2", Some(b"log:4".as_slice()))
                .unwrap()
        ),
        ["log:2", "log:3"]
    );
    assert_eq!(
        keys(view.range_versioned("log:", None).unwrap()),
        ["log:1", "log:2", "log:3", "log:4", "other"]
    );
}
