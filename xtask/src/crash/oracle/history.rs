//! Forks and run deletion in the oracle: the model a thread's cut search applies its steps to
//! (a fork inherits its parent's event log, state cells and trace as they were at the fork
//! point), and the checks of the recovered state that are about history:
//!
//! - no fork survives without its parent, and no fork point lies beyond the recovered log;
//! - each fork's event log, trace and state cells begin with its parent's view at the fork
//!   point (`run_view_at`), events with their hashes, and that view is a prefix of the parent's
//!   own log and trace (for every fork this child made, and a seeded few of the older ones);
//! - for forks made by this child: the fork's view of its thread's keys at the fork point, and
//!   its parent's at the same point, read after recovery, are exactly what the fork read right
//!   after it was made ([`kv_digest`]); since then the fork sees only its own writes, and the
//!   parent never sees them;
//! - every deleted run that the run index does not list is unknown to every read.

use std::collections::{BTreeMap, BTreeSet};

use in_mem::{RunId, Value};

use super::super::workload::{
    AckResult, AckVersion, ForkAt, Op, OpId, Payload, TxnWrite, kv_digest,
};
use super::effects::{Effect, data_cells};
use super::{
    Cell, CellRec, EventRec, Expect, Observed, OpRecord, Outcome, SpanRec, Standing, State, Step,
    apply, base_expect, list,
};

/// A view of the keys a thread may change in an iteration (`workload::view_prefixes`), those
/// without a time to live: key, version, value.
pub type KvView = BTreeMap<String, (u64, Value)>;

/// What was read of a fork besides its own data.
#[derive(Debug, Clone, PartialEq)]
pub struct ForkView {
    pub parent: RunId,
    pub point: u64,
    /// The parent's view at the fork point: its event log, state cells and trace.
    pub parent_events: Vec<EventRec>,
    pub parent_cells: BTreeMap<String, CellRec>,
    pub parent_spans: Vec<SpanRec>,
    /// For a fork this child made: views of the keys its thread may change.
    pub kv: Option<ForkKv>,
}

/// Views of the keys the thread that made a fork may change, read after recovery.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForkKv {
    /// `run_view_at(fork, At::Version(point))`: the fork before any write of its own.
    pub fork_at_point: KvView,
    /// `run_view_at(parent, At::Version(point))`.
    pub parent_at_point: KvView,
    /// The fork as it is now.
    pub fork_now: KvView,
    /// The parent as it is now.
    pub parent_now: KvView,
}

/// The expected state of every cell one thread touches, as its steps are applied in program
/// order; a fork's data cells are copied from its parent's, as they were at the fork point.
pub(super) struct Model<'b> {
    base: &'b State,
    pub(super) expects: BTreeMap<Cell, Expect>,
    /// The parents whose data cells a fork will need right after each of these operations.
    wanted: BTreeMap<OpId, BTreeSet<RunId>>,
    /// Those cells, right after the operation.
    snapshots: BTreeMap<(OpId, Cell), Expect>,
}

impl<'b> Model<'b> {
    pub(super) fn new(base: &'b State, steps: &[Step<'_>]) -> Self {
        let mut model = Model {
            base,
            expects: BTreeMap::new(),
            wanted: BTreeMap::new(),
            snapshots: BTreeMap::new(),
        };
        for step in steps {
            for (cell, _) in &step.effects {
                model
                    .expects
                    .entry(cell.clone())
                    .or_insert_with(|| base_expect(base, cell));
            }
            if let Op::Fork {
                parent,
                at: ForkAt::Version { op, .. },
                ..
            } = &step.record.op
            {
                model.wanted.entry(*op).or_default().insert(*parent);
            }
        }
        model
    }

    fn current(&self, cell: &Cell) -> Expect {
        self.expects
            .get(cell)
            .cloned()
            .unwrap_or_else(|| base_expect(self.base, cell))
    }

    /// Applies `step`'s effects.
    pub(super) fn push(&mut self, step: &Step<'_>) {
        for (cell, effect) in &step.effects {
            if let Effect::Inherit { parent, at } = effect {
                let from = match cell {
                    Cell::Events(_) => Cell::Events(*parent),
                    Cell::Spans(_) => Cell::Spans(*parent),
                    Cell::State((_, name)) => Cell::State((*parent, name.clone())),
                    Cell::Kv(_) | Cell::Run(_) => continue,
                };
                let inherited = at
                    .and_then(|op| self.snapshots.get(&(op, from.clone())).cloned())
                    .unwrap_or_else(|| self.current(&from));
                self.expects.insert(cell.clone(), inherited);
            } else {
                let expect = self
                    .expects
                    .entry(cell.clone())
                    .or_insert_with(|| base_expect(self.base, cell));
                apply(expect, step, effect);
            }
        }
        if let Some(parents) = self.wanted.get(&step.record.id) {
            for parent in parents.clone() {
                for cell in data_cells(parent) {
                    let now = self.current(&cell);
                    self.snapshots.insert((step.record.id, cell), now);
                }
            }
        }
    }
}

/// A tree deletion whose whole version interval is in deleted every run of the tree; one that
/// may have stopped half way (in flight, or straddling the recovered version) deleted some.
pub(super) fn settle_tree_deletes(steps: &mut [Step<'_>]) {
    for step in steps {
        if matches!(step.record.op, Op::DeleteTree { .. }) && step.standing == Standing::In {
            for (_, effect) in &mut step.effects {
                if let Effect::DeleteRun { maybe, .. } = effect {
                    *maybe = false;
                }
            }
        }
    }
}

/// The run whose event log, state cell or trace `cell` is.
pub(super) fn data_run(cell: &Cell) -> Option<RunId> {
    match cell {
        Cell::Events(run) | Cell::Spans(run) | Cell::State((run, _)) => Some(*run),
        Cell::Kv(_) | Cell::Run(_) => None,
    }
}

/// A fork made by a call that never returned has no writes of its own: its event log, state
/// cells and trace are exactly its parent's view at the fork point. Describes the difference
/// in `cell`, if any.
pub(super) fn unreported_fork_differs(cell: &Cell, observed: &Observed) -> Option<String> {
    let run = data_run(cell)?;
    let Some(view) = observed.fork_views.get(&run) else {
        return Some(format!("fork {run}: its parent's view was not read"));
    };
    let same = match cell {
        Cell::Events(_) => {
            observed.events.get(&run).map_or(&[][..], Vec::as_slice) == view.parent_events
        }
        Cell::Spans(_) => {
            observed.spans.get(&run).map_or(&[][..], Vec::as_slice) == view.parent_spans
        }
        Cell::State((_, name)) => {
            observed.cells.get(&(run, name.clone())) == view.parent_cells.get(name)
        }
        Cell::Kv(_) | Cell::Run(_) => true,
    };
    (!same).then(|| {
        format!(
            "{} of fork {run}, made by a call that never returned, is not its parent's at fork \
             point {}",
            super::describe_cell(cell),
            view.point
        )
    })
}

/// Lineage and views of every fork; see the module docs.
pub(super) fn check_forks(
    base: &State,
    ops: &[OpRecord],
    observed: &Observed,
    failures: &mut Vec<String>,
) {
    let mut wrong = Vec::new();
    for (run, entry) in &observed.runs {
        let Some(point) = entry.fork_point else {
            continue;
        };
        match entry.parent {
            None => wrong.push(format!("fork {run} has no parent")),
            Some(parent) if !observed.runs.contains_key(&parent) => wrong.push(format!(
                "fork {run} survives, but its parent {parent} does not"
            )),
            Some(_) => {}
        }
        let newest = observed.last_version_of(entry.agent);
        if point > newest {
            wrong.push(format!(
                "fork {run} has fork point {point}, beyond the recovered last version {newest}"
            ));
        }
        // Forks the previous check saw are read again only now and then (see the driver).
        match observed.fork_views.get(run) {
            Some(view) => check_inherited(*run, view, observed, &mut wrong),
            None if !base.runs.contains_key(run) => {
                wrong.push(format!("fork {run}: its parent's view was not read"));
            }
            None => {}
        }
    }
    for record in ops {
        if let (
            Op::Fork { parent, .. },
            Outcome::Acked {
                result: AckResult::Fork { run, point, kv },
                ..
            },
        ) = (&record.op, &record.outcome)
            && let Some(views) = observed.fork_views.get(run).and_then(|v| v.kv.as_ref())
        {
            let fork = Fork {
                run: *run,
                parent: *parent,
                point: *point,
                digest: *kv,
            };
            fork.check_kv(ops, views, &mut wrong);
        }
    }
    if !wrong.is_empty() {
        failures.push(format!(
            "{} breaches of fork lineage or isolation: {}",
            wrong.len(),
            list(&wrong)
        ));
    }
}

/// A fork's log, trace and cells begin with its parent's view at the fork point, which is a
/// prefix of the parent's own.
fn check_inherited(fork: RunId, view: &ForkView, observed: &Observed, wrong: &mut Vec<String>) {
    let parent = view.parent;
    let n = view.parent_events.len();
    for (whose, run) in [("fork", fork), ("parent", parent)] {
        let events = observed.events.get(&run).map_or(&[][..], Vec::as_slice);
        if let Some(at) = first_difference(&view.parent_events, events) {
            wrong.push(format!(
                "the event log of {whose} {run} does not begin with the parent's {n} events at \
                 fork point {} (first difference at sequence {at}, hashes included)",
                view.point
            ));
        }
        let spans = observed.spans.get(&run).map_or(&[][..], Vec::as_slice);
        if let Some(at) = first_difference(&view.parent_spans, spans) {
            wrong.push(format!(
                "the trace of {whose} {run} does not begin with the parent's {} spans at fork \
                 point {} (first difference at span {})",
                view.parent_spans.len(),
                view.point,
                at + 1
            ));
        }
        for (name, cell) in &view.parent_cells {
            let got = observed.cells.get(&(run, name.clone()));
            let fine = got.is_some_and(|g| {
                g.version > cell.version || (g.version == cell.version && g == cell)
            });
            if !fine {
                wrong.push(format!(
                    "state cell {name:?} of {whose} {run} is {}, but the parent's at fork point \
                     {} is at version {} (a cell's version never goes back)",
                    got.map_or_else(
                        || "absent".to_owned(),
                        |g| format!("at version {}", g.version)
                    ),
                    view.point,
                    cell.version
                ));
            }
        }
    }
}

/// Where `prefix` stops being a prefix of `all`.
fn first_difference<T: PartialEq>(prefix: &[T], all: &[T]) -> Option<usize> {
    (0..prefix.len()).find(|&i| all.get(i) != prefix.get(i))
}

/// A fork this child made, as acknowledged.
struct Fork {
    run: RunId,
    parent: RunId,
    point: u64,
    digest: u64,
}

impl Fork {
    /// The fork's and its parent's views of the thread's keys; see the module docs.
    fn check_kv(&self, ops: &[OpRecord], views: &ForkKv, wrong: &mut Vec<String>) {
        let (run, parent, point) = (self.run, self.parent, self.point);
        let digest =
            |view: &KvView| kv_digest(view.iter().map(|(k, (v, x))| (k.as_bytes(), *v, x)));
        if digest(&views.fork_at_point) != self.digest {
            wrong.push(format!(
                "fork {run}: its view at fork point {point} is not what it read when it was made \
                 ({} keys now)",
                views.fork_at_point.len()
            ));
        }
        if digest(&views.parent_at_point) != self.digest {
            wrong.push(format!(
                "fork {run}: its parent {parent}'s view at fork point {point} is not what the \
                 fork read when it was made ({} keys now)",
                views.parent_at_point.len()
            ));
        }
        let writes = own_writes(ops, run);
        let keys: BTreeSet<&String> = views
            .fork_at_point
            .keys()
            .chain(views.fork_now.keys())
            .collect();
        for key in keys {
            let then = views.fork_at_point.get(key);
            let now = views.fork_now.get(key);
            let mine = writes.get(key.as_str());
            let fine = now == then
                || mine.is_some_and(|w| {
                    now.is_none_or(|(version, value)| {
                        *version > point
                            && w.iter()
                                .any(|(v, x)| x == value && v.is_none_or(|v| v == *version))
                    })
                });
            if !fine {
                wrong.push(format!(
                    "fork {run} reads key {key:?} at version {:?}, but at its fork point it was \
                     at {:?} and the fork {} it",
                    now.map(|(v, _)| v),
                    then.map(|(v, _)| v),
                    if mine.is_some() {
                        "never wrote that version of"
                    } else {
                        "never wrote"
                    }
                ));
            }
        }
        for (key, w) in &writes {
            if let Some((version, _)) = views.parent_now.get(*key)
                && w.iter().any(|(v, _)| *v == Some(*version))
            {
                wrong.push(format!(
                    "parent {parent} reads key {key:?} at version {version}, which its fork {run} \
                     wrote"
                ));
            }
        }
    }
}

/// The values `run`'s operations wrote to each key (with their versions where acknowledged);
/// a delete writes no value, so an absent key is always allowed for a key the run wrote.
fn own_writes(ops: &[OpRecord], run: RunId) -> BTreeMap<&str, Vec<(Option<u64>, Value)>> {
    let mut writes: BTreeMap<&str, Vec<(Option<u64>, Value)>> = BTreeMap::new();
    for record in ops {
        let version = match &record.outcome {
            Outcome::Acked {
                version: AckVersion::Exact(v),
                ..
            } => Some(*v),
            _ => None,
        };
        // (key, value part, payload); `None` for a delete.
        let parts: Vec<(&str, u16, Option<Payload>)> = match &record.op {
            Op::Put {
                run: r,
                key,
                payload,
                ..
            }
            | Op::Mixed {
                run: r,
                key,
                payload,
                ..
            } if *r == run => vec![(key.as_str(), 0, Some(*payload))],
            Op::Delete { run: r, key, .. } if *r == run => vec![(key.as_str(), 0, None)],
            Op::Txn {
                run: r, writes: w, ..
            } if *r == run => w
                .iter()
                .zip(0u16..)
                .map(|(write, part)| match write {
                    TxnWrite::Put { key, payload } => (key.as_str(), part, Some(*payload)),
                    TxnWrite::Delete { key } => (key.as_str(), part, None),
                })
                .collect(),
            _ => Vec::new(),
        };
        for (key, part, payload) in parts {
            let entry = writes.entry(key).or_default();
            if let Some(value) = payload.and_then(|p| p.expected(record.id, part).ok()) {
                entry.push((version, value));
            }
        }
    }
    writes
}

/// Every deleted run the run index does not list fails every read with `Error::UnknownRun`.
pub(super) fn check_deleted(observed: &Observed, failures: &mut Vec<String>) {
    let wrong: Vec<String> = observed
        .unknown_reads
        .iter()
        .filter(|(_, reads)| !reads.is_empty())
        .map(|(run, reads)| {
            format!(
                "run {run} is not in the run index, but {}",
                reads.join(", ")
            )
        })
        .collect();
    if !wrong.is_empty() {
        failures.push(format!(
            "{} deleted runs are still readable: {}",
            wrong.len(),
            list(&wrong)
        ));
    }
}
