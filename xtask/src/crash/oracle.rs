//! The oracles of docs/TESTING.md ("Oracles after any crash"), as one pure function:
//! [`check`]`(what the last check left, what the child said, what recovery produced)`.
//!
//! The recovered state must be the base state plus a *prefix of the commit order* of the ops
//! the child submitted. Call the recovered last version `V`. Every op that commits gets a
//! version interval from its acknowledgement (exact for `put`; bounded by the visible version
//! before and after the call for `delete`, `end_run` and the `begin_run` family; from its
//! thread's previous op to infinity when it was in flight at the kill). Then each op is
//!
//! - **in** (its version is `<= V`, so its effect must be there): its interval ends at or below
//!   `V`, or the mode promises it survived (every acknowledged commit in `Strict` and `Batched`;
//!   in `Async` every commit acknowledged more than the window before the kill; in every mode
//!   every commit acknowledged before a `flush` that returned was called);
//! - **out** (its effect must not be there): its interval starts above `V`;
//! - **maybe** otherwise (in flight, or an interval that straddles `V`).
//!
//! A promised op that is out is a lost commit. A thread's ops commit in program order, so its
//! in-ops come first, then its maybe-ops, then its out-ops, and what recovery kept of the
//! thread must be the effects of its first `c` ops for some cut `c` across the maybe-ops. Each
//! key and each run is written by one thread only (the workload guarantees it; the oracle checks
//! it), so the thread's cut fixes every key's and run's expected state: the oracle tries each cut
//! and requires one under which every key and run of the thread matches exactly (value, version,
//! timestamp, TTL, run status and agent). Keys and runs no op touched must be exactly as the base
//! had them, and nothing else may exist, except a run begun by a call that never returned (its
//! id was never printed).
//!
//! A value with a short TTL may read as absent from the earliest moment it could have expired;
//! a value present after its own expiry is a failure.
//!
//! The primitives are cells too: a run's whole event log, each state cell, a run's whole trace
//! (see the workload's module docs for what each must hold). On top of the prefix check, oracle
//! 4 holds of the recovered state whatever the ops: every event log is dense from sequence 0 and
//! its chain verifies, every trace is dense from span id 1 and every parent exists, no state
//! cell's version is below what the previous check saw, and every run with primitive data is in
//! the run index. A `flush` or `checkpoint` that returned protects every acknowledgement before
//! it; recovery starts from a checkpoint at least as new as any that returned.
//!
//! Forks and deletion fit the same search. A fork's event log, cells and trace start, when its
//! step is applied, as copies of its parent's expected cells at the fork point (kept from the
//! step the fork names, or the parent's current ones for `At::Now`), so a cut decides the
//! fork's and the parent's contents together. A deletion replaces each cell of the run by
//! "nothing, once the run is gone" (`Expect::Gone`), which makes it whole or nothing; a tree
//! deletion that may have stopped half way lets each run go or stay, and `oracle/history.rs`
//! requires that no fork outlives its parent.
//!
//! In shared mode (`--remote`) versions are per agent: `V` is each agent's newest version, an
//! op is compared with its own agent's, and calls that return no version are placed by the
//! promise alone (`oracle/versions.rs`).

use std::collections::{BTreeMap, BTreeSet};

use in_mem::primitives::{SpanKind, SpanStatus};
use in_mem::{RunId, RunStatus, Value};

use super::workload::{AckResult, AckVersion, AgentIdx, BeginHow, Op, OpId, SpanSpec};

mod describe;
mod effects;
mod history;
mod invariants;
mod matching;
#[cfg(test)]
mod tests;
mod versions;

use invariants::{check_checkpoints, check_returns, check_runs_with_data, check_structure};

/// Clock slack for comparing commit timestamps with the child's own clock readings.
const TIME_SLACK_US: u64 = 2_000;

/// A key of an agent's memory.
pub type KvKey = (AgentIdx, String);

/// A value as recovery returned it (or as the oracle expects it exactly).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub value: Value,
    pub version: u64,
    pub timestamp_us: u64,
    pub ttl_us: Option<u64>,
}

/// A run as recovery returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunEntry {
    pub agent: AgentIdx,
    pub status: RunStatus,
    /// `RunInfo::parent`.
    pub parent: Option<RunId>,
    /// `RunInfo::fork_point`: set for a fork.
    pub fork_point: Option<u64>,
}

impl RunEntry {
    /// The run's lineage: its parent and fork point.
    pub fn lineage(&self) -> Lineage {
        (self.parent, self.fork_point)
    }
}

/// A run's parent and fork point (`RunInfo::parent`, `RunInfo::fork_point`).
pub type Lineage = (Option<RunId>, Option<u64>);

/// A state cell of a run: the run and the cell's name.
pub type CellKey = (RunId, String);

/// An event as recovery returned it (`EventLog::iter`).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRec {
    pub sequence: u64,
    pub event_type: String,
    pub payload: Value,
    pub timestamp_us: u64,
    /// The event's hash in the run's chain.
    pub hash: [u8; 32],
}

/// A state cell as recovery returned it (`StateMachine::cells`).
#[derive(Debug, Clone, PartialEq)]
pub struct CellRec {
    pub value: Value,
    pub version: u64,
    pub updated_us: u64,
}

/// A span as recovery returned it (`TraceStore::spans`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRec {
    pub id: u64,
    pub parent: Option<u64>,
    pub kind: SpanKind,
    pub status: SpanStatus,
    pub start_us: u64,
    pub end_us: Option<u64>,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, Value>,
}

/// A database state the oracle knows exactly: what the previous check verified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// Every present key.
    pub kv: BTreeMap<KvKey, Stored>,
    /// Every run.
    pub runs: BTreeMap<RunId, RunEntry>,
    /// Every non-empty event log.
    pub events: BTreeMap<RunId, Vec<EventRec>>,
    /// Every state cell.
    pub cells: BTreeMap<CellKey, CellRec>,
    /// Every non-empty trace.
    pub spans: BTreeMap<RunId, Vec<SpanRec>>,
    /// The newest version, durable (the check that made it closed the database cleanly).
    pub last_version: u64,
    /// The version of the newest checkpoint recovery started from; it never goes away (only
    /// checkpoints older than the previous one are deleted).
    pub checkpoint: Option<u64>,
    /// Shared mode: each agent's newest version (empty in embedded mode).
    pub agent_versions: AgentVersions,
}

/// Shared mode: a version per agent (each agent has its own counter there).
pub type AgentVersions = BTreeMap<AgentIdx, u64>;

/// One operation the child submitted, and what became of it.
#[derive(Debug, Clone)]
pub struct OpRecord {
    pub id: OpId,
    /// Position of its `SUBMIT` line in the child's output.
    pub submit_line: u64,
    pub submit_us: u64,
    pub op: Op,
    pub outcome: Outcome,
    /// `--failover`: tries of it that failed with the store out of reach before the one that
    /// returned (`RETRY` lines).
    pub retries: u32,
}

/// How an operation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// No `ACK` or `FAIL` was printed before the kill.
    InFlight,
    /// The call returned.
    Acked {
        line: u64,
        us: u64,
        version: AckVersion,
        result: AckResult,
    },
    /// The call returned an error.
    Failed { message: String },
}

/// What the parent read back after the kill.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// `recovery_report().last_version`.
    pub last_version: u64,
    /// `recovery_report().interrupted_runs` (none in shared mode: nothing is recovered).
    pub interrupted: Vec<RunId>,
    /// Every present key of every agent.
    pub kv: BTreeMap<KvKey, Stored>,
    /// The reads happened between these two clock readings.
    pub read_from_us: u64,
    pub read_to_us: u64,
    /// Every run, as recovered (before the checker's own runs began).
    pub runs: BTreeMap<RunId, RunEntry>,
    /// The runs the check began to read each agent's memory, then ended.
    pub checker_runs: Vec<(RunId, AgentIdx)>,
    /// The newest version after the check's own commits, made durable by a clean close.
    pub final_version: u64,
    /// Every non-empty event log of a run in the run index, in sequence order as read.
    pub events: BTreeMap<RunId, Vec<EventRec>>,
    /// What `EventLog::verify_chain` said of each of those logs: the events it verified, or
    /// its error.
    pub chains: BTreeMap<RunId, Result<u64, String>>,
    /// Every state cell of a run in the run index.
    pub cells: BTreeMap<CellKey, CellRec>,
    /// Every non-empty trace of a run in the run index, in id order as read.
    pub spans: BTreeMap<RunId, Vec<SpanRec>>,
    /// `recovery_report().checkpoint`: the checkpoint recovery started from.
    pub checkpoint: Option<u64>,
    /// `recovery_report().checkpoints_skipped`.
    pub checkpoints_skipped: Vec<String>,
    /// What was read of each fork in the run index besides its own data: its parent's view at
    /// the fork point (`Database::run_view_at`).
    pub fork_views: BTreeMap<RunId, ForkView>,
    /// Each run an operation deleted (or may have) that the run index does not list: the reads
    /// of it that did not fail with `Error::UnknownRun` (none, if it is unknown as it must be).
    pub unknown_reads: BTreeMap<RunId, Vec<String>>,
    /// Shared mode: each agent's newest version as the check found it, the store's clock of
    /// the agent (what `last_version` is in embedded mode; `last_version` is then the highest
    /// of them, for display). `None` in embedded mode.
    pub agent_versions: Option<AgentVersions>,
    /// Shared mode: each agent's newest version after the check's own runs began and ended.
    pub final_agent_versions: AgentVersions,
}

impl Observed {
    /// The recovered last version a version of agent `agent` is compared with.
    pub fn last_version_of(&self, agent: AgentIdx) -> u64 {
        match &self.agent_versions {
            Some(versions) => versions.get(&agent).copied().unwrap_or(0),
            None => self.last_version,
        }
    }
}

/// What the mode promises about acknowledged commits through a process kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    /// `Strict` and `Batched`: nothing acknowledged is lost.
    Lossless,
    /// `Async`: commits acknowledged more than `window_us` before the kill survive.
    Window { window_us: u64 },
}

/// The circumstances of one kill.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub promise: Promise,
    /// When the parent sent SIGKILL.
    pub kill_us: u64,
}

/// The oracle's answer.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Empty when every oracle held.
    pub failures: Vec<String>,
    /// Acknowledged operations that committed something.
    pub acked_commits: u64,
    /// Acknowledged commits that recovery did not keep (provably: their version is above `V`).
    pub lost: u64,
    /// Age at the kill of the oldest lost acknowledgement.
    pub oldest_loss_us: Option<u64>,
    /// Acknowledged operations on event logs, state cells and traces (mixed transactions
    /// included).
    pub acked_primitive: u64,
    /// Acknowledged forks, runs deleted by acknowledged deletions, and refused deletions.
    pub acked_forks: u64,
    pub acked_deleted_runs: u64,
    pub refused_deletes: u64,
    /// Checkpoints that returned.
    pub checkpoints: u64,
    /// Whether a checkpoint was in progress at the kill.
    pub killed_in_checkpoint: bool,
    /// What the next iteration starts from: the state just verified, plus the checker's runs.
    pub next_base: State,
}

/// Where an op's effect lands: a key, a run's status (and lineage), a run's whole event log,
/// one state cell, or a run's whole trace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Kv(KvKey),
    Run(RunId),
    Events(RunId),
    State(CellKey),
    Spans(RunId),
}

/// Where an op stands against the recovered last version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    In,
    Maybe,
    Out,
}

/// One committing op, prepared for the cut search.
#[derive(Debug)]
struct Step<'a> {
    record: &'a OpRecord,
    /// Inclusive bounds of its version.
    lo: u64,
    hi: u64,
    /// Bounds of its commit timestamp.
    ts: (u64, u64),
    standing: Standing,
    effects: Vec<(Cell, Effect)>,
}

/// One acceptable state of a key.
#[derive(Debug, Clone)]
enum KvExpect {
    Absent,
    Present {
        source: String,
        value: Value,
        version: (u64, u64),
        ts: (u64, u64),
        ttl_us: Option<u64>,
    },
}

/// One acceptable state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunExpect {
    Absent,
    Is(RunStatus),
}

/// One expected event (its sequence is its place in the list).
#[derive(Debug, Clone)]
struct EventExpect {
    source: String,
    event_type: String,
    payload: Value,
    ts: (u64, u64),
    /// Its hash, for an event a previous check read (a fork's inherited events included).
    hash: Option<[u8; 32]>,
}

/// The expected state of a state cell.
#[derive(Debug, Clone)]
struct CellExpect {
    source: String,
    value: Value,
    version: u64,
    ts: (u64, u64),
}

/// One expected span (its id is its place in the list plus one).
#[derive(Debug, Clone)]
struct SpanExpect {
    source: String,
    span: SpanEffect,
    /// Bounds of its start time; it ends when it starts (`TraceStore::record`).
    ts: (u64, u64),
}

/// Acceptable states of one cell (more than one when a delete's call never returned).
#[derive(Debug, Clone)]
enum Expect {
    Kv(Vec<KvExpect>),
    Run {
        agent: Option<AgentIdx>,
        /// `None` when nothing says (a resumed run of unknown lineage cannot occur: every run
        /// the base has carries its lineage).
        lineage: Option<Lineage>,
        states: Vec<RunExpect>,
    },
    /// The whole log, oldest first.
    Events(Vec<EventExpect>),
    /// `None`: no such cell.
    State(Option<CellExpect>),
    /// The whole trace, by id.
    Spans(Vec<SpanExpect>),
    /// An event log, state cell or trace of a run that was deleted (`maybe`: by a
    /// `delete_run_tree` that may have stopped half way): while the run index lists the run, it
    /// is `inner`, with all of its records; once the run is gone, nothing of it is.
    Gone {
        run: RunId,
        maybe: bool,
        inner: Box<Expect>,
    },
}

/// Checks `observed` against `base` plus `ops`; see the module docs.
pub fn check(params: &Params, base: &State, ops: &[OpRecord], observed: &Observed) -> Verdict {
    let mut failures = Vec::new();

    check_versions(base, ops, observed, &mut failures);
    check_run_report(observed, &mut failures);

    // Program order per thread.
    let mut threads: BTreeMap<u16, Vec<&OpRecord>> = BTreeMap::new();
    for record in ops {
        if let Outcome::Failed { message } = &record.outcome {
            failures.push(format!(
                "operation {} ({}) returned an error: {message}",
                record.id,
                short_op(&record.op)
            ));
        }
        threads.entry(record.id.thread).or_default().push(record);
    }
    // A flush or checkpoint that returned made every acknowledgement before it durable.
    let flush_line = ops
        .iter()
        .filter(|r| r.op.syncs() && matches!(r.outcome, Outcome::Acked { .. }))
        .map(|r| r.submit_line)
        .max();

    let mut losses = Vec::new();
    let mut acked_commits = 0;
    let mut lost = 0;
    let mut oldest_loss_us = None;
    let mut steps_by_thread: BTreeMap<u16, Vec<Step<'_>>> = BTreeMap::new();
    for (&thread, records) in &mut threads {
        records.sort_by_key(|r| r.id.seq);
        let mut steps = Vec::new();
        let mut order = ThreadOrder::new(base, observed);
        for record in records.iter() {
            let Some(step) = prepare(
                record,
                &mut order,
                params,
                flush_line,
                &mut failures,
                &mut losses,
            ) else {
                continue;
            };
            if let Outcome::Acked { us, .. } = record.outcome {
                acked_commits += 1;
                if step.lo > order.recovered(record) {
                    lost += 1;
                    let age = params.kill_us.saturating_sub(us);
                    oldest_loss_us = Some(oldest_loss_us.map_or(age, |o: u64| o.max(age)));
                }
            }
            steps.push(step);
        }
        propagate(thread, &mut steps, &mut failures);
        settle_tree_deletes(&mut steps);
        steps_by_thread.insert(thread, steps);
    }
    if !losses.is_empty() {
        let recovered = match &observed.agent_versions {
            Some(versions) => format!("agents' newest versions {versions:?}"),
            None => format!("recovered last version {}", observed.last_version),
        };
        failures.insert(
            0,
            format!(
                "{} acknowledged commits lost ({recovered}): {}",
                losses.len(),
                list(&losses)
            ),
        );
    }

    check_returns(base, &threads, &mut failures);
    check_cells(base, &steps_by_thread, observed, &mut failures);
    check_unknown_runs(base, &steps_by_thread, observed, &mut failures);
    check_structure(base, observed, &mut failures);
    check_runs_with_data(base, &steps_by_thread, observed, &mut failures);
    check_checkpoints(base, ops, observed, &mut failures);
    check_forks(base, ops, observed, &mut failures);
    check_deleted(observed, &mut failures);

    let next_base = next_base(observed);
    Verdict {
        failures,
        acked_commits,
        lost,
        oldest_loss_us,
        acked_primitive: count_acked(ops, |op| op.primitive_run().is_some()),
        acked_forks: count_acked(ops, |op| matches!(op, Op::Fork { .. })),
        acked_deleted_runs: ops
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Acked { .. }))
            .map(|r| r.op.deleted_runs().len() as u64)
            .sum(),
        refused_deletes: count_acked(ops, |op| matches!(op, Op::DeleteRefused { .. })),
        checkpoints: count_acked(ops, |op| matches!(op, Op::Checkpoint)),
        killed_in_checkpoint: ops
            .iter()
            .any(|r| matches!(r.op, Op::Checkpoint) && matches!(r.outcome, Outcome::InFlight)),
        next_base,
    }
}

/// What the next iteration starts from: the state just verified, plus the checker's runs.
fn next_base(observed: &Observed) -> State {
    let mut next = State {
        kv: observed.kv.clone(),
        runs: observed.runs.clone(),
        events: observed.events.clone(),
        cells: observed.cells.clone(),
        spans: observed.spans.clone(),
        last_version: observed.final_version,
        checkpoint: observed.checkpoint,
        agent_versions: observed.final_agent_versions.clone(),
    };
    for &(run, agent) in &observed.checker_runs {
        next.runs.insert(
            run,
            RunEntry {
                agent,
                status: RunStatus::Completed,
                parent: None,
                fork_point: None,
            },
        );
    }
    next
}

/// Acknowledged operations for which `f` holds.
fn count_acked(ops: &[OpRecord], f: impl Fn(&Op) -> bool) -> u64 {
    ops.iter()
        .filter(|r| matches!(r.outcome, Outcome::Acked { .. }) && f(&r.op))
        .count() as u64
}

/// Bounds one op's version and decides its standing; `None` for ops that commit nothing.
/// Promised commits that recovery lost go to `losses`.
fn prepare<'a>(
    record: &'a OpRecord,
    order: &mut ThreadOrder<'_>,
    params: &Params,
    flush_line: Option<u64>,
    failures: &mut Vec<String>,
    losses: &mut Vec<String>,
) -> Option<Step<'a>> {
    if !record.op.commits() {
        return None;
    }
    let (lo, hi, ack) = order.bound(record, failures)?;
    let v = order.recovered(record);
    let promised = ack.is_some_and(|(line, us)| {
        let by_mode = match params.promise {
            Promise::Lossless => true,
            Promise::Window { window_us } => us.saturating_add(window_us) < params.kill_us,
        };
        by_mode || flush_line.is_some_and(|f| line < f)
    });
    let mut standing = if lo > v {
        Standing::Out
    } else if hi <= v {
        Standing::In
    } else {
        Standing::Maybe
    };
    if promised {
        if standing == Standing::Out {
            let (_, us) = ack.unwrap_or_default();
            losses.push(format!(
                "operation {} ({}) version {} acknowledged {} ms before the kill",
                record.id,
                short_op(&record.op),
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}..={hi}")
                },
                params.kill_us.saturating_sub(us) / 1000
            ));
        } else {
            standing = Standing::In;
        }
    }
    let effects = match effects_of(record) {
        Ok(effects) => effects,
        Err(e) => {
            failures.push(format!("harness: operation {}: {e}", record.id));
            Vec::new()
        }
    };
    let ts_hi = ack.map_or(u64::MAX, |(_, us)| us.saturating_add(TIME_SLACK_US));
    Some(Step {
        record,
        lo,
        hi,
        ts: (record.submit_us.saturating_sub(TIME_SLACK_US), ts_hi),
        standing,
        effects,
    })
}

/// A thread's versions increase, so everything before an in-op is in and everything after an
/// out-op is out.
fn propagate(thread: u16, steps: &mut [Step<'_>], failures: &mut Vec<String>) {
    let last_in = steps.iter().rposition(|s| s.standing == Standing::In);
    let first_out = steps.iter().position(|s| s.standing == Standing::Out);
    if let (Some(i), Some(o)) = (last_in, first_out)
        && o < i
    {
        failures.push(format!(
            "thread {thread}: operation {} is in the recovered prefix but the earlier operation \
             {} is not (a hole in the commit order)",
            steps[i].record.id, steps[o].record.id
        ));
        return;
    }
    for (n, step) in steps.iter_mut().enumerate() {
        if last_in.is_some_and(|i| n < i) {
            step.standing = Standing::In;
        }
        if first_out.is_some_and(|o| n > o) {
            step.standing = Standing::Out;
        }
    }
}

/// The expected state of a cell in `base`.
fn base_expect(base: &State, cell: &Cell) -> Expect {
    match cell {
        Cell::Kv(key) => Expect::Kv(vec![match base.kv.get(key) {
            None => KvExpect::Absent,
            Some(s) => KvExpect::Present {
                source: "the previous check".to_owned(),
                value: s.value.clone(),
                version: (s.version, s.version),
                ts: (s.timestamp_us, s.timestamp_us),
                ttl_us: s.ttl_us,
            },
        }]),
        Cell::Run(run) => match base.runs.get(run) {
            None => Expect::Run {
                agent: None,
                lineage: None,
                states: vec![RunExpect::Absent],
            },
            Some(e) => Expect::Run {
                agent: Some(e.agent),
                lineage: Some(e.lineage()),
                states: vec![RunExpect::Is(e.status)],
            },
        },
        Cell::Events(run) => Expect::Events(
            base.events
                .get(run)
                .map(|events| {
                    events
                        .iter()
                        .map(|e| EventExpect {
                            source: "the previous check".to_owned(),
                            event_type: e.event_type.clone(),
                            payload: e.payload.clone(),
                            ts: (e.timestamp_us, e.timestamp_us),
                            hash: Some(e.hash),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Cell::State(key) => Expect::State(base.cells.get(key).map(|c| CellExpect {
            source: "the previous check".to_owned(),
            value: c.value.clone(),
            version: c.version,
            ts: (c.updated_us, c.updated_us),
        })),
        Cell::Spans(run) => Expect::Spans(
            base.spans
                .get(run)
                .map(|spans| {
                    spans
                        .iter()
                        .map(|s| SpanExpect {
                            source: "the previous check".to_owned(),
                            span: SpanEffect {
                                parent: s.parent,
                                kind: s.kind.clone(),
                                status: s.status,
                                tags: s.tags.clone(),
                                attributes: s.attributes.clone(),
                            },
                            ts: (s.start_us, s.start_us),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
    }
}

/// Applies one effect of `step` to a cell's acceptable states.
fn apply(expect: &mut Expect, step: &Step<'_>, effect: &Effect) {
    if let Effect::DeleteRun { run, maybe } = effect
        && !matches!(expect, Expect::Kv(_) | Expect::Run { .. })
    {
        *expect = Expect::Gone {
            run: *run,
            maybe: *maybe,
            inner: Box::new(expect.clone()),
        };
        return;
    }
    match (expect, effect) {
        (Expect::Kv(states), Effect::Put { value, ttl_us }) => {
            *states = vec![KvExpect::Present {
                source: format!("operation {}", step.record.id),
                value: value.clone(),
                version: (step.lo, step.hi),
                ts: step.ts,
                ttl_us: *ttl_us,
            }];
        }
        (Expect::Kv(states), Effect::Delete) => *states = vec![KvExpect::Absent],
        (Expect::Kv(states), Effect::MaybeDelete) => states.push(KvExpect::Absent),
        (
            Expect::Run {
                agent,
                lineage,
                states,
            },
            Effect::Activate {
                agent: a,
                lineage: l,
            },
        ) => {
            if a.is_some() {
                *agent = *a;
            }
            if l.is_some() {
                *lineage = *l;
            }
            *states = vec![RunExpect::Is(RunStatus::Interrupted)];
        }
        (Expect::Run { states, .. }, Effect::End) => {
            *states = vec![RunExpect::Is(RunStatus::Completed)];
        }
        (Expect::Run { states, .. }, Effect::DeleteRun { maybe, .. }) => {
            if !*maybe {
                states.clear();
            }
            states.push(RunExpect::Absent);
        }
        (Expect::Gone { inner, .. }, effect) => apply(inner, step, effect),
        (
            Expect::Events(events),
            Effect::Append {
                event_type,
                payload,
            },
        ) => events.push(EventExpect {
            source: format!("operation {}", step.record.id),
            event_type: event_type.clone(),
            payload: payload.clone(),
            ts: step.ts,
            hash: None,
        }),
        (Expect::State(cell), Effect::Cas { expected, value }) => {
            *cell = Some(CellExpect {
                source: format!("operation {}", step.record.id),
                value: value.clone(),
                version: expected + 1,
                ts: step.ts,
            });
        }
        (Expect::Spans(spans), Effect::Span(span)) => spans.push(SpanExpect {
            source: format!("operation {}", step.record.id),
            span: (**span).clone(),
            ts: step.ts,
        }),
        // A kv effect on a run cell or the reverse cannot be built by `effects_of`; a fork's
        // inheritance is applied by `Model::push`, which knows the parent's cells.
        _ => {}
    }
}

/// Every key and run: the base plus a per-thread prefix of the ops.
fn check_cells(
    base: &State,
    steps_by_thread: &BTreeMap<u16, Vec<Step<'_>>>,
    observed: &Observed,
    failures: &mut Vec<String>,
) {
    // Each cell must belong to one thread, or program order says nothing about its writes.
    let mut owner: BTreeMap<&Cell, u16> = BTreeMap::new();
    for (&thread, steps) in steps_by_thread {
        for step in steps {
            for (cell, _) in &step.effects {
                if let Some(&other) = owner.get(cell)
                    && other != thread
                {
                    failures.push(format!(
                        "harness: {} is written by threads {other} and {thread}",
                        describe_cell(cell)
                    ));
                }
                owner.insert(cell, thread);
            }
        }
    }

    for (&thread, steps) in steps_by_thread {
        check_thread(base, thread, steps, observed, failures);
    }

    // Cells no op touched: exactly as the base had them.
    let mut untouched: BTreeSet<Cell> = BTreeSet::new();
    untouched.extend(base.kv.keys().cloned().map(Cell::Kv));
    untouched.extend(observed.kv.keys().cloned().map(Cell::Kv));
    untouched.extend(base.runs.keys().copied().map(Cell::Run));
    untouched.extend(base.events.keys().copied().map(Cell::Events));
    untouched.extend(observed.events.keys().copied().map(Cell::Events));
    untouched.extend(base.cells.keys().cloned().map(Cell::State));
    untouched.extend(observed.cells.keys().cloned().map(Cell::State));
    untouched.extend(base.spans.keys().copied().map(Cell::Spans));
    untouched.extend(observed.spans.keys().copied().map(Cell::Spans));
    let mut wrong = Vec::new();
    for cell in untouched {
        if owner.contains_key(&cell) {
            continue;
        }
        // A fork whose call never returned its id: nothing but what it inherited.
        if let Some(run) = data_run(&cell)
            && !base.runs.contains_key(&run)
            && !owner.contains_key(&Cell::Run(run))
            && observed
                .runs
                .get(&run)
                .is_some_and(|e| e.fork_point.is_some())
        {
            if let Some(problem) = unreported_fork_differs(&cell, observed) {
                wrong.push(problem);
            }
            continue;
        }
        let expect = base_expect(base, &cell);
        if !cell_matches(&expect, &cell, observed) {
            wrong.push(describe_mismatch(&cell, &expect, observed));
        }
    }
    if !wrong.is_empty() {
        failures.push(format!(
            "{} keys, runs, event logs, state cells or traces that no operation touched differ \
             from the previous check: {}",
            wrong.len(),
            list(&wrong)
        ));
    }
}

/// Finds a cut of the thread's maybe-ops under which all its cells match.
fn check_thread(
    base: &State,
    thread: u16,
    steps: &[Step<'_>],
    observed: &Observed,
    failures: &mut Vec<String>,
) {
    let first = steps
        .iter()
        .position(|s| s.standing != Standing::In)
        .unwrap_or(steps.len());
    let last = steps
        .iter()
        .position(|s| s.standing == Standing::Out)
        .unwrap_or(steps.len());
    // Every cell the thread touches is in the model, so that cells whose ops are all out are
    // checked too.
    let mut model = Model::new(base, steps);
    for step in &steps[..first] {
        model.push(step);
    }
    let mut best: Option<(usize, Vec<String>)> = None;
    for cut in first..=last {
        if cut > first {
            model.push(&steps[cut - 1]);
        }
        let wrong: Vec<String> = model
            .expects
            .iter()
            .filter(|(cell, expect)| !cell_matches(expect, cell, observed))
            .map(|(cell, expect)| describe_mismatch(cell, expect, observed))
            .collect();
        if wrong.is_empty() {
            return;
        }
        if best.as_ref().is_none_or(|(_, w)| wrong.len() < w.len()) {
            best = Some((cut, wrong));
        }
    }
    if let Some((cut, wrong)) = best {
        let at = steps.get(cut).map_or_else(
            || "the end".to_owned(),
            |s| format!("operation {}", s.record.id),
        );
        failures.push(format!(
            "thread {thread}: no prefix of its operations explains the recovered state \
             ({} operations certainly in, {} uncertain; closest cut before {at}): {}",
            first,
            last - first,
            list(&wrong)
        ));
    }
}

/// Runs nobody knows of: each must come from a begin call that never returned its id.
fn check_unknown_runs(
    base: &State,
    steps_by_thread: &BTreeMap<u16, Vec<Step<'_>>>,
    observed: &Observed,
    failures: &mut Vec<String>,
) {
    let mut known: BTreeSet<RunId> = base.runs.keys().copied().collect();
    for steps in steps_by_thread.values() {
        for step in steps {
            for (cell, _) in &step.effects {
                if let Cell::Run(run) = cell {
                    known.insert(*run);
                }
            }
        }
    }
    // Begin and fork calls whose run id was never printed, and that may have committed: the
    // agent, and the parent of a fork. Also one per try of a begin or fork that failed with the
    // store out of reach and was made again (`--failover`): the store may have registered the
    // run before the host failed to catch up after it, and the host's cancel of such a run is
    // best effort (it fails too while the store is out of reach), so it reads Interrupted once
    // the host is dead.
    let mut allowance: Vec<(AgentIdx, Option<RunId>)> = Vec::new();
    for steps in steps_by_thread.values() {
        for step in steps {
            let record = step.record;
            let (agent, parent) = match &record.op {
                Op::Begin { agent, how } if !matches!(how, BeginHow::WithId(_)) => (*agent, None),
                Op::Fork { parent, agent, .. } => (*agent, Some(*parent)),
                _ => continue,
            };
            let unprinted =
                !matches!(record.outcome, Outcome::Acked { .. }) && step.standing != Standing::Out;
            let tries = usize::from(unprinted) + record.retries as usize;
            allowance.extend(std::iter::repeat_n((agent, parent), tries));
        }
    }
    for (run, entry) in &observed.runs {
        if known.contains(run) {
            continue;
        }
        let allowed = allowance
            .iter()
            .position(|(a, p)| *a == entry.agent && *p == entry.parent);
        match allowed {
            Some(at) if entry.status == RunStatus::Interrupted => {
                allowance.swap_remove(at);
            }
            _ => failures.push(format!(
                "run {run} (agent {}, {}) was recovered but never begun",
                entry.agent, entry.status
            )),
        }
    }
}

use describe::{describe_cell, describe_key, describe_mismatch, list, short_op};
use effects::{Effect, SpanEffect, effects_of};
pub use history::{ForkKv, ForkView, KvView};
use history::{
    Model, check_deleted, check_forks, data_run, settle_tree_deletes, unreported_fork_differs,
};
use matching::{cell_matches, first_event_difference, first_span_difference};
use versions::{ThreadOrder, check_run_report, check_versions};
