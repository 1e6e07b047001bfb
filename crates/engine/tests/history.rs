#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! History: views of a run's past, forks, timelines, key histories, diffs and replays, on
//! hand-written scenarios (the model test is `history_model.rs`).

mod common;

use in_mem_core_types::Value;
use in_mem_engine::{At, Database, DurabilityMode, Error, NewSpan, RunQuery, SpanStatus};

fn open(dir: &std::path::Path) -> Database {
    common::open(dir, DurabilityMode::Strict)
}

fn append(db: &Database, run: in_mem_core_types::RunId, kind: &str, n: i64) -> u64 {
    db.transaction_committed(run, in_mem_engine::RetryPolicy::default(), |tx| {
        tx.events().append(kind, &Value::I64(n))
    })
    .unwrap()
    .1
    .unwrap()
}

#[test]
fn a_view_at_each_step_reads_what_the_run_had_then() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    let v1 = db.put(run, b"k", b"one").unwrap();
    let v2 = append(&db, run, "step", 1);
    let v3 = db
        .transaction(run, |tx| {
            tx.cells().init("phase", Value::from("plan"))?;
            tx.put(b"k", b"two")?;
            Ok::<_, Error>(())
        })
        .map(|()| db.run_timeline(run).unwrap().steps.last().unwrap().version)
        .unwrap();
    let v4 = db
        .delete(run, b"k")
        .map(|_| db.run_timeline(run).unwrap().steps.last().unwrap().version)
        .unwrap();

    let mut at1 = db.run_view_at(run, At::Version(v1)).unwrap();
    assert_eq!(at1.get(b"k").unwrap(), Some(b"one".to_vec()));
    assert_eq!(at1.events().len().unwrap(), 0);
    let mut at2 = db.run_view_at(run, At::Version(v2)).unwrap();
    assert_eq!(at2.events().len().unwrap(), 1);
    assert!(at2.cells().get("phase").unwrap().is_none());
    let mut at3 = db.run_view_at(run, At::Version(v3)).unwrap();
    assert_eq!(at3.get(b"k").unwrap(), Some(b"two".to_vec()));
    assert_eq!(at3.cells().get("phase").unwrap().unwrap().version, 1);
    let at4 = db.run_view_at(run, At::Version(v4)).unwrap();
    assert_eq!(at4.get(b"k").unwrap(), None);
    assert_eq!(db.run_view_at(run, At::Event(0)).unwrap().version(), v2);

    let timeline = db.run_timeline(run).unwrap();
    let versions: Vec<u64> = timeline.steps.iter().map(|s| s.version).collect();
    assert!(versions.ends_with(&[v1, v2, v3, v4]), "{versions:?}");
    let step3 = &timeline.steps[timeline.steps.len() - 2];
    assert_eq!(step3.kv_keys, vec![b"k".to_vec()]);
    assert_eq!(step3.cells, vec!["phase".to_owned()]);
    let step2 = &timeline.steps[timeline.steps.len() - 3];
    assert_eq!(step2.events, vec![(0, "step".to_owned())]);

    let history = db.key_history(run, b"k").unwrap();
    let values: Vec<Option<Value>> = history.versions.iter().map(|v| v.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            None,
            Some(Value::Bytes(b"two".to_vec())),
            Some(Value::Bytes(b"one".to_vec()))
        ]
    );

    let mut view = db.run_view_at(run, At::Version(v2)).unwrap();
    assert!(matches!(
        view.events().append("x", &Value::Null),
        Err(Error::ReadOnlyView { .. })
    ));
    assert!(matches!(
        db.run_view_at(run, At::Event(9)),
        Err(Error::UnknownPoint { .. })
    ));
}

#[test]
fn a_fork_reads_its_parent_at_the_point_then_goes_its_own_way() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let parent = db.begin_run();
    db.put(parent, b"plan", b"a").unwrap();
    append(&db, parent, "step", 0);
    db.transaction(parent, |tx| tx.cells().init("n", Value::I64(1)).map(|_| ()))
        .unwrap();
    let span = db
        .transaction(parent, |tx| {
            tx.spans().start(NewSpan::tool_call("search", Value::Null))
        })
        .unwrap();
    let point = append(&db, parent, "step", 1);
    // The parent goes on after the point.
    db.put(parent, b"plan", b"b").unwrap();
    append(&db, parent, "step", 2);
    db.transaction(parent, |tx| tx.cells().set("n", Value::I64(2)).map(|_| ()))
        .unwrap();

    let fork = db.fork_run(parent, At::Event(1)).unwrap();
    assert_eq!(
        db.run_view_at(parent, At::Event(1)).unwrap().version(),
        point
    );
    assert_eq!(db.get(fork, b"plan").unwrap(), Some(b"a".to_vec()));
    db.transaction(fork, |tx| {
        assert_eq!(tx.events().len()?, 2);
        assert_eq!(tx.cells().get("n")?.unwrap().value, Value::I64(1));
        assert_eq!(tx.cells().get("n")?.unwrap().version, 1);
        assert!(tx.spans().get(span)?.is_some());
        // The fork's log continues from the parent's head at the point.
        assert_eq!(tx.events().append("fork-step", &Value::I64(10))?, 2);
        assert_eq!(tx.cells().set("n", Value::I64(10))?, 2);
        tx.spans().finish(span, SpanStatus::Ok, None)?;
        Ok::<_, Error>(())
    })
    .unwrap();
    db.put(fork, b"plan", b"fork").unwrap();
    db.transaction(fork, |tx| {
        let summary = tx.events().verify_chain(fork)?;
        assert_eq!(summary.events, 3);
        Ok::<_, Error>(())
    })
    .unwrap();
    // The parent never sees the fork's writes.
    assert_eq!(db.get(parent, b"plan").unwrap(), Some(b"b".to_vec()));
    db.transaction(parent, |tx| {
        assert_eq!(tx.events().get(2)?.unwrap().event_type, "step");
        assert_eq!(tx.cells().get("n")?.unwrap().value, Value::I64(2));
        assert_eq!(tx.spans().get(span)?.unwrap().status, SpanStatus::Running);
        Ok::<_, Error>(())
    })
    .unwrap();

    let info = db.run_info(fork).unwrap();
    assert_eq!(info.parent, Some(parent));
    assert_eq!(info.fork_point, Some(point));
    let forks: Vec<_> = db
        .query_runs(&RunQuery::new().forked_from(parent))
        .into_iter()
        .map(|i| i.run)
        .collect();
    assert_eq!(forks, vec![fork]);

    // A fork of the fork sees both layers.
    let grandchild = db.fork_run(fork, At::Now).unwrap();
    db.transaction(grandchild, |tx| {
        assert_eq!(tx.events().len()?, 3);
        assert_eq!(tx.cells().get("n")?.unwrap().value, Value::I64(10));
        tx.events().verify_chain(grandchild)?;
        Ok::<_, Error>(())
    })
    .unwrap();
    assert!(db.diff_runs(fork, grandchild).unwrap().is_empty());

    // Deleting a run with forks is refused; the whole tree goes together.
    db.end_run(parent).unwrap();
    db.end_run(fork).unwrap();
    db.end_run(grandchild).unwrap();
    assert!(matches!(db.delete_run(parent), Err(Error::HasForks { .. })));
    assert!(matches!(db.delete_run(fork), Err(Error::HasForks { .. })));
    assert_eq!(db.delete_run_tree(parent).unwrap(), 3);
    assert!(matches!(db.run_info(fork), Err(Error::UnknownRun { .. })));
}

#[test]
fn a_diff_shows_what_two_runs_do_differently() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    db.put(run, b"same", b"x").unwrap();
    db.put(run, b"changed", b"before").unwrap();
    append(&db, run, "step", 0);
    let fork = db.fork_run(run, At::Now).unwrap();
    assert!(db.diff_runs(run, fork).unwrap().is_empty());
    db.put(fork, b"changed", b"after").unwrap();
    db.put(fork, b"added", b"new").unwrap();
    append(&db, run, "step", 1);
    append(&db, fork, "other", 1);
    let diff = db.diff_runs(run, fork).unwrap();
    assert_eq!(diff.kv.len(), 2, "{diff}");
    assert_eq!(diff.events.first_divergence, Some(1));
    let text = diff.to_string();
    assert!(text.contains("-changed = b\"before\""), "{text}");
    assert!(text.contains("+changed = b\"after\""), "{text}");
    assert!(text.contains("+added = b\"new\""), "{text}");
    assert!(text.contains("-#1 step 1"), "{text}");
    assert!(text.contains("+#1 other 1"), "{text}");
}

#[test]
fn replay_walks_every_step_and_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let run = db.begin_run();
    for i in 0..5 {
        append(&db, run, "step", i);
        db.put(run, format!("k{i}"), b"v").unwrap();
    }
    let steps: Vec<_> = db.replay(run).unwrap().collect::<Result<_, _>>().unwrap();
    let with_events = steps.iter().filter(|s| !s.step.events.is_empty()).count();
    assert_eq!(with_events, 5);
    let mut last = steps.into_iter().last().unwrap().view;
    assert_eq!(last.events().len().unwrap(), 5);
    assert_eq!(last.get(b"k4").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn forks_and_views_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (parent, fork, point) = {
        let db = open(dir.path());
        let parent = db.begin_run();
        db.put(parent, b"k", b"1").unwrap();
        let point = append(&db, parent, "step", 0);
        db.put(parent, b"k", b"2").unwrap();
        let fork = db.fork_run(parent, At::Version(point)).unwrap();
        append(&db, fork, "fork", 1);
        (parent, fork, point)
    };
    for round in 0..2 {
        let db = open(dir.path());
        assert_eq!(
            db.get(fork, b"k").unwrap(),
            Some(b"1".to_vec()),
            "round {round}"
        );
        assert_eq!(db.get(parent, b"k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(
            db.run_view_at(parent, At::Version(point))
                .unwrap()
                .get(b"k")
                .unwrap(),
            Some(b"1".to_vec())
        );
        db.transaction(fork, |tx| {
            assert_eq!(tx.events().len()?, 2);
            tx.events().verify_chain(fork)?;
            Ok::<_, Error>(())
        })
        .unwrap();
        assert_eq!(db.run_info(fork).unwrap().fork_point, Some(point));
        db.checkpoint().unwrap();
    }
}

#[test]
fn a_deleted_fork_tree_stays_deleted_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (parent, fork, grandchild, other) = {
        let db = open(dir.path());
        let parent = db.begin_run();
        db.put(parent, b"k", b"v").unwrap();
        append(&db, parent, "step", 0);
        let fork = db.fork_run(parent, At::Now).unwrap();
        append(&db, fork, "fork", 1);
        let grandchild = db.fork_run(fork, At::Now).unwrap();
        append(&db, grandchild, "grandchild", 2);
        // A run of the same agent that is not in the tree.
        let other = db.begin_run();
        append(&db, other, "other", 3);
        for run in [parent, fork, grandchild, other] {
            db.end_run(run).unwrap();
        }
        db.checkpoint().unwrap();
        assert_eq!(db.delete_run_tree(parent).unwrap(), 3);
        (parent, fork, grandchild, other)
    };
    for round in 0..2 {
        let db = open(dir.path());
        for run in [parent, fork, grandchild] {
            assert!(
                matches!(db.run_info(run), Err(Error::UnknownRun { .. })),
                "round {round}: a deleted run came back"
            );
        }
        assert!(
            db.query_runs(&RunQuery::new().forked_from(parent))
                .is_empty()
        );
        // The agent's memory keeps what the deleted runs wrote there; the other run is whole.
        let reader = db.begin_run();
        assert_eq!(db.get(reader, b"k").unwrap(), Some(b"v".to_vec()));
        let events = db.transaction(other, |tx| tx.events().len()).unwrap();
        assert_eq!(events, 1);
        db.checkpoint().unwrap();
    }
}
