//! Replaying one logged commit into the memtable and the run registry; rebuilding a run from
//! its stored record (from the log or a checkpoint).

use std::sync::Arc;

use in_mem_core_types::{Key, TypeTag};
use in_mem_durability::{CommitRecord, LogOp, ReplayRejected};
use in_mem_storage::{Memtable, Mutation, MutationKind};

use crate::runs::{RecordHead, RunRegistry};
use crate::version_times::RecoveredTimes;
use crate::write::live_keys_under;

/// Applies one replayed commit to the memtable (and the run registry, for run records).
///
/// Versions must arrive contiguous: the log checks this too, and a second check here keeps the
/// memtable's counter honest whatever the log does.
pub(crate) fn replay_record(
    memtable: &Memtable,
    runs: &RunRegistry,
    version_times: &RecoveredTimes,
    record: CommitRecord,
) -> Result<(), ReplayRejected> {
    let versions = memtable.versions();
    let expected = versions.allocated().next();
    if record.version != expected {
        return Err(ReplayRejected::new(
            "commit order",
            format!(
                "commit {} follows {}, expected {expected}",
                record.version,
                versions.allocated()
            ),
        ));
    }
    let mut mutations = Vec::with_capacity(record.writes.len());
    for write in record.writes {
        if write.op == LogOp::DeletePrefix {
            // A deleted run: every record under its namespace goes, and the run with them.
            let namespace = Key::decode_namespace(&write.key)
                .map_err(|e| ReplayRejected::new("deleted namespace", e))?;
            runs.recover_deletion(namespace.run());
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
                expires_at: ttl.map(|ttl| record.timestamp.saturating_add(ttl)),
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
    let version = versions.allocate();
    version_times.note(record.timestamp, version);
    memtable.apply(version, record.writer, record.timestamp, &mutations);
    versions.publish(version);
    Ok(())
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
