#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! Runs at scale: deleting a run, an interrupted run's grace, and the run index's queries
//! against a plain filter over every run (speed is measured in `benches/runs.rs`, not here).

mod common;

use std::time::Duration;

use in_mem_core_types::{AgentId, RunId, Value};
use in_mem_engine::{
    Database, DurabilityMode, Error, HistoryRetention, NewSpan, OpenOptions, RunOptions, RunQuery,
    RunStatus,
};
use proptest::prelude::*;

fn options(clock: &std::sync::Arc<in_mem_engine::ManualClock>) -> OpenOptions {
    OpenOptions::new()
        .mode(DurabilityMode::Strict)
        .segment_bytes(common::SMALL_SEGMENT_BYTES)
        .clock(clock.clone())
}

/// Superseded versions of agent memory go at the first sweep that no view needs them.
const NO_HISTORY: HistoryRetention = HistoryRetention {
    keep_for: Duration::ZERO,
    keep_min_versions: 1,
};

/// A run that wrote a little of everything, ended.
fn ended_run_with_data(db: &Database) -> RunId {
    let run = db.begin_run();
    db.put(run, b"agent-memory", b"kept").unwrap();
    db.transaction(run, |tx| {
        tx.events().append("step", &Value::I64(1))?;
        tx.cells().init("cell", Value::I64(1))?;
        tx.spans().record(NewSpan::thought("t"))
    })
    .unwrap();
    db.end_run(run).unwrap();
    run
}

#[test]
fn a_deleted_run_is_gone_with_its_records_in_one_commit_and_stays_gone() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let (run, kept) = {
        let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
        let run = ended_run_with_data(&db);
        let kept = ended_run_with_data(&db);
        let before = db.stats().visible_version;
        db.delete_run(run).unwrap();
        assert_eq!(db.stats().visible_version, before + 1, "one commit");
        (run, kept)
    };
    for reopen in ["log", "checkpoint"] {
        let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
        assert!(
            matches!(db.run_info(run), Err(Error::UnknownRun { .. })),
            "{reopen}"
        );
        assert!(
            matches!(db.get(run, b"x"), Err(Error::UnknownRun { .. })),
            "{reopen}"
        );
        assert!(
            matches!(
                db.transaction(run, |tx| tx.events().len()),
                Err(Error::UnknownRun { .. })
            ),
            "{reopen}"
        );
        assert!(db.runs().iter().all(|info| info.run != run), "{reopen}");
        assert_eq!(db.run_counts()[&RunStatus::Completed], 1, "{reopen}");
        // The other run is whole, and what the deleted run wrote to agent memory is the agent's.
        assert_eq!(
            db.transaction(kept, |tx| tx.events().len()).unwrap(),
            1,
            "{reopen}"
        );
        assert_eq!(
            db.get(db.begin_run(), b"agent-memory").unwrap(),
            Some(b"kept".to_vec()),
            "{reopen}"
        );
        db.checkpoint().unwrap();
    }
}

#[test]
fn a_deleted_runs_records_are_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let db = Database::open_with_options(
        dir.path(),
        options(&clock)
            .ended_run_retention(Duration::ZERO)
            .history(NO_HISTORY),
    )
    .unwrap();
    let baseline = db.stats().versions;
    let run = db.begin_run();
    for i in 0..50 {
        db.transaction(run, |tx| tx.events().append("step", &Value::I64(i)))
            .unwrap();
    }
    db.end_run(run).unwrap();
    assert!(db.stats().versions > baseline + 100);
    db.delete_run(run).unwrap();
    clock.advance(Duration::from_secs(1));
    db.sweep();
    assert_eq!(db.stats().versions, baseline, "{:?}", db.stats());
}

#[test]
fn only_runs_that_no_longer_write_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
    let active = db.begin_run();
    let paused = db.begin_run();
    db.pause_run(paused).unwrap();
    for run in [active, paused] {
        let err = db.delete_run(run).unwrap_err();
        assert!(matches!(err, Error::RunState { .. }), "{err}");
        assert!(db.run_info(run).is_ok());
    }
    assert!(matches!(
        db.delete_run(RunId::new()),
        Err(Error::UnknownRun { .. })
    ));
    db.end_run(active).unwrap();
    db.delete_run(active).unwrap();
    assert!(matches!(
        db.delete_run(active),
        Err(Error::UnknownRun { .. })
    ));
}

#[test]
fn an_interrupted_run_holds_back_reclaim_only_for_its_grace() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let grace = Duration::from_secs(30);
    let options = options(&clock)
        .interrupted_run_grace(grace)
        .ended_run_retention(Duration::ZERO)
        .history(NO_HISTORY);
    let (forgotten, resumed) = {
        let db = Database::open_with_options(dir.path(), options.clone()).unwrap();
        // Setup runs are deleted: a run's own newest writes stay while it exists, and would
        // answer the forgotten run's read rightly after the grace.
        let setup = db.begin_run();
        db.put(setup, b"k", b"old").unwrap();
        db.end_run(setup).unwrap();
        db.delete_run(setup).unwrap();
        // Two runs left active at the "crash" (the handle is dropped without ending them), with
        // different snapshots.
        let forgotten = db.begin_run();
        let setup = db.begin_run();
        db.put(setup, b"k", b"mid").unwrap();
        db.end_run(setup).unwrap();
        db.delete_run(setup).unwrap();
        (forgotten, db.begin_run())
    };
    let db = Database::open_with_options(dir.path(), options).unwrap();
    assert_eq!(
        db.recovery_report().interrupted_runs.len(),
        2,
        "{:?}",
        db.recovery_report()
    );
    let writer = db.begin_run();
    for i in 0..10 {
        db.put(writer, b"k", format!("new {i}")).unwrap();
    }
    db.end_run(writer).unwrap();
    // Within the grace, the interrupted runs pin their views: nothing they see goes.
    db.sweep();
    assert_eq!(db.get(forgotten, b"k").unwrap(), Some(b"old".to_vec()));
    db.resume_run(resumed).unwrap();
    // After it, the forgotten run no longer holds back reclaim; the resumed one still does.
    clock.advance(grace + Duration::from_secs(1));
    db.sweep();
    assert!(matches!(
        db.get(forgotten, b"k"),
        Err(Error::HistoryPruned { .. })
    ));
    assert_eq!(db.get(resumed, b"k").unwrap(), Some(b"mid".to_vec()));
    // It can still be resumed: its own data is whole, what it lost of shared memory says so.
    db.resume_run(forgotten).unwrap();
    db.put(forgotten, b"own", b"written after the grace")
        .unwrap();
    assert_eq!(
        db.get(forgotten, b"own").unwrap(),
        Some(b"written after the grace".to_vec())
    );
    assert!(matches!(
        db.get(forgotten, b"k"),
        Err(Error::HistoryPruned { .. })
    ));
    db.end_run(forgotten).unwrap();
}

/// One generated run: which agent, whether it has a parent among the earlier runs, its tag, and
/// what becomes of it.
#[derive(Debug, Clone)]
struct Spec {
    agent: u8,
    parent: Option<prop::sample::Index>,
    tag: Option<u8>,
    fate: u8,
    micros_later: u64,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..3,
        prop::option::of(any::<prop::sample::Index>()),
        prop::option::of(0u8..3),
        0u8..5,
        0u64..3,
    )
        .prop_map(|(agent, parent, tag, fate, micros_later)| Spec {
            agent,
            parent,
            tag,
            fate,
            micros_later,
        })
}

/// A generated query's conditions, from which both the `RunQuery` and the plain filter are
/// made.
#[derive(Debug, Clone)]
struct Conditions {
    agent: Option<u8>,
    status: Option<u8>,
    tag: Option<u8>,
    newest_first: bool,
    limit: Option<usize>,
    window: Option<(u64, u64)>,
}

const BASE_MICROS: u64 = 1_700_000_000_000_000;

impl Conditions {
    fn query(&self) -> RunQuery {
        let mut q = RunQuery::new();
        if let Some(a) = self.agent {
            q = q.agent_id(&AgentId::new("t", "app", format!("a{a}")));
        }
        if let Some(s) = self.status {
            q = q.status(RunStatus::ALL[usize::from(s)]);
        }
        if let Some(t) = self.tag {
            q = q.tag(format!("tag{t}"));
        }
        if self.newest_first {
            q = q.newest_first();
        }
        if let Some(l) = self.limit {
            q = q.limit(l);
        }
        if let Some((from, len)) = self.window {
            q = q.created_between(
                in_mem_core_types::Timestamp::from_micros(BASE_MICROS + from),
                in_mem_core_types::Timestamp::from_micros(BASE_MICROS + from + len),
            );
        }
        q
    }

    /// What the query should return, by a filter over every run (`all` is oldest first).
    fn expected(&self, all: &[in_mem_engine::RunInfo]) -> Vec<RunId> {
        let mut out: Vec<RunId> = all
            .iter()
            .filter(|i| {
                self.agent
                    .is_none_or(|a| i.agent.agent() == format!("a{a}"))
            })
            .filter(|i| {
                self.status
                    .is_none_or(|s| i.status == RunStatus::ALL[usize::from(s)])
            })
            .filter(|i| self.tag.is_none_or(|t| i.tags.contains(&format!("tag{t}"))))
            .filter(|i| {
                self.window.is_none_or(|(from, len)| {
                    let at = i.created_at.as_micros();
                    at >= BASE_MICROS + from && at < BASE_MICROS + from + len
                })
            })
            .map(|i| i.run)
            .collect();
        if self.newest_first {
            out.reverse();
        }
        out.truncate(self.limit.unwrap_or(usize::MAX));
        out
    }
}

fn conditions() -> impl Strategy<Value = Conditions> {
    (
        prop::option::of(0u8..3),
        prop::option::of(0u8..6),
        prop::option::of(0u8..3),
        any::<bool>(),
        prop::option::of(0usize..6),
        prop::option::of((0u64..40, 0u64..40)),
    )
        .prop_map(
            |(agent, status, tag, newest_first, limit, window)| Conditions {
                agent,
                status,
                tag,
                newest_first,
                limit,
                window,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every query answered from the indexes equals a filter over every run, before and after a
    /// reopen (which rebuilds the indexes from the records).
    #[test]
    fn queries_from_the_indexes_equal_a_plain_filter(
        specs in prop::collection::vec(spec(), 1..30),
        queries in prop::collection::vec(conditions(), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = common::manual_clock();
        let mut runs = Vec::new();
        {
            let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
            for spec in &specs {
                clock.advance(Duration::from_micros(spec.micros_later));
                let mut opts = RunOptions::new().agent(AgentId::new("t", "app", format!("a{}", spec.agent)));
                if let (Some(index), false) = (&spec.parent, runs.is_empty()) {
                    opts = opts.parent(runs[index.index(runs.len())]);
                }
                if let Some(tag) = spec.tag {
                    opts = opts.tag(format!("tag{tag}"));
                }
                let run = db.begin_run_with(opts).unwrap();
                match spec.fate {
                    0 => db.end_run(run).unwrap(),
                    1 => db.fail_run(run, "no").unwrap(),
                    2 => db.pause_run(run).unwrap(),
                    3 => db.set_run_tags(run, ["retagged"]).unwrap(),
                    _ => {}
                }
                runs.push(run);
            }
            check_queries(&db, &queries);
        }
        let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
        check_queries(&db, &queries);
    }
}

fn check_queries(db: &Database, queries: &[Conditions]) {
    let all = db.runs();
    let mut created: Vec<_> = all.iter().map(|i| (i.created_at, i.run)).collect();
    created.sort();
    assert_eq!(
        created.iter().map(|(_, r)| *r).collect::<Vec<_>>(),
        all.iter().map(|i| i.run).collect::<Vec<_>>(),
        "every run, oldest first"
    );
    for conditions in queries {
        let found: Vec<RunId> = db
            .query_runs(&conditions.query())
            .iter()
            .map(|i| i.run)
            .collect();
        assert_eq!(found, conditions.expected(&all), "{conditions:?}");
    }
}

#[test]
fn a_retag_racing_a_deletion_never_brings_the_run_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = common::manual_clock();
    let mut deleted = Vec::new();
    {
        let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
        for round in 0..40 {
            let run = db.begin_run();
            db.end_run(run).unwrap();
            let tagger = {
                let db = db.clone();
                std::thread::spawn(move || {
                    // Tags an ended run until it is gone.
                    for i in 0u32.. {
                        match db.set_run_tags(run, [format!("t{i}")]) {
                            Ok(()) => {}
                            Err(Error::UnknownRun { .. }) => return i,
                            Err(e) => panic!("round {round}: {e}"),
                        }
                    }
                    unreachable!()
                })
            };
            std::thread::yield_now();
            db.delete_run(run).unwrap();
            tagger.join().unwrap();
            assert!(matches!(db.run_info(run), Err(Error::UnknownRun { .. })));
            deleted.push(run);
        }
    }
    let db = Database::open_with_options(dir.path(), options(&clock)).unwrap();
    for run in deleted {
        assert!(
            matches!(db.run_info(run), Err(Error::UnknownRun { .. })),
            "a deleted run came back at reopen"
        );
    }
}
