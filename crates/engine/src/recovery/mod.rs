//! Recovery, inside `open`: load the newest good checkpoint (`checkpoint.rs`), replay the log
//! after it (`replay.rs`), settle the runs the process left active, and say what was found
//! (`report.rs`). It returns the parts an open database is made of; it knows nothing of the
//! database itself.

mod checkpoint;
mod replay;
mod report;

use std::path::Path;

use in_mem_core_types::{Timestamp, Version};
use in_mem_durability::{DataDir, Wal, WalOptions};
use in_mem_storage::{Memtable, ReadView};

pub use report::RecoveryReport;

use crate::error::Result;
use crate::options::OpenOptions;
use crate::runs::{PinPolicy, RunRegistry};
use crate::version_times::{RecoveredTimes, VersionTimes};

/// What an open database starts from.
pub(crate) struct Recovered {
    pub memtable: Memtable,
    pub runs: RunRegistry,
    pub wal: Wal,
    pub report: RecoveryReport,
    /// The version of the checkpoint recovery started from, if any.
    pub checkpoint: Option<Version>,
    /// History below this version may be missing (the checkpoint's sweeps reclaimed it).
    pub history_from: Version,
    /// Which version was current when, from what was loaded and replayed.
    pub version_times: VersionTimes,
}

/// Recovers the database in `dir` (opened at `path`): checkpoint, then log, then runs.
pub(crate) fn recover(dir: &DataDir, path: &Path, options: &OpenOptions) -> Result<Recovered> {
    // Checkpoints of another database, of an older copy or of a newer format are refused (or
    // set aside when salvaging) before the newest one is loaded; the log screens its own files
    // when it opens.
    let set_aside = in_mem_durability::checkpoint::screen(dir, options.recovery_mode)?;
    let now = options.clock.now();
    let keep_from =
        Timestamp::from_micros(now.as_micros().saturating_sub(
            u64::try_from(options.history.keep_for.as_micros()).unwrap_or(u64::MAX),
        ));
    let version_times = RecoveredTimes::new(keep_from);
    let policy = PinPolicy {
        ended_retention: options.ended_run_retention,
        interrupted_grace: options.interrupted_run_grace,
    };
    let checkpoint::Loaded {
        memtable,
        runs,
        checkpoint,
        skipped,
        history_from,
    } = checkpoint::load_newest(dir, policy, &version_times)?;
    let after = checkpoint.as_ref().map_or(Version::ZERO, |c| c.version);
    let mut replay = |record| replay::replay_record(&memtable, &runs, &version_times, record);
    let wal_options = WalOptions {
        segment_bytes: options.segment_bytes,
        recovery_mode: options.recovery_mode,
    };
    let (wal, found) = Wal::open(dir, wal_options, after, &mut replay)?;
    let visible = ReadView::at(memtable.versions().visible());
    let read = |key: &[u8]| memtable.get(key, &visible, now).map(|s| s.value);
    let interrupted_runs = runs.finish_recovery(now, &read)?;
    let last_version = memtable.versions().visible().get();
    let mut report = RecoveryReport::new(&found, last_version, interrupted_runs);
    report.checkpoint = checkpoint.as_ref().map(|c| c.version.get());
    report.checkpoints_skipped = skipped;
    report.database_id = Some(dir.database_id());
    report.quarantined.splice(0..0, set_aside);
    report.log(path);
    Ok(Recovered {
        memtable,
        runs,
        wal,
        report,
        checkpoint: checkpoint.map(|c| c.version),
        history_from,
        version_times: version_times.finish(),
    })
}
