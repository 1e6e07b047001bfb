//! Replaying the log into memory at open, and what recovery found.

use std::sync::Arc;

use in_mem_core_types::{Key, TypeTag, Value};
use in_mem_durability::{CommitRecord, LogOp, ReplayRejected, TailState};
use in_mem_storage::{Memtable, Mutation, MutationKind};

use crate::runs::{RunRecord, RunRegistry};

/// What `open` found and did. Logged through `tracing` at open; available from
/// `Database::recovery_report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Commits replayed from the write-ahead log.
    pub records_replayed: u64,
    /// The newest commit version after recovery (0 for an empty database).
    pub last_version: u64,
    /// Whether the end of the log was clean or a torn tail (a commit that was never
    /// acknowledged) was cut off.
    pub tail: TailState,
    /// Runs that were active when the process stopped.
    pub interrupted_runs: Vec<in_mem_core_types::RunId>,
}

/// Applies one replayed commit to the memtable (and the run registry, for run records).
///
/// Versions must arrive contiguous: the log checks this too, and a second check here keeps the
/// memtable's counter honest whatever the log does.
pub(crate) fn replay_record(
    memtable: &Memtable,
    runs: &RunRegistry,
    record: CommitRecord,
) -> Result<(), ReplayRejected> {
    let versions = memtable.versions();
    let expected = versions.allocated().next();
    if record.version != expected {
        return Err(ReplayRejected(format!(
            "commit {} follows {}, expected {expected}",
            record.version,
            versions.allocated()
        )));
    }
    let mut mutations = Vec::with_capacity(record.writes.len());
    for write in record.writes {
        let tag = Key::decode_type_tag(&write.key)
            .map_err(|e| ReplayRejected(format!("key does not decode: {e}")))?;
        if tag == TypeTag::Run {
            recover_run(runs, &write.key, &write.op)?;
        }
        let kind = match write.op {
            LogOp::Put { value, ttl } => MutationKind::Put {
                value: Arc::from(value),
                expires_at: ttl.map(|ttl| record.timestamp.saturating_add(ttl)),
            },
            LogOp::Delete => MutationKind::Delete,
            #[allow(unreachable_patterns)]
            _ => return Err(ReplayRejected("unknown log operation".to_owned())),
        };
        mutations.push(Mutation {
            key: Arc::from(write.key),
            kind,
        });
    }
    let version = versions.allocate();
    memtable.apply(version, record.writer, record.timestamp, &mutations);
    versions.publish(version);
    Ok(())
}

fn recover_run(runs: &RunRegistry, key: &[u8], op: &LogOp) -> Result<(), ReplayRejected> {
    let key = Key::decode(key).map_err(|e| ReplayRejected(format!("run key: {e}")))?;
    let LogOp::Put { value, .. } = op else {
        return Err(ReplayRejected(format!(
            "run record of {} deleted",
            key.namespace()
        )));
    };
    let value = Value::decode(value).map_err(|e| ReplayRejected(format!("run record: {e}")))?;
    let record = RunRecord::from_value(&value).map_err(ReplayRejected)?;
    let namespace = key.namespace();
    runs.recover(namespace.run(), namespace.agent_id().clone(), &record);
    Ok(())
}
