#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! Where a run's event log and span ids end: found from the records themselves, starting at a
//! hint the run keeps in memory, which may be missing (a reopened database, a fork) or ahead
//! of the reader (a view of an earlier point). Each case must land on the true end.

mod common;

use in_mem_core_types::{RunId, Value};
use in_mem_engine::{At, Database, DurabilityMode, NewSpan};

fn open(dir: &std::path::Path) -> Database {
    common::open(
        dir,
        DurabilityMode::Batched {
            interval_ms: 10,
            max_commits: 100,
        },
    )
}

fn append(db: &Database, run: RunId, n: i64) -> u64 {
    db.transaction(run, |tx| tx.events().append("step", &Value::I64(n)))
        .unwrap()
}

fn span(db: &Database, run: RunId) -> u64 {
    db.transaction(run, |tx| tx.spans().record(NewSpan::thought("step")))
        .unwrap()
}

#[test]
fn a_reopened_run_goes_on_from_where_its_log_and_spans_ended() {
    let dir = tempfile::tempdir().unwrap();
    let run = {
        let db = open(dir.path());
        let run = db.begin_run();
        for i in 0..300 {
            assert_eq!(append(&db, run, i), u64::try_from(i).unwrap());
            assert_eq!(span(&db, run), u64::try_from(i).unwrap() + 1);
        }
        run
    };
    let db = open(dir.path());
    db.resume_run(run).unwrap();
    // A fresh process knows nothing of the run: the end is searched for.
    assert_eq!(db.transaction(run, |tx| tx.events().len()).unwrap(), 300);
    assert_eq!(append(&db, run, 300), 300);
    assert_eq!(span(&db, run), 301);
    let summary = db
        .transaction(run, |tx| tx.events().verify_chain(run))
        .unwrap();
    assert_eq!(summary.events, 301);
    let head = db
        .transaction(run, |tx| tx.events().head())
        .unwrap()
        .unwrap();
    assert_eq!((head.sequence, head.hash), (300, summary.head_hash));
}

#[test]
fn a_view_of_an_earlier_point_reads_the_log_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    for i in 0..40 {
        append(&db, run, i);
        span(&db, run);
    }
    for seen in [0u64, 1, 2, 17, 39] {
        let mut view = db.run_view_at(run, At::Event(seen)).unwrap();
        assert_eq!(view.events().len().unwrap(), seen + 1, "at event {seen}");
        let head = view.events().head().unwrap().unwrap();
        assert_eq!(head.payload, Value::I64(i64::try_from(seen).unwrap()));
        // The span of step `seen` came after its event: the view holds the ones before.
        assert_eq!(
            view.spans().all().unwrap().len(),
            usize::try_from(seen).unwrap()
        );
    }
}

#[test]
fn a_fork_goes_on_from_its_parents_log_and_span_ids() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let parent = db.begin_run();
    for i in 0..5 {
        append(&db, parent, i);
        span(&db, parent);
    }
    let at_three = db.run_view_at(parent, At::Event(2)).unwrap().version();
    let fork = db.fork_run(parent, At::Version(at_three)).unwrap();
    assert_eq!(append(&db, fork, 100), 3);
    assert_eq!(span(&db, fork), 3);
    assert_eq!(append(&db, parent, 5), 5);
    assert_eq!(span(&db, parent), 6);
    let chain = db
        .transaction(fork, |tx| tx.events().verify_chain(fork))
        .unwrap();
    assert_eq!(chain.events, 4);
    let fork_of_fork = db.fork_run(fork, At::Now).unwrap();
    assert_eq!(append(&db, fork_of_fork, 101), 4);
    assert_eq!(span(&db, fork_of_fork), 4);
}

#[test]
fn appends_in_one_transaction_follow_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    append(&db, run, 0);
    let taken = db
        .transaction(run, |tx| {
            let mut taken = Vec::new();
            for i in 1..=3 {
                taken.push(tx.events().append("step", &Value::I64(i))?);
                taken.push(tx.spans().record(NewSpan::thought("step"))?);
            }
            Ok::<_, in_mem_engine::Error>(taken)
        })
        .unwrap();
    assert_eq!(taken, [1, 1, 2, 2, 3, 3]);
    assert_eq!(append(&db, run, 4), 4);
    assert_eq!(span(&db, run), 4);
}
