#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! One transaction across every primitive: all of it commits, or none of it does, also after
//! a reopen.

use in_mem_core_types::Value;
use in_mem_engine::{Database, DurabilityMode, OpenOptions};
use in_mem_primitives::{Error, EventLog, KVStore, NewSpan, StateMachine, TraceStore};

fn open(dir: &std::path::Path) -> Database {
    Database::open_with_options(
        dir,
        OpenOptions::new()
            .mode(DurabilityMode::Strict)
            .segment_bytes(64 * 1024),
    )
    .unwrap()
}

/// What the four primitives hold for `run`: (kv value, events, state version, spans).
fn observe(db: &Database, run: in_mem_core_types::RunId) -> (Option<i64>, u64, u64, usize) {
    (
        KVStore::new(db).get(run, "step").unwrap(),
        EventLog::new(db).len(run).unwrap(),
        StateMachine::new(db)
            .read(run, "phase")
            .unwrap()
            .map_or(0, |c| c.version),
        TraceStore::new(db).spans(run).unwrap().len(),
    )
}

#[test]
fn a_transaction_over_all_primitives_commits_as_one_version() {
    let dir = tempfile::tempdir().unwrap();
    let run;
    {
        let db = open(dir.path());
        run = db.begin_run();
        StateMachine::new(&db).init(run, "phase", "start").unwrap();
        let before = db.stats().visible_version;
        db.transaction(run, |tx| {
            tx.put_value(b"step", &Value::I64(1))?;
            EventLog::append_in(tx, "stepped", 1)?;
            StateMachine::set_in(tx, "phase", "working")?;
            TraceStore::record_in(tx, NewSpan::thought("step 1"))?;
            Ok::<_, Error>(())
        })
        .unwrap();
        assert_eq!(db.stats().visible_version, before + 1, "one commit");
        assert_eq!(observe(&db, run), (Some(1), 1, 2, 1));
    }
    let db = open(dir.path());
    assert_eq!(observe(&db, run), (Some(1), 1, 2, 1));
    assert_eq!(EventLog::new(&db).verify_chain(run).unwrap().events, 1);
}

#[test]
fn a_failing_or_conflicting_transaction_leaves_no_trace_anywhere_even_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let run;
    {
        let db = open(dir.path());
        run = db.begin_run();
        StateMachine::new(&db).init(run, "phase", "start").unwrap();
        let before = observe(&db, run);

        // Fails halfway: a forbidden state change after the other writes.
        let failed = db.transaction(run, |tx| {
            tx.put_value(b"step", &Value::I64(1))?;
            EventLog::append_in(tx, "stepped", 1)?;
            TraceStore::record_in(tx, NewSpan::thought("step 1"))?;
            StateMachine::cas_in(tx, "phase", 99, "working")?; // stale version
            Ok::<_, Error>(())
        });
        assert!(
            matches!(failed, Err(Error::StaleVersion { .. })),
            "{failed:?}"
        );
        assert_eq!(observe(&db, run), before);

        // Conflicts: another commit of the run changes the state cell it read.
        let conflicted = db.transaction(run, |tx| {
            tx.put_value(b"step", &Value::I64(2))?;
            EventLog::append_in(tx, "stepped", 2)?;
            TraceStore::record_in(tx, NewSpan::thought("step 2"))?;
            StateMachine::set_in(tx, "phase", "racing")?;
            StateMachine::new(&db)
                .set(run, "phase", "other writer")
                .unwrap();
            Ok::<_, Error>(())
        });
        assert!(
            matches!(conflicted, Err(Error::Conflict { .. })),
            "{conflicted:?}"
        );
        let after = observe(&db, run);
        assert_eq!((after.0, after.1, after.3), (before.0, before.1, before.3));
        assert_eq!(after.2, before.2 + 1, "only the other writer's set landed");
    }
    let db = open(dir.path());
    let (kv, events, _, spans) = observe(&db, run);
    assert_eq!((kv, events, spans), (None, 0, 0));
    assert_eq!(
        StateMachine::new(&db)
            .read(run, "phase")
            .unwrap()
            .unwrap()
            .value,
        Value::from("other writer")
    );
}
