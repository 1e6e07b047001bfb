#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! A run's own data is readable for as long as the run exists: its event log, spans, state
//! cells and the keys it wrote, through every read call, across sweeps and reopens. Only its
//! view of the rest of the agent's shared memory (as of its start) may be released by
//! retention, and reading that is `HistoryPruned`, never a wrong answer.

mod common;

use std::time::Duration;

use in_mem_core_types::{RunId, Value};
use in_mem_engine::{Database, DurabilityMode, Error, HistoryRetention, NewSpan, OpenOptions};

fn options(clock: &std::sync::Arc<in_mem_engine::ManualClock>) -> OpenOptions {
    OpenOptions::new()
        .clock(clock.clone())
        .mode(DurabilityMode::Strict)
        .ended_run_retention(Duration::from_secs(60))
        .history(HistoryRetention {
            keep_for: Duration::from_secs(60),
            keep_min_versions: 1,
        })
        .segment_bytes(common::SMALL_SEGMENT_BYTES)
}

/// Writes a little of everything in a run of its own and ends it.
fn write_history(db: &Database) -> RunId {
    let run = db.begin_run();
    db.put(run, b"mine", b"written by the run").unwrap();
    db.transaction(run, |tx| {
        tx.events().append("observed", &Value::from("sunny"))?;
        tx.cells().init("plan", Value::from("walk"))?;
        tx.spans().record(NewSpan::thought("think"))
    })
    .unwrap();
    db.end_run(run).unwrap();
    run
}

/// Everything the run owns, read through its view.
fn assert_own_data_reads(db: &Database, run: RunId, when: &str) {
    assert_eq!(
        db.get(run, b"mine").unwrap(),
        Some(b"written by the run".to_vec()),
        "{when}: own key"
    );
    let (event, cell, spans) = db
        .transaction(run, |tx| {
            Ok::<_, Error>((
                tx.events().get(0)?,
                tx.cells().get("plan")?,
                tx.spans().all()?,
            ))
        })
        .unwrap_or_else(|e| panic!("{when}: {e}"));
    assert_eq!(
        event.unwrap().payload,
        Value::from("sunny"),
        "{when}: event"
    );
    assert_eq!(cell.unwrap().value, Value::from("walk"), "{when}: cell");
    assert_eq!(spans.len(), 1, "{when}: spans");
    assert_eq!(
        db.transaction(run, |tx| tx.events().verify_chain(run))
            .unwrap()
            .events,
        1,
        "{when}: chain"
    );
}

#[test]
fn an_ended_runs_own_data_reads_after_retention_sweeps_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let (run, shared_before) = {
        let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
        let setup = db.begin_run();
        db.put(setup, b"shared", b"v1").unwrap();
        db.end_run(setup).unwrap();
        let run = write_history(&db);
        // Deleted, so that nothing keeps its write of "shared" (a run's own newest writes stay
        // for as long as it exists, and would still answer the ended run's read rightly).
        db.delete_run(setup).unwrap();
        // Later runs overwrite what the ended run wrote and saw.
        let later = db.begin_run();
        for i in 0..3 {
            db.put(later, b"mine", format!("later {i}")).unwrap();
            db.put(later, b"shared", format!("v{}", i + 2)).unwrap();
        }
        db.end_run(later).unwrap();
        clock.advance(Duration::from_secs(61));
        db.sweep();
        assert_own_data_reads(&db, run, "after retention and a sweep");
        (run, db.get(db.begin_run(), b"shared").unwrap())
    };
    assert_eq!(shared_before, Some(b"v4".to_vec()));
    let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
    assert_own_data_reads(&db, run, "after reopen");
    db.sweep();
    db.checkpoint().unwrap();
    assert_own_data_reads(&db, run, "after a sweep and a checkpoint");
    drop(db);
    let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
    assert_own_data_reads(&db, run, "after reopening from the checkpoint");
    // What it saw of shared memory was overwritten and reclaimed: a clear error, not a value.
    match db.get(run, b"shared") {
        Err(Error::HistoryPruned {
            run: named,
            oldest_kept,
            ..
        }) => {
            assert_eq!(named, run);
            assert!(oldest_kept > 0);
        }
        other => panic!("a reclaimed view must say so, got {other:?}"),
    }
}
