//! Recovery, inside `open`: load the newest good checkpoint (`checkpoint.rs`), replay the log
//! after it (`replay.rs`), settle the runs the process left active, and say what was found
//! (`report.rs`). It returns the parts an open database is made of; it knows nothing of the
//! database itself. A read-only open loads the same way through a log follower that cuts and
//! writes nothing, and leaves active runs active.

mod checkpoint;
mod replay;
mod report;

use std::path::Path;
use std::sync::Mutex;

use in_mem_core_types::{Timestamp, Version};
use in_mem_durability::{
    DataDir, Error as DurabilityError, LogFollower, RecoveryMode, Wal, WalOptions,
};
use in_mem_storage::{Memtable, ReadView};

pub(crate) use replay::{apply_record, recover_run_record};
pub use report::RecoveryReport;

use crate::error::{Error, Result};
use crate::options::OpenOptions;
use crate::runs::{PinPolicy, RunRegistry};
use crate::version_times::{RecoveredTimes, VersionTimes};

/// How an open database reaches its log.
pub(crate) enum Log {
    /// As the directory's one writer (it holds the directory lock).
    Writer(Wal),
    /// As a read-only follower beside whoever writes it (see `Database::open_read_only`).
    Reader(Mutex<LogFollower>),
    /// Through a shared store, as one of the hosts that share it (see `Database::connect`).
    Shared(crate::shared::SharedLog),
}

/// What an open database starts from.
pub(crate) struct Recovered {
    pub memtable: Memtable,
    pub runs: RunRegistry,
    pub log: Log,
    pub report: RecoveryReport,
    /// The version of the checkpoint recovery started from, if any.
    pub checkpoint: Option<Version>,
    /// The size of that checkpoint's file (0 without one, or in a read-only open, which never
    /// checkpoints): background checkpoints wait for the log to grow by a quarter of it.
    pub checkpoint_bytes: u64,
    /// History below this version may be missing (the checkpoint's sweeps reclaimed it).
    pub history_from: Version,
    /// Which version was current when, from what was loaded and replayed.
    pub version_times: VersionTimes,
}

/// How many times a read-only open loads again when the writer checkpointed and removed the
/// log it was about to read (each load starts from the newest checkpoint, so only a writer
/// that checkpoints faster than the reader loads exhausts them).
const READ_ONLY_LOADS_MAX: usize = 8;

/// Recovers the database in `dir` (opened at `path`): checkpoint, then log, then runs.
pub(crate) fn recover(dir: &DataDir, path: &Path, options: &OpenOptions) -> Result<Recovered> {
    // Checkpoints of another database, of an older copy or of a newer format are refused (or
    // set aside when salvaging) before the newest one is loaded; the log screens its own files
    // when it opens.
    let set_aside = in_mem_durability::checkpoint::screen(dir, options.recovery_mode)?;
    let now = options.clock.now();
    let (version_times, policy) = start(options);
    let checkpoint::Loaded {
        memtable,
        runs,
        checkpoint,
        skipped,
        history_from,
    } = checkpoint::load_newest(dir, policy, &version_times)?;
    let after = checkpoint.as_ref().map_or(Version::ZERO, |c| c.version);
    let wal_options = WalOptions {
        segment_bytes: options.segment_bytes,
        recovery_mode: options.recovery_mode,
    };
    let (wal, found) = memtable.load(|loader| {
        let mut replay =
            |record| replay::replay_record(&memtable, loader, &runs, &version_times, record);
        Wal::open(dir, wal_options, after, &mut replay)
    })?;
    let visible = ReadView::at(memtable.versions().visible());
    let read = |key: &[u8]| memtable.get(key, &visible, now).map(|s| s.value);
    let interrupted_runs = runs.finish_recovery(now, &read, false)?;
    let last_version = memtable.versions().visible().get();
    let mut report = RecoveryReport::new(&found, last_version, interrupted_runs);
    report.checkpoint = checkpoint.as_ref().map(|c| c.version.get());
    report.checkpoints_skipped = skipped;
    report.database_id = Some(dir.database_id());
    report.quarantined.splice(0..0, set_aside);
    report.log(path);
    let checkpoint_bytes = checkpoint
        .as_ref()
        .and_then(|c| dir.vfs().metadata(&c.path).ok().flatten())
        .map_or(0, |meta| meta.len);
    Ok(Recovered {
        memtable,
        runs,
        log: Log::Writer(wal),
        report,
        checkpoint: checkpoint.map(|c| c.version),
        checkpoint_bytes,
        history_from,
        version_times: version_times.finish(),
    })
}

/// Loads the database in `dir` (opened read-only) as another process may be writing it: the
/// newest checkpoint, then the log up to its last complete record, without cutting, moving or
/// writing anything. Runs whose record says active stay active (their writer may be running).
/// Loads again from the newest checkpoint if the writer removed the log it needed meanwhile.
pub(crate) fn recover_read_only(
    dir: &DataDir,
    path: &Path,
    options: &OpenOptions,
) -> Result<Recovered> {
    let mut loads = 0;
    loop {
        loads += 1;
        match load_read_only(dir, options) {
            Err(Error::Durability(DurabilityError::ReaderBehind { .. }))
                if loads < READ_ONLY_LOADS_MAX =>
            {
                tracing::debug!(
                    path = %path.display(),
                    loads,
                    "the writer checkpointed while this reader loaded; loading again"
                );
            }
            other => return other,
        }
    }
}

fn load_read_only(dir: &DataDir, options: &OpenOptions) -> Result<Recovered> {
    // Refuse, never set aside: a reader moves no file.
    in_mem_durability::checkpoint::screen(dir, RecoveryMode::Refuse)?;
    let now = options.clock.now();
    let (version_times, policy) = start(options);
    let checkpoint::Loaded {
        memtable,
        runs,
        checkpoint,
        skipped,
        history_from,
    } = checkpoint::load_newest(dir, policy, &version_times)?;
    let after = checkpoint.as_ref().map_or(Version::ZERO, |c| c.version);
    let (follower, found) = memtable.load(|loader| {
        let mut replay =
            |record| replay::replay_record(&memtable, loader, &runs, &version_times, record);
        LogFollower::open(dir, after, &mut replay)
    })?;
    let visible = ReadView::at(memtable.versions().visible());
    let read = |key: &[u8]| memtable.get(key, &visible, now).map(|s| s.value);
    runs.finish_recovery(now, &read, true)?;
    let last_version = memtable.versions().visible().get();
    let mut report = RecoveryReport::read_only(&found, last_version, dir.log_generation());
    report.checkpoint = checkpoint.as_ref().map(|c| c.version.get());
    report.checkpoints_skipped = skipped;
    report.database_id = Some(dir.database_id());
    Ok(Recovered {
        memtable,
        runs,
        log: Log::Reader(Mutex::new(follower)),
        report,
        checkpoint: checkpoint.map(|c| c.version),
        checkpoint_bytes: 0,
        history_from,
        version_times: version_times.finish(),
    })
}

/// What every recovery starts from: the version-time samples it fills, and how runs pin.
fn start(options: &OpenOptions) -> (RecoveredTimes, PinPolicy) {
    let now = options.clock.now();
    let keep_from =
        Timestamp::from_micros(now.as_micros().saturating_sub(
            u64::try_from(options.history.keep_for.as_micros()).unwrap_or(u64::MAX),
        ));
    let policy = PinPolicy {
        ended_retention: options.ended_run_retention,
        interrupted_grace: options.interrupted_run_grace,
    };
    (RecoveredTimes::new(keep_from), policy)
}
