//! Model test: random sequences of put / TTL put / delete / list / clock moves / reopen,
//! checked against a `BTreeMap` after every step.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::Timestamp;
use in_mem_engine::{Clock, Database, DurabilityMode, ManualClock, OpenOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    PutTtl(u8, u8, u8),
    Delete(u8),
    Get(u8),
    List(u8),
    Advance(u8),
    Reopen,
    NewRun,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..12;
    prop_oneof![
        6 => (key.clone(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (key.clone(), any::<u8>(), 1u8..5).prop_map(|(k, v, t)| Op::PutTtl(k, v, t)),
        3 => key.clone().prop_map(Op::Delete),
        3 => key.prop_map(Op::Get),
        2 => (0u8..3).prop_map(Op::List),
        2 => (0u8..4).prop_map(Op::Advance),
        1 => Just(Op::Reopen),
        1 => Just(Op::NewRun),
    ]
}

/// Keys share prefixes ("a0", "a1", "b0" ...) so that list prefixes select subsets.
fn key_of(k: u8) -> Vec<u8> {
    format!("{}{}", (b'a' + k / 4) as char, k % 4).into_bytes()
}

fn prefix_of(p: u8) -> Vec<u8> {
    match p {
        0 => Vec::new(),
        1 => b"a".to_vec(),
        _ => b"b".to_vec(),
    }
}

struct Model {
    /// key -> (value, expires at)
    entries: BTreeMap<Vec<u8>, (Vec<u8>, Option<Timestamp>)>,
}

impl Model {
    fn live(&self, now: Timestamp) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.entries
            .iter()
            .filter(|(_, (_, exp))| exp.is_none_or(|e| e > now))
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }
}

fn run_ops(ops: &[Op], mode: DurabilityMode) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_micros(1_000_000_000)));
    let options = OpenOptions::new()
        .mode(mode)
        .segment_bytes(4096)
        .clock(clock.clone())
        .sweep_interval(Duration::from_millis(5));
    let mut db = Some(Database::open_with_options(dir.path(), options.clone()).unwrap());
    let mut run = db.as_ref().unwrap().begin_run();
    let mut model = Model {
        entries: BTreeMap::new(),
    };
    for op in ops {
        let d = db.as_ref().unwrap();
        let now = clock.now();
        match op {
            Op::Put(k, v) => {
                d.put(run, key_of(*k), [*v]).unwrap();
                model.entries.insert(key_of(*k), (vec![*v], None));
            }
            Op::PutTtl(k, v, secs) => {
                let ttl = Duration::from_secs(u64::from(*secs));
                d.put_with_ttl(run, key_of(*k), [*v], ttl).unwrap();
                model
                    .entries
                    .insert(key_of(*k), (vec![*v], Some(now.saturating_add(ttl))));
            }
            Op::Delete(k) => {
                let existed = model.live(now).contains_key(&key_of(*k));
                assert_eq!(d.delete(run, key_of(*k)).unwrap(), existed, "delete {k}");
                model.entries.remove(&key_of(*k));
            }
            Op::Get(k) => {
                let want = model.live(now).get(&key_of(*k)).cloned();
                assert_eq!(d.get(run, key_of(*k)).unwrap(), want, "get {k}");
            }
            Op::List(p) => {
                let prefix = prefix_of(*p);
                let want: Vec<(Vec<u8>, Vec<u8>)> = model
                    .live(now)
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .collect();
                assert_eq!(d.list(run, &prefix).unwrap(), want, "list {p}");
            }
            Op::Advance(secs) => clock.advance(Duration::from_millis(u64::from(*secs) * 700)),
            Op::Reopen => {
                drop(db.take());
                db = Some(Database::open_with_options(dir.path(), options.clone()).unwrap());
                run = db.as_ref().unwrap().begin_run();
            }
            Op::NewRun => {
                d.end_run(run).unwrap();
                run = d.begin_run();
            }
        }
    }
    // Final check of everything, after one more reopen.
    drop(db);
    let db = Database::open_with_options(dir.path(), options).unwrap();
    let run = db.begin_run();
    let want: Vec<_> = model.live(clock.now()).into_iter().collect();
    assert_eq!(db.list(run, b"").unwrap(), want);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn batched_database_matches_a_btreemap(ops in prop::collection::vec(op(), 1..60)) {
        run_ops(&ops, DurabilityMode::Batched { interval_ms: 5, max_commits: 7 });
    }

    #[test]
    fn async_database_matches_a_btreemap(ops in prop::collection::vec(op(), 1..60)) {
        run_ops(&ops, DurabilityMode::Async { interval_ms: 3 });
    }
}
