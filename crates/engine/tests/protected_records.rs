#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! The primitives' records are reachable only through the primitives: the former holes (a
//! state cell reset to version 1, a span deleted so that `roots()` failed for good, the event
//! log's head deleted so that the log could never append again) stay closed whatever public
//! call a user makes. (The raw run-data calls that opened them are gone from the API; the
//! `compile_fail` examples in the engine's `records` module docs show they stay gone.)

use in_mem_core_types::Value;
use in_mem_engine::{Database, Error, NewSpan};

fn db(dir: &tempfile::TempDir) -> Database {
    Database::open(dir.path()).unwrap()
}

/// Every public write a user can aim at `key` without going through a primitive: byte and
/// typed puts, deletes, and the same inside a transaction.
fn try_every_raw_write(db: &Database, run: in_mem_core_types::RunId, key: &[u8]) {
    db.put(run, key, b"overwritten").unwrap();
    db.put_value(run, key, &Value::I64(1)).unwrap();
    db.delete(run, key).unwrap();
    db.transaction(run, |tx| {
        tx.put(key, b"again")?;
        tx.delete(key)?;
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn a_state_cell_cannot_be_reset_to_version_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    let v1 = db
        .transaction(run, |tx| tx.cells().init("attempts", Value::I64(0)))
        .unwrap();
    let v2 = db
        .transaction(run, |tx| tx.cells().cas("attempts", v1, Value::I64(1)))
        .unwrap();
    for key in [&b"cell:attempts"[..], b"attempts", b"state:cell:attempts"] {
        try_every_raw_write(&db, run, key);
    }
    let cell = db
        .transaction(run, |tx| tx.cells().get("attempts"))
        .unwrap();
    assert_eq!(
        cell.unwrap().version,
        v2,
        "no public write reached the cell"
    );
    // The cell's own delete keeps its version, so init continues past it.
    assert!(
        db.transaction(run, |tx| tx.cells().delete("attempts"))
            .unwrap()
    );
    let again = db
        .transaction(run, |tx| tx.cells().init("attempts", Value::I64(0)))
        .unwrap();
    assert_eq!(
        again,
        v2 + 1,
        "a re-created cell never starts at version 1 again"
    );
    let stale = db.transaction(run, |tx| tx.cells().cas("attempts", v1, Value::I64(9)));
    assert!(
        matches!(stale, Err(Error::StaleVersion { .. })),
        "{stale:?}"
    );
}

#[test]
fn a_span_cannot_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    let root = db
        .transaction(run, |tx| tx.spans().record(NewSpan::thought("plan")))
        .unwrap();
    let child = db
        .transaction(run, |tx| {
            tx.spans().record(NewSpan::thought("step").parent(root))
        })
        .unwrap();
    for key in [
        root.to_be_bytes().to_vec(),
        child.to_be_bytes().to_vec(),
        b"trace-next".to_vec(),
        [
            &b"trace-child:"[..],
            &0u64.to_be_bytes(),
            &root.to_be_bytes(),
        ]
        .concat(),
    ] {
        try_every_raw_write(&db, run, &key);
    }
    let roots = db.transaction(run, |tx| tx.spans().roots()).unwrap();
    assert_eq!(roots.iter().map(|s| s.id).collect::<Vec<_>>(), [root]);
    let tree = db
        .transaction(run, |tx| tx.spans().tree(root))
        .unwrap()
        .unwrap();
    assert_eq!(tree.children[0].span.id, child);
    let next = db
        .transaction(run, |tx| tx.spans().record(NewSpan::thought("later")))
        .unwrap();
    assert_eq!(next, child + 1, "span ids go on from where they were");
}

#[test]
fn the_event_log_head_cannot_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = db(&dir);
    let run = db.begin_run();
    for i in 0..3 {
        db.transaction(run, |tx| tx.events().append("step", &Value::I64(i)))
            .unwrap();
    }
    for key in [
        &b"event-head"[..],
        &0u64.to_be_bytes(),
        b"event-type:step\0",
    ] {
        try_every_raw_write(&db, run, key);
    }
    let next = db
        .transaction(run, |tx| tx.events().append("step", &Value::I64(3)))
        .unwrap();
    assert_eq!(next, 3, "the log appends on from its head");
    let summary = db
        .transaction(run, |tx| tx.events().verify_chain(run))
        .unwrap();
    assert_eq!(summary.events, 4);
    assert_eq!(
        db.transaction(run, |tx| tx.events().get(0))
            .unwrap()
            .unwrap()
            .payload,
        Value::I64(0)
    );
}
