#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! The run index: statuses and their transitions, lineage, tags, metadata, queries, counts.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use in_mem_core_types::{AgentId, Value};
use in_mem_engine::{
    Database, DurabilityMode, Error, OpenOptions, RunOptions, RunQuery, RunStatus,
};

fn open(dir: &std::path::Path, clock: &std::sync::Arc<in_mem_engine::ManualClock>) -> Database {
    let options = OpenOptions::new()
        .mode(DurabilityMode::Strict)
        .segment_bytes(common::SMALL_SEGMENT_BYTES)
        .clock(clock.clone());
    Database::open_with_options(dir, options).unwrap()
}

#[test]
fn every_transition_follows_the_table_and_nothing_comes_back_from_an_end() {
    use RunStatus::{Active, Cancelled, Completed, Failed, Interrupted, Paused};
    for from in RunStatus::ALL {
        for to in RunStatus::ALL {
            let allowed = from.can_become(to);
            let expected = matches!(
                (from, to),
                (
                    Active | Paused | Interrupted,
                    Completed | Failed | Cancelled
                ) | (Active, Paused)
                    | (Paused | Interrupted, Active)
            );
            assert_eq!(allowed, expected, "{from} -> {to}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), &common::manual_clock());
    let run = db.begin_run();
    db.pause_run(run).unwrap();
    let err = db.put(run, b"k", b"v").unwrap_err();
    assert!(
        matches!(
            err,
            Error::RunState {
                status: "paused",
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(db.pause_run(run), Err(Error::RunState { .. })));
    db.resume_run(run).unwrap();
    db.put(run, b"k", b"v").unwrap();
    db.fail_run(run, "the tool timed out").unwrap();
    let info = db.run_info(run).unwrap();
    assert_eq!(
        (info.status, info.error.as_deref()),
        (Failed, Some("the tool timed out"))
    );
    for attempt in [
        db.resume_run(run),
        db.end_run(run),
        db.cancel_run(run),
        db.pause_run(run),
    ] {
        assert!(
            matches!(attempt, Err(Error::RunEnded { .. })),
            "{attempt:?}"
        );
    }
    assert!(matches!(
        db.put(run, b"k", b"w"),
        Err(Error::RunEnded { .. })
    ));
    assert_eq!(
        db.get(run, b"k").unwrap(),
        Some(b"v".to_vec()),
        "a failed run stays readable"
    );

    let cancelled = db.begin_run();
    db.cancel_run(cancelled).unwrap();
    assert_eq!(db.run_info(cancelled).unwrap().status, Cancelled);
}

#[test]
fn lineage_tags_metadata_and_statuses_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let metadata = Value::Map(BTreeMap::from([("model".to_owned(), Value::from("m-7"))]));
    let (parent, child, paused) = {
        let db = open(dir.path(), &clock);
        let parent = db.begin_run();
        clock.advance(Duration::from_secs(1));
        let child = db
            .begin_run_with(
                RunOptions::new()
                    .parent(parent)
                    .tag("eval")
                    .tag("nightly")
                    .tag("eval")
                    .metadata(metadata.clone()),
            )
            .unwrap();
        db.end_run(parent).unwrap();
        let paused = db.begin_run();
        db.pause_run(paused).unwrap();
        clock.advance(Duration::from_secs(1));
        db.set_run_tags(child, ["reviewed", "eval"]).unwrap();
        (parent, child, paused)
    };
    let db = open(dir.path(), &clock);
    let info = db.run_info(child).unwrap();
    assert_eq!(info.parent, Some(parent));
    assert_eq!(info.tags, vec!["eval".to_owned(), "reviewed".to_owned()]);
    assert_eq!(info.metadata, metadata);
    assert_eq!(
        info.status,
        RunStatus::Interrupted,
        "it was active when the process stopped"
    );
    assert!(info.updated_at > info.created_at);
    assert_eq!(db.run_info(parent).unwrap().status, RunStatus::Completed);
    assert_eq!(
        db.run_info(paused).unwrap().status,
        RunStatus::Paused,
        "paused is not interrupted"
    );
    assert_eq!(db.recovery_report().interrupted_runs, vec![child]);
}

#[test]
fn queries_filter_by_namespace_status_tag_time_and_parent() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let db = open(dir.path(), &clock);
    let t1 = AgentId::new("t1", "app", "planner");
    let t2 = AgentId::new("t2", "app", "planner");
    let start = in_mem_engine::Clock::now(&*clock);
    let mut runs = Vec::new();
    for i in 0..6u64 {
        clock.advance(Duration::from_secs(10));
        let agent = if i % 2 == 0 { t1.clone() } else { t2.clone() };
        let mut options = RunOptions::new().agent(agent);
        if i >= 3 {
            options = options.tag("late").parent(runs[0]);
        }
        runs.push(db.begin_run_with(options).unwrap());
    }
    db.end_run(runs[0]).unwrap();
    db.fail_run(runs[1], "x").unwrap();

    let ids = |q: RunQuery| {
        db.query_runs(&q)
            .into_iter()
            .map(|i| i.run)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(RunQuery::new().tenant("t1")),
        vec![runs[0], runs[2], runs[4]]
    );
    assert_eq!(
        ids(RunQuery::new().agent_id(&t2).status(RunStatus::Active)),
        vec![runs[3], runs[5]]
    );
    assert_eq!(
        ids(RunQuery::new().tag("late")),
        vec![runs[3], runs[4], runs[5]]
    );
    assert_eq!(
        ids(RunQuery::new().parent(runs[0]).limit(2)),
        vec![runs[3], runs[4]]
    );
    let from = start.saturating_add(Duration::from_secs(20));
    let before = start.saturating_add(Duration::from_secs(40));
    assert_eq!(
        ids(RunQuery::new().created_between(from, before)),
        vec![runs[1], runs[2]]
    );
    assert_eq!(
        ids(RunQuery::new().status(RunStatus::Failed)),
        vec![runs[1]]
    );

    let counts = db.run_counts();
    assert_eq!(counts[&RunStatus::Active], 4);
    assert_eq!(counts[&RunStatus::Completed], 1);
    assert_eq!(counts[&RunStatus::Failed], 1);
    assert_eq!(counts[&RunStatus::Interrupted], 0);
    assert_eq!(counts.values().sum::<u64>(), 6);
}

#[test]
fn bad_lineage_and_tags_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), &common::manual_clock());
    let stranger = in_mem_core_types::RunId::new();
    let err = db
        .begin_run_with(RunOptions::new().parent(stranger))
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownParent { parent } if parent == stranger),
        "{err}"
    );
    for tag in ["", "tab\there", &"x".repeat(129)] {
        let err = db.begin_run_with(RunOptions::new().tag(tag)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidOptions { .. }),
            "{tag:?}: {err}"
        );
    }
    let err = db
        .begin_run_with(RunOptions::new().id(in_mem_core_types::RunId::NIL))
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(in_mem_core_types::Error::NilRunId)),
        "{err}"
    );
    assert_eq!(db.runs().len(), 0, "nothing was begun");
}
