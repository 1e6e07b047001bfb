#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! `EventLog`: dense sequences, reads, the hash chain and its verification, forged records.

mod common;

use std::collections::BTreeMap;

use in_mem_core_types::{TypeTag, Value};
use in_mem_engine::{Database, DurabilityMode, OpenOptions};
use in_mem_primitives::{Error, EventLog};

fn open(dir: &std::path::Path) -> Database {
    Database::open_with_options(
        dir,
        OpenOptions::new()
            .mode(DurabilityMode::Batched {
                interval_ms: 20,
                max_commits: 100,
            })
            .segment_bytes(64 * 1024),
    )
    .unwrap()
}

#[test]
fn appends_are_dense_from_zero_and_read_back_every_way() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    let log = EventLog::new(&db);
    assert!(log.is_empty(run).unwrap());
    assert_eq!(log.head(run).unwrap(), None);
    for i in 0..10u64 {
        let kind = if i % 3 == 0 {
            "tool_result"
        } else {
            "observation"
        };
        assert_eq!(
            log.append(run, kind, BTreeMap::from([("i", i)])).unwrap(),
            i
        );
    }
    assert_eq!(log.len(run).unwrap(), 10);
    let third = log.read(run, 3).unwrap().unwrap();
    assert_eq!(
        (third.sequence, third.event_type.as_str()),
        (3, "tool_result")
    );
    assert_eq!(
        third.payload,
        Value::Map(BTreeMap::from([("i".to_owned(), Value::I64(3))]))
    );
    assert_eq!(log.read(run, 10).unwrap(), None);
    let range: Vec<u64> = log
        .read_range(run, 2..5)
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(range, vec![2, 3, 4]);
    let by_type: Vec<u64> = log
        .read_by_type(run, "tool_result")
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(by_type, vec![0, 3, 6, 9]);
    assert_eq!(log.head(run).unwrap().unwrap().sequence, 9);
    let all: Vec<u64> = log.iter(run).map(|e| e.unwrap().sequence).collect();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    let summary = log.verify_chain(run).unwrap();
    assert_eq!(summary.events, 10);
    assert_eq!(summary.head_hash, log.head(run).unwrap().unwrap().hash);
}

#[test]
fn each_run_has_its_own_log_and_it_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = {
        let db = open(dir.path());
        let log = EventLog::new(&db);
        let (a, b) = (db.begin_run(), db.begin_run());
        for i in 0..600u32 {
            log.append(a, "tick", i).unwrap();
        }
        log.append(b, "other", "x").unwrap();
        (a, b)
    };
    let db = open(dir.path());
    let log = EventLog::new(&db);
    assert_eq!(log.len(a).unwrap(), 600);
    assert_eq!(log.len(b).unwrap(), 1);
    assert_eq!(
        log.verify_chain(a).unwrap().events,
        600,
        "iter crosses read batches"
    );
    assert_eq!(log.read(b, 0).unwrap().unwrap().event_type, "other");
}

#[test]
fn eight_threads_appending_to_one_log_never_duplicate_or_skip() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    let log = EventLog::new(&db);
    let mut sequences: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u32)
            .map(|t| {
                let log = &log;
                s.spawn(move || {
                    (0..25u32)
                        .map(|i| log.append(run, "step", (t, i)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    sequences.sort_unstable();
    assert_eq!(sequences, (0..200).collect::<Vec<_>>());
    assert_eq!(log.verify_chain(run).unwrap().events, 200);
}

/// A well-formed event record at `sequence`, forged into the log below every API.
fn forged_event(sequence: u64, prev: [u8; 32], hash: [u8; 32]) -> (TypeTag, Vec<u8>, Value) {
    let record = Value::Map(BTreeMap::from([
        ("type".to_owned(), Value::from("step")),
        ("payload".to_owned(), Value::I64(666)),
        ("timestamp".to_owned(), Value::I64(1)),
        ("prev".to_owned(), Value::Bytes(prev.to_vec())),
        ("hash".to_owned(), Value::Bytes(hash.to_vec())),
    ]));
    (TypeTag::Event, sequence.to_be_bytes().to_vec(), record)
}

#[test]
fn verify_chain_names_the_first_forged_event() {
    let dir = tempfile::tempdir().unwrap();
    let (forged, gapped, head) = {
        let db = open(dir.path());
        let log = EventLog::new(&db);
        let (forged, gapped) = (db.begin_run(), db.begin_run());
        for run in [forged, gapped] {
            for i in 0..5u32 {
                log.append(run, "step", i).unwrap();
            }
        }
        let head = log.head(forged).unwrap().unwrap().hash;
        (forged, gapped, head)
    };
    // The right predecessor, but a hash that does not cover the content.
    common::forge(dir.path(), forged, &[forged_event(5, head, [7; 32])]);
    // A well-formed event after a gap.
    common::forge(dir.path(), gapped, &[forged_event(7, [0; 32], [0; 32])]);
    let db = open(dir.path());
    let log = EventLog::new(&db);
    match log.verify_chain(forged) {
        Err(Error::ChainBroken {
            sequence, reason, ..
        }) => {
            assert_eq!(sequence, 5);
            assert!(reason.contains("does not match its hash"), "{reason}");
        }
        other => panic!("a forged hash must be caught, got {other:?}"),
    }
    // The missing sequence is named.
    match log.verify_chain(gapped) {
        Err(Error::ChainBroken {
            sequence, reason, ..
        }) => {
            assert_eq!(sequence, 5);
            assert!(reason.contains("missing"), "{reason}");
        }
        other => panic!("a gap must be caught, got {other:?}"),
    }
}

#[test]
fn a_damaged_head_is_an_error_not_a_restart_at_zero() {
    // Named regression (docs/TESTING.md): a metadata decode failure silently reset an event sequence
    // to 0. The log's head is its newest event now: one that does not decode fails the append.
    let dir = tempfile::tempdir().unwrap();
    let run = {
        let db = open(dir.path());
        let run = db.begin_run();
        let log = EventLog::new(&db);
        log.append(run, "step", 1).unwrap();
        log.append(run, "step", 2).unwrap();
        run
    };
    common::forge(
        dir.path(),
        run,
        &[(
            TypeTag::Event,
            1u64.to_be_bytes().to_vec(),
            Value::from("garbage"),
        )],
    );
    let db = open(dir.path());
    let log = EventLog::new(&db);
    let err = log.append(run, "step", 3).unwrap_err();
    assert!(matches!(err, Error::Damaged { .. }), "{err}");
    assert_eq!(log.read(run, 0).unwrap().unwrap().payload, Value::I64(1));
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    let log = EventLog::new(&db);
    assert!(matches!(
        log.append(run, "", 1),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        log.append(run, "bad\0type", 1),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        log.append(run, "x", f64::NAN),
        Err(Error::NotCanonical { .. })
    ));
    assert!(matches!(
        log.append(run, "x", vec![0u8; 5 << 20]),
        Err(Error::Invalid(_))
    ));
    let stranger = in_mem_core_types::RunId::new();
    assert!(matches!(
        log.append(stranger, "x", 1),
        Err(Error::UnknownRun { .. })
    ));
    db.end_run(run).unwrap();
    assert!(matches!(
        log.append(run, "x", 1),
        Err(Error::RunEnded { .. })
    ));
    assert_eq!(log.len(run).unwrap(), 0);
}

#[test]
fn head_records_of_older_databases_are_ignored() {
    // Databases written before the log's end was read off its newest event kept a head record
    // (`event-head`) and a span counter (`trace-next`); stale or damaged, they change nothing.
    let dir = tempfile::tempdir().unwrap();
    let run = {
        let db = open(dir.path());
        let run = db.begin_run();
        let log = EventLog::new(&db);
        log.append(run, "step", 1).unwrap();
        log.append(run, "step", 2).unwrap();
        run
    };
    common::forge(
        dir.path(),
        run,
        &[
            (
                TypeTag::Index,
                b"event-head".to_vec(),
                Value::from("garbage"),
            ),
            (TypeTag::Index, b"trace-next".to_vec(), Value::I64(0)),
        ],
    );
    let db = open(dir.path());
    db.resume_run(run).unwrap();
    let log = EventLog::new(&db);
    assert_eq!(log.append(run, "step", 3).unwrap(), 2);
    assert_eq!(log.verify_chain(run).unwrap().events, 3);
    let trace = in_mem_primitives::TraceStore::new(&db);
    let id = trace
        .record(run, in_mem_engine::NewSpan::thought("step"))
        .unwrap();
    assert_eq!(id, 1);
}
