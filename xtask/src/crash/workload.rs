//! The crash test's workload: the operations a child performs, the values they write, the modes,
//! and the line protocol between child and parent (`SUBMIT` / `ACK`).
//!
//! # Extension point
//!
//! Every operation is one variant of [`Op`]. Adding one takes four steps, each next to the
//! existing variants:
//!
//! 1. a variant here, with its text form in [`Op`]'s `Display` and [`parse_op`];
//! 2. how the child performs it (`child.rs`, `Worker::execute`) and which version it reports;
//! 3. how the child chooses it (`child.rs`, `Worker::choose`);
//! 4. what it does to the recovered state (`oracle.rs`, `effects_of`): the cells it changes.
//!
//! [`Op::Txn`] (multi-key transactions through `Database::transaction_committed`) is the model:
//! one commit, one exact version, several effects on cells of the thread's own keys; the oracle
//! applies all effects of an op or none, so atomicity needs nothing more. The primitives
//! (`EventLog`, `StateMachine`, `TraceStore`) plug in the same way, each with its own cell kind
//! in `oracle::Cell` and a read in `observe.rs`: `EventAppend { run, event_type }` (cell: the
//! run's event log; oracle: the recovered events are a prefix of the appended ones and the chain
//! verifies), `StateCas { run, cell, expected }` (cell: the state cell; oracle: value and version
//! of the last CAS in the prefix, versions never go backwards), `TraceSpan { run, parent, kind }`
//! (cell: the span; oracle: every recovered span's parent exists). Runs stay owned by one writer
//! thread, so the per-thread prefix check in the oracle orders their effects without extra work.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use in_mem::primitives::to_value;
use in_mem::{AgentId, DurabilityMode, RunId, Value};
use serde::Serialize;

use super::rng::{Rng, derive};

#[cfg(test)]
mod tests;

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
    // Extension point (see the module docs): EventAppend, StateCas, TraceSpan.
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
        !matches!(self, Op::Flush)
    }
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

fn parse_run(s: Option<&str>) -> Result<RunId, String> {
    let s = s.ok_or("missing run id")?;
    s.parse().map_err(|e| format!("bad run id {s:?}: {e}"))
}

fn parse_num<T: FromStr>(s: Option<&str>, what: &str) -> Result<T, String> {
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

/// The version an acknowledgement reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckVersion {
    /// The commit version the call returned (`put`, `KVStore::put`).
    Exact(u64),
    /// The call returns no version (`delete`, `end_run`, the `begin_run` family): the visible
    /// version just before the call plus one, and just after it (the commit waits until its own
    /// version is visible), bound it: `lo..=hi`.
    Range { lo: u64, hi: u64 },
    /// Nothing was committed (`delete` of an absent key, `flush`).
    None,
}

impl fmt::Display for AckVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckVersion::Exact(v) => write!(f, "{v}"),
            AckVersion::Range { lo, hi } => write!(f, "{lo}..{hi}"),
            AckVersion::None => write!(f, "-"),
        }
    }
}

/// What a call returned besides its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckResult {
    Nothing,
    /// The run a `begin` made.
    Run(RunId),
    /// What `delete` returned: whether the key existed in the run's view (and so was deleted).
    Deleted(bool),
    /// Which of a transaction's writes were deletes of a key that existed (bit `i`: write `i`).
    Deletes(u8),
}

impl fmt::Display for AckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckResult::Nothing => write!(f, "-"),
            AckResult::Run(run) => write!(f, "run:{run}"),
            AckResult::Deleted(true) => write!(f, "deleted"),
            AckResult::Deleted(false) => write!(f, "absent"),
            AckResult::Deletes(mask) => write!(f, "deletes:{mask:02x}"),
        }
    }
}

/// One line the child prints. Times are microseconds since the Unix epoch (the engine's clock).
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// Printed first, before `open`.
    Opening,
    /// `open` returned; the recovered last version.
    Ready { last_version: u64 },
    /// About to call the database.
    Submit { id: OpId, us: u64, op: Op },
    /// The call returned successfully.
    Ack {
        id: OpId,
        us: u64,
        version: AckVersion,
        result: AckResult,
    },
    /// The call returned an error: never expected in this workload.
    Fail { id: OpId, us: u64, message: String },
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Opening => write!(f, "OPENING"),
            Line::Ready { last_version } => write!(f, "READY {last_version}"),
            Line::Submit { id, us, op } => write!(f, "SUBMIT {id} {us} {op}"),
            Line::Ack {
                id,
                us,
                version,
                result,
            } => write!(f, "ACK {id} {us} {version} {result}"),
            Line::Fail { id, us, message } => {
                write!(f, "FAIL {id} {us} {}", message.replace('\n', " "))
            }
        }
    }
}

impl FromStr for Line {
    type Err = String;

    fn from_str(line: &str) -> Result<Line, String> {
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or_default();
        let parsed = match tag {
            "OPENING" => Line::Opening,
            "READY" => Line::Ready {
                last_version: parse_num(words.next(), "version")?,
            },
            "SUBMIT" => Line::Submit {
                id: parse_num(words.next(), "id")?,
                us: parse_num(words.next(), "time")?,
                op: parse_op(&mut words)?,
            },
            "ACK" => {
                let id = parse_num(words.next(), "id")?;
                let us = parse_num(words.next(), "time")?;
                let version = match words.next() {
                    Some("-") => AckVersion::None,
                    Some(v) => match v.split_once("..") {
                        Some((lo, hi)) => AckVersion::Range {
                            lo: parse_num(Some(lo), "version")?,
                            hi: parse_num(Some(hi), "version")?,
                        },
                        None => AckVersion::Exact(parse_num(Some(v), "version")?),
                    },
                    None => return Err("missing version".to_owned()),
                };
                let result = match words.next() {
                    Some("-") => AckResult::Nothing,
                    Some("deleted") => AckResult::Deleted(true),
                    Some("absent") => AckResult::Deleted(false),
                    Some(other) => match other.split_once(':') {
                        Some(("run", run)) => AckResult::Run(parse_run(Some(run))?),
                        Some(("deletes", mask)) => AckResult::Deletes(
                            u8::from_str_radix(mask, 16)
                                .map_err(|_| format!("bad delete mask {mask:?}"))?,
                        ),
                        _ => return Err(format!("bad result {other:?}")),
                    },
                    None => return Err("missing result".to_owned()),
                };
                Line::Ack {
                    id,
                    us,
                    version,
                    result,
                }
            }
            "FAIL" => Line::Fail {
                id: parse_num(words.next(), "id")?,
                us: parse_num(words.next(), "time")?,
                message: words.by_ref().collect::<Vec<_>>().join(" "),
            },
            other => return Err(format!("unknown line {other:?}")),
        };
        if !matches!(parsed, Line::Fail { .. } | Line::Submit { .. }) && words.next().is_some() {
            return Err(format!("trailing words in {line:?}"));
        }
        Ok(parsed)
    }
}

/// Microseconds since the Unix epoch, as the engine's clock counts them.
pub fn now_us() -> u64 {
    in_mem::Timestamp::now().as_micros()
}
