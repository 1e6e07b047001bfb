//! The line protocol between the crash test's child and parent: `SUBMIT <id> <time> <op>` before
//! each call, `ACK <id> <time> <version> <result>` after it (see the workload module docs).

use std::fmt;
use std::str::FromStr;

use in_mem::RunId;

use super::{Op, OpId, parse_num, parse_op, parse_run};

/// The version an acknowledgement reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckVersion {
    /// The commit version the call returned (`put`, `KVStore::put`).
    Exact(u64),
    /// The call returns no version (`delete`, `end_run`, the `begin_run` family): the visible
    /// version just before the call plus one, and just after it (the commit waits until its own
    /// version is visible), bound it: `lo..=hi`.
    Range { lo: u64, hi: u64 },
    /// Shared mode: the call commits but returns no version, and nothing bounds it. Versions
    /// are per agent there and the host has no visible version of its own to read before and
    /// after (`stats().visible_version` is the highest of any agent's), so the oracle places
    /// the call by program order and the promise alone.
    Unbounded,
    /// Nothing was committed (`delete` of an absent key, `flush`).
    None,
}

impl fmt::Display for AckVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckVersion::Exact(v) => write!(f, "{v}"),
            AckVersion::Range { lo, hi } => write!(f, "{lo}..{hi}"),
            AckVersion::Unbounded => write!(f, "?"),
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
    /// The sequence number `EventLog::append` returned.
    Seq(u64),
    /// The cell version `StateMachine::cas` / `init` returned.
    CellVersion(u64),
    /// The span id `TraceStore::record` returned.
    Span(u64),
    /// What the parts of a mixed transaction returned: event sequence, cell version, span id.
    Mixed {
        seq: u64,
        cell: u64,
        span: u64,
    },
    /// The version `Database::checkpoint` wrote.
    Checkpoint(u64),
    /// The fork `Database::fork_run` made, its fork point (`RunInfo::fork_point`), and the
    /// [`kv_digest`](super::kv_digest) of its view of the keys its thread may change in this
    /// child ([`view_prefixes`](super::view_prefixes)) without a time to live, read right after
    /// it was made.
    Fork {
        run: RunId,
        point: u64,
        kv: u64,
    },
    /// How many forks the `Error::HasForks` of a refused `delete_run` named.
    Refused(usize),
    /// How many runs `Database::delete_run_tree` deleted.
    Runs(usize),
}

impl fmt::Display for AckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckResult::Nothing => write!(f, "-"),
            AckResult::Run(run) => write!(f, "run:{run}"),
            AckResult::Deleted(true) => write!(f, "deleted"),
            AckResult::Deleted(false) => write!(f, "absent"),
            AckResult::Deletes(mask) => write!(f, "deletes:{mask:02x}"),
            AckResult::Seq(n) => write!(f, "seq:{n}"),
            AckResult::CellVersion(n) => write!(f, "cell:{n}"),
            AckResult::Span(n) => write!(f, "span:{n}"),
            AckResult::Mixed { seq, cell, span } => write!(f, "mixed:{seq}/{cell}/{span}"),
            AckResult::Checkpoint(v) => write!(f, "ckpt:{v}"),
            AckResult::Fork { run, point, kv } => write!(f, "fork:{run}@{point}#{kv:016x}"),
            AckResult::Refused(n) => write!(f, "refused:{n}"),
            AckResult::Runs(n) => write!(f, "runs:{n}"),
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
    /// With `--failover` only: a call of the operation failed because the store was out of
    /// reach (`RemoteError::Unavailable`: nothing was applied), and is made again.
    Retry { id: OpId, us: u64, message: String },
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
            Line::Retry { id, us, message } => {
                write!(f, "RETRY {id} {us} {}", message.replace('\n', " "))
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
                    Some("?") => AckVersion::Unbounded,
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
                        Some(("seq", n)) => AckResult::Seq(parse_num(Some(n), "sequence")?),
                        Some(("cell", n)) => {
                            AckResult::CellVersion(parse_num(Some(n), "cell version")?)
                        }
                        Some(("span", n)) => AckResult::Span(parse_num(Some(n), "span id")?),
                        Some(("ckpt", n)) => {
                            AckResult::Checkpoint(parse_num(Some(n), "checkpoint version")?)
                        }
                        Some(("fork", fork)) => parse_fork(fork)?,
                        Some(("refused", n)) => {
                            AckResult::Refused(parse_num(Some(n), "fork count")?)
                        }
                        Some(("runs", n)) => AckResult::Runs(parse_num(Some(n), "run count")?),
                        Some(("mixed", parts)) => {
                            let mut parts = parts.split('/');
                            let seq = parse_num(parts.next(), "sequence")?;
                            let cell = parse_num(parts.next(), "cell version")?;
                            let span = parse_num(parts.next(), "span id")?;
                            if parts.next().is_some() {
                                return Err(format!("bad mixed result {other:?}"));
                            }
                            AckResult::Mixed { seq, cell, span }
                        }
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
            "RETRY" => Line::Retry {
                id: parse_num(words.next(), "id")?,
                us: parse_num(words.next(), "time")?,
                message: words.by_ref().collect::<Vec<_>>().join(" "),
            },
            other => return Err(format!("unknown line {other:?}")),
        };
        let free_text = matches!(
            parsed,
            Line::Fail { .. } | Line::Retry { .. } | Line::Submit { .. }
        );
        if !free_text && words.next().is_some() {
            return Err(format!("trailing words in {line:?}"));
        }
        Ok(parsed)
    }
}

/// Parses what follows `fork:` in an acknowledgement: `<run>@<point>#<digest>`.
fn parse_fork(text: &str) -> Result<AckResult, String> {
    let bad = || format!("bad fork result {text:?}");
    let (run, rest) = text.split_once('@').ok_or_else(bad)?;
    let (point, kv) = rest.split_once('#').ok_or_else(bad)?;
    Ok(AckResult::Fork {
        run: parse_run(Some(run))?,
        point: parse_num(Some(point), "fork point")?,
        kv: u64::from_str_radix(kv, 16).map_err(|_| bad())?,
    })
}

/// Microseconds since the Unix epoch, as the engine's clock counts them.
pub fn now_us() -> u64 {
    in_mem::Timestamp::now().as_micros()
}
