//! The crash test's workload: the operations a child performs, the values they write, the modes,
//! and the line protocol between child and parent (`SUBMIT` / `ACK`).
//!
//! # What the workload covers
//!
//! - the agents' memory: byte and typed puts (with and without TTL) and deletes ([`Op::Put`],
//!   [`Op::Delete`]), multi-key transactions ([`Op::Txn`]);
//! - the run lifecycle: [`Op::Begin`] (three ways), [`Op::End`], [`Op::Resume`];
//! - the primitives of each active run: [`Op::EventAppend`] (`EventLog::append`),
//!   [`Op::StateCas`] (`StateMachine::init` once, then `cas` from the cell's current version),
//!   [`Op::TraceSpan`] (`TraceStore::record` of a finished span of any kind, with tags, and
//!   often a parent among the run's earlier spans), and [`Op::Mixed`]: one
//!   `transaction_committed` that puts a key, appends an event, swaps a cell and records a span
//!   with the `*_in` calls;
//! - run history: [`Op::Fork`] (`Database::fork_run` at `At::Now` or at an acknowledged
//!   version, [`ForkAt`]; the fork is an active run that every other operation writes in),
//!   [`Op::DeleteRun`], [`Op::DeleteTree`] (`delete_run_tree`) and [`Op::DeleteRefused`]
//!   (`delete_run` of a run with forks, which must be `Error::HasForks`);
//! - durability calls: [`Op::Flush`] and [`Op::Checkpoint`] (`Database::checkpoint`, rarely,
//!   at a seeded moment: kills land during checkpoints, and later recoveries start from one,
//!   and after a second one from a log whose first segments are deleted).
//!
//! Every value is derived from the operation's id and a part number ([`Payload::expected`],
//! [`SpanSpec::kind`]), so a line names it in a few bytes and the oracle knows it exactly.
//!
//! # Extension point
//!
//! Every operation is one variant of [`Op`]. Adding one takes four steps, each next to the
//! existing variants:
//!
//! 1. a variant here, with its text form in [`Op`]'s `Display` and [`parse_op`] (the
//!    primitives' in `parse_primitive_op`), and, if the call returns something the oracle
//!    should check, an [`AckResult`];
//! 2. how the child performs it (`child.rs`, `Worker::execute`, or `execute_primitive`) and
//!    which version it reports (exact from `transaction_committed`, else the `ranged` bounds);
//! 3. how the child chooses it (`child.rs`, `Worker::choose`), and what the child must
//!    remember to choose the next one (the `Prims` of each run: next sequence, cell versions,
//!    newest span id, read back from the database when an interrupted run is resumed);
//! 4. what it does to the recovered state (`oracle.rs`, `effects_of` / `primitive_effects`):
//!    the cells it changes. A new kind of state needs an `oracle::Cell` variant, its `Expect`
//!    (`base_expect`, `apply`, `cell_matches`, `describe_mismatch`), a field in `State` and
//!    `Observed`, and a read in `observe.rs`.
//!
//! The cells and what the oracle checks of them:
//!
//! - `Cell::Kv` (a key of an agent) and `Cell::Run` (a run's status and agent): exactly the
//!   base plus the thread's recovered prefix;
//! - `Cell::Events(run)`, the whole log: exactly the base's events followed by the appends in
//!   the prefix, in order, with their types, payloads and timestamps; oracle 4 on every log:
//!   sequences dense from 0 and `verify_chain` succeeds with the same count;
//! - `Cell::State((run, name))`: value and version of the last compare-and-swap in the prefix
//!   (version `expected + 1`); oracle 4: no cell's version below what the previous check saw;
//! - `Cell::Spans(run)`, the whole trace: the base's spans followed by those in the prefix, ids
//!   dense from 1, kind, parent, tags, attributes and status as written; oracle 4 on every
//!   trace: each parent exists (and precedes its child);
//! - a fork's `Cell::Events`, `Cell::State` and `Cell::Spans` start as its parent's at the
//!   fork point (`oracle::Effect::Inherit`); a deletion empties every cell of the run and its
//!   `Cell::Run` together (`oracle/history.rs` has the checks of lineage and views);
//! - and across them: what each primitive call returned (sequence, cell version, span id) is
//!   what program order says; every run with primitive data is in the run index, interrupted or
//!   completed; a returned checkpoint is a flush (in every mode), recovery starts from a
//!   checkpoint no older than it or than the previous recovery's, and no checkpoint is ever
//!   found damaged.
//!
//! [`Op::Mixed`] and [`Op::Txn`] are one commit with one exact version and several effects; the
//! oracle applies all effects of an op or none, so atomicity needs nothing more. Keys, runs,
//! and so each run's event log, cells and trace, are owned by one writer thread per child, so
//! the per-thread prefix check orders all their effects without extra work.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use in_mem::primitives::to_value;
use in_mem::{AgentId, DurabilityMode, RunId, Value};
use serde::Serialize;

use super::rng::{Rng, derive};

mod history;
mod line;
mod span;
#[cfg(test)]
mod tests;

pub use history::{ForkAt, kv_digest};
pub use line::{AckResult, AckVersion, Line, now_us};
use span::parse_span;
pub use span::{SPAN_TAGS, SpanShape, SpanSpec};

/// `Batched` as the crash test runs it: the default cadence.
pub const BATCHED_INTERVAL_MS: u64 = 100;
/// `Batched`'s commit threshold as the crash test runs it: the default.
pub const BATCHED_MAX_COMMITS: u64 = 1000;
/// `Async`'s interval as the crash test runs it: short enough that most of a run's commits are
/// older than the loss window when the kill comes.
pub const ASYNC_INTERVAL_MS: u64 = 100;
/// Log segment sizes the children use, one per iteration (seeded): small ones, so that kills
/// land during rotation and records larger than a segment occur, and larger ones, under which
/// `Async` keeps commits buffered longer (every rotation writes the buffer out). A directory
/// sees several sizes over its life.
pub const SEGMENT_BYTES: [u64; 4] = [64 << 10, 256 << 10, 1 << 20, 4 << 20];
/// Log segment size of the parent's checks.
pub const CHECK_SEGMENT_BYTES: u64 = 256 << 10;
/// Keys per writer thread and agent; the thread's keys are `t<thread>/...`.
pub const KEYS_PER_THREAD: u64 = 64;

/// A durability mode under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Strict,
    Batched,
    Async,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Strict, Mode::Batched, Mode::Async];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Batched => "batched",
            Mode::Async => "async",
        }
    }

    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn durability(self) -> DurabilityMode {
        match self {
            Mode::Strict => DurabilityMode::Strict,
            Mode::Batched => DurabilityMode::Batched {
                interval_ms: BATCHED_INTERVAL_MS,
                max_commits: BATCHED_MAX_COMMITS,
            },
            Mode::Async => DurabilityMode::Async {
                interval_ms: ASYNC_INTERVAL_MS,
            },
        }
    }

    /// Salt that makes each mode's seeds differ.
    pub fn salt(self) -> u64 {
        match self {
            Mode::Strict => 1,
            Mode::Batched => 2,
            Mode::Async => 3,
        }
    }
}

/// Index into [`AGENTS`].
pub type AgentIdx = u8;

/// The agents the workload writes to: two tenants, several apps and agents, the same agent name
/// under different tenants and apps (their memories must stay apart), and names with a space
/// and non-ASCII letters. Index 0 is the default agent of `Database::try_begin_run`.
pub const AGENTS: [(&str, &str, &str); 5] = [
    ("default", "default", "default"),
    ("acme", "planner", "agent-a"),
    ("acme", "planner", "agent-b"),
    ("acme", "coder", "agent-a"),
    ("globex", "app ü", "agent-a"),
];

pub fn agent_id(idx: AgentIdx) -> AgentId {
    let (tenant, app, agent) = AGENTS[usize::from(idx) % AGENTS.len()];
    AgentId::new(tenant, app, agent)
}

pub fn agent_index(id: &AgentId) -> Option<AgentIdx> {
    AGENTS
        .iter()
        .position(|&(t, a, g)| id.tenant() == t && id.app() == a && id.agent() == g)
        .and_then(|i| AgentIdx::try_from(i).ok())
}

/// Names one submitted operation: the iteration (child process), the writer thread, and the
/// thread's sequence number. Text form `iteration.thread.seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId {
    pub iteration: u32,
    pub thread: u16,
    pub seq: u32,
}

impl OpId {
    /// A number that identifies this id, to seed its values.
    fn seed(self) -> u64 {
        derive(&[
            u64::from(self.iteration),
            u64::from(self.thread),
            u64::from(self.seq),
        ])
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.iteration, self.thread, self.seq)
    }
}

impl FromStr for OpId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split('.');
        let mut next = || {
            parts
                .next()
                .ok_or_else(|| format!("bad operation id {s:?}"))
        };
        let iteration = next()?.parse().map_err(|_| format!("bad id {s:?}"))?;
        let thread = next()?.parse().map_err(|_| format!("bad id {s:?}"))?;
        let seq = next()?.parse().map_err(|_| format!("bad id {s:?}"))?;
        Ok(OpId {
            iteration,
            thread,
            seq,
        })
    }
}

/// How a run is begun: the three ways the API offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginHow {
    /// `Database::try_begin_run`: the default agent, an id made by the database.
    Default,
    /// `Database::begin_run_in`: an id made by the database.
    In,
    /// `Database::begin_run_with_namespace`: the caller's id, known before the call.
    WithId(RunId),
}

/// What a put stores. The value itself is derived from the operation id (see
/// [`Payload::expected`]), so a line names it in a few bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// `Database::put` of this many bytes.
    Bytes(u32),
    /// `KVStore::put` of a typed value.
    Typed(Typed),
}

/// The typed values `KVStore` stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    Int,
    Text,
    Note,
    Null,
    Float,
    List,
    Bool,
}

impl Typed {
    const ALL: [Typed; 7] = [
        Typed::Int,
        Typed::Text,
        Typed::Note,
        Typed::Null,
        Typed::Float,
        Typed::List,
        Typed::Bool,
    ];

    fn name(self) -> &'static str {
        match self {
            Typed::Int => "int",
            Typed::Text => "text",
            Typed::Note => "note",
            Typed::Null => "null",
            Typed::Float => "float",
            Typed::List => "list",
            Typed::Bool => "bool",
        }
    }

    pub fn pick(rng: &mut Rng) -> Typed {
        Typed::ALL[rng.below(Typed::ALL.len() as u64) as usize]
    }
}

/// A structured value, as an agent would keep one.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub id: String,
    pub step: u64,
    pub score: f64,
    pub tags: Vec<String>,
    pub done: bool,
    pub parent: Option<String>,
    pub counts: BTreeMap<String, i64>,
}

/// Calls `f` with the typed value of `id`, whatever its Rust type.
pub trait TypedSink {
    type Out;
    fn take<T: Serialize>(self, value: &T) -> Self::Out;
}

impl Typed {
    /// Hands the value that write `part` of operation `id` stores to `sink`.
    pub fn with_value<S: TypedSink>(self, id: OpId, part: u16, sink: S) -> S::Out {
        let seed = id.seed() ^ (u64::from(part) << 40);
        let mut rng = Rng::new(seed);
        match self {
            Typed::Int => sink.take(&rng.next_u64().cast_signed()),
            Typed::Text => sink.take(&format!("note {id}: naïve café ✓ {}", rng.below(1000))),
            Typed::Note => {
                let n = rng.below(5);
                let note = Note {
                    id: id.to_string(),
                    step: rng.below(1 << 40),
                    score: f64::from(rng.below(1_000_000) as u32) / 7.0,
                    tags: (0..n)
                        .map(|i| format!("tag{i}-{}", rng.below(100)))
                        .collect(),
                    done: rng.chance(500),
                    parent: rng.chance(500).then(|| format!("p{}", rng.below(1000))),
                    counts: (0..n)
                        .map(|i| (format!("c{i}"), rng.next_u64().cast_signed()))
                        .collect(),
                };
                sink.take(&note)
            }
            Typed::Null => sink.take(&()),
            Typed::Float => sink.take(&(f64::from(rng.next_u64() as u32) / 1024.0 - 1e6)),
            Typed::List => {
                let list: Vec<u32> = (0..rng.below(16)).map(|_| rng.next_u64() as u32).collect();
                sink.take(&list)
            }
            Typed::Bool => sink.take(&rng.chance(500)),
        }
    }
}

struct ToValue;

impl TypedSink for ToValue {
    type Out = Result<Value, String>;
    fn take<T: Serialize>(self, value: &T) -> Self::Out {
        to_value(value).map_err(|e| format!("typed value does not convert: {e}"))
    }
}

impl Payload {
    /// The exact [`Value`] that write `part` of operation `id` stores (bytes come back as
    /// `Value::Bytes`). Single puts are part 0; a transaction's writes are parts 0, 1, ...
    pub fn expected(self, id: OpId, part: u16) -> Result<Value, String> {
        match self {
            Payload::Bytes(len) => Ok(Value::Bytes(bytes_value(id, part, len))),
            Payload::Typed(typed) => typed.with_value(id, part, ToValue),
        }
    }
}

/// The bytes that write `part` of operation `id` stores: its id first (so a value found on disk
/// names its writer), then seeded binary filler up to `len`.
pub fn bytes_value(id: OpId, part: u16, len: u32) -> Vec<u8> {
    let head = if part == 0 {
        format!("{id}|")
    } else {
        format!("{id}#{part}|")
    };
    let mut rng = Rng::new(id.seed() ^ u64::from(len) ^ (u64::from(part) << 40));
    let mut out: Vec<u8> = head.into_bytes();
    out.truncate(len as usize);
    while out.len() < len as usize {
        let word = rng.next_u64().to_le_bytes();
        let take = (len as usize - out.len()).min(word.len());
        out.extend_from_slice(&word[..take]);
    }
    out
}

/// The user key of key number `n` of writer thread `thread`. Each thread writes only its own
/// keys, so the oracle can order every key's writes by the thread's program order. A few keys
/// are long (hundreds of bytes) to vary record sizes.
pub fn key_name(thread: u16, n: u64) -> String {
    if n % 16 == 15 {
        format!("t{thread}/long-{n:02}-{}", "x".repeat(200 + n as usize))
    } else {
        format!("t{thread}/k{n:02}")
    }
}

/// The prefixes of the keys of writer thread `thread` that iteration `iteration` may change:
/// the shared ones (`key_name`) and its own unique ones (`unique_key_name`). Unique keys of
/// earlier iterations never change again, so views of them at any two points agree; leaving
/// them out keeps a fork's views (`AckResult::Fork`) cheap as a directory fills up.
pub fn view_prefixes(thread: u16, iteration: u32) -> [String; 3] {
    [
        format!("t{thread}/k"),
        format!("t{thread}/long-"),
        format!("t{thread}/u{iteration}."),
    ]
}

/// A key that only operation `iteration.thread.seq` writes (later deletes aside).
pub fn unique_key_name(thread: u16, iteration: u32, seq: u32) -> String {
    format!("t{thread}/u{iteration}.{seq}")
}

/// One call the child makes. See the module docs for how to add one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `Database::put` / `put_with_ttl` (bytes) or `KVStore::put` / `put_with_ttl` (typed).
    Put {
        run: RunId,
        agent: AgentIdx,
        key: String,
        payload: Payload,
        ttl_ms: Option<u64>,
    },
    /// `Database::delete`.
    Delete {
        run: RunId,
        agent: AgentIdx,
        key: String,
    },
    /// `try_begin_run`, `begin_run_in` or `begin_run_with_namespace`.
    Begin { agent: AgentIdx, how: BeginHow },
    /// `Database::end_run` (of an active or an interrupted run).
    End { run: RunId },
    /// `Database::resume_run` of an interrupted run.
    Resume { run: RunId },
    /// `Database::transaction_committed`: several puts and deletes of the thread's own keys,
    /// one commit.
    Txn {
        run: RunId,
        agent: AgentIdx,
        writes: Vec<TxnWrite>,
    },
    /// `Database::flush`: everything acknowledged before it is durable once it returns.
    Flush,
    /// `EventLog::append` to the run's event log; the payload is value part 0 of the op.
    EventAppend {
        run: RunId,
        event_type: &'static str,
        payload: Payload,
    },
    /// `StateMachine::cas` of one of the run's cells from version `expected` (the cell's current
    /// version as the child knows it) to value part 0 of the op; `expected` 0 is
    /// `StateMachine::init` of a cell that does not exist yet. Either way the cell's new version
    /// is `expected + 1`.
    StateCas {
        run: RunId,
        cell: &'static str,
        expected: u64,
        payload: Payload,
    },
    /// `TraceStore::record` of a finished span (see [`SpanSpec`]; value part 0).
    TraceSpan { run: RunId, span: SpanSpec },
    /// One `Database::transaction_committed` that puts a key of the run's agent (value part 0),
    /// appends an event (part 1), compare-and-swaps a state cell (part 2) and records a span
    /// (part 3): all of it after recovery, or none.
    Mixed {
        run: RunId,
        agent: AgentIdx,
        key: String,
        payload: Payload,
        event_type: &'static str,
        event_payload: Payload,
        cell: &'static str,
        expected: u64,
        span: SpanSpec,
    },
    /// `Database::checkpoint`: like `flush`, everything acknowledged before it is durable once
    /// it returns, and recovery starts from it (or a newer one).
    Checkpoint,
    /// `Database::fork_run` of one of the thread's active runs (`parent`, of agent `agent`), at
    /// `At::Now` or at the exact version an earlier acknowledged operation on it returned. The
    /// fork becomes an active run of the thread.
    Fork {
        parent: RunId,
        agent: AgentIdx,
        at: ForkAt,
    },
    /// `Database::delete_run` of an ended or interrupted run of the thread that has no forks.
    DeleteRun { run: RunId },
    /// `Database::delete_run` of a run with `forks` forks: refused with `Error::HasForks`
    /// naming as many, and nothing changes.
    DeleteRefused { run: RunId, forks: usize },
    /// `Database::delete_run_tree` of a run: `members` is the run and every run forked from it
    /// (and from those), all ended or interrupted, the root first.
    DeleteTree { run: RunId, members: Vec<RunId> },
}

/// One write of a transaction (distinct keys within one transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnWrite {
    Put { key: String, payload: Payload },
    Delete { key: String },
}

/// Most writes in one transaction; `AckResult::Deletes` has a bit per write.
pub const TXN_WRITES_MAX: usize = 8;

impl Op {
    /// Whether this operation writes a commit (when it writes anything at all).
    pub fn commits(&self) -> bool {
        !matches!(self, Op::Flush | Op::Checkpoint | Op::DeleteRefused { .. })
    }

    /// Whether this operation makes everything acknowledged before it durable once it returns.
    pub fn syncs(&self) -> bool {
        matches!(self, Op::Flush | Op::Checkpoint)
    }

    /// The run whose event log, state cells or trace this operation writes, if any.
    pub fn primitive_run(&self) -> Option<RunId> {
        match self {
            Op::EventAppend { run, .. }
            | Op::StateCas { run, .. }
            | Op::TraceSpan { run, .. }
            | Op::Mixed { run, .. } => Some(*run),
            _ => None,
        }
    }

    /// The keys of the agents' memory this operation writes.
    pub fn kv_keys(&self) -> Vec<(AgentIdx, String)> {
        match self {
            Op::Put { agent, key, .. }
            | Op::Delete { agent, key, .. }
            | Op::Mixed { agent, key, .. } => {
                vec![(*agent, key.clone())]
            }
            Op::Txn { agent, writes, .. } => writes
                .iter()
                .map(|w| match w {
                    TxnWrite::Put { key, .. } | TxnWrite::Delete { key } => (*agent, key.clone()),
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The event types the workload appends (no spaces: the line protocol splits on them).
pub const EVENT_TYPES: [&str; 4] = ["observation", "tool_result", "décision", "plan-step"];
/// The state cells of every run.
pub const CELL_NAMES: [&str; 2] = ["step", "phase-ü"];

/// Finds `name` in `names`, for parsing.
fn known(names: &[&'static str], name: Option<&str>, what: &str) -> Result<&'static str, String> {
    let name = name.ok_or_else(|| format!("missing {what}"))?;
    names
        .iter()
        .copied()
        .find(|n| *n == name)
        .ok_or_else(|| format!("unknown {what} {name:?}"))
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Put {
                run,
                agent,
                key,
                payload,
                ttl_ms,
            } => {
                write!(f, "put {run} {agent} {key} ")?;
                write_payload(f, *payload)?;
                match ttl_ms {
                    Some(ms) => write!(f, " {ms}"),
                    None => write!(f, " -"),
                }
            }
            Op::Delete { run, agent, key } => write!(f, "del {run} {agent} {key}"),
            Op::Begin { agent, how } => match how {
                BeginHow::Default => write!(f, "begin {agent} default"),
                BeginHow::In => write!(f, "begin {agent} in"),
                BeginHow::WithId(run) => write!(f, "begin {agent} id:{run}"),
            },
            Op::End { run } => write!(f, "end {run}"),
            Op::Resume { run } => write!(f, "resume {run}"),
            Op::Txn { run, agent, writes } => {
                write!(f, "txn {run} {agent}")?;
                for w in writes {
                    match w {
                        TxnWrite::Put { key, payload } => {
                            write!(f, " put:{key}:")?;
                            write_payload(f, *payload)?;
                        }
                        TxnWrite::Delete { key } => write!(f, " del:{key}")?,
                    }
                }
                Ok(())
            }
            Op::Flush => write!(f, "flush"),
            Op::EventAppend {
                run,
                event_type,
                payload,
            } => {
                write!(f, "event {run} {event_type} ")?;
                write_payload(f, *payload)
            }
            Op::StateCas {
                run,
                cell,
                expected,
                payload,
            } => {
                write!(f, "cas {run} {cell} {expected} ")?;
                write_payload(f, *payload)
            }
            Op::TraceSpan { run, span } => write!(f, "span {run} {span}"),
            Op::Mixed {
                run,
                agent,
                key,
                payload,
                event_type,
                event_payload,
                cell,
                expected,
                span,
            } => {
                write!(f, "mixed {run} {agent} {key} ")?;
                write_payload(f, *payload)?;
                write!(f, " {event_type} ")?;
                write_payload(f, *event_payload)?;
                write!(f, " {cell} {expected} {span}")
            }
            Op::Checkpoint => write!(f, "checkpoint"),
            Op::Fork { .. }
            | Op::DeleteRun { .. }
            | Op::DeleteRefused { .. }
            | Op::DeleteTree { .. } => history::write_op(f, self),
        }
    }
}

fn write_payload(f: &mut fmt::Formatter<'_>, payload: Payload) -> fmt::Result {
    match payload {
        Payload::Bytes(len) => write!(f, "bytes:{len}"),
        Payload::Typed(t) => write!(f, "typed:{}", t.name()),
    }
}

fn parse_payload(text: Option<&str>) -> Result<Payload, String> {
    match text.and_then(|p| p.split_once(':')) {
        Some(("bytes", len)) => Ok(Payload::Bytes(parse_num(Some(len), "length")?)),
        Some(("typed", name)) => Ok(Payload::Typed(
            Typed::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .ok_or_else(|| format!("bad typed kind {name:?}"))?,
        )),
        _ => Err(format!("bad payload {text:?}")),
    }
}

pub(super) fn parse_run(s: Option<&str>) -> Result<RunId, String> {
    let s = s.ok_or("missing run id")?;
    s.parse().map_err(|e| format!("bad run id {s:?}: {e}"))
}

pub(super) fn parse_num<T: FromStr>(s: Option<&str>, what: &str) -> Result<T, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    s.parse().map_err(|_| format!("bad {what} {s:?}"))
}

/// Parses the text form of an [`Op`] (what follows `SUBMIT <id> <time>`).
pub fn parse_op<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<Op, String> {
    let op = match words.next().ok_or("missing operation")? {
        "put" => {
            let run = parse_run(words.next())?;
            let agent = parse_num(words.next(), "agent")?;
            let key = words.next().ok_or("missing key")?.to_owned();
            let payload = parse_payload(words.next())?;
            let ttl_ms = match words.next() {
                Some("-") => None,
                other => Some(parse_num(other, "ttl")?),
            };
            Op::Put {
                run,
                agent,
                key,
                payload,
                ttl_ms,
            }
        }
        "del" => Op::Delete {
            run: parse_run(words.next())?,
            agent: parse_num(words.next(), "agent")?,
            key: words.next().ok_or("missing key")?.to_owned(),
        },
        "begin" => {
            let agent = parse_num(words.next(), "agent")?;
            let how = match words.next() {
                Some("default") => BeginHow::Default,
                Some("in") => BeginHow::In,
                Some(other) => match other.strip_prefix("id:") {
                    Some(run) => BeginHow::WithId(parse_run(Some(run))?),
                    None => return Err(format!("bad begin kind {other:?}")),
                },
                None => return Err("missing begin kind".to_owned()),
            };
            Op::Begin { agent, how }
        }
        "end" => Op::End {
            run: parse_run(words.next())?,
        },
        "resume" => Op::Resume {
            run: parse_run(words.next())?,
        },
        "flush" => Op::Flush,
        kind @ ("fork" | "delete-run" | "delete-refused" | "delete-tree") => {
            history::parse_op(kind, &mut words)?
        }
        kind @ ("event" | "cas" | "span" | "mixed" | "checkpoint") => {
            parse_primitive_op(kind, &mut words)?
        }
        "txn" => {
            let run = parse_run(words.next())?;
            let agent = parse_num(words.next(), "agent")?;
            let mut writes = Vec::new();
            for word in words.by_ref() {
                let write = match word.split_once(':') {
                    Some(("put", rest)) => {
                        let (key, payload) = rest
                            .split_once(':')
                            .ok_or_else(|| format!("bad transaction write {word:?}"))?;
                        TxnWrite::Put {
                            key: key.to_owned(),
                            payload: parse_payload(Some(payload))?,
                        }
                    }
                    Some(("del", key)) => TxnWrite::Delete {
                        key: key.to_owned(),
                    },
                    _ => return Err(format!("bad transaction write {word:?}")),
                };
                writes.push(write);
            }
            if writes.is_empty() || writes.len() > TXN_WRITES_MAX {
                return Err(format!("a transaction of {} writes", writes.len()));
            }
            Op::Txn { run, agent, writes }
        }
        other => return Err(format!("unknown operation {other:?}")),
    };
    match words.next() {
        None => Ok(op),
        Some(extra) => Err(format!("unexpected {extra:?} after the operation")),
    }
}

/// Parses the operations on the primitives and `checkpoint` (after their first word, `kind`).
fn parse_primitive_op<'a>(
    kind: &str,
    words: &mut impl Iterator<Item = &'a str>,
) -> Result<Op, String> {
    Ok(match kind {
        "checkpoint" => Op::Checkpoint,
        "event" => Op::EventAppend {
            run: parse_run(words.next())?,
            event_type: known(&EVENT_TYPES, words.next(), "event type")?,
            payload: parse_payload(words.next())?,
        },
        "cas" => Op::StateCas {
            run: parse_run(words.next())?,
            cell: known(&CELL_NAMES, words.next(), "state cell")?,
            expected: parse_num(words.next(), "expected version")?,
            payload: parse_payload(words.next())?,
        },
        "span" => Op::TraceSpan {
            run: parse_run(words.next())?,
            span: parse_span(words)?,
        },
        "mixed" => Op::Mixed {
            run: parse_run(words.next())?,
            agent: parse_num(words.next(), "agent")?,
            key: words.next().ok_or("missing key")?.to_owned(),
            payload: parse_payload(words.next())?,
            event_type: known(&EVENT_TYPES, words.next(), "event type")?,
            event_payload: parse_payload(words.next())?,
            cell: known(&CELL_NAMES, words.next(), "state cell")?,
            expected: parse_num(words.next(), "expected version")?,
            span: parse_span(words)?,
        },
        other => return Err(format!("unknown operation {other:?}")),
    })
}
