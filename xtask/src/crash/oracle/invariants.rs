//! The oracle's checks of the recovered state as a whole, beside the per-thread prefix check:
//! what each primitive call returned (against program order), oracle 4 on every event log,
//! trace and state cell, the run index against the runs that wrote primitive data, and the
//! checkpoint recovery started from.

use std::collections::{BTreeMap, BTreeSet};

use in_mem::{RunId, RunStatus};

use super::super::workload::{CELL_NAMES, ForkAt};
use super::{
    AckResult, CellKey, Observed, Op, OpId, OpRecord, Outcome, SpanSpec, Standing, State, Step,
    list,
};

/// What each primitive call returned against what the thread's program order says it must
/// have returned: the next sequence, the next cell version, the next span id. A compare-and-swap
/// must also expect the version the cell had, and a span's parent must exist already (both are
/// the child's choices, made from what it was told; a mismatch means the database told it
/// something else, or a harness bug).
pub(super) fn check_returns(
    base: &State,
    threads: &BTreeMap<u16, Vec<&OpRecord>>,
    failures: &mut Vec<String>,
) {
    let mut wrong = Vec::new();
    for records in threads.values() {
        let mut replay = Replay {
            base,
            events: BTreeMap::new(),
            spans: BTreeMap::new(),
            cells: BTreeMap::new(),
            points: BTreeMap::new(),
            wrong: &mut wrong,
        };
        // The operations forks are made right after, and of which run.
        let wanted: BTreeMap<OpId, RunId> = records
            .iter()
            .filter_map(|r| match &r.op {
                Op::Fork {
                    parent,
                    at: ForkAt::Version { op, .. },
                    ..
                } => Some((*op, *parent)),
                _ => None,
            })
            .collect();
        for record in records {
            let result = match &record.outcome {
                Outcome::Acked { result, .. } => Some(*result),
                _ => None,
            };
            let id = record.id;
            match &record.op {
                Op::EventAppend { run, .. } => {
                    let got = match result {
                        Some(AckResult::Seq(s)) => Some(s),
                        _ => None,
                    };
                    replay.event(id, *run, got);
                }
                Op::StateCas {
                    run,
                    cell,
                    expected,
                    ..
                } => {
                    let got = match result {
                        Some(AckResult::CellVersion(v)) => Some(v),
                        _ => None,
                    };
                    replay.cell(id, (*run, (*cell).to_owned()), *expected, got);
                }
                Op::TraceSpan { run, span } => {
                    let got = match result {
                        Some(AckResult::Span(s)) => Some(s),
                        _ => None,
                    };
                    replay.span(id, *run, *span, got);
                }
                Op::Mixed {
                    run,
                    cell,
                    expected,
                    span,
                    ..
                } => {
                    let (s, c, p) = match result {
                        Some(AckResult::Mixed { seq, cell, span }) => {
                            (Some(seq), Some(cell), Some(span))
                        }
                        _ => (None, None, None),
                    };
                    replay.event(id, *run, s);
                    replay.cell(id, (*run, (*cell).to_owned()), *expected, c);
                    replay.span(id, *run, *span, p);
                }
                Op::Fork { parent, at, .. } => {
                    if let Some(AckResult::Fork { run, .. }) = result {
                        let at = match at {
                            ForkAt::Now => None,
                            ForkAt::Version { op, .. } => Some(*op),
                        };
                        replay.fork(*parent, at, run);
                    }
                }
                _ => {}
            }
            if let Some(parent) = wanted.get(&id) {
                let counts = replay.counts(*parent);
                replay.points.insert(id, counts);
            }
        }
    }
    if !wrong.is_empty() {
        failures.push(format!(
            "{} primitive calls returned what their program order rules out: {}",
            wrong.len(),
            list(&wrong)
        ));
    }
}

/// One thread's primitive calls replayed in program order (see [`check_returns`]).
struct Replay<'a> {
    base: &'a State,
    /// The next sequence of each run's log.
    events: BTreeMap<RunId, u64>,
    /// The newest span id of each run's trace.
    spans: BTreeMap<RunId, u64>,
    /// The version of each cell (0: none).
    cells: BTreeMap<CellKey, u64>,
    /// A run's counts right after each operation a fork is made at.
    points: BTreeMap<OpId, Counts>,
    wrong: &'a mut Vec<String>,
}

/// What a run's primitives hold: next sequence, newest span id, each cell's version.
type Counts = (u64, u64, Vec<u64>);

impl Replay<'_> {
    fn counts(&mut self, run: RunId) -> Counts {
        let base = self.base;
        let events = *self
            .events
            .entry(run)
            .or_insert_with(|| base.events.get(&run).map_or(0, |e| e.len() as u64));
        let spans = *self
            .spans
            .entry(run)
            .or_insert_with(|| base.spans.get(&run).map_or(0, |s| s.len() as u64));
        let cells = CELL_NAMES
            .iter()
            .map(|name| {
                let key = (run, (*name).to_owned());
                *self
                    .cells
                    .entry(key.clone())
                    .or_insert_with(|| base.cells.get(&key).map_or(0, |c| c.version))
            })
            .collect();
        (events, spans, cells)
    }

    /// A fork of `parent` (right after operation `at`, or now) continues from the parent's
    /// counts then.
    fn fork(&mut self, parent: RunId, at: Option<OpId>, fork: RunId) {
        let (events, spans, cells) = match at.and_then(|op| self.points.get(&op)) {
            Some(counts) => counts.clone(),
            None => self.counts(parent),
        };
        self.events.insert(fork, events);
        self.spans.insert(fork, spans);
        for (name, version) in CELL_NAMES.iter().zip(cells) {
            self.cells.insert((fork, (*name).to_owned()), version);
        }
    }

    fn event(&mut self, id: OpId, run: RunId, got: Option<u64>) {
        let base = self.base;
        let n = self
            .events
            .entry(run)
            .or_insert_with(|| base.events.get(&run).map_or(0, |e| e.len() as u64));
        if let Some(got) = got
            && got != *n
        {
            self.wrong.push(format!(
                "operation {id}: EventLog::append returned sequence {got}, but run {run} had \
                 {n} events before it"
            ));
        }
        *n += 1;
    }

    fn cell(&mut self, id: OpId, key: CellKey, expected: u64, got: Option<u64>) {
        let base = self.base;
        let had = *self
            .cells
            .entry(key.clone())
            .or_insert_with(|| base.cells.get(&key).map_or(0, |c| c.version));
        let (run, name) = &key;
        if had != expected {
            self.wrong.push(format!(
                "operation {id}: a compare-and-swap of state cell {name:?} of run {run} \
                 expected version {expected}, but the cell was at {had}"
            ));
        }
        if let Some(got) = got
            && got != expected + 1
        {
            self.wrong.push(format!(
                "operation {id}: the compare-and-swap of state cell {name:?} of run {run} from \
                 version {expected} returned version {got}"
            ));
        }
        self.cells.insert(key, expected + 1);
    }

    fn span(&mut self, id: OpId, run: RunId, spec: SpanSpec, got: Option<u64>) {
        let base = self.base;
        let n = self
            .spans
            .entry(run)
            .or_insert_with(|| base.spans.get(&run).map_or(0, |s| s.len() as u64));
        if let Some(parent) = spec.parent
            && (parent == 0 || parent > *n)
        {
            self.wrong.push(format!(
                "operation {id}: a span of run {run} names parent {parent}, but the run had {n} \
                 spans"
            ));
        }
        if let Some(got) = got
            && got != *n + 1
        {
            self.wrong.push(format!(
                "operation {id}: TraceStore::record returned span id {got}, but run {run} had \
                 {n} spans before it"
            ));
        }
        *n += 1;
    }
}

/// Oracle 4 on the recovered state as a whole, whatever the ops: every event log dense from
/// sequence 0 with a chain that verifies, every trace dense from span id 1 with every parent
/// present, every state cell at a version no lower than the previous check saw, and every run
/// with primitive data in the run index.
pub(super) fn check_structure(base: &State, observed: &Observed, failures: &mut Vec<String>) {
    let mut wrong = Vec::new();
    let runs: BTreeSet<RunId> = observed
        .events
        .keys()
        .chain(observed.chains.keys())
        .copied()
        .collect();
    for run in runs {
        let events = observed.events.get(&run).map_or(&[][..], Vec::as_slice);
        if let Some((at, e)) = (0u64..).zip(events).find(|(at, e)| e.sequence != *at) {
            wrong.push(format!(
                "the event log of run {run} holds sequence {} where sequence {at} belongs \
                 (sequences must be dense from 0)",
                e.sequence
            ));
        }
        match observed.chains.get(&run) {
            Some(Ok(n)) if *n == events.len() as u64 => {}
            Some(Ok(n)) => wrong.push(format!(
                "the event chain of run {run} verifies {n} events, but {} were read",
                events.len()
            )),
            Some(Err(e)) => {
                wrong.push(format!("the event chain of run {run} does not verify: {e}"));
            }
            None => wrong.push(format!("the event chain of run {run} was not verified")),
        }
    }
    for (run, spans) in &observed.spans {
        let ids: BTreeSet<u64> = spans.iter().map(|s| s.id).collect();
        if let Some((at, s)) = (1u64..).zip(spans).find(|(at, s)| s.id != *at) {
            wrong.push(format!(
                "the trace of run {run} holds span {} where span {at} belongs (ids must be dense \
                 from 1)",
                s.id
            ));
        }
        for span in spans {
            if let Some(parent) = span.parent
                && (parent >= span.id || !ids.contains(&parent))
            {
                wrong.push(format!(
                    "span {} of run {run} has parent {parent}, which does not exist before it",
                    span.id
                ));
            }
        }
    }
    for ((run, name), cell) in &observed.cells {
        let before = base
            .cells
            .get(&(*run, name.clone()))
            .map_or(0, |c| c.version);
        if cell.version < before.max(1) {
            wrong.push(format!(
                "state cell {name:?} of run {run} is at version {}, below the {before} the \
                 previous check saw (versions never go backwards, and start at 1)",
                cell.version
            ));
        }
    }
    for ((run, name), cell) in &base.cells {
        // A deleted run's cells go with it (the prefix check says whether it may be deleted).
        if observed.runs.contains_key(run) && !observed.cells.contains_key(&(*run, name.clone())) {
            wrong.push(format!(
                "state cell {name:?} of run {run} (version {}) is gone",
                cell.version
            ));
        }
    }
    let with_data: BTreeSet<RunId> = observed
        .events
        .keys()
        .chain(observed.spans.keys())
        .chain(observed.cells.keys().map(|(r, _)| r))
        .copied()
        .collect();
    for run in with_data {
        if !observed.runs.contains_key(&run) {
            wrong.push(format!(
                "run {run} holds events, state or spans but is not in the run index"
            ));
        }
    }
    if !wrong.is_empty() {
        failures.push(format!(
            "{} breaches of the primitives' invariants: {}",
            wrong.len(),
            list(&wrong)
        ));
    }
}

/// Every run that wrote primitive data (before the previous check, or by an operation that is
/// in the recovered prefix) is in the run index, interrupted or completed.
pub(super) fn check_runs_with_data(
    base: &State,
    steps_by_thread: &BTreeMap<u16, Vec<Step<'_>>>,
    observed: &Observed,
    failures: &mut Vec<String>,
) {
    let mut runs: BTreeSet<RunId> = base
        .events
        .keys()
        .chain(base.spans.keys())
        .chain(base.cells.keys().map(|(r, _)| r))
        .copied()
        .collect();
    for steps in steps_by_thread.values() {
        for step in steps {
            if step.standing == Standing::In
                && let Some(run) = step.record.op.primitive_run()
            {
                runs.insert(run);
            }
        }
    }
    // Runs an operation may have deleted: the prefix check says whether they may be gone.
    for steps in steps_by_thread.values() {
        for step in steps.iter().filter(|s| s.standing != Standing::Out) {
            for run in step.record.op.deleted_runs() {
                runs.remove(&run);
            }
        }
    }
    let missing: Vec<String> =
        runs.into_iter()
            .filter(|run| {
                !observed.runs.get(run).is_some_and(|e| {
                    matches!(e.status, RunStatus::Interrupted | RunStatus::Completed)
                })
            })
            .map(|run| {
                format!(
                    "run {run} ({})",
                    observed
                        .runs
                        .get(&run)
                        .map_or_else(|| "absent".to_owned(), |e| e.status.to_string())
                )
            })
            .collect();
    if !missing.is_empty() {
        failures.push(format!(
            "{} runs wrote events, state or spans that recovery must keep, but the run index \
             does not list them as interrupted or completed: {}",
            missing.len(),
            list(&missing)
        ));
    }
}

/// Checkpoints: none is ever found damaged after a kill (they are renamed into place whole),
/// recovery starts from one at least as new as every checkpoint that returned and as the one
/// the previous check started from, and the recovered log reaches every returned checkpoint.
pub(super) fn check_checkpoints(
    base: &State,
    ops: &[OpRecord],
    observed: &Observed,
    failures: &mut Vec<String>,
) {
    if !observed.checkpoints_skipped.is_empty() {
        failures.push(format!(
            "recovery skipped {} damaged checkpoints, which a process kill cannot make: {}",
            observed.checkpoints_skipped.len(),
            list(&observed.checkpoints_skipped)
        ));
    }
    let acked = ops
        .iter()
        .filter_map(|r| match r.outcome {
            Outcome::Acked {
                result: AckResult::Checkpoint(v),
                ..
            } => Some((r.id, v)),
            _ => None,
        })
        .max_by_key(|(_, v)| *v);
    let v = observed.last_version;
    let got = observed.checkpoint;
    if let Some((id, c)) = acked {
        if v < c {
            failures.push(format!(
                "checkpoint {id} at version {c} returned, but recovery ended at version {v}"
            ));
        }
        if got.is_none_or(|g| g < c) {
            failures.push(format!(
                "checkpoint {id} at version {c} returned, but recovery started from {}",
                got.map_or_else(|| "no checkpoint".to_owned(), |g| format!("version {g}"))
            ));
        }
    }
    if let Some(b) = base.checkpoint
        && got.is_none_or(|g| g < b)
    {
        failures.push(format!(
            "the previous recovery started from the checkpoint at version {b}, this one from {}",
            got.map_or_else(|| "none".to_owned(), |g| format!("version {g}"))
        ));
    }
    if let Some(g) = got
        && g > v
    {
        failures.push(format!(
            "recovery started from a checkpoint at version {g}, above its last version {v}"
        ));
    }
}
