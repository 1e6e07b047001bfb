#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! Model test: random mixes of KV puts and deletes, event appends, state sets and
//! compare-and-swaps, spans, multi-primitive transactions (some of them failing) and reopens,
//! checked against plain in-memory models after every step.

use std::collections::BTreeMap;

use in_mem_core_types::{RunId, Value};
use in_mem_engine::{Database, DurabilityMode, OpenOptions};
use in_mem_primitives::{Error, EventLog, KVStore, NewSpan, StateMachine, TraceStore};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    KvPut(u8, i64),
    KvDelete(u8),
    Append(u8, i64),
    StateSet(u8, i64),
    StateCas(u8, bool, i64),
    Span(Option<u8>),
    Tx {
        key: u8,
        cell: u8,
        value: i64,
        fail: bool,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6, any::<i64>()).prop_map(|(k, v)| Op::KvPut(k, v)),
        1 => (0u8..6).prop_map(Op::KvDelete),
        3 => (0u8..3, any::<i64>()).prop_map(|(t, v)| Op::Append(t, v)),
        2 => (0u8..3, any::<i64>()).prop_map(|(c, v)| Op::StateSet(c, v)),
        2 => (0u8..3, any::<bool>(), any::<i64>()).prop_map(|(c, fresh, v)| Op::StateCas(c, fresh, v)),
        2 => prop::option::of(0u8..8).prop_map(Op::Span),
        2 => (0u8..6, 0u8..3, any::<i64>(), any::<bool>())
            .prop_map(|(key, cell, value, fail)| Op::Tx { key, cell, value, fail }),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Default)]
struct Model {
    kv: BTreeMap<String, i64>,
    events: Vec<(String, i64)>,
    cells: BTreeMap<String, (i64, u64)>,
    spans: Vec<Option<u64>>,
}

fn open(dir: &std::path::Path) -> Database {
    Database::open_with_options(
        dir,
        OpenOptions::new()
            .mode(DurabilityMode::Batched {
                interval_ms: 5,
                max_commits: 16,
            })
            .segment_bytes(16 * 1024),
    )
    .unwrap()
}

fn check(db: &Database, run: RunId, model: &Model) {
    let kv = KVStore::new(db);
    let listed: BTreeMap<String, i64> = kv
        .list::<i64>(run, "k")
        .unwrap()
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), v))
        .collect();
    assert_eq!(listed, model.kv);
    let events: Vec<(String, i64)> = EventLog::new(db)
        .iter(run)
        .map(|e| {
            let e = e.unwrap();
            let Value::I64(n) = e.payload else {
                panic!("payload")
            };
            (e.event_type, n)
        })
        .collect();
    assert_eq!(events, model.events);
    let state = StateMachine::new(db);
    for (name, (value, version)) in &model.cells {
        let cell = state.read(run, name).unwrap().unwrap();
        assert_eq!(
            (cell.value, cell.version),
            (Value::I64(*value), *version),
            "cell {name}"
        );
    }
    assert_eq!(state.cells(run).unwrap().len(), model.cells.len());
    let parents: Vec<Option<u64>> = TraceStore::new(db)
        .spans(run)
        .unwrap()
        .iter()
        .map(|s| s.parent)
        .collect();
    assert_eq!(parents, model.spans);
}

/// Applies one operation (not a reopen) to the database and the model, checking its result.
fn apply(db: &Database, run: RunId, model: &mut Model, op: &Op) {
    let kv = KVStore::new(db);
    let log = EventLog::new(db);
    let state = StateMachine::new(db);
    let trace = TraceStore::new(db);
    match op {
        Op::KvPut(k, v) => {
            kv.put(run, format!("k{k}"), v).unwrap();
            model.kv.insert(format!("k{k}"), *v);
        }
        Op::KvDelete(k) => {
            let existed = kv.delete(run, format!("k{k}")).unwrap();
            assert_eq!(existed, model.kv.remove(&format!("k{k}")).is_some());
        }
        Op::Append(t, v) => {
            let seq = log.append(run, &format!("type{t}"), v).unwrap();
            assert_eq!(seq, model.events.len() as u64);
            model.events.push((format!("type{t}"), *v));
        }
        Op::StateSet(c, v) => {
            let version = state.set(run, &format!("c{c}"), v).unwrap();
            let entry = model.cells.entry(format!("c{c}")).or_insert((0, 0));
            *entry = (*v, entry.1 + 1);
            assert_eq!(version, entry.1);
        }
        Op::StateCas(c, fresh, v) => {
            let name = format!("c{c}");
            let current = model.cells.get(&name).copied();
            let expected = match (current, fresh) {
                (Some((_, version)), true) => version,
                (Some((_, version)), false) => version.saturating_sub(1),
                (None, _) => 1,
            };
            match (state.cas(run, &name, expected, v), current) {
                (Ok(version), Some((_, old))) if old == expected => {
                    assert_eq!(version, old + 1);
                    model.cells.insert(name, (*v, version));
                }
                (Err(Error::StaleVersion { .. }), Some((_, old))) => assert_ne!(old, expected),
                (Err(Error::CellMissing { .. }), None) => {}
                (other, current) => {
                    panic!("cas {name} expecting {expected} with {current:?}: {other:?}")
                }
            }
        }
        Op::Span(parent) => {
            let parent = parent
                .map(u64::from)
                .filter(|p| *p >= 1 && *p <= model.spans.len() as u64);
            let mut span = NewSpan::thought("step");
            if let Some(p) = parent {
                span = span.parent(p);
            }
            let id = trace.record(run, span).unwrap();
            model.spans.push(parent);
            assert_eq!(id, model.spans.len() as u64);
        }
        Op::Tx {
            key,
            cell,
            value,
            fail,
        } => {
            let result = db.transaction(run, |tx| {
                tx.put_value(format!("k{key}"), &Value::I64(*value))?;
                EventLog::append_in(tx, "tx", value)?;
                StateMachine::set_in(tx, &format!("c{cell}"), value)?;
                TraceStore::record_in(tx, NewSpan::thought("tx"))?;
                if *fail {
                    return Err(Error::InvalidSpan {
                        reason: "the test fails this one".into(),
                    });
                }
                Ok(())
            });
            assert_eq!(result.is_ok(), !fail);
            if !fail {
                model.kv.insert(format!("k{key}"), *value);
                model.events.push(("tx".to_owned(), *value));
                let entry = model.cells.entry(format!("c{cell}")).or_insert((0, 0));
                *entry = (*value, entry.1 + 1);
                model.spans.push(None);
            }
        }
        Op::Reopen => unreachable!("handled by run_ops"),
    }
}

fn run_ops(ops: &[Op]) {
    let dir = tempfile::tempdir().unwrap();
    let mut db = open(dir.path());
    let run = db.begin_run();
    let mut model = Model::default();
    for op in ops {
        if let Op::Reopen = op {
            drop(db);
            db = open(dir.path());
            db.resume_run(run).unwrap();
        } else {
            apply(&db, run, &mut model, op);
        }
        check(&db, run, &model);
    }
    assert_eq!(
        EventLog::new(&db).verify_chain(run).unwrap().events,
        model.events.len() as u64
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn primitives_match_their_models(ops in prop::collection::vec(op(), 1..40)) {
        run_ops(&ops);
    }
}
