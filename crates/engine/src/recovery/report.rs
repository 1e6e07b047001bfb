//! What recovery found and did: the report `open` logs and `Database::recovery_report` returns.

use std::path::Path;

use in_mem_core_types::Version;
use in_mem_durability::{
    DatabaseId, FollowStop, Followed, Quarantined, Salvaged, TailState, WalRecovery,
};

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
    /// Read-only opens only (`Database::open_read_only`): where reading the log stopped before
    /// bytes that are not (yet) a complete record (one being written, a torn tail, or damage),
    /// which a read-only open leaves as they are; `None` when it read to the clean end.
    pub unread_tail: Option<FollowStop>,
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
            unread_tail: None,
        }
    }

    /// The report of a connected (shared mode) database: nothing was recovered locally.
    pub(crate) fn connected() -> RecoveryReport {
        RecoveryReport {
            records_replayed: 0,
            last_version: 0,
            tail: TailState::Clean,
            bytes_cut: 0,
            records_dropped: 0,
            newest_dropped: None,
            salvaged: None,
            checkpoint: None,
            checkpoints_skipped: Vec::new(),
            interrupted_runs: Vec::new(),
            database_id: None,
            log_generation: 0,
            quarantined: Vec::new(),
            unread_tail: None,
        }
    }

    /// The report of a read-only load whose log part is `found`: nothing was cut, dropped or
    /// set aside, and no run was found interrupted (a writer may be running it).
    pub(crate) fn read_only(
        found: &Followed,
        last_version: u64,
        log_generation: u64,
    ) -> RecoveryReport {
        RecoveryReport {
            records_replayed: found.records_replayed,
            last_version,
            tail: TailState::Clean,
            bytes_cut: 0,
            records_dropped: 0,
            newest_dropped: None,
            salvaged: None,
            checkpoint: None,
            checkpoints_skipped: Vec::new(),
            interrupted_runs: Vec::new(),
            database_id: None,
            log_generation,
            quarantined: Vec::new(),
            unread_tail: found.stop.clone(),
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
