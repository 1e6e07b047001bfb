//! The child process: opens the data directory in the mode under test and runs the seeded
//! workload on several writer threads until it is killed, printing `SUBMIT` before each call and
//! `ACK` after it returns (one line each, flushed).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use in_mem::primitives::{EventLog, KVStore, StateMachine, TraceStore};
use in_mem::{Database, Namespace, OpenOptions, RetryPolicy, RunId};
use serde::Serialize;

mod history;
mod outage;

use super::args::Args;
use super::rng::{Rng, derive};
use super::shared::Store;
use super::workload::{
    AGENTS, AckResult, AckVersion, AgentIdx, BeginHow, CELL_NAMES, CHECK_SEGMENT_BYTES,
    EVENT_TYPES, KEYS_PER_THREAD, Line, Mode, Op, OpId, Payload, SPAN_TAGS, SpanShape, SpanSpec,
    TXN_WRITES_MAX, TxnWrite, Typed, TypedSink, agent_id, bytes_value, key_name, now_us,
    unique_key_name,
};

/// Long TTLs: far beyond any test, so they never expire during one.
const LONG_TTL_MS: u64 = 3_600_000;
/// Short TTLs expire during the test; the oracle accepts their expiry from the earliest moment
/// it could have happened.
const SHORT_TTL_MS: (u64, u64) = (100, 1500);
/// The largest value written: the limit, less room for the value's encoding.
const VALUE_LEN_MAX: u64 = in_mem::limits::VALUE_BYTES_MAX as u64 - 1024;
/// Active runs a writer thread keeps at most.
const ACTIVE_RUNS_MAX: usize = 3;
/// Puts that write a key of their own, never overwritten: the oracle then checks each such
/// commit individually (a commit whose key is overwritten later is only seen through the
/// final state), so a lost commit from the middle of the log shows.
const UNIQUE_PER_MILLE: u64 = 300;
/// How often a thread calls `flush`. Rarely: a flush makes everything before it durable, which
/// in `Async` would hide the loss window the oracle checks.
const FLUSH_EVERY: Duration = Duration::from_secs(3);
/// Own-key puts a thread remembers, to delete some of them again.
const RECENT_UNIQUE_MAX: usize = 32;
/// Chance (per mille) that a writer thread calls `checkpoint` once in a child's life, at a
/// seeded moment in its first `CHECKPOINT_WITHIN`. With four threads, about half the children
/// checkpoint; a checkpoint of a directory that has been through several children takes long
/// enough that some kills land in the middle of one.
const CHECKPOINT_PER_MILLE: u64 = 200;
const CHECKPOINT_WITHIN: Duration = Duration::from_secs(1);
/// Chance (per mille) that a child leaves an interrupted run alone (see `main`).
const PARKED_PER_MILLE: u64 = 500;

/// What the child was told on its command line.
struct ChildOptions {
    place: Place,
    mode: Mode,
    seed: u64,
    threads: u16,
    iteration: u32,
    /// Log segment size.
    segment_bytes: u64,
    /// Stop after this many operations per thread and close cleanly (for trying the protocol by
    /// hand); unset, the child runs until it is killed.
    ops: Option<u64>,
    /// The store fails over during this child's life: calls that fail with it out of reach are
    /// made again (`outage.rs`).
    failover: bool,
}

impl ChildOptions {
    fn parse(raw: &[String]) -> Result<Self, String> {
        let mut args = Args::new(raw);
        let place = match (args.value("--dir")?, args.value("--schema")?) {
            (Some(dir), None) => Place::Dir(PathBuf::from(dir)),
            (None, Some(schema)) => Place::Schema(schema),
            _ => return Err("give either --dir or --schema".to_owned()),
        };
        let mode = args.required("--mode")?;
        let mode = Mode::parse(&mode).ok_or_else(|| format!("unknown mode {mode:?}"))?;
        let options = ChildOptions {
            place,
            mode,
            seed: args.number("--seed")?.unwrap_or(1),
            threads: args.number("--threads")?.unwrap_or(4),
            iteration: args.number("--iteration")?.unwrap_or(0),
            segment_bytes: args
                .number("--segment-bytes")?
                .unwrap_or(CHECK_SEGMENT_BYTES),
            ops: args.number("--ops")?,
            failover: args.flag("--failover")?,
        };
        args.finish()?;
        Ok(options)
    }
}

/// Where the child's database is.
enum Place {
    /// A data directory (`--dir`): embedded mode.
    Dir(PathBuf),
    /// A schema of the shared store (`--schema`; the server is the one `INMEM_PG_URL` names):
    /// shared mode, the child one client host of it.
    Schema(String),
}

/// The options every open in the crash test uses (the child's in its mode; the parent's
/// checks in `Strict`): a test segment size, and no background sweep during the parent's
/// checks (a sweep between two reads would change the counts they compare).
pub fn open_options(mode: Mode, segment_bytes: u64, sweeps: bool) -> OpenOptions {
    let options = OpenOptions::new()
        .mode(mode.durability())
        .segment_bytes(segment_bytes);
    if sweeps {
        options
    } else {
        // About twelve days: never, for a check that takes a second; and ended runs (whose
        // event logs, state and traces the check reads) readable for as long.
        options
            .sweep_interval(Duration::from_secs(1 << 20))
            .ended_run_retention(Duration::from_secs(1 << 20))
    }
}

/// Runs the child. Returns only on an error, or after `--ops` operations per thread.
pub fn main(raw: &[String]) -> Result<(), String> {
    let options = ChildOptions::parse(raw)?;
    let out = Output::default();
    out.emit(&Line::Opening)?;
    let db = match &options.place {
        Place::Dir(dir) => Database::open_with_options(
            dir,
            open_options(options.mode, options.segment_bytes, true),
        )
        .map_err(|e| format!("open failed: {e}"))?,
        Place::Schema(schema) => {
            // A name no other host of the store has had: this process.
            let host = format!(
                "crash-{}-{}-{}",
                options.mode.name(),
                options.iteration,
                std::process::id()
            );
            Store::from_env(schema)?.connect(&host, options.mode.durability())?
        }
    };
    // Shared mode refuses checkpoints and run deletion, and returns no visible version of an
    // agent to bound a call by (see `Worker::ranged`).
    let shared = db.is_connected();
    out.emit(&Line::Ready {
        last_version: db.recovery_report().last_version,
    })?;

    // Runs earlier children left are shared out among the threads, which resume, end or delete
    // some of them. Each run has one owner, as each key has (see `history::share_runs`).
    let threads = options.threads.max(1);
    let owned = history::share_runs(&db, options.seed, threads)?;

    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = owned
            .into_iter()
            .zip(0..threads)
            .map(|(mine, thread)| {
                let mut timer = Rng::new(derive(&[options.seed, 98, u64::from(thread)]));
                let next_checkpoint = (timer.chance(CHECKPOINT_PER_MILLE) && !shared).then(|| {
                    let within = CHECKPOINT_WITHIN.as_millis() as u64;
                    Instant::now() + Duration::from_millis(timer.below(within))
                });
                let worker = Worker {
                    db: &db,
                    kv: KVStore::new(&db),
                    events: EventLog::new(&db),
                    state: StateMachine::new(&db),
                    trace: TraceStore::new(&db),
                    out: &out,
                    shared,
                    failover: options.failover,
                    segment_bytes: options.segment_bytes,
                    rng: Rng::new(derive(&[options.seed, u64::from(thread)])),
                    iteration: options.iteration,
                    thread,
                    seq: 0,
                    active: Vec::new(),
                    leftovers: mine.leftovers,
                    ended: mine.ended,
                    lineage: mine.lineage,
                    points: BTreeMap::new(),
                    recent: Vec::new(),
                    prims: BTreeMap::new(),
                    next_checkpoint,
                    next_flush: Instant::now()
                        + Duration::from_millis(
                            derive(&[options.seed, 99, u64::from(thread)]) % 3000,
                        ),
                };
                scope.spawn(move || worker.run(options.ops))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a writer thread panicked".to_owned()))
            })
            .collect()
    });
    for result in results {
        result?;
    }
    db.close().map_err(|e| format!("close failed: {e}"))
}

/// Standard output, one whole line per write, flushed at once so that the parent sees every
/// line printed before the kill.
#[derive(Default)]
struct Output {
    lock: Mutex<()>,
}

impl Output {
    fn emit(&self, line: &Line) -> Result<(), String> {
        let text = format!("{line}\n");
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to the parent: {e}"))
    }
}

/// One writer thread: its own keys (`t<thread>/...` in every agent), its own runs.
struct Worker<'a> {
    db: &'a Database,
    kv: KVStore,
    events: EventLog,
    state: StateMachine,
    trace: TraceStore,
    out: &'a Output,
    /// Connected to the shared store (`--schema`) rather than a directory.
    shared: bool,
    /// `--failover`: calls that fail with the store out of reach are made again.
    failover: bool,
    segment_bytes: u64,
    rng: Rng,
    iteration: u32,
    thread: u16,
    seq: u32,
    /// Runs this thread began or resumed, with their agents.
    active: Vec<(RunId, AgentIdx)>,
    /// Interrupted runs handed to this thread.
    leftovers: Vec<(RunId, AgentIdx)>,
    /// Runs of this thread that have ended (in this child or before it), which it may delete.
    ended: Vec<(RunId, AgentIdx)>,
    /// The forks among this thread's runs.
    lineage: history::Lineage,
    /// The newest points each active run may be forked at.
    points: BTreeMap<RunId, Vec<history::Point>>,
    /// The newest keys of their own that this thread's puts wrote.
    recent: Vec<(AgentIdx, String)>,
    /// What the event log, state cells and trace of each active run hold, as this thread
    /// knows it from its acknowledgements (or, for a resumed run, from reading them).
    prims: BTreeMap<RunId, Prims>,
    /// When this thread calls `checkpoint`, if it does.
    next_checkpoint: Option<Instant>,
    /// When this thread next calls `flush`.
    next_flush: Instant,
}

/// The primitives of one run: the next event sequence, each cell's version (0: no cell), the
/// newest span id (spans are 1..=spans).
#[derive(Debug, Clone, Default)]
struct Prims {
    events: u64,
    cells: [u64; CELL_NAMES.len()],
    spans: u64,
}

impl Worker<'_> {
    fn run(mut self, budget: Option<u64>) -> Result<(), String> {
        let mut done = 0u64;
        while budget.is_none_or(|b| done < b) {
            done += 1;
            let op = self.choose();
            let id = OpId {
                iteration: self.iteration,
                thread: self.thread,
                seq: self.seq,
            };
            self.seq += 1;
            self.out.emit(&Line::Submit {
                id,
                us: now_us(),
                op: op.clone(),
            })?;
            match self.execute(id, &op) {
                Ok((version, result)) => {
                    let us = now_us();
                    self.note(id, &op, result)?;
                    self.note_history(id, &op, version, result);
                    self.out.emit(&Line::Ack {
                        id,
                        us,
                        version,
                        result,
                    })?;
                }
                Err(message) => {
                    let us = now_us();
                    self.out.emit(&Line::Fail { id, us, message })?;
                    return Err(format!("operation {id} ({op}) failed"));
                }
            }
        }
        Ok(())
    }

    /// Picks the next operation from the thread's state.
    fn choose(&mut self) -> Op {
        let can_write = !self.active.is_empty();
        let w = |on: bool, weight: u64| if on { weight } else { 0 };
        // Extension point: the weights of new operations go here (and their arms below).
        let weights = [
            w(can_write, 30),                                              // 0 bytes put
            w(can_write, 16),                                              // 1 typed put
            w(can_write, 8),                                               // 2 put with a long TTL
            w(can_write, 3),                                               // 3 put with a short TTL
            w(can_write, 18),                                              // 4 delete
            w(self.active.len() < ACTIVE_RUNS_MAX, 2) + w(!can_write, 50), // 5 begin
            w(can_write, 2),                                               // 6 end an active run
            w(!self.leftovers.is_empty(), 3), // 7 resume an interrupted run
            w(!self.leftovers.is_empty(), 1), // 8 end an interrupted run
            w(can_write, 6),                  // 9 a multi-key transaction
            w(can_write, 10),                 // 10 an event append
            w(can_write, 8),                  // 11 a state compare-and-swap
            w(can_write, 8),                  // 12 a span
            w(can_write, 4),                  // 13 a mixed transaction
            w(self.can_fork(), 1),            // 14 fork an active run
            w(self.can_delete(), 1),          // 15 delete a run (or try to)
        ];
        if Instant::now() >= self.next_flush {
            self.next_flush += FLUSH_EVERY;
            return Op::Flush;
        }
        if self.next_checkpoint.is_some_and(|at| Instant::now() >= at) {
            self.next_checkpoint = None;
            return Op::Checkpoint;
        }
        match self.rng.weighted(&weights) {
            choice @ 0..=4 => {
                let (run, agent) = self.active[self.rng.below(self.active.len() as u64) as usize];
                let n = if self.rng.chance(500) {
                    self.rng.below(8)
                } else {
                    self.rng.below(KEYS_PER_THREAD)
                };
                let key = if choice != 4 && self.rng.chance(UNIQUE_PER_MILLE) {
                    let key = unique_key_name(self.thread, self.iteration, self.seq);
                    if self.recent.len() == RECENT_UNIQUE_MAX {
                        self.recent.remove(0);
                    }
                    self.recent.push((agent, key.clone()));
                    key
                } else if choice == 4
                    && self.rng.chance(200)
                    && let Some((_, key)) = self.recent.iter().rev().find(|(a, _)| *a == agent)
                {
                    key.clone()
                } else {
                    key_name(self.thread, n)
                };
                let payload = if choice == 1 || (choice >= 2 && self.rng.chance(300)) {
                    Payload::Typed(Typed::pick(&mut self.rng))
                } else {
                    Payload::Bytes(self.value_len())
                };
                let ttl_ms = match choice {
                    2 => Some(LONG_TTL_MS),
                    3 => Some(self.rng.range(SHORT_TTL_MS.0, SHORT_TTL_MS.1)),
                    _ => None,
                };
                if choice == 4 {
                    Op::Delete { run, agent, key }
                } else {
                    Op::Put {
                        run,
                        agent,
                        key,
                        payload,
                        ttl_ms,
                    }
                }
            }
            5 => self.begin(),
            6 => {
                let (run, _) = self.active[self.rng.below(self.active.len() as u64) as usize];
                Op::End { run }
            }
            9 => self.transaction(),
            choice @ 10..=13 => self.primitive(choice),
            14 => self.fork(),
            15 => self.delete(),
            // 7 and 8: resume or end an interrupted run (chosen only when there is one).
            _ => {
                let (run, _) = self.leftovers[self.rng.below(self.leftovers.len() as u64) as usize];
                if self.rng.chance(750) {
                    Op::Resume { run }
                } else {
                    Op::End { run }
                }
            }
        }
    }

    /// Begins a run of a random agent, one of the three ways.
    fn begin(&mut self) -> Op {
        let agent = self.rng.below(AGENTS.len() as u64) as AgentIdx;
        let how = match self.rng.below(3) {
            0 if agent == 0 => BeginHow::Default,
            0 | 1 => BeginHow::In,
            _ => {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
                bytes[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
                bytes[0] |= 1; // never the nil id
                BeginHow::WithId(RunId::from_bytes(bytes))
            }
        };
        Op::Begin { agent, how }
    }

    /// A transaction of 2 to 8 puts and deletes on distinct keys of this thread, in one of its
    /// active runs (there is one whenever this is chosen).
    fn transaction(&mut self) -> Op {
        let (run, agent) = self.active[self.rng.below(self.active.len() as u64) as usize];
        let count = self.rng.range(2, TXN_WRITES_MAX as u64 + 1);
        let mut writes: Vec<TxnWrite> = Vec::new();
        let mut keys = std::collections::BTreeSet::new();
        while (writes.len() as u64) < count {
            let unique = self.rng.chance(UNIQUE_PER_MILLE);
            let key = if unique {
                unique_key_name(self.thread, self.iteration, self.seq)
                    + &format!("#{}", writes.len())
            } else {
                key_name(self.thread, self.rng.below(KEYS_PER_THREAD))
            };
            if !keys.insert(key.clone()) {
                continue;
            }
            writes.push(if !unique && self.rng.chance(300) {
                TxnWrite::Delete { key }
            } else {
                let payload = if self.rng.chance(300) {
                    Payload::Typed(Typed::pick(&mut self.rng))
                } else {
                    Payload::Bytes(self.rng.below(400) as u32)
                };
                TxnWrite::Put { key, payload }
            });
        }
        Op::Txn { run, agent, writes }
    }

    /// An operation on the primitives of one of this thread's active runs (there is one
    /// whenever this is chosen): 10 an event, 11 a state compare-and-swap, 12 a span, 13 all of
    /// them and a put in one transaction.
    fn primitive(&mut self, choice: usize) -> Op {
        let (run, agent) = self.active[self.rng.below(self.active.len() as u64) as usize];
        let prims = self.prims.get(&run).cloned().unwrap_or_default();
        let event_type = EVENT_TYPES[self.rng.below(EVENT_TYPES.len() as u64) as usize];
        let event_payload = self.small_payload();
        let c = self.rng.below(CELL_NAMES.len() as u64) as usize;
        let (cell, expected) = (CELL_NAMES[c], prims.cells[c]);
        let span = self.span_spec(prims.spans);
        match choice {
            10 => Op::EventAppend {
                run,
                event_type,
                payload: event_payload,
            },
            11 => Op::StateCas {
                run,
                cell,
                expected,
                payload: event_payload,
            },
            12 => Op::TraceSpan { run, span },
            _ => {
                let key = if self.rng.chance(UNIQUE_PER_MILLE) {
                    unique_key_name(self.thread, self.iteration, self.seq)
                } else {
                    key_name(self.thread, self.rng.below(KEYS_PER_THREAD))
                };
                Op::Mixed {
                    run,
                    agent,
                    key,
                    payload: self.small_payload(),
                    event_type,
                    event_payload,
                    cell,
                    expected,
                    span,
                }
            }
        }
    }

    /// A payload for an event or a state cell: mostly typed, some bytes, a few kilobytes at most.
    fn small_payload(&mut self) -> Payload {
        if self.rng.chance(700) {
            Payload::Typed(Typed::pick(&mut self.rng))
        } else if self.rng.chance(900) {
            Payload::Bytes(self.rng.below(300) as u32)
        } else {
            Payload::Bytes(self.rng.range(300, 4000) as u32)
        }
    }

    /// A span whose parent, if any, is one of the run's `spans` earlier spans (mostly a recent
    /// one, as a trace of nested calls would have).
    fn span_spec(&mut self, spans: u64) -> SpanSpec {
        let parent = (spans > 0 && self.rng.chance(600)).then(|| {
            if self.rng.chance(700) {
                spans - self.rng.below(spans.min(4))
            } else {
                self.rng.range(1, spans + 1)
            }
        });
        SpanSpec {
            shape: SpanShape::pick(&mut self.rng),
            parent,
            tags: self.rng.below(1 << SPAN_TAGS.len()) as u8,
        }
    }

    /// What a resumed run's primitives hold, read from the database.
    fn read_prims(&self, id: OpId, run: RunId) -> Result<Prims, String> {
        let err = |e: in_mem::Error| format!("reading the primitives of resumed run {run}: {e}");
        let mut prims = Prims {
            events: self.again(id, || self.events.len(run)).map_err(err)?,
            ..Prims::default()
        };
        for (version, name) in prims.cells.iter_mut().zip(CELL_NAMES) {
            *version = self
                .again(id, || self.state.read(run, name))
                .map_err(err)?
                .map_or(0, |c| c.version);
        }
        prims.spans = self
            .again(id, || self.trace.spans(run))
            .map_err(err)?
            .iter()
            .map(|s| s.id)
            .max()
            .unwrap_or(0);
        Ok(prims)
    }

    /// Value sizes: mostly small, some kilobytes, a few tens of kilobytes, and rarely larger
    /// than a whole log segment (such a record gets a segment of its own).
    fn value_len(&mut self) -> u32 {
        let len = match self.rng.below(10_000) {
            0..7500 => self.rng.below(200),
            7500..9700 => self.rng.range(200, 2000),
            9700..9998 => self.rng.range(2000, 20_000),
            _ => self
                .rng
                .range(self.segment_bytes, self.segment_bytes + (100 << 10))
                .min(VALUE_LEN_MAX),
        };
        len as u32
    }

    /// Performs `op`; returns the version to report and the call's result.
    fn execute(&self, id: OpId, op: &Op) -> Result<(AckVersion, AckResult), String> {
        let db = self.db;
        let err = |e: in_mem::Error| e.to_string();
        match op {
            Op::Put {
                run,
                key,
                payload,
                ttl_ms,
                ..
            } => {
                let ttl = ttl_ms.map(Duration::from_millis);
                let version = match *payload {
                    // The value is made again for each try (it is derived from the id).
                    Payload::Bytes(len) => self
                        .again(id, || {
                            let value = bytes_value(id, 0, len);
                            match ttl {
                                Some(ttl) => db.put_with_ttl(*run, key, value, ttl),
                                None => db.put(*run, key, value),
                            }
                        })
                        .map_err(err)?,
                    Payload::Typed(typed) => typed.with_value(
                        id,
                        0,
                        TypedPut {
                            worker: self,
                            id,
                            run: *run,
                            key,
                            ttl,
                        },
                    )?,
                };
                Ok((AckVersion::Exact(version), AckResult::Nothing))
            }
            Op::Delete { run, key, .. } => {
                let (existed, range) = self.ranged(|| self.again(id, || db.delete(*run, key)))?;
                let version = if existed { range } else { AckVersion::None };
                Ok((version, AckResult::Deleted(existed)))
            }
            Op::Begin { agent, how } => {
                let (run, range) = self.ranged(|| {
                    self.again(id, || match how {
                        BeginHow::Default => db.try_begin_run(),
                        BeginHow::In => db.begin_run_in(&agent_id(*agent)),
                        BeginHow::WithId(run) => {
                            db.begin_run_with_namespace(&Namespace::for_run(agent_id(*agent), *run))
                        }
                    })
                })?;
                if let BeginHow::WithId(asked) = how
                    && *asked != run
                {
                    return Err(format!("began run {run}, asked for {asked}"));
                }
                Ok((range, AckResult::Run(run)))
            }
            Op::End { run } => {
                let ((), range) = self.ranged(|| {
                    if self.shared && self.leftovers.iter().any(|(r, _)| r == run) {
                        // Another host's run (its lease has run out): this host's first.
                        self.again(id, || db.take_over_run(*run))?;
                    }
                    self.end_run_again(id, *run)
                })?;
                Ok((range, AckResult::Nothing))
            }
            Op::Resume { run } => {
                // In shared mode the takeover is the resumption: the store makes the run
                // Active again, owned by this host, and its record says so (`resume_run` of
                // an Active run would be refused).
                let ((), range) = self.ranged(|| {
                    self.again(id, || {
                        if self.shared {
                            db.take_over_run(*run)
                        } else {
                            db.resume_run(*run)
                        }
                    })
                })?;
                Ok((range, AckResult::Nothing))
            }
            Op::Txn { run, writes, .. } => self.execute_txn(id, *run, writes),
            Op::Flush => {
                self.again(id, || db.flush()).map_err(err)?;
                Ok((AckVersion::None, AckResult::Nothing))
            }
            Op::Checkpoint => {
                let info = db.checkpoint().map_err(err)?;
                Ok((AckVersion::None, AckResult::Checkpoint(info.version)))
            }
            Op::EventAppend { .. }
            | Op::StateCas { .. }
            | Op::TraceSpan { .. }
            | Op::Mixed { .. } => self.execute_primitive(id, op),
            Op::Fork { .. }
            | Op::DeleteRun { .. }
            | Op::DeleteRefused { .. }
            | Op::DeleteTree { .. } => self.execute_history(id, op),
        }
    }

    /// Performs a multi-key transaction.
    fn execute_txn(
        &self,
        id: OpId,
        run: RunId,
        writes: &[TxnWrite],
    ) -> Result<(AckVersion, AckResult), String> {
        let db = self.db;
        let err = |e: in_mem::Error| e.to_string();
        // Typed values are converted before the transaction, whose closure may run
        // again on a conflict (none are expected: each run has one writer thread).
        let values = writes
            .iter()
            .zip(0u16..)
            .map(|(w, part)| match w {
                TxnWrite::Put { payload, .. } => payload.expected(id, part).map(Some),
                TxnWrite::Delete { .. } => Ok(None),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let (mask, version) = self
            .again(id, || {
                db.transaction_committed(run, RetryPolicy::default(), |tx| {
                    let mut mask = 0u8;
                    for ((write, value), bit) in writes.iter().zip(&values).zip(0u32..) {
                        match (write, value) {
                            (TxnWrite::Put { key, .. }, Some(value)) => {
                                tx.put_value(key, value)?;
                            }
                            (TxnWrite::Delete { key }, _) => {
                                if tx.delete(key)? {
                                    mask |= 1 << bit;
                                }
                            }
                            (TxnWrite::Put { .. }, None) => {}
                        }
                    }
                    Ok::<u8, in_mem::Error>(mask)
                })
            })
            .map_err(err)?;
        let version = version.map_or(AckVersion::None, AckVersion::Exact);
        Ok((version, AckResult::Deletes(mask)))
    }

    /// Performs an operation on the primitives.
    fn execute_primitive(&self, id: OpId, op: &Op) -> Result<(AckVersion, AckResult), String> {
        let db = self.db;
        match op {
            Op::EventAppend {
                run,
                event_type,
                payload,
            } => {
                let value = payload.expected(id, 0)?;
                let (seq, range) = self
                    .ranged(|| self.again(id, || self.events.append(*run, event_type, &value)))?;
                Ok((range, AckResult::Seq(seq)))
            }
            Op::StateCas {
                run,
                cell,
                expected,
                payload,
            } => {
                let value = payload.expected(id, 0)?;
                let (version, range) = self.ranged(|| {
                    self.again(id, || {
                        if *expected == 0 {
                            self.state.init(*run, cell, &value)
                        } else {
                            self.state.cas(*run, cell, *expected, &value)
                        }
                    })
                })?;
                Ok((range, AckResult::CellVersion(version)))
            }
            Op::TraceSpan { run, span } => {
                let new = span.new_span(id, 0)?;
                let (span_id, range) =
                    self.ranged(|| self.again(id, || self.trace.record(*run, new.clone())))?;
                Ok((range, AckResult::Span(span_id)))
            }
            Op::Mixed {
                run,
                key,
                payload,
                event_type,
                event_payload,
                cell,
                expected,
                span,
                ..
            } => {
                let kv_value = payload.expected(id, 0)?;
                let event_value = event_payload.expected(id, 1)?;
                let cell_value = event_payload.expected(id, 2)?;
                let new = span.new_span(id, 3)?;
                let ((seq, cell_version, span_id), version) = self
                    .again(id, || {
                        db.transaction_committed(*run, RetryPolicy::default(), |tx| {
                            tx.put_value(key, &kv_value)?;
                            let seq = EventLog::append_in(tx, event_type, &event_value)?;
                            let cell_version = if *expected == 0 {
                                StateMachine::init_in(tx, cell, &cell_value)?
                            } else {
                                StateMachine::cas_in(tx, cell, *expected, &cell_value)?
                            };
                            let span_id = TraceStore::record_in(tx, new.clone())?;
                            Ok::<_, in_mem::Error>((seq, cell_version, span_id))
                        })
                    })
                    .map_err(|e| e.to_string())?;
                let version =
                    version.ok_or("a transaction that wrote four things committed nothing")?;
                Ok((
                    AckVersion::Exact(version),
                    AckResult::Mixed {
                        seq,
                        cell: cell_version,
                        span: span_id,
                    },
                ))
            }
            _ => Err(format!("{op} is not an operation on the primitives")),
        }
    }

    /// Calls `f`, a call that commits once but returns no version, and bounds its version by
    /// the visible version before and after it. Shared mode has no such bound
    /// ([`AckVersion::Unbounded`]).
    fn ranged<T, E: std::fmt::Display>(
        &self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<(T, AckVersion), String> {
        if self.shared {
            let out = f().map_err(|e| e.to_string())?;
            return Ok((out, AckVersion::Unbounded));
        }
        let before = self.db.stats().visible_version;
        let out = f().map_err(|e| e.to_string())?;
        let after = self.db.stats().visible_version;
        Ok((
            out,
            AckVersion::Range {
                lo: before + 1,
                hi: after,
            },
        ))
    }

    /// Updates the thread's runs and what their primitives hold after an acknowledged
    /// operation.
    fn note(&mut self, id: OpId, op: &Op, result: AckResult) -> Result<(), String> {
        let cell_index = |cell: &str| CELL_NAMES.iter().position(|c| *c == cell).unwrap_or(0);
        match (op, result) {
            (Op::Begin { agent, .. }, AckResult::Run(run)) => {
                self.active.push((run, *agent));
                self.prims.insert(run, Prims::default());
            }
            (Op::End { run }, _) => {
                let agent = self
                    .active
                    .iter()
                    .chain(&self.leftovers)
                    .find(|(r, _)| r == run)
                    .map(|(_, a)| *a);
                self.active.retain(|(r, _)| r != run);
                self.leftovers.retain(|(r, _)| r != run);
                self.prims.remove(run);
                self.points.remove(run);
                if let Some(agent) = agent {
                    self.ended.push((*run, agent));
                }
            }
            (Op::Resume { run }, _) => {
                if let Some(at) = self.leftovers.iter().position(|(r, _)| r == run) {
                    let entry = self.leftovers.swap_remove(at);
                    self.active.push(entry);
                }
                let prims = self.read_prims(id, *run)?;
                self.prims.insert(*run, prims);
            }
            (Op::EventAppend { run, .. }, AckResult::Seq(seq)) => {
                self.prims.entry(*run).or_default().events = seq + 1;
            }
            (Op::StateCas { run, cell, .. }, AckResult::CellVersion(version)) => {
                self.prims.entry(*run).or_default().cells[cell_index(cell)] = version;
            }
            (Op::TraceSpan { run, .. }, AckResult::Span(id)) => {
                self.prims.entry(*run).or_default().spans = id;
            }
            (Op::Mixed { run, cell, .. }, AckResult::Mixed { seq, cell: v, span }) => {
                let prims = self.prims.entry(*run).or_default();
                prims.events = seq + 1;
                prims.cells[cell_index(cell)] = v;
                prims.spans = span;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Puts a typed value through `KVStore` (operation `id` of `worker`'s).
struct TypedPut<'a, 'w> {
    worker: &'a Worker<'w>,
    id: OpId,
    run: RunId,
    key: &'a str,
    ttl: Option<Duration>,
}

impl TypedSink for TypedPut<'_, '_> {
    type Out = Result<u64, String>;
    fn take<T: Serialize>(self, value: &T) -> Self::Out {
        let kv = &self.worker.kv;
        self.worker
            .again(self.id, || match self.ttl {
                Some(ttl) => kv.put_with_ttl(self.run, self.key, value, ttl),
                None => kv.put(self.run, self.key, value),
            })
            .map_err(|e| e.to_string())
    }
}
