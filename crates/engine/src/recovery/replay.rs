//! Replaying one logged commit into the memtable and the run registry; rebuilding a run from
//! its stored record (from the log or a checkpoint).

use std::sync::Arc;

use in_mem_core_types::{Key, TypeTag, Value};
use in_mem_durability::{CommitRecord, LogOp, ReplayRejected};
use in_mem_storage::{Memtable, Mutation, MutationKind};

use crate::runs::{RunRecord, RunRegistry};

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
    match op {
        LogOp::Put { value, .. } => recover_run_record(runs, key, value),
        LogOp::Delete => {
            let key = Key::decode(key).map_err(|e| ReplayRejected(format!("run key: {e}")))?;
            Err(ReplayRejected(format!(
                "run record of {} deleted",
                key.namespace()
            )))
        }
    }
}

/// Rebuilds a run in the registry from its stored record (from the log or a checkpoint).
pub(crate) fn recover_run_record(
    runs: &RunRegistry,
    key: &[u8],
    value: &[u8],
) -> Result<(), ReplayRejected> {
    let key = Key::decode(key).map_err(|e| ReplayRejected(format!("run key: {e}")))?;
    let value = Value::decode(value).map_err(|e| ReplayRejected(format!("run record: {e}")))?;
    let record = RunRecord::from_value(&value).map_err(ReplayRejected)?;
    let namespace = key.namespace();
    runs.recover(namespace.run(), namespace.agent_id().clone(), &record);
    Ok(())
}
