#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! `StateMachine`: cells, versions that never go backwards, compare-and-swap, transitions,
//! declared machines.

use std::sync::atomic::{AtomicU64, Ordering};

use in_mem_core_types::Value;
use in_mem_engine::{Database, DurabilityMode, OpenOptions};
use in_mem_primitives::{Error, MachineDefinition, StateMachine};

fn open(dir: &std::path::Path, mode: DurabilityMode) -> Database {
    Database::open_with_options(dir, OpenOptions::new().mode(mode).segment_bytes(64 * 1024))
        .unwrap()
}

fn batched() -> DurabilityMode {
    DurabilityMode::Batched {
        interval_ms: 20,
        max_commits: 100,
    }
}

#[test]
fn cells_init_read_set_cas_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), batched());
    let run = db.begin_run();
    let state = StateMachine::new(&db);
    assert_eq!(state.read(run, "plan").unwrap(), None);
    assert_eq!(state.init(run, "plan", "draft").unwrap(), 1);
    assert!(matches!(
        state.init(run, "plan", "again"),
        Err(Error::CellExists { .. })
    ));
    let cell = state.read(run, "plan").unwrap().unwrap();
    assert_eq!((cell.value, cell.version), (Value::from("draft"), 1));
    assert_eq!(state.set(run, "plan", "final").unwrap(), 2);
    assert_eq!(state.cas(run, "plan", 2, "approved").unwrap(), 3);
    let refused = state.cas(run, "plan", 2, "sneaky").unwrap_err();
    assert!(
        matches!(
            refused,
            Error::StaleVersion {
                expected: Some(2),
                actual: Some(3),
                ..
            }
        ),
        "{refused}"
    );
    assert!(refused.to_string().contains("plan"), "{refused}");
    assert!(matches!(
        state.cas(run, "missing", 1, 0),
        Err(Error::CellMissing { .. })
    ));
    let (value, version) = state
        .transition(run, "plan", |v| Ok(Value::from(format!("{v:?}!"))))
        .unwrap();
    assert_eq!(
        (value.clone(), version),
        (Value::from("String(\"approved\")!"), 4)
    );
    assert_eq!(state.cells(run).unwrap().len(), 1);
}

#[test]
fn a_version_never_goes_backwards_across_delete_and_recreate_or_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let run = {
        let db = open(dir.path(), batched());
        let run = db.begin_run();
        let state = StateMachine::new(&db);
        state.init(run, "c", 0).unwrap();
        state.set(run, "c", 1).unwrap();
        assert!(state.delete(run, "c").unwrap());
        assert!(!state.delete(run, "c").unwrap());
        assert_eq!(state.read(run, "c").unwrap(), None);
        assert!(matches!(
            state.cas(run, "c", 2, 9),
            Err(Error::CellMissing { .. })
        ));
        assert_eq!(
            state.init(run, "c", 5).unwrap(),
            3,
            "re-created cells continue from the old version"
        );
        run
    };
    let db = open(dir.path(), batched());
    db.resume_run(run).unwrap();
    let state = StateMachine::new(&db);
    assert_eq!(state.read(run, "c").unwrap().unwrap().version, 3);
    // A stale compare-and-swap from before the delete can never succeed.
    assert!(matches!(
        state.cas(run, "c", 2, 9),
        Err(Error::StaleVersion { .. })
    ));
    assert_eq!(state.cas(run, "c", 3, 9).unwrap(), 4);
}

#[test]
fn eight_threads_of_cas_increments_agree_on_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), batched());
    let run = db.begin_run();
    let state = StateMachine::new(&db);
    state.init(run, "counter", 0).unwrap();
    let successes = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let mut done = 0;
                while done < 25 {
                    let cell = state.read(run, "counter").unwrap().unwrap();
                    let Value::I64(n) = cell.value else {
                        panic!("not a number")
                    };
                    match state.cas(run, "counter", cell.version, n + 1) {
                        Ok(_) => {
                            successes.fetch_add(1, Ordering::SeqCst);
                            done += 1;
                        }
                        Err(Error::StaleVersion { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    let cell = state.read(run, "counter").unwrap().unwrap();
    let successes = successes.load(Ordering::SeqCst);
    assert_eq!(successes, 200);
    assert_eq!(
        cell.version,
        successes + 1,
        "version = initial 1 + one per success"
    );
    assert_eq!(cell.value, Value::I64(200));
}

fn plan_machine() -> MachineDefinition {
    MachineDefinition::new("planning")
        .transition("planning", "plan_ready", "executing")
        .transition("executing", "step_failed", "planning")
        .transition("executing", "all_done", "done")
        .terminal("done")
}

#[test]
fn declared_machines_allow_only_their_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let run;
    {
        let db = open(dir.path(), DurabilityMode::Strict);
        run = db.begin_run();
        let state = StateMachine::new(&db);
        state.define(run, "plan", &plan_machine()).unwrap();
        assert!(matches!(
            state.define(run, "plan", &plan_machine()),
            Err(Error::CellExists { .. })
        ));
        let step = state.fire(run, "plan", "plan_ready").unwrap();
        assert_eq!(
            (step.from.as_str(), step.to.as_str()),
            ("planning", "executing")
        );
        let forbidden = state.fire(run, "plan", "plan_ready").unwrap_err();
        match &forbidden {
            Error::ForbiddenTransition { state, event, .. } => {
                assert_eq!(
                    (state.as_str(), event.as_str()),
                    ("executing", "plan_ready")
                );
            }
            other => panic!("{other}"),
        }
        assert!(
            forbidden.to_string().contains("executing")
                && forbidden.to_string().contains("plan_ready")
        );
        state.fire(run, "plan", "all_done").unwrap();
        let terminal = state.fire(run, "plan", "step_failed").unwrap_err();
        assert!(
            matches!(terminal, Error::ForbiddenTransition { terminal: true, .. }),
            "{terminal}"
        );
        assert!(matches!(
            state.fire(run, "nope", "x"),
            Err(Error::UnknownMachine { .. })
        ));
    }
    let db = open(dir.path(), DurabilityMode::Strict);
    let state = StateMachine::new(&db);
    assert_eq!(
        state.machine_state(run, "plan").unwrap().unwrap().value,
        Value::from("done")
    );
    assert_eq!(
        state.definition(run, "plan").unwrap().unwrap(),
        plan_machine()
    );
}

#[test]
fn inconsistent_definitions_and_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), batched());
    let run = db.begin_run();
    let state = StateMachine::new(&db);
    let bad = MachineDefinition::new("a")
        .terminal("b")
        .transition("b", "go", "a");
    assert!(matches!(
        state.define(run, "m", &bad),
        Err(Error::InvalidMachine { .. })
    ));
    assert!(matches!(
        state.init(run, "x", f64::NAN),
        Err(Error::NotCanonical { .. })
    ));
    assert!(matches!(
        state.init(run, "", 1),
        Err(Error::InvalidName { .. })
    ));
    assert_eq!(state.cells(run).unwrap().len(), 0);
}
