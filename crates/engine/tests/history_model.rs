//! Model test of history: random workloads of several runs of one agent (KV puts and deletes,
//! events, state cells), forks of any run at any of its steps, reopens, sweeps and checkpoints,
//! checked against a model that keeps every run's state after each of its steps:
//!
//! - `run_view_at` at every step of every run reads exactly the model's state at that step
//!   (KV, events, cells), or, where retention may have reclaimed it, `HistoryPruned`: never
//!   another value;
//! - every run's current view (a transaction) reads exactly the model's current state, always;
//! - a fork reads its parent's state at the fork point, then only its own writes, and the parent
//!   never sees them;
//! - `diff_runs` of two runs is empty exactly when the model says their content is equal;
//! - all of it after reopens (from the log and from checkpoints).

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::collections::BTreeMap;

use in_mem_core_types::{RunId, Value};
use in_mem_engine::{
    At, Database, DurabilityMode, Error, HistoryRetention, OpenOptions, RunView, Transaction,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// A new run of the agent (seeing the agent's memory as of now).
    Begin,
    Put {
        run: u8,
        key: u8,
        value: u8,
    },
    Delete {
        run: u8,
        key: u8,
    },
    Append {
        run: u8,
        value: u8,
    },
    SetCell {
        run: u8,
        cell: u8,
        value: u8,
    },
    /// Fork run `run` at its step `step` (modulo its steps; past the last: its initial state).
    Fork {
        run: u8,
        step: u8,
    },
    /// End run `run`: it takes no more writes, and no longer holds back reclaim.
    End {
        run: u8,
    },
    Sweep,
    Checkpoint,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let run = any::<u8>();
    prop_oneof![
        1 => Just(Op::Begin),
        6 => (run, 0u8..5, any::<u8>()).prop_map(|(run, key, value)| Op::Put { run, key, value }),
        2 => (run, 0u8..5).prop_map(|(run, key)| Op::Delete { run, key }),
        3 => (run, any::<u8>()).prop_map(|(run, value)| Op::Append { run, value }),
        3 => (run, 0u8..3, any::<u8>()).prop_map(|(run, cell, value)| Op::SetCell { run, cell, value }),
        2 => (run, any::<u8>()).prop_map(|(run, step)| Op::Fork { run, step }),
        1 => run.prop_map(|run| Op::End { run }),
        1 => Just(Op::Sweep),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

/// What a run reads: KV (the agent's memory as it sees it), its event log, its cells.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    kv: BTreeMap<Vec<u8>, Vec<u8>>,
    events: Vec<(String, Value)>,
    /// name -> (value, cell version)
    cells: BTreeMap<String, (Value, u64)>,
}

/// One run of the model.
#[derive(Debug, Clone)]
struct ModelRun {
    id: RunId,
    /// The state it began with, and the version that names it.
    initial: (u64, State),
    /// (version, state right after) for each of its commits.
    steps: Vec<(u64, State)>,
    ended: bool,
}

impl ModelRun {
    fn current(&self) -> &State {
        self.steps.last().map_or(&self.initial.1, |(_, s)| s)
    }
}

struct Model {
    /// The agent's memory: every committed KV write, newest per key.
    memory: BTreeMap<Vec<u8>, Vec<u8>>,
    runs: Vec<ModelRun>,
}

fn key_of(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

struct Harness {
    dir: tempfile::TempDir,
    db: Option<Database>,
    options: OpenOptions,
    /// Whether retention may have reclaimed what past views read.
    pruning: bool,
}

impl Harness {
    fn db(&self) -> &Database {
        self.db.as_ref().unwrap()
    }

    fn reopen(&mut self) {
        drop(self.db.take());
        self.db = Some(Database::open_with_options(self.dir.path(), self.options.clone()).unwrap());
    }
}

/// Commits `f` in `run` and returns the commit's version.
fn commit(
    db: &Database,
    run: RunId,
    f: impl FnMut(&mut Transaction<'_>) -> Result<(), Error>,
) -> u64 {
    db.transaction_committed(run, in_mem_engine::RetryPolicy::default(), f)
        .unwrap()
        .1
        .expect("the transaction wrote")
}

fn apply(h: &mut Harness, model: &mut Model, op: &Op) {
    match *op {
        Op::Begin => begin(h, model),
        Op::Put { .. } | Op::Delete { .. } | Op::Append { .. } | Op::SetCell { .. } => {
            if model.runs.iter().all(|r| r.ended) {
                begin(h, model);
            }
            write(h, model, op);
        }
        Op::Fork { run, step } => fork(h, model, run, step),
        Op::End { run } => {
            let i = usize::from(run) % model.runs.len();
            if !model.runs[i].ended {
                h.db().end_run(model.runs[i].id).unwrap();
                model.runs[i].ended = true;
            }
        }
        Op::Sweep => {
            h.db().sweep();
        }
        Op::Checkpoint => {
            h.db().checkpoint().unwrap();
        }
        Op::Reopen => {
            h.reopen();
            // The runs were active when the handle went: they come back interrupted.
            for run in model.runs.iter().filter(|r| !r.ended) {
                h.db().resume_run(run.id).unwrap();
            }
        }
    }
}

fn begin(h: &Harness, model: &mut Model) {
    let db = h.db();
    let id = db.begin_run();
    let info = db.run_info(id).unwrap();
    let state = State {
        kv: model.memory.clone(),
        ..State::default()
    };
    model.runs.push(ModelRun {
        id,
        initial: (info.snapshot, state),
        steps: Vec::new(),
        ended: false,
    });
}

/// A write to the n-th live run.
fn write(h: &Harness, model: &mut Model, op: &Op) {
    let pick = |n: u8, model: &Model| {
        let live: Vec<usize> = (0..model.runs.len())
            .filter(|&i| !model.runs[i].ended)
            .collect();
        live[usize::from(n) % live.len()]
    };
    match *op {
        Op::Put { run, key, value } => {
            let i = pick(run, model);
            let id = model.runs[i].id;
            let (k, v) = (key_of(key), vec![value; 3]);
            let version = h.db().put(id, &k, &v).unwrap();
            let mut state = model.runs[i].current().clone();
            state.kv.insert(k.clone(), v.clone());
            model.memory.insert(k, v);
            model.runs[i].steps.push((version, state));
        }
        Op::Delete { run, key } => {
            let i = pick(run, model);
            let id = model.runs[i].id;
            let k = key_of(key);
            let mut state = model.runs[i].current().clone();
            let existed = state.kv.remove(&k).is_some();
            assert_eq!(
                h.db().delete(id, &k).unwrap(),
                existed,
                "delete of {k:?} in run {i}"
            );
            if !existed {
                // Nothing to delete in the run's view: nothing is written.
                return;
            }
            model.memory.remove(&k);
            let version = h
                .db()
                .run_timeline(id)
                .unwrap()
                .steps
                .last()
                .unwrap()
                .version;
            model.runs[i].steps.push((version, state));
        }
        Op::Append { run, value } => {
            let i = pick(run, model);
            let id = model.runs[i].id;
            let payload = Value::I64(i64::from(value));
            let expected = model.runs[i].current().events.len() as u64;
            let version = commit(h.db(), id, |tx| {
                assert_eq!(tx.events().append("e", &payload)?, expected);
                Ok(())
            });
            let mut state = model.runs[i].current().clone();
            state.events.push(("e".to_owned(), payload));
            model.runs[i].steps.push((version, state));
        }
        Op::SetCell { run, cell, value } => {
            let i = pick(run, model);
            let id = model.runs[i].id;
            let name = format!("c{cell}");
            let value = Value::I64(i64::from(value));
            let mut state = model.runs[i].current().clone();
            let exists = state.cells.contains_key(&name);
            let version = commit(h.db(), id, |tx| {
                if exists {
                    tx.cells().set(&name, value.clone())?;
                } else {
                    tx.cells().init(&name, value.clone())?;
                }
                Ok(())
            });
            let cell_version = state.cells.get(&name).map_or(1, |(_, v)| v + 1);
            state.cells.insert(name, (value, cell_version));
            model.runs[i].steps.push((version, state));
        }
        _ => unreachable!("not a write"),
    }
}

fn fork(h: &Harness, model: &mut Model, run: u8, step: u8) {
    let i = usize::from(run) % model.runs.len();
    let parent = &model.runs[i];
    let (point, state) = match parent
        .steps
        .get(usize::from(step) % (parent.steps.len() + 1))
    {
        Some((version, state)) => (*version, state.clone()),
        None => parent.initial.clone(),
    };
    let id = match h.db().fork_run(parent.id, At::Version(point)) {
        Ok(id) => id,
        // The parent's view of shared memory was reclaimed: no fork can read it.
        Err(Error::HistoryPruned { .. }) if h.pruning && parent.ended => return,
        Err(e) => panic!("fork of run {i}: {e}"),
    };
    let info = h.db().run_info(id).unwrap();
    assert_eq!(info.parent, Some(parent.id));
    assert_eq!(info.fork_point, Some(point));
    model.runs.push(ModelRun {
        id,
        initial: (point, state),
        steps: Vec::new(),
        ended: false,
    });
}

fn read_view(view: &mut RunView) -> Result<State, Error> {
    let kv = view.list(b"")?.into_iter().collect();
    let events = view
        .events()
        .range(0..u64::MAX)?
        .into_iter()
        .map(|e| (e.event_type, e.payload))
        .collect();
    let cells = view
        .cells()
        .list()?
        .into_iter()
        .map(|(name, cell)| (name, (cell.value, cell.version)))
        .collect();
    Ok(State { kv, events, cells })
}

fn read_current(db: &Database, run: RunId) -> Result<State, Error> {
    db.transaction(run, |tx| {
        let kv = tx.list(b"")?.into_iter().collect();
        let events = tx
            .events()
            .range(0..u64::MAX)?
            .into_iter()
            .map(|e| (e.event_type, e.payload))
            .collect();
        let cells = tx
            .cells()
            .list()?
            .into_iter()
            .map(|(name, cell)| (name, (cell.value, cell.version)))
            .collect();
        tx.events().verify_chain(run)?;
        Ok::<_, Error>(State { kv, events, cells })
    })
}

fn check(h: &Harness, model: &Model) {
    let db = h.db();
    for (i, run) in model.runs.iter().enumerate() {
        match read_current(db, run.id) {
            Ok(state) => assert_eq!(&state, run.current(), "run {i} now"),
            // An ended run's view of shared memory goes once its retention has passed.
            Err(Error::HistoryPruned { .. }) if h.pruning && run.ended => {}
            Err(e) => panic!("run {i} now: {e}"),
        }
        let points = std::iter::once(&run.initial).chain(&run.steps);
        for (n, (version, expected)) in points.enumerate() {
            let read = db
                .run_view_at(run.id, At::Version(*version))
                .and_then(|mut view| read_view(&mut view));
            match read {
                Ok(state) => assert_eq!(&state, expected, "run {i} point {n} (version {version})"),
                Err(Error::HistoryPruned { .. }) if h.pruning => {}
                Err(e) => panic!("run {i} point {n} (version {version}): {e}"),
            }
        }
    }
    // diff_runs is empty exactly when the contents are equal.
    for (i, a) in model.runs.iter().enumerate() {
        for b in model.runs.iter().skip(i + 1).take(3) {
            let diff = match db.diff_runs(a.id, b.id) {
                Ok(diff) => diff,
                Err(Error::HistoryPruned { .. }) if h.pruning => continue,
                Err(e) => panic!("diff: {e}"),
            };
            assert_eq!(
                diff.is_empty(),
                a.current() == b.current(),
                "diff of runs {} and {}:\n{diff}",
                a.id,
                b.id
            );
        }
    }
}

fn run_case(ops: &[Op], retention: HistoryRetention, pruning: bool) {
    let dir = tempfile::tempdir().unwrap();
    let options = common::options(DurabilityMode::Strict)
        .history(retention)
        .ended_run_retention(std::time::Duration::ZERO);
    let db = Database::open_with_options(dir.path(), options.clone()).unwrap();
    let mut h = Harness {
        dir,
        db: Some(db),
        options,
        pruning,
    };
    let mut model = Model {
        memory: BTreeMap::new(),
        runs: Vec::new(),
    };
    apply(&mut h, &mut model, &Op::Begin);
    for op in ops {
        apply(&mut h, &mut model, op);
        if matches!(op, Op::Reopen | Op::Sweep) {
            check(&h, &model);
        }
    }
    check(&h, &model);
    h.reopen();
    check(&h, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// With the default retention nothing a view needs is reclaimed during the test: every
    /// view reads exactly the model.
    #[test]
    fn every_step_of_every_run_reads_as_the_model(ops in prop::collection::vec(op(), 1..40)) {
        run_case(&ops, HistoryRetention::default(), false);
    }

    /// With no retention, sweeps reclaim superseded versions at once: past views may say
    /// `HistoryPruned`, but never read a wrong value; current views always read right.
    #[test]
    fn reclaimed_history_is_refused_never_wrong(ops in prop::collection::vec(op(), 1..40)) {
        let none = HistoryRetention { keep_for: std::time::Duration::ZERO, keep_min_versions: 1 };
        run_case(&ops, none, true);
    }
}
