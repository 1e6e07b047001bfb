//! I/O errors under a whole `Database`, injected by the simulated file system: a failed
//! fdatasync or write poisons the database (that commit and every later write fail, reads go
//! on) and loses nothing acknowledged, whichever write or sync of a workload fails; a full
//! disk fails commits with a clear message and writes work again once space is freed; short
//! writes change nothing.
//!
//! After each fault the directory is reopened twice: as the process left it (a restart
//! without power loss) and as a power loss then could leave it. Both must hold a prefix of
//! the commits that keeps every acknowledged one.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::path::Path;

use in_mem_durability::{SimFaults, SimFs};
use in_mem_engine::{Database, DurabilityMode, Error};

const COMMITS: u64 = 30;

fn value_of(i: u64) -> Vec<u8> {
    format!("value {i} {}", "x".repeat((i * 37 % 200) as usize)).into_bytes()
}

fn key_of(i: u64) -> String {
    format!("key:{i:04}")
}

fn is_poisoned(e: &Error) -> bool {
    matches!(
        e,
        Error::Durability(in_mem_durability::Error::Poisoned { .. })
    )
}

/// What a faulty run did.
#[derive(Debug, Default)]
struct Outcome {
    /// Commits `0..acked` returned `Ok`.
    acked: u64,
    /// The first error, if any.
    error: Option<String>,
    poisoned: bool,
}

/// Opens a Strict database on `fs` and puts keys `0..COMMITS` in order, one commit each,
/// stopping at the first failure. If the failure poisoned the log, checks that later writes
/// fail and reads go on.
fn run(fs: &SimFs, path: &Path) -> Outcome {
    let mut out = Outcome::default();
    let db =
        match Database::open_with_options(path, common::sim_options(fs, DurabilityMode::Strict)) {
            Ok(db) => db,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        };
    let run = match db.try_begin_run() {
        Ok(run) => run,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    for i in 0..COMMITS {
        match db.put(run, key_of(i), value_of(i)) {
            Ok(_) => out.acked = i + 1,
            Err(e) => {
                out.poisoned = is_poisoned(&e);
                out.error = Some(e.to_string());
                break;
            }
        }
    }
    if out.poisoned {
        let later = db.put(run, "later", b"x").unwrap_err();
        assert!(
            is_poisoned(&later),
            "a poisoned database refuses writes: {later}"
        );
        assert!(later.to_string().contains("reopen"), "{later}");
        if out.acked > 0 {
            let last = out.acked - 1;
            assert_eq!(
                db.get(run, key_of(last)).unwrap(),
                Some(value_of(last)),
                "reads go on after poisoning"
            );
        }
    }
    drop(db);
    out
}

/// Reopens `image` and checks it holds keys `0..n` for some `n >= acked`, each with its
/// value, and nothing else; then that a write works. Returns `n`.
fn check_reopen(image: &SimFs, path: &Path, acked: u64, context: &str) -> u64 {
    let db = Database::open_with_options(path, common::sim_options(image, DurabilityMode::Strict))
        .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    let reader = db.try_begin_run().unwrap();
    let keys = db.list(reader, b"key:").unwrap();
    for (i, (key, value)) in keys.iter().enumerate() {
        let i = i as u64;
        assert_eq!(
            key,
            key_of(i).as_bytes(),
            "{context}: a hole before {key:?}"
        );
        assert_eq!(value, &value_of(i), "{context}: value of {key:?}");
    }
    let n = keys.len() as u64;
    assert!(n >= acked, "{context}: {acked} acknowledged, {n} recovered");
    db.put(reader, "after", b"reopen").unwrap();
    db.close().unwrap();
    n
}

/// Runs the workload with `faults` and checks both reopened images.
fn fault_case(faults: SimFaults, name: &str, seed: u64) -> Outcome {
    let path = format!("/in-mem-sim-faults/{name}/db");
    let path = Path::new(&path);
    let fs = SimFs::new(seed);
    fs.set_faults(faults);
    let out = run(&fs, path);
    fs.set_faults(SimFaults::none());
    let context = format!("{name}: {out:?}");
    check_reopen(
        &fs.snapshot(),
        path,
        out.acked,
        &format!("{context}, restart"),
    );
    check_reopen(
        &fs.crash_durable_only(),
        path,
        out.acked,
        &format!("{context}, durable"),
    );
    check_reopen(
        &fs.crash(seed),
        path,
        out.acked,
        &format!("{context}, power loss"),
    );
    out
}

/// How many log writes and syncs the workload makes without faults.
fn io_calls() -> (u64, u64) {
    let fs = SimFs::new(0);
    fs.set_faults(SimFaults::none().only_files_containing("/wal/"));
    let out = run(&fs, Path::new("/in-mem-sim-faults/count/db"));
    assert_eq!(out.acked, COMMITS, "{out:?}");
    fs.fault_counts()
}

#[test]
fn an_eio_at_every_log_write_and_fdatasync_loses_nothing_acknowledged() {
    let (writes, syncs) = io_calls();
    assert!(
        writes > COMMITS && syncs > COMMITS,
        "{writes} writes, {syncs} syncs"
    );
    let mut poisoned = 0;
    for (kind, count) in [("write", writes), ("sync", syncs)] {
        for n in 1..=count {
            let faults = SimFaults::none().only_files_containing("/wal/");
            let faults = if kind == "write" {
                faults.fail_write(n)
            } else {
                faults.fail_sync(n)
            };
            let out = fault_case(faults, &format!("{kind}-{n}"), n);
            // A fault while a spare segment is prepared in the background is retried, and
            // invisible to committers; any other surfaces as that commit's error.
            assert!(
                out.error.is_some() || out.acked == COMMITS,
                "{kind} {n}: {out:?}"
            );
            poisoned += u64::from(out.poisoned);
        }
    }
    eprintln!(
        "sim faults: EIO at each of {writes} log writes and {syncs} log fdatasyncs; \
         {poisoned} poisoned the database"
    );
    assert!(poisoned > COMMITS, "record writes and syncs poison the log");
}

#[test]
fn a_failed_fdatasync_fails_that_commit_and_poisons_the_database() {
    // A commit's sync, not a spare segment's: counted on the first segment alone, whose
    // preparation ends before its first commit, the second-to-last of its syncs is one of
    // its commits'. (Counting syncs of every segment, as this test once did, made "the 6th
    // sync" a commit's or a background preparation's depending on timing: that case is
    // retried unseen, and the test failed 3 runs in 400.)
    let first_segment = "/wal/00000000000000000001.seg";
    let fs = SimFs::new(0);
    fs.set_faults(SimFaults::none().only_files_containing(first_segment));
    let clean = run(&fs, Path::new("/in-mem-sim-faults/one-sync-count/db"));
    assert_eq!(clean.acked, COMMITS, "{clean:?}");
    let (_, syncs) = fs.fault_counts();
    assert!(syncs >= 4, "{syncs} syncs of the first segment");
    let out = fault_case(
        SimFaults::none()
            .only_files_containing(first_segment)
            .fail_sync(syncs - 1),
        "one-sync",
        3,
    );
    assert!(out.poisoned, "{out:?}");
    assert!(out.acked > 0 && out.acked < COMMITS, "{out:?}");
    let error = out.error.unwrap();
    assert!(error.contains("fdatasync"), "{error}");
}

#[test]
fn a_full_disk_fails_commits_clearly_and_writes_work_again_once_space_is_freed() {
    let path = Path::new("/in-mem-sim-faults/full/db");
    let fs = SimFs::new(5);
    // Room for three 4 KiB segments: the log runs out of segments after a few dozen commits.
    fs.set_faults(SimFaults::none().space_bytes(3 * 4096 + 100));
    let db = Database::open_with_options(path, common::sim_options(&fs, DurabilityMode::Strict))
        .unwrap();
    let run = db.try_begin_run().unwrap();
    let mut acked = 0;
    let error = loop {
        match db.put(run, key_of(acked), value_of(acked)) {
            Ok(_) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked < 1000, "the disk never filled");
    };
    let text = error.to_string();
    assert!(text.contains("disk is full"), "{text}");
    assert!(!is_poisoned(&error), "a full disk does not poison: {text}");
    // Reads go on; writes keep failing while the disk is full.
    assert_eq!(db.get(run, key_of(0)).unwrap(), Some(value_of(0)));
    assert!(db.put(run, key_of(acked), value_of(acked)).is_err());
    // Free space: writes work again, in this process and after a reopen.
    fs.set_faults(SimFaults::none());
    db.put(run, key_of(acked), value_of(acked)).unwrap();
    acked += 1;
    drop(db);
    assert!(check_reopen(&fs.crash_durable_only(), path, acked, "after freeing space") >= acked);
}

#[test]
fn short_writes_lose_nothing() {
    for mode in [
        DurabilityMode::Strict,
        DurabilityMode::Batched {
            interval_ms: 1,
            max_commits: 4,
        },
    ] {
        let path = Path::new("/in-mem-sim-faults/short/db");
        let fs = SimFs::new(9);
        fs.set_faults(SimFaults::none().short_writes());
        let db = Database::open_with_options(path, common::sim_options(&fs, mode)).unwrap();
        let run = db.try_begin_run().unwrap();
        for i in 0..COMMITS {
            db.put(run, key_of(i), value_of(i)).unwrap();
        }
        db.close().unwrap();
        let n = check_reopen(
            &fs.crash_durable_only(),
            path,
            COMMITS,
            &format!("{mode:?}"),
        );
        assert_eq!(n, COMMITS);
    }
}
