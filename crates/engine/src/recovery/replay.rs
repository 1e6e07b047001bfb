//! Replaying one logged commit into the memtable and the run registry; rebuilding a run from
//! its stored record (from the log or a checkpoint).
//!
//! Recovery replays into a memtable that nobody reads yet, through its `Loader` (the index and
//! the skiplist are filled on helper threads, see `in_mem_storage::Loader`); a read-only
//! database's refresh applies to its live memtable. Both turn a commit into mutations the same
//! way (`mutations_of`).

use std::sync::Arc;

use in_mem_core_types::{Key, Timestamp, TypeTag, Version};
use in_mem_durability::{CommitRecord, LogOp, LogWrite, ReplayRejected};
use in_mem_storage::{Cuts, Loader, Memtable, Mutation, MutationKind};

use crate::runs::{RecordHead, RunRegistry};
use crate::version_times::RecoveredTimes;
use crate::write::live_keys_under;

/// Replays one logged commit into `memtable` (being loaded by `loader`) and the run registry.
///
/// Versions must arrive contiguous: the log checks this too, and a second check here keeps the
/// memtable's counter honest whatever the log does.
pub(crate) fn replay_record(
    memtable: &Memtable,
    loader: &mut Loader<'_>,
    runs: &RunRegistry,
    version_times: &RecoveredTimes,
    record: CommitRecord,
) -> Result<(), ReplayRejected> {
    check_order(memtable, record.version)?;
    // A prefix deletion lists the keys it deletes from the memtable: what was pushed before
    // must be in it by then.
    let mutations = mutations_of(memtable, runs, record.timestamp, record.writes, &mut || {
        loader.settle();
    })?;
    let versions = memtable.versions();
    let version = versions.allocate();
    version_times.note(record.timestamp, version);
    for Mutation { key, kind } in mutations {
        loader.push(
            version,
            record.writer,
            record.timestamp,
            key,
            kind,
            Cuts::NONE,
        );
    }
    // Nobody reads the memtable before the load ends, when every pushed version is stored.
    versions.publish(version);
    Ok(())
}

/// Applies one logged commit to a live memtable (and the run registry, for run records), with
/// the commit's time noted by `note_time`: what a read-only open's refresh does.
pub(crate) fn apply_record(
    memtable: &Memtable,
    runs: &RunRegistry,
    note_time: &dyn Fn(Timestamp, Version),
    record: CommitRecord,
) -> Result<(), ReplayRejected> {
    check_order(memtable, record.version)?;
    let mutations = mutations_of(memtable, runs, record.timestamp, record.writes, &mut || {})?;
    let versions = memtable.versions();
    let version = versions.allocate();
    note_time(record.timestamp, version);
    memtable.apply(version, record.writer, record.timestamp, &mutations);
    versions.publish(version);
    Ok(())
}

/// Refuses a commit (`version`) that is not the next version of `memtable`.
fn check_order(memtable: &Memtable, version: Version) -> Result<(), ReplayRejected> {
    let versions = memtable.versions();
    let expected = versions.allocated().next();
    if version == expected {
        return Ok(());
    }
    Err(ReplayRejected::new(
        "commit order",
        format!(
            "commit {version} follows {}, expected {expected}",
            versions.allocated()
        ),
    ))
}

/// The mutations of the `writes` of a commit made at `timestamp`, noting run records in the
/// registry; a prefix deletion is expanded into a tombstone per live key under it, after
/// `before_reading` (called once, before the first such read).
fn mutations_of(
    memtable: &Memtable,
    runs: &RunRegistry,
    timestamp: Timestamp,
    writes: Vec<LogWrite>,
    before_reading: &mut dyn FnMut(),
) -> Result<Vec<Mutation>, ReplayRejected> {
    let mut mutations = Vec::with_capacity(writes.len());
    let mut read_ready = false;
    for write in writes {
        if write.op == LogOp::DeletePrefix {
            // A deleted run: every record under its namespace goes, and the run with them.
            let namespace = Key::decode_namespace(&write.key)
                .map_err(|e| ReplayRejected::new("deleted namespace", e))?;
            runs.recover_deletion(namespace.run());
            if !read_ready {
                before_reading();
                read_ready = true;
            }
            mutations.extend(live_keys_under(memtable, &write.key).map(|key| Mutation {
                key,
                kind: MutationKind::Delete,
            }));
            continue;
        }
        let tag = Key::decode_type_tag(&write.key).map_err(|e| ReplayRejected::new("key", e))?;
        if tag == TypeTag::Run {
            recover_run(runs, &write.key, &write.op)?;
        }
        let kind = match write.op {
            LogOp::Put { value, ttl } => MutationKind::Put {
                value: Arc::from(value),
                expires_at: ttl.map(|ttl| timestamp.saturating_add(ttl)),
            },
            LogOp::Delete => MutationKind::Delete,
            LogOp::DeletePrefix => unreachable!("prefix deletions are expanded above"),
            #[allow(unreachable_patterns)]
            _ => return Err(ReplayRejected::new("log operation", "unknown")),
        };
        mutations.push(Mutation {
            key: Arc::from(write.key),
            kind,
        });
    }
    Ok(mutations)
}

fn recover_run(runs: &RunRegistry, key: &[u8], op: &LogOp) -> Result<(), ReplayRejected> {
    match op {
        LogOp::Put { value, .. } => recover_run_record(runs, key, value),
        LogOp::Delete | LogOp::DeletePrefix => {
            let key = Key::decode(key).map_err(|e| ReplayRejected::new("run key", e))?;
            Err(ReplayRejected::new(
                "run record",
                format!("the record of {} is deleted by key", key.namespace()),
            ))
        }
    }
}

/// Records a run in the registry from its stored record (from the log or a checkpoint); only
/// the record's head is decoded (the rest is read from the memtable when needed).
pub(crate) fn recover_run_record(
    runs: &RunRegistry,
    key: &[u8],
    value: &[u8],
) -> Result<(), ReplayRejected> {
    let head = RecordHead::decode(value).map_err(|e| ReplayRejected::new("run record", e))?;
    runs.recover_record(key, &head)
        .map_err(|e| ReplayRejected::new("run key", e))
}
