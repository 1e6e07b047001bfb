//! Replaying the log into memory at open, and what recovery found.

use std::path::Path;
use std::sync::Arc;

use in_mem_core_types::{Key, TypeTag, Value, Version};
use in_mem_durability::{
    CommitRecord, DatabaseId, LogOp, Quarantined, ReplayRejected, Salvaged, TailState, WalRecovery,
};
use in_mem_storage::{Memtable, Mutation, MutationKind};

use crate::runs::{RunRecord, RunRegistry};

/// What `open` found and did. Logged through `tracing` at open; available from
/// `Database::recovery_report`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Commits replayed from the write-ahead log.
    pub records_replayed: u64,
    /// The newest commit version after recovery (0 for an empty database).
    pub last_version: u64,
    /// Whether the end of the log was clean or was cut (a torn or unsynced tail, or what
    /// salvage dropped): where, why, and how many bytes.
    pub tail: TailState,
    /// Bytes cut from the log (the `bytes` of a `TailState::Cut`, 0 for a clean end).
    pub bytes_cut: u64,
    /// Complete commits found after the cut and dropped with it: commits that reached the disk
    /// out of order while an earlier one did not (never acknowledged in `Strict` mode), or,
    /// when salvaging, commits after the damage.
    pub records_dropped: u64,
    /// The newest version among the dropped commits.
    pub newest_dropped: Option<u64>,
    /// Set when `RecoveryMode::Salvage` dropped damage that the default mode refuses: where it
    /// was, what it was, and the first version lost.
    pub salvaged: Option<Salvaged>,
    /// The version of the checkpoint recovery started from (the log was replayed after it);
    /// `None` if it replayed the whole log.
    pub checkpoint: Option<u64>,
    /// Damaged checkpoints that were skipped (newest first), with why: recovery fell back to an
    /// older checkpoint plus the log after it.
    pub checkpoints_skipped: Vec<String>,
    /// Runs that were active when the process stopped.
    pub interrupted_runs: Vec<in_mem_core_types::RunId>,
    /// The database's id (`None` only in a report not made by `open`).
    pub database_id: Option<DatabaseId>,
    /// The generation of the log after recovery: 1 for a new database, one more each time
    /// recovery removed anything from the log.
    pub log_generation: u64,
    /// Files that `RecoveryMode::Salvage` set aside into `quarantine/` unread (another
    /// database's, an older copy's, a newer format's, unknown), with why.
    pub quarantined: Vec<Quarantined>,
}

impl RecoveryReport {
    /// The report of a recovery whose log part is `wal`.
    pub(crate) fn new(
        wal: &WalRecovery,
        last_version: u64,
        interrupted_runs: Vec<in_mem_core_types::RunId>,
    ) -> RecoveryReport {
        let bytes_cut = match &wal.tail {
            TailState::Cut { bytes, .. } => *bytes,
            TailState::Clean => 0,
        };
        RecoveryReport {
            records_replayed: wal.records_replayed,
            last_version,
            tail: wal.tail.clone(),
            bytes_cut,
            records_dropped: wal.records_dropped,
            newest_dropped: wal.newest_dropped.map(Version::get),
            salvaged: wal.salvaged.clone(),
            checkpoint: None,
            checkpoints_skipped: Vec::new(),
            interrupted_runs,
            database_id: None,
            log_generation: wal.generation,
            quarantined: wal.quarantined.clone(),
        }
    }

    /// Logs the report: `info` for a clean recovery, `warn` for a cut tail, `error` when
    /// salvage dropped data.
    pub(crate) fn log(&self, path: &Path) {
        for set in &self.quarantined {
            tracing::error!(
                path = %path.display(),
                file = %set.file.display(),
                moved_to = %set.moved_to.display(),
                reason = %set.mismatch,
                "salvage set aside a file that does not belong to this database"
            );
        }
        let tail = match &self.tail {
            TailState::Clean => "clean".to_owned(),
            TailState::Cut {
                file,
                offset,
                reason,
                ..
            } => format!("cut at {}:{offset} ({reason})", file.display()),
        };
        if let Some(salvaged) = &self.salvaged {
            tracing::error!(
                path = %path.display(),
                records = self.records_replayed,
                last_version = self.last_version,
                file = %salvaged.file.display(),
                offset = salvaged.offset,
                reason = %salvaged.kind,
                first_lost = %salvaged.first_lost,
                bytes_cut = self.bytes_cut,
                records_dropped = self.records_dropped,
                "opened database; salvage dropped damaged data and every commit after it"
            );
        } else if self.bytes_cut > 0 {
            tracing::warn!(
                path = %path.display(),
                records = self.records_replayed,
                last_version = self.last_version,
                interrupted_runs = self.interrupted_runs.len(),
                %tail,
                bytes_cut = self.bytes_cut,
                records_dropped = self.records_dropped,
                "opened database after cutting a torn or unsynced log tail"
            );
        } else {
            tracing::info!(
                path = %path.display(),
                records = self.records_replayed,
                last_version = self.last_version,
                interrupted_runs = self.interrupted_runs.len(),
                %tail,
                "opened database"
            );
        }
    }
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
