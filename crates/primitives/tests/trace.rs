#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! `TraceStore`: span ids, parents, start/finish, trees and the index queries.

use std::time::Duration;

use in_mem_core_types::{Timestamp, Value};
use in_mem_engine::{Database, DurabilityMode, ManualClock, OpenOptions};
use in_mem_primitives::{Error, NewSpan, SpanKind, SpanStatus, TraceStore};

fn open(dir: &std::path::Path, clock: &std::sync::Arc<ManualClock>) -> Database {
    let options = OpenOptions::new()
        .mode(DurabilityMode::Batched {
            interval_ms: 20,
            max_commits: 100,
        })
        .segment_bytes(64 * 1024)
        .clock(clock.clone());
    Database::open_with_options(dir, options).unwrap()
}

#[test]
fn spans_form_a_tree_with_deterministic_ids_and_their_indexes_agree() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp::from_micros(1_000_000)));
    let run;
    {
        let db = open(dir.path(), &clock);
        run = db.begin_run();
        let trace = TraceStore::new(&db);
        let root = trace
            .start(run, NewSpan::thought("plan the trip").tag("planning"))
            .unwrap();
        assert_eq!(root, 1, "ids are 1, 2, 3 ... within a run");
        clock.advance(Duration::from_secs(1));
        let call = trace
            .start(
                run,
                NewSpan::tool_call("weather", Value::from("Oslo"))
                    .parent(root)
                    .tag("web"),
            )
            .unwrap();
        clock.advance(Duration::from_millis(250));
        let finished = trace
            .finish_with(run, call, SpanStatus::Ok, Some(Value::from("rain")))
            .unwrap();
        match &finished.kind {
            SpanKind::ToolCall {
                result,
                duration_us,
                ..
            } => {
                assert_eq!(result.as_ref(), Some(&Value::from("rain")));
                assert_eq!(*duration_us, Some(250_000));
            }
            other => panic!("{other:?}"),
        }
        let decision = trace
            .record(
                run,
                NewSpan::decision(
                    "bus or bike?",
                    vec!["bus".into(), "bike".into()],
                    "bus",
                    "it rains",
                )
                .parent(root),
            )
            .unwrap();
        trace
            .record(run, NewSpan::error("bike shed closed").parent(decision))
            .unwrap();
        trace.finish(run, root, SpanStatus::Ok).unwrap();
        assert!(matches!(
            trace.finish(run, root, SpanStatus::Ok),
            Err(Error::SpanFinished { .. })
        ));
        trace.record(run, NewSpan::thought("second root")).unwrap();
    }
    let db = open(dir.path(), &clock);
    let trace = TraceStore::new(&db);
    let tree = trace.tree(run, 1).unwrap().unwrap();
    let child_ids: Vec<u64> = tree.children.iter().map(|c| c.span.id).collect();
    assert_eq!(child_ids, vec![2, 3]);
    assert_eq!(tree.children[1].children[0].span.status, SpanStatus::Error);
    let roots: Vec<u64> = trace.roots(run).unwrap().iter().map(|s| s.id).collect();
    assert_eq!(roots, vec![1, 5]);
    let ids = |spans: Vec<in_mem_primitives::Span>| spans.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(trace.by_kind(run, "tool_call").unwrap()), vec![2]);
    assert_eq!(ids(trace.by_kind(run, "thought").unwrap()), vec![1, 5]);
    assert_eq!(ids(trace.by_tag(run, "web").unwrap()), vec![2]);
    let from = Timestamp::from_micros(1_500_000);
    let before = Timestamp::from_micros(10_000_000);
    assert_eq!(
        ids(trace.started_between(run, from, before).unwrap()),
        vec![2, 3, 4, 5]
    );
    assert_eq!(trace.spans(run).unwrap().len(), 5);
    assert_eq!(trace.get(run, 2).unwrap().unwrap().parent, Some(1));
}

#[test]
fn a_missing_parent_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp::from_micros(1)));
    let db = open(dir.path(), &clock);
    let (a, b) = (db.begin_run(), db.begin_run());
    let trace = TraceStore::new(&db);
    let err = trace
        .record(a, NewSpan::thought("orphan").parent(42))
        .unwrap_err();
    assert!(
        matches!(err, Error::ParentSpanMissing { parent: 42 }),
        "{err}"
    );
    let in_a = trace.record(a, NewSpan::thought("root")).unwrap();
    // A span of another run is not a parent here.
    assert!(matches!(
        trace.record(b, NewSpan::thought("x").parent(in_a)),
        Err(Error::ParentSpanMissing { .. })
    ));
    assert_eq!(trace.spans(b).unwrap().len(), 0);
    assert_eq!(
        trace.record(b, NewSpan::thought("b's first")).unwrap(),
        1,
        "ids are per run"
    );
    assert!(matches!(
        trace.finish(a, 99, SpanStatus::Ok),
        Err(Error::UnknownSpan { id: 99 })
    ));
    assert!(matches!(
        trace.record(a, NewSpan::thought("t").tag("")),
        Err(Error::InvalidName { .. })
    ));
    let nan = NewSpan::thought("t").attribute("score", Value::F64(f64::NAN));
    assert!(matches!(
        trace.record(a, nan),
        Err(Error::NotCanonical { .. })
    ));
}
