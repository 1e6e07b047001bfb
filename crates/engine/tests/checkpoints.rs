#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! Checkpoints: views and data survive a restart from one, they run beside writers, the
//! background thread takes them as the log grows, and disk use stays bounded however long the
//! database lives.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use in_mem_engine::{Database, DurabilityMode, OpenOptions, RunStatus};

fn options() -> OpenOptions {
    common::options(DurabilityMode::Batched {
        interval_ms: 20,
        max_commits: 100,
    })
    .segment_bytes(64 * 1024)
    .checkpoint_every_bytes(0)
}

fn disk_bytes(path: &Path) -> u64 {
    ["wal", "checkpoints"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(path.join(sub)).unwrap())
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn a_runs_view_survives_a_restart_from_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let early;
    {
        let db = Database::open_with_options(dir.path(), options()).unwrap();
        let setup = db.begin_run();
        db.put(setup, b"plan", b"v1").unwrap();
        db.end_run(setup).unwrap();
        early = db.begin_run();
        let late = db.begin_run();
        db.put(late, b"plan", b"v2").unwrap();
        db.end_run(late).unwrap();
        db.put(early, b"mine", b"early's own").unwrap();
        db.checkpoint().unwrap();
        db.put(early, b"after", b"checkpoint").unwrap();
    }
    let db = Database::open_with_options(dir.path(), options()).unwrap();
    assert!(db.recovery_report().checkpoint.is_some());
    assert_eq!(db.run_info(early).unwrap().status, RunStatus::Interrupted);
    // The early run still reads the memory as of its start (v1, not the later run's v2): the
    // checkpoint kept the overwritten version its view needs.
    assert_eq!(db.get(early, b"plan").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(
        db.get(early, b"mine").unwrap(),
        Some(b"early's own".to_vec())
    );
    assert_eq!(
        db.get(early, b"after").unwrap(),
        Some(b"checkpoint".to_vec())
    );
    assert_eq!(
        db.get(db.begin_run(), b"plan").unwrap(),
        Some(b"v2".to_vec())
    );
}

#[test]
fn checkpoints_run_beside_writers_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run;
    {
        let db = Database::open_with_options(dir.path(), options()).unwrap();
        run = db.begin_run();
        std::thread::scope(|s| {
            for t in 0..4 {
                let db = &db;
                s.spawn(move || {
                    for i in 0..400 {
                        db.put(run, format!("t{t}:{i:04}"), format!("{t}/{i}"))
                            .unwrap();
                        if i % 100 == 0 {
                            db.delete(run, format!("t{t}:{:04}", i / 2)).unwrap();
                        }
                    }
                });
            }
            let db = &db;
            s.spawn(move || {
                for _ in 0..5 {
                    db.checkpoint().unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        });
    }
    let db = Database::open_with_options(dir.path(), options()).unwrap();
    assert!(db.recovery_report().checkpoint.is_some());
    let listed = db.list(run, b"t").unwrap();
    assert_eq!(
        listed.len(),
        4 * 400 - 4 * 4,
        "every put, minus one delete per 100 puts"
    );
    for (key, value) in listed {
        let key = String::from_utf8(key).unwrap();
        let (t, i) = key[1..].split_once(':').unwrap();
        assert_eq!(
            value,
            format!("{t}/{}", i.parse::<u32>().unwrap()).into_bytes()
        );
    }
}

#[test]
fn the_background_thread_checkpoints_as_the_log_grows() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with_options(
        dir.path(),
        options()
            .checkpoint_every_bytes(128 * 1024)
            .sweep_interval(Duration::from_millis(5)),
    )
    .unwrap();
    let run = db.begin_run();
    for i in 0..2_000u32 {
        db.put(run, format!("k{i}"), [7u8; 200]).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let checkpoints = || {
        std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .count()
    };
    while checkpoints() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        checkpoints() > 0,
        "no background checkpoint after 400 KB of log"
    );
}

#[test]
fn disk_use_stays_a_small_multiple_of_live_data_under_endless_overwrites() {
    const KEYS: u32 = 200;
    const VALUE_BYTES: usize = 1000;
    let live = u64::from(KEYS) * VALUE_BYTES as u64;
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with_options(
        dir.path(),
        options()
            .segment_bytes(32 * 1024)
            .ended_run_retention(Duration::ZERO)
            .history(in_mem_engine::HistoryRetention {
                keep_for: Duration::ZERO,
                keep_min_versions: 1,
            }),
    )
    .unwrap();
    let mut peak_after_warmup = 0;
    let mut previous = None;
    for round in 0..20u32 {
        // Each round rewrites all live data in a run of its own, then checkpoints. A run's own
        // writes stay readable for as long as the run exists, so the previous round's run is
        // deleted: its versions are then only history no view needs.
        let run = db.begin_run();
        for k in 0..KEYS {
            db.put(run, format!("key{k}"), vec![round as u8; VALUE_BYTES])
                .unwrap();
        }
        db.end_run(run).unwrap();
        if let Some(previous) = previous.replace(run) {
            db.delete_run(previous).unwrap();
        }
        db.checkpoint().unwrap();
        if round >= 5 {
            peak_after_warmup = peak_after_warmup.max(disk_bytes(dir.path()));
        }
    }
    eprintln!(
        "disk use after 20x overwrites: {peak_after_warmup} B peak for {live} B live ({}.{}x)",
        peak_after_warmup / live,
        peak_after_warmup * 10 / live % 10
    );
    // 20x the live data was written; what stays on disk is two checkpoints, the log since the
    // older one and the preallocated active and spare segments.
    assert!(
        peak_after_warmup <= 8 * live,
        "disk use {peak_after_warmup} B for {live} B of live data"
    );
    let reader = db.begin_run();
    assert_eq!(
        db.get(reader, b"key7").unwrap(),
        Some(vec![19u8; VALUE_BYTES])
    );
    assert!(
        db.stats().versions <= u64::from(KEYS) * 2 + 64,
        "{:?}",
        db.stats()
    );
}
