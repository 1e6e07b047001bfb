//! A database's stored history, taken out (`Database::dump`) and put back into a new database
//! (`Database::restore`): what the command-line tool's export and import are made of.
//!
//! A [`Dump`] holds every version the database keeps (values, tombstones, run records; with
//! expiries and the cut marks sweeps left), decoded: keys into their namespace, type and user
//! key, values into [`Value`]s, run records into [`RunFields`]. Its versions are *commit ranks*:
//! 1 for the oldest commit it holds, then 2, 3 ... in commit order with no gaps, and every
//! version a record names (a run's snapshot and fork point, the history horizon) is mapped to
//! the rank of the newest commit at or below it. So a dump does not depend on which database it
//! came from, a database restored from it numbers its commits exactly so, and dumping that
//! database again gives the same dump.
//!
//! A restore writes the dump as the first checkpoint of a new database and opens it, so the
//! same checks that guard every checkpoint load guard it; nothing is left behind if it fails.

mod restore;
mod shared_dump;

use std::collections::BTreeSet;

use in_mem_core_types::{Key, RunId, Timestamp, TypeTag, Value, Version};
use in_mem_storage::{MutationKind, StoredVersion};

pub(crate) use restore::write_restore;

use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::runs::{RecordHead, RunRecord, RunStatus, StoredStatus};

/// Everything a dump holds, in commit-rank order.
#[derive(Debug, Clone, PartialEq)]
pub struct Dump {
    /// Versions below this rank may be missing from the dump: the database's sweeps had
    /// reclaimed history that views below it would have read (0: nothing is missing).
    pub history_from: u64,
    /// The stored versions, by commit rank, then key.
    pub entries: Vec<DumpEntry>,
}

/// One stored version of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct DumpEntry {
    /// The commit rank (see the module docs).
    pub version: u64,
    /// The key: namespace (the run is nil for an agent's shared memory), type and user key.
    pub key: Key,
    /// The run whose commit wrote it.
    pub writer: RunId,
    /// When that commit happened.
    pub timestamp: Timestamp,
    /// What it holds.
    pub content: Content,
    /// When a value expires (its time to live ran out), if it has one.
    pub expires_at: Option<Timestamp>,
    /// Sweeps removed versions of this key right below (older than) this one.
    pub cut_below: bool,
    /// Sweeps removed versions of this key right above (newer than) this one.
    pub cut_above: bool,
}

/// What a stored version holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Content {
    /// A value (memory, events, cells, spans and their bookkeeping are all values).
    Value(Value),
    /// A run's record.
    Run(RunFields),
    /// A deletion.
    Tombstone,
    /// Stored bytes that are neither a canonical value nor a run record of this format, kept
    /// as they are.
    Raw(Vec<u8>),
}

/// A run's record, field by field. Versions are commit ranks in a dump.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFields {
    /// Its stored status: never `Interrupted`, which is what opening calls a run whose record
    /// says `Active`.
    pub status: RunStatus,
    pub snapshot: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub parent: Option<RunId>,
    pub fork_point: Option<u64>,
    pub tags: Vec<String>,
    pub error: Option<String>,
    pub metadata: Value,
}

impl RunFields {
    fn from_record(record: RunRecord, rank: impl Fn(u64) -> u64) -> RunFields {
        let head = record.head;
        RunFields {
            status: RunStatus::from(head.status),
            snapshot: rank(head.snapshot.get()),
            created_at: head.created_at,
            updated_at: head.updated_at,
            ended_at: head.ended_at,
            parent: head.parent,
            fork_point: head.fork_point.map(|v| rank(v.get())),
            tags: head.tags,
            error: record.error,
            metadata: record.metadata,
        }
    }

    /// The stored record; `None` for `Interrupted`, which is never stored.
    pub(crate) fn to_record(&self) -> Option<RunRecord> {
        let status = match self.status {
            RunStatus::Active => StoredStatus::Active,
            RunStatus::Paused => StoredStatus::Paused,
            RunStatus::Completed => StoredStatus::Completed,
            RunStatus::Failed => StoredStatus::Failed,
            RunStatus::Cancelled => StoredStatus::Cancelled,
            RunStatus::Interrupted => return None,
        };
        Some(RunRecord {
            head: RecordHead {
                status,
                snapshot: Version::new(self.snapshot),
                created_at: self.created_at,
                updated_at: self.updated_at,
                ended_at: self.ended_at,
                parent: self.parent,
                fork_point: self.fork_point.map(Version::new),
                tags: self.tags.clone(),
            },
            metadata: self.metadata.clone(),
            error: self.error.clone(),
        })
    }
}

/// A raw stored version, before ranks.
struct Taken {
    key: Vec<u8>,
    version: Version,
    writer: RunId,
    timestamp: Timestamp,
    value: Option<(Vec<u8>, Option<Timestamp>)>,
    cuts: (bool, bool),
}

impl From<StoredVersion> for Taken {
    fn from(stored: StoredVersion) -> Self {
        Taken {
            key: stored.key.to_vec(),
            version: stored.version,
            writer: stored.writer,
            timestamp: stored.timestamp,
            value: match stored.kind {
                MutationKind::Put { value, expires_at } => Some((value.to_vec(), expires_at)),
                MutationKind::Delete => None,
            },
            cuts: (stored.cuts.below, stored.cuts.above),
        }
    }
}

/// Whether a dump of `runs` (all, for `None`) holds `stored`: those runs' records and the
/// memory they wrote.
fn dumped(
    stored: &StoredVersion,
    runs: Option<&BTreeSet<RunId>>,
) -> std::result::Result<bool, in_mem_core_types::Error> {
    let Some(runs) = runs else { return Ok(true) };
    let owner = Key::decode_owner(&stored.key)?.1;
    Ok(runs.contains(&owner) || (owner.is_nil() && runs.contains(&stored.writer)))
}

/// Dumps what `instance` holds now; with `runs`, only those runs' records and the memory
/// they wrote.
pub(crate) fn dump(instance: &Instance, runs: Option<&BTreeSet<RunId>>) -> Result<Dump> {
    if let Some(shared) = instance.shared() {
        return shared_dump::dump(instance, shared, runs);
    }
    let visible = instance.versions().visible();
    let mut taken = Vec::new();
    instance
        .memtable()
        .for_each_version_upto(visible, |stored| {
            let keep = dumped(&stored, runs)?;
            if keep {
                taken.push(Taken::from(stored));
            }
            Ok::<_, in_mem_core_types::Error>(())
        })?;
    let mut commits: Vec<u64> = taken.iter().map(|t| t.version.get()).collect();
    commits.sort_unstable();
    commits.dedup();
    // The rank of the newest commit at or below `v`.
    let rank = |v: u64| commits.partition_point(|&c| c <= v) as u64;
    let mut entries = Vec::with_capacity(taken.len());
    for t in taken {
        entries.push(entry(t, &rank)?);
    }
    entries.sort_by_key(|e| (e.version, e.key.encode()));
    Ok(Dump {
        history_from: rank(instance.swept_horizon().get()),
        entries,
    })
}

/// `t` as a dump holds it, its versions (and those its run record names) turned into ranks.
fn entry(t: Taken, rank: &dyn Fn(u64) -> u64) -> Result<DumpEntry> {
    let key = Key::decode(&t.key)?;
    let (content, expires_at) = match t.value {
        None => (Content::Tombstone, None),
        Some((bytes, expires_at)) => (content(key.type_tag(), bytes, rank), expires_at),
    };
    Ok(DumpEntry {
        version: rank(t.version.get()),
        key,
        writer: t.writer,
        timestamp: t.timestamp,
        content,
        expires_at,
        cut_below: t.cuts.0,
        cut_above: t.cuts.1,
    })
}

/// The content of stored `bytes` under a key of type `tag`: a run record or a value if they
/// decode to one that encodes back to exactly these bytes, else the bytes.
fn content(tag: TypeTag, bytes: Vec<u8>, rank: &dyn Fn(u64) -> u64) -> Content {
    if tag == TypeTag::Run {
        if let Ok(record) = RunRecord::decode(&bytes)
            && record.encode().is_ok_and(|again| again == bytes)
        {
            return Content::Run(RunFields::from_record(record, rank));
        }
        return Content::Raw(bytes);
    }
    match Value::decode(&bytes) {
        Ok(value) if value.encode().is_ok_and(|again| again == bytes) => Content::Value(value),
        _ => Content::Raw(bytes),
    }
}

/// Why a dump cannot be restored: the entry (its index in `Dump::entries`) and what is wrong.
pub(crate) fn bad_entry(entry: usize, reason: impl Into<String>) -> Error {
    Error::BadDump {
        entry,
        reason: reason.into(),
    }
}
