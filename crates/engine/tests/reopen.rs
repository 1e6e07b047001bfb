//! Recovery at open: after a clean close, after a drop without close, across many segments;
//! runs, versions and TTLs survive.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::time::Duration;

use in_mem_engine::{Database, DurabilityMode, OpenOptions, RunStatus, TailState};

const MODES: [DurabilityMode; 3] = [
    DurabilityMode::Strict,
    DurabilityMode::Batched {
        interval_ms: 100,
        max_commits: 1000,
    },
    DurabilityMode::Async { interval_ms: 1000 },
];

#[test]
fn everything_survives_drop_without_close_in_every_mode() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let (run, last) = {
            let db = common::open(dir.path(), mode);
            let run = db.begin_run();
            let mut last = 0;
            for i in 0..500u32 {
                last = db.put(run, format!("key:{i:04}"), i.to_le_bytes()).unwrap();
            }
            assert!(db.delete(run, b"key:0007").unwrap());
            (run, last + 1)
        };
        let db = common::open(dir.path(), mode);
        assert_eq!(db.recovery_report().last_version, last, "{mode:?}");
        assert_eq!(db.recovery_report().tail, TailState::Clean);
        let reader = db.begin_run();
        let listed = db.list(reader, b"key:").unwrap();
        assert_eq!(listed.len(), 499, "{mode:?}");
        for (key, value) in listed {
            let i: u32 = std::str::from_utf8(&key[4..]).unwrap().parse().unwrap();
            assert_eq!(value, i.to_le_bytes(), "{mode:?}");
        }
        assert_eq!(db.get(reader, b"key:0007").unwrap(), None);
        // The writer never ended: it is interrupted, readable, and refuses writes until resumed.
        assert_eq!(db.run_info(run).unwrap().status, RunStatus::Interrupted);
        assert_eq!(db.recovery_report().interrupted_runs, vec![run]);
        assert!(db.put(run, b"x", b"y").is_err());
        db.resume_run(run).unwrap();
        db.put(run, b"x", b"y").unwrap();
    }
}

#[test]
fn versions_are_never_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let db = common::open(dir.path(), DurabilityMode::Strict);
        let run = db.begin_run();
        seen.push(db.put(run, b"k", b"v").unwrap());
        db.close().unwrap();
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

#[test]
fn runs_and_their_status_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (ended, open_run) = {
        let db = common::open(dir.path(), DurabilityMode::Strict);
        let ended = db.begin_run();
        db.put(ended, b"k", b"1").unwrap();
        db.end_run(ended).unwrap();
        let open_run = db.begin_run();
        db.close().unwrap();
        (ended, open_run)
    };
    let db = common::open(dir.path(), DurabilityMode::Strict);
    let runs = db.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(db.run_info(ended).unwrap().status, RunStatus::Completed);
    assert_eq!(
        db.run_info(open_run).unwrap().status,
        RunStatus::Interrupted
    );
    // The ended run still reads its view after the restart.
    assert_eq!(db.get(ended, b"k").unwrap(), Some(b"1".to_vec()));
    db.end_run(open_run).unwrap();
    assert_eq!(db.run_info(open_run).unwrap().status, RunStatus::Completed);
}

#[test]
fn a_run_keeps_its_view_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let early = {
        let db = common::open(dir.path(), DurabilityMode::Strict);
        let early = db.begin_run();
        let late = db.begin_run();
        db.put(late, b"k", b"late write").unwrap();
        db.put(early, b"mine", b"1").unwrap();
        early
    };
    let db = common::open(dir.path(), DurabilityMode::Strict);
    assert_eq!(
        db.get(early, b"k").unwrap(),
        None,
        "written after the early run began"
    );
    assert_eq!(db.get(early, b"mine").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn ttl_counts_from_the_commit_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let options = OpenOptions::new()
        .clock(clock.clone())
        .segment_bytes(common::SMALL_SEGMENT_BYTES);
    {
        let db = Database::open_with_options(dir.path(), options.clone()).unwrap();
        let run = db.begin_run();
        db.put_with_ttl(run, b"session", b"s", Duration::from_secs(60))
            .unwrap();
        db.put(run, b"forever", b"f").unwrap();
        let versioned = db.get_versioned(run, b"session").unwrap().unwrap();
        assert_eq!(versioned.ttl, Some(Duration::from_secs(60)));
    }
    clock.advance(Duration::from_secs(59));
    {
        let db = Database::open_with_options(dir.path(), options.clone()).unwrap();
        let run = db.begin_run();
        assert_eq!(db.get(run, b"session").unwrap(), Some(b"s".to_vec()));
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            db.get(run, b"session").unwrap(),
            None,
            "expired at exactly 60 s"
        );
        assert!(
            db.list(run, b"")
                .unwrap()
                .iter()
                .all(|(k, _)| k != b"session")
        );
        db.sweep();
        assert_eq!(db.get(run, b"forever").unwrap(), Some(b"f".to_vec()));
    }
}

#[test]
fn many_segments_replay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = common::open(dir.path(), DurabilityMode::Async { interval_ms: 1000 });
        let run = db.begin_run();
        for i in 0..3_000u32 {
            db.put(run, format!("k{}", i % 100), format!("{i:>50}"))
                .unwrap();
        }
    }
    assert!(
        common::segments(dir.path()).len() > 5,
        "the test must cross segments"
    );
    let db = common::open(dir.path(), DurabilityMode::Strict);
    let run = db.begin_run();
    for k in 0..100u32 {
        let last = 2_900 + k;
        assert_eq!(
            db.get(run, format!("k{k}")).unwrap(),
            Some(format!("{last:>50}").into_bytes())
        );
    }
}

#[test]
fn close_then_reopen_in_the_same_process_works_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20u32 {
        let db = common::open(
            dir.path(),
            DurabilityMode::Batched {
                interval_ms: 10,
                max_commits: 5,
            },
        );
        let run = db.begin_run();
        db.put(run, b"counter", i.to_le_bytes()).unwrap();
        if i % 2 == 0 {
            db.close().unwrap();
        }
    }
    let db = common::open(dir.path(), DurabilityMode::Strict);
    assert_eq!(
        db.get(db.begin_run(), b"counter").unwrap(),
        Some(19u32.to_le_bytes().to_vec())
    );
}

#[test]
fn the_background_sweeper_reclaims_expired_and_overwritten_versions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let options = OpenOptions::new()
        .clock(clock.clone())
        .sweep_interval(Duration::from_millis(5))
        .segment_bytes(1 << 20)
        .mode(DurabilityMode::Async { interval_ms: 50 });
    let db = Database::open_with_options(dir.path(), options).unwrap();
    let run = db.begin_run();
    for i in 0..200u32 {
        db.put_with_ttl(run, format!("ttl:{i}"), b"x", Duration::from_secs(10))
            .unwrap();
    }
    for round in 0..30u32 {
        for i in 0..200u32 {
            db.put(run, format!("hot:{i}"), round.to_le_bytes())
                .unwrap();
        }
    }
    db.end_run(run).unwrap();
    let before = db.stats();
    assert!(before.versions >= 6_200, "{before:?}");
    // Ended runs keep their view for the retention window (10 minutes by default).
    clock.advance(Duration::from_secs(601));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while db.stats().versions > 201 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = db.stats();
    // Left: the 200 newest `hot:` values and the run's record; expired `ttl:` keys and old
    // versions are gone.
    assert_eq!(
        (after.keys, after.versions),
        (201, 201),
        "{before:?} -> {after:?}"
    );
    let reader = db.begin_run();
    assert_eq!(
        db.get(reader, b"hot:7").unwrap(),
        Some(29u32.to_le_bytes().to_vec())
    );
    assert_eq!(db.get(reader, b"ttl:7").unwrap(), None);
    // The ended run's own writes stay readable as long as the run exists ...
    assert_eq!(
        db.get(run, b"hot:7").unwrap(),
        Some(29u32.to_le_bytes().to_vec())
    );
    // ... but its view of the rest of shared memory was released by retention: reading that is
    // a clear error, never stale data.
    assert!(matches!(
        db.get(run, b"never-written"),
        Err(in_mem_engine::Error::HistoryPruned { .. })
    ));
    assert!(matches!(
        db.list(run, b"hot:"),
        Err(in_mem_engine::Error::HistoryPruned { .. })
    ));
}
