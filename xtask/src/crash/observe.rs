//! The parent's side after a kill: recover the directory twice (recovery must be idempotent),
//! then read back every key and run for the oracle, each fork's parent's view at the fork point
//! (`run_view_at`), and the deleted runs (which every read must find unknown). In shared mode
//! (`shared.rs`) two fresh hosts connect instead, and the second reads back the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use in_mem::primitives::{Event, EventLog, Span, StateMachine, TraceStore};
use in_mem::{At, Database, RunId, RunInfo, RunQuery, RunStatus};

use super::child::open_options;
use super::oracle::AgentVersions;
use super::oracle::{
    CellRec, EventRec, ForkKv, ForkView, KvKey, KvView, Observed, RunEntry, SpanRec, Stored,
};
use super::workload::{
    AGENTS, AgentIdx, CHECK_SEGMENT_BYTES, Mode, OpId, agent_id, agent_index, now_us, view_prefixes,
};

mod shared;

pub use shared::observe_shared;

/// What the oracle asks to be read besides everything in the run index.
#[derive(Debug, Default)]
pub struct Probe {
    /// The keys it knows of; every agent's memory is also scanned for others.
    pub keys: BTreeSet<KvKey>,
    /// The forks this child made, and the operation that made each: the views of the keys its
    /// thread may change in the iteration (`view_prefixes`) are read.
    pub forks: BTreeMap<RunId, OpId>,
    /// Every run the previous check saw. The parent's view at the fork point is read of every
    /// fork not among them (made by this child, whether its call returned or not), and of
    /// those in `old_forks`.
    pub known: BTreeSet<RunId>,
    pub old_forks: BTreeSet<RunId>,
    /// The runs operations deleted or may have: those the run index does not list must be
    /// unknown to every read.
    pub deleted: BTreeSet<RunId>,
}

/// What one recovery found, for comparing two recoveries of the same directory.
#[derive(Debug, PartialEq)]
struct Recovered {
    last_version: u64,
    records_replayed: u64,
    interrupted: Vec<RunId>,
    runs: Vec<RunInfo>,
    keys: u64,
    versions: u64,
    visible_version: u64,
    checkpoint: Option<u64>,
    checkpoints_skipped: Vec<String>,
}

impl Recovered {
    fn of(db: &Database) -> Self {
        let report = db.recovery_report();
        let mut interrupted = report.interrupted_runs.clone();
        interrupted.sort();
        let mut runs = db.runs();
        runs.sort_by_key(|r| r.run);
        let stats = db.stats();
        Recovered {
            last_version: report.last_version,
            records_replayed: report.records_replayed,
            interrupted,
            runs,
            keys: stats.keys,
            versions: stats.versions,
            visible_version: stats.visible_version,
            checkpoint: report.checkpoint,
            checkpoints_skipped: report.checkpoints_skipped.clone(),
        }
    }
}

/// Opens `dir` (in `Strict`, no background sweep, ended runs readable for as long as a test
/// runs); a typed error or a panic is a failure.
fn open(dir: &Path, which: &str) -> Result<Database, String> {
    match catch_unwind(AssertUnwindSafe(|| {
        Database::open_with_options(dir, open_options(Mode::Strict, CHECK_SEGMENT_BYTES, false))
    })) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(format!("{which} open returned an error: {e}")),
        Err(panic) => Err(format!("{which} open panicked: {}", panic_text(&*panic))),
    }
}

pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-text panic)".to_owned())
}

/// Recovers `dir` twice and reads everything back, and what `probe` asks for.
pub fn observe(dir: &Path, probe: &Probe) -> Result<Observed, Vec<String>> {
    let mut failures = Vec::new();

    // First recovery: what it found, then a clean close (which writes nothing new).
    let db = open(dir, "first").map_err(|e| vec![e])?;
    let first = Recovered::of(&db);
    let first_tail = db.recovery_report().tail.clone();
    db.close()
        .map_err(|e| vec![format!("closing after the first recovery failed: {e}")])?;

    // Second recovery of the same bytes: the same state, and nothing more to cut.
    let db = open(dir, "second").map_err(|e| vec![e])?;
    let second = Recovered::of(&db);
    if first != second {
        failures.push(format!(
            "recovery is not idempotent: first {first:?}, second {second:?}"
        ));
    }
    let tail = &db.recovery_report().tail;
    if *tail != in_mem::TailState::Clean {
        failures.push(format!(
            "the second recovery cut a tail again ({tail:?}; the first found {first_tail:?})"
        ));
    }

    let mut observed = Observed {
        last_version: second.last_version,
        interrupted: second.interrupted.clone(),
        checkpoint: second.checkpoint,
        checkpoints_skipped: second.checkpoints_skipped.clone(),
        ..Observed::default()
    };
    if second.visible_version != second.last_version {
        failures.push(format!(
            "after recovery the visible version is {}, the recovered last version {}",
            second.visible_version, second.last_version
        ));
    }
    read_back(&db, &second.runs, probe, &mut observed, &mut failures);
    observed.final_version = db.stats().visible_version;
    finish(db, observed, failures)
}

/// Closes the checking handle; the observations, or every failure met.
fn finish(
    db: Database,
    observed: Observed,
    mut failures: Vec<String>,
) -> Result<Observed, Vec<String>> {
    if let Err(e) = db.close() {
        failures.push(format!("closing after the check failed: {e}"));
    }
    if failures.is_empty() {
        Ok(observed)
    } else {
        Err(failures)
    }
}

/// Reads back, for the oracle, every run in `runs` (the run index as found, before the
/// check's own runs began), every key of every agent, each run's event log, state cells and
/// trace, the forks' parents' views, and the runs deleted; the same in both modes.
fn read_back(
    db: &Database,
    runs: &[RunInfo],
    probe: &Probe,
    observed: &mut Observed,
    failures: &mut Vec<String>,
) {
    check_run_index(db, runs, failures);
    for info in runs {
        match agent_index(&info.agent) {
            Some(agent) => {
                observed.runs.insert(
                    info.run,
                    RunEntry {
                        agent,
                        status: info.status,
                        parent: info.parent,
                        fork_point: info.fork_point,
                    },
                );
            }
            None => failures.push(format!(
                "run {} belongs to agent {:?}, which the workload never used",
                info.run, info.agent
            )),
        }
    }

    if let Err(e) = read_all(db, &probe.keys, observed, failures) {
        failures.push(e);
    }
    for info in runs {
        if let Err(e) = read_primitives(db, info.run, observed) {
            failures.push(e);
        }
        let wanted = !probe.known.contains(&info.run) || probe.old_forks.contains(&info.run);
        if let (Some(parent), Some(point), true) = (info.parent, info.fork_point, wanted) {
            let made = probe.forks.get(&info.run).copied();
            match read_fork_view(db, info.run, parent, point, made) {
                Ok(view) => {
                    observed.fork_views.insert(info.run, view);
                }
                Err(e) => failures.push(e),
            }
        }
    }
    for &run in &probe.deleted {
        if !observed.runs.contains_key(&run) {
            observed.unknown_reads.insert(run, known_reads(db, run));
        }
    }
}

/// Begins one run per agent (whose view is everything recovered), reads every probed key and
/// scans every agent's memory, then ends those runs.
fn read_all(
    db: &Database,
    probe: &BTreeSet<KvKey>,
    observed: &mut Observed,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let mut readers: BTreeMap<AgentIdx, RunId> = BTreeMap::new();
    for idx in 0..AGENTS.len() {
        let agent = AgentIdx::try_from(idx).map_err(|e| e.to_string())?;
        let run = db
            .begin_run_in(&agent_id(agent))
            .map_err(|e| format!("cannot begin a reader run after recovery: {e}"))?;
        readers.insert(agent, run);
        observed.checker_runs.push((run, agent));
    }
    if db.is_connected() {
        observed.agent_versions = Some(agent_versions(db, &readers, false)?);
    }
    let get = |observed: &mut Observed, key: &KvKey| -> Result<(), String> {
        let run = readers[&key.0];
        let found = db
            .get_versioned(run, &key.1)
            .map_err(|e| format!("get of {key:?} failed: {e}"))?;
        if let Some(found) = found {
            observed.kv.insert(
                key.clone(),
                Stored {
                    value: found.value,
                    version: found.version,
                    timestamp_us: found.timestamp.as_micros(),
                    ttl_us: found.ttl.map(|d| d.as_micros() as u64),
                },
            );
        }
        Ok(())
    };

    // Gets first, then scans: a value can only disappear (expire) between the two, so a key
    // that the scan has and the get had not is a real disagreement.
    observed.read_from_us = now_us();
    for key in probe {
        get(observed, key)?;
    }
    let mut listed: BTreeMap<KvKey, in_mem::Value> = BTreeMap::new();
    for (&agent, &run) in &readers {
        let pairs = db
            .list_values(run, b"")
            .map_err(|e| format!("scan of agent {agent} failed: {e}"))?;
        for (key, value) in pairs {
            match String::from_utf8(key) {
                Ok(key) => {
                    listed.insert((agent, key), value);
                }
                Err(e) => failures.push(format!(
                    "agent {agent} holds a key that is not UTF-8 and was never written: {:?}",
                    e.as_bytes()
                )),
            }
        }
    }
    for key in listed.keys() {
        if !probe.contains(key) {
            get(observed, key)?;
        }
    }
    observed.read_to_us = now_us();

    for (key, value) in &listed {
        match observed.kv.get(key) {
            Some(stored) if stored.value == *value => {}
            Some(_) => failures.push(format!("scan and get disagree on the value of {key:?}")),
            None => failures.push(format!("the scan lists {key:?}, which get did not find")),
        }
    }
    for (key, stored) in &observed.kv {
        let may_have_expired = stored
            .ttl_us
            .is_some_and(|ttl| stored.timestamp_us.saturating_add(ttl) <= observed.read_to_us);
        if !listed.contains_key(key) && !may_have_expired {
            failures.push(format!(
                "get finds {key:?} (version {}), the scan does not",
                stored.version
            ));
        }
        let expires = stored
            .ttl_us
            .map(|ttl| stored.timestamp_us.saturating_add(ttl));
        if expires.is_some_and(|at| at < observed.read_from_us) {
            failures.push(format!(
                "{key:?} was read after it expired (version {})",
                stored.version
            ));
        }
    }

    for (&agent, &run) in &readers {
        db.end_run(run)
            .map_err(|e| format!("cannot end the reader run of agent {agent}: {e}"))?;
    }
    if db.is_connected() {
        observed.final_agent_versions = agent_versions(db, &readers, true)?;
    }
    // Not needed by the oracle, but a reader run that is not completed is a bug worth naming.
    for (&agent, &run) in &readers {
        let status = db.run_info(run).map(|i| i.status);
        if !matches!(status, Ok(RunStatus::Completed)) {
            failures.push(format!(
                "the reader run of agent {agent} is {status:?} after end_run"
            ));
        }
    }
    Ok(())
}

/// Shared mode, where versions are per agent: each agent's newest version, read through its
/// reader run in `readers`. Before they `ended`, the snapshot each began at, the store's clock
/// of the agent (the killed host commits no more); after, the newest version the agent's
/// readers see, their own run records included (what the next check starts from).
fn agent_versions(
    db: &Database,
    readers: &BTreeMap<AgentIdx, RunId>,
    ended: bool,
) -> Result<AgentVersions, String> {
    let mut versions = AgentVersions::new();
    for (&agent, &run) in readers {
        let version = if ended {
            db.run_view_at(run, At::Now).map(|view| view.version())
        } else {
            db.run_info(run).map(|info| info.snapshot)
        };
        let version =
            version.map_err(|e| format!("no version of agent {agent} from its reader run: {e}"))?;
        versions.insert(agent, version);
    }
    Ok(versions)
}

/// Reads `run`'s event log (and verifies its chain), state cells and trace.
fn read_primitives(db: &Database, run: RunId, observed: &mut Observed) -> Result<(), String> {
    let err = |what: &'static str| {
        move |e: in_mem::Error| format!("reading the {what} of run {run} failed: {e}")
    };
    let log = EventLog::new(db);
    let events = log
        .iter(run)
        .map(|e| e.map(event_rec))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err("event log"))?;
    let chain = log
        .verify_chain(run)
        .map(|summary| summary.events)
        .map_err(|e| e.to_string());
    if !events.is_empty() || chain != Ok(0) {
        observed.events.insert(run, events);
        observed.chains.insert(run, chain);
    }
    for (name, cell) in StateMachine::new(db)
        .cells(run)
        .map_err(err("state cells"))?
    {
        observed.cells.insert((run, name), cell_rec(cell));
    }
    let spans: Vec<SpanRec> = TraceStore::new(db)
        .spans(run)
        .map_err(err("trace"))?
        .into_iter()
        .map(span_rec)
        .collect();
    if !spans.is_empty() {
        observed.spans.insert(run, spans);
    }
    Ok(())
}

fn event_rec(e: Event) -> EventRec {
    EventRec {
        sequence: e.sequence,
        event_type: e.event_type,
        payload: e.payload,
        timestamp_us: e.timestamp.as_micros(),
        hash: e.hash,
    }
}

fn cell_rec(cell: in_mem::primitives::Cell) -> CellRec {
    CellRec {
        value: cell.value,
        version: cell.version,
        updated_us: cell.updated_at.as_micros(),
    }
}

fn span_rec(s: Span) -> SpanRec {
    SpanRec {
        id: s.id,
        parent: s.parent,
        kind: s.kind,
        status: s.status,
        start_us: s.start.as_micros(),
        end_us: s.end.map(in_mem::Timestamp::as_micros),
        tags: s.tags,
        attributes: s.attributes,
    }
}

/// Reads `parent`'s view at fork point `point` of `fork` (its event log, cells and trace), and,
/// for a fork operation `made` made, the views of its thread's keys the oracle compares.
fn read_fork_view(
    db: &Database,
    fork: RunId,
    parent: RunId,
    point: u64,
    made: Option<OpId>,
) -> Result<ForkView, String> {
    let err = |what: &'static str| {
        move |e: in_mem::Error| format!("fork {fork}: reading {what} failed: {e}")
    };
    let mut view = db
        .run_view_at(parent, At::Version(point))
        .map_err(err("its parent's view at the fork point"))?;
    let parent_events = view
        .events()
        .range(0..u64::MAX)
        .map_err(err("the parent's events at the fork point"))?
        .into_iter()
        .map(event_rec)
        .collect();
    let parent_cells = view
        .cells()
        .list()
        .map_err(err("the parent's cells at the fork point"))?
        .into_iter()
        .map(|(name, cell)| (name, cell_rec(cell)))
        .collect();
    let parent_spans = view
        .spans()
        .all()
        .map_err(err("the parent's spans at the fork point"))?
        .into_iter()
        .map(span_rec)
        .collect();
    let kv = match made {
        None => None,
        Some(id) => {
            let prefixes = view_prefixes(id.thread, id.iteration);
            let read = |run: RunId, at: At| -> Result<KvView, String> {
                let view = db
                    .run_view_at(run, at)
                    .map_err(|e| format!("fork {fork}: no view of run {run} at {at}: {e}"))?;
                let mut out = KvView::new();
                for prefix in &prefixes {
                    let entries = view.list_versioned(prefix).map_err(|e| {
                        format!("fork {fork}: listing run {run} at {at} failed: {e}")
                    })?;
                    for (key, v) in entries.into_iter().filter(|(_, v)| v.ttl.is_none()) {
                        let key = String::from_utf8(key)
                            .map_err(|e| format!("a key that is not UTF-8: {:?}", e.as_bytes()))?;
                        out.insert(key, (v.version, v.value));
                    }
                }
                Ok(out)
            };
            Some(ForkKv {
                fork_at_point: read(fork, At::Version(point))?,
                parent_at_point: read(parent, At::Version(point))?,
                fork_now: read(fork, At::Now)?,
                parent_now: read(parent, At::Now)?,
            })
        }
    };
    Ok(ForkView {
        parent,
        point,
        parent_events,
        parent_cells,
        parent_spans,
        kv,
    })
}

/// The reads of a deleted `run` that do not fail with `Error::UnknownRun`.
fn known_reads(db: &Database, run: RunId) -> Vec<String> {
    let unknown =
        |e: &in_mem::Error| matches!(e, in_mem::Error::UnknownRun { run: r } if *r == run);
    let mut known = Vec::new();
    let mut note = |what: &str, outcome: Result<String, in_mem::Error>| match outcome {
        Err(e) if unknown(&e) => {}
        Err(e) => known.push(format!("{what} fails with {e}")),
        Ok(found) => known.push(format!("{what} returns {found}")),
    };
    note(
        "run_info",
        db.run_info(run).map(|i| format!("{:?}", i.status)),
    );
    note(
        "EventLog::len",
        EventLog::new(db).len(run).map(|n| n.to_string()),
    );
    note(
        "StateMachine::cells",
        StateMachine::new(db)
            .cells(run)
            .map(|c| format!("{} cells", c.len())),
    );
    note(
        "run_view_at",
        db.run_view_at(run, At::Now).map(|_| "a view".to_owned()),
    );
    known
}

/// The run index agrees with itself: each run's `run_info` is its entry in `runs()`, the
/// counts by status are those of `runs()`, and a query by status returns exactly its runs.
fn check_run_index(db: &Database, runs: &[RunInfo], failures: &mut Vec<String>) {
    let mut counts: BTreeMap<RunStatus, u64> = BTreeMap::new();
    for info in runs {
        *counts.entry(info.status).or_default() += 1;
        match db.run_info(info.run) {
            Ok(found) if found == *info => {}
            other => failures.push(format!(
                "the run index lists run {} as {info:?}, but run_info says {other:?}",
                info.run
            )),
        }
    }
    let reported: BTreeMap<RunStatus, u64> = db
        .run_counts()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    if reported != counts {
        failures.push(format!(
            "the run index counts {reported:?} by status, but lists {counts:?}"
        ));
    }
    for status in counts.keys() {
        let mut queried: Vec<RunId> = db
            .query_runs(&RunQuery::new().status(*status))
            .into_iter()
            .map(|i| i.run)
            .collect();
        queried.sort();
        let listed: Vec<RunId> = runs
            .iter()
            .filter(|i| i.status == *status)
            .map(|i| i.run)
            .collect();
        if queried != listed {
            failures.push(format!(
                "a query for {status} runs returns {} runs, the run index lists {}",
                queried.len(),
                listed.len()
            ));
        }
    }
}
