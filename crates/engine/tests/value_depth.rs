#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! One nesting limit for every caller's value: a KV value, an event payload, a state cell, a
//! span's data and a run's metadata may all nest `VALUE_DEPTH_MAX` levels and no more, and the
//! refusal names the caller's depth, not the depth of the record that wraps it.

use in_mem_core_types::limits::VALUE_DEPTH_MAX;
use in_mem_core_types::{Error as InvalidValue, Value};
use in_mem_engine::{Database, Error, NewSpan, RunOptions};

/// A value nesting `depth` levels: arrays around a scalar.
fn nested(depth: usize) -> Value {
    (1..depth).fold(Value::I64(1), |inner, _| Value::Array(vec![inner]))
}

/// Every way a caller's value gets stored, each returning what the store said.
fn store_everywhere(db: &Database, value: &Value) -> Vec<(&'static str, Result<(), Error>)> {
    let run = db.begin_run();
    let ok = |r: Result<u64, Error>| r.map(|_| ());
    vec![
        ("kv", ok(db.put_value(run, b"k", value))),
        (
            "event",
            ok(db.transaction(run, |tx| tx.events().append("step", value))),
        ),
        (
            "cell",
            ok(db.transaction(run, |tx| tx.cells().init("c", value.clone()))),
        ),
        (
            "span",
            ok(db.transaction(run, |tx| {
                tx.spans()
                    .record(NewSpan::tool_call("t", value.clone()).attribute("a", value.clone()))
            })),
        ),
        (
            "run metadata",
            db.begin_run_with(RunOptions::new().metadata(value.clone()))
                .map(|_| ()),
        ),
    ]
}

#[test]
fn every_kind_of_value_takes_the_same_depth_and_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    for (what, result) in store_everywhere(&db, &nested(VALUE_DEPTH_MAX)) {
        assert!(result.is_ok(), "{what} at the limit: {result:?}");
    }
    for (what, result) in store_everywhere(&db, &nested(VALUE_DEPTH_MAX + 1)) {
        match result {
            Err(Error::Invalid(InvalidValue::ValueTooDeep { depth, max })) => {
                assert_eq!(
                    (depth, max),
                    (VALUE_DEPTH_MAX + 1, VALUE_DEPTH_MAX),
                    "{what}"
                );
            }
            other => panic!("{what} one level over the limit: {other:?}"),
        }
    }
}

#[test]
fn values_at_the_limit_read_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let deep = nested(VALUE_DEPTH_MAX);
    let run = {
        let db = Database::open(dir.path()).unwrap();
        let run = db.begin_run();
        db.put_value(run, b"k", &deep).unwrap();
        db.transaction(run, |tx| tx.events().append("step", &deep))
            .unwrap();
        run
    };
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.get_value(run, b"k").unwrap(), Some(deep.clone()));
    let event = db
        .transaction(run, |tx| tx.events().get(0))
        .unwrap()
        .unwrap();
    assert_eq!(event.payload, deep);
}
