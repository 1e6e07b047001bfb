//! The workload's operations on run history: forks ([`ForkAt`] names the point) and run
//! deletion, their text form, and [`kv_digest`], the fingerprint of a view of the agents' memory
//! that a fork's acknowledgement carries.
//!
//! Text forms: `fork <parent> <agent> now`, `fork <parent> <agent> v<version>@<op id>`,
//! `delete-run <run>`, `delete-refused <run> <forks>`, `delete-tree <run> <member>,<member>...`
//! (the root first).

use std::fmt;

use in_mem::{RunId, Value};

use super::{Op, OpId, parse_num, parse_run};
use crate::crash::rng::derive;

/// Where a fork is made: the parent as it is now, or right after one of its acknowledged
/// operations, whose exact version the thread was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkAt {
    /// `At::Now`.
    Now,
    /// `At::Version(version)`: the version operation `op` (on the parent, by this thread)
    /// returned.
    Version { version: u64, op: OpId },
}

impl Op {
    /// How many commits this operation writes at most: one per run of a tree it deletes, else
    /// one if it commits at all.
    pub fn commits_max(&self) -> u64 {
        match self {
            Op::DeleteTree { members, .. } => members.len() as u64,
            op => u64::from(op.commits()),
        }
    }

    /// The runs this operation deletes if it commits.
    pub fn deleted_runs(&self) -> Vec<RunId> {
        match self {
            Op::DeleteRun { run } => vec![*run],
            Op::DeleteTree { members, .. } => members.clone(),
            _ => Vec::new(),
        }
    }
}

pub(super) fn write_op(f: &mut fmt::Formatter<'_>, op: &Op) -> fmt::Result {
    match op {
        Op::Fork { parent, agent, at } => match at {
            ForkAt::Now => write!(f, "fork {parent} {agent} now"),
            ForkAt::Version { version, op } => write!(f, "fork {parent} {agent} v{version}@{op}"),
        },
        Op::DeleteRun { run } => write!(f, "delete-run {run}"),
        Op::DeleteRefused { run, forks } => write!(f, "delete-refused {run} {forks}"),
        Op::DeleteTree { run, members } => {
            write!(f, "delete-tree {run} ")?;
            for (n, member) in members.iter().enumerate() {
                if n > 0 {
                    write!(f, ",")?;
                }
                write!(f, "{member}")?;
            }
            Ok(())
        }
        other => write!(f, "(not a history operation: {other:?})"),
    }
}

/// Parses a history operation after its first word, `kind`.
pub(super) fn parse_op<'a>(
    kind: &str,
    words: &mut impl Iterator<Item = &'a str>,
) -> Result<Op, String> {
    Ok(match kind {
        "fork" => {
            let parent = parse_run(words.next())?;
            let agent = parse_num(words.next(), "agent")?;
            let at = match words.next() {
                Some("now") => ForkAt::Now,
                Some(point) => {
                    let (version, op) = point
                        .strip_prefix('v')
                        .and_then(|p| p.split_once('@'))
                        .ok_or_else(|| format!("bad fork point {point:?}"))?;
                    ForkAt::Version {
                        version: parse_num(Some(version), "fork version")?,
                        op: parse_num(Some(op), "fork operation")?,
                    }
                }
                None => return Err("missing fork point".to_owned()),
            };
            Op::Fork { parent, agent, at }
        }
        "delete-run" => Op::DeleteRun {
            run: parse_run(words.next())?,
        },
        "delete-refused" => Op::DeleteRefused {
            run: parse_run(words.next())?,
            forks: parse_num(words.next(), "fork count")?,
        },
        "delete-tree" => {
            let run = parse_run(words.next())?;
            let members = words
                .next()
                .ok_or("missing tree members")?
                .split(',')
                .map(|m| parse_run(Some(m)))
                .collect::<Result<Vec<_>, _>>()?;
            if members.first() != Some(&run) {
                return Err(format!("the tree of {run} does not start with it"));
            }
            Op::DeleteTree { run, members }
        }
        other => return Err(format!("unknown operation {other:?}")),
    })
}

/// A fingerprint of a view of an agent's memory: its keys, versions and values, in key order.
/// The child takes it of a fork right after making it (its view is then exactly its parent's at
/// the point), the parent of the same views after recovery. Values with a time to live are left
/// out by the callers: they may expire between the two readings.
pub fn kv_digest<'a>(entries: impl IntoIterator<Item = (&'a [u8], u64, &'a Value)>) -> u64 {
    let mut digest = 0u64;
    for (key, version, value) in entries {
        let value = format!("{value:?}");
        digest = derive(&[
            digest,
            bytes_hash(key),
            version,
            bytes_hash(value.as_bytes()),
        ]);
    }
    digest
}

/// FNV-1a, 64 bits.
fn bytes_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
