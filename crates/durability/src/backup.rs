//! Backing up a database while a process writes it: copying exactly the consistent state a
//! read-only reader sees (the newest checkpoint that verifies, and the log up to its last
//! complete record), without the lock and without writing to the source.
//!
//! The copy is taken from what a [`LogFollower`] read: for every segment it read, the bytes up
//! to the end of the last record it read there. Those bytes never change while the writer runs
//! (it only appends, and its recovery only overwrites what follows the last complete record),
//! so the copy is the reader's state exactly, whatever the writer does meanwhile. The writer
//! may remove a checkpoint or segment between the reader's look and the copy (a newer
//! checkpoint made it unnecessary): then the backup starts again, a bounded number of times.
//! Every file is synced, and the identity file is written last, so a backup that did not finish
//! is refused as not a database rather than opened half-copied.

use std::path::Path;
use std::sync::Arc;

use in_mem_core_types::Version;

use crate::checkpoint::{CheckpointFile, list_checkpoints, read_checkpoint};
use crate::copy::prepare_target;
use crate::dir::{CHECKPOINT_DIR_NAME, DataDir, WAL_DIR_NAME};
use crate::error::{Error, Result};
use crate::identity;
use crate::vfs::{OpenMode, Vfs, read_exact_at, write_all_at};
use crate::wal::LogFollower;

/// A backup starts again when the writer removed a file it was copying: at least this many
/// times, and for as long as [`BACKUP_RETRY_FOR`] has not passed. A writer that checkpoints
/// often (every 256 KiB of log in the CLI's tests) can outrun several attempts in a row on a
/// loaded machine; a count alone gave up after a second or two.
const BACKUP_ATTEMPTS_MIN: usize = 8;
/// How long a backup keeps starting again (see [`BACKUP_ATTEMPTS_MIN`]).
const BACKUP_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(60);
/// Bytes copied per read and write.
const CHUNK_BYTES: usize = 1 << 20;

/// What [`backup_database`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backup {
    /// The version of the checkpoint copied, if any.
    pub checkpoint: Option<Version>,
    /// The newest commit in the backup.
    pub last_version: Version,
    /// Log segments copied.
    pub segments: u64,
    /// Bytes copied (checkpoint and log).
    pub bytes: u64,
}

/// Copies a consistent state of the database at `from` into `to` (missing or empty), while
/// another process may be writing `from`; `to` then opens as the same database (same id, same
/// history up to the backup's last version). `from` is only read.
pub fn backup_database(vfs: &Arc<dyn Vfs>, from: &Path, to: &Path) -> Result<Backup> {
    prepare_target(&**vfs, to)?;
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let again = attempt < BACKUP_ATTEMPTS_MIN || started.elapsed() < BACKUP_RETRY_FOR;
        match copy_once(vfs, from, to) {
            Err(e) if again && moved_on(&e) => {
                tracing::debug!(attempt, error = %e, "the writer removed a file being backed up; starting again");
                clear(&**vfs, to)?;
            }
            other => return other,
        }
    }
}

/// True for the errors a writer's checkpoint causes by removing what a backup was copying.
fn moved_on(e: &Error) -> bool {
    match e {
        Error::ReaderBehind { .. } => true,
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

fn copy_once(vfs: &Arc<dyn Vfs>, from: &Path, to: &Path) -> Result<Backup> {
    let source = DataDir::open_read_only(Arc::clone(vfs), from)?;
    let checkpoint = newest_sound_checkpoint(&source)?;
    let after = checkpoint.as_ref().map_or(Version::ZERO, |c| c.version);
    let (follower, _) = LogFollower::open(&source, after, &mut |_| Ok(()))?;
    let mut backup = Backup {
        checkpoint: checkpoint.as_ref().map(|c| c.version),
        last_version: follower.last_version(),
        segments: 0,
        bytes: 0,
    };
    for sub in [WAL_DIR_NAME, CHECKPOINT_DIR_NAME] {
        let dir = to.join(sub);
        vfs.create_dir_all(&dir)
            .map_err(|e| Error::io("create directory", &dir, e))?;
    }
    if let Some(file) = &checkpoint {
        let name = file.path.file_name().unwrap_or_default();
        let dest = to.join(CHECKPOINT_DIR_NAME).join(name);
        backup.bytes += copy_prefix(&**vfs, &file.path, &dest, None)?;
    }
    for segment in follower.segments_read() {
        let name = segment.path.file_name().unwrap_or_default();
        let dest = to.join(WAL_DIR_NAME).join(name);
        backup.bytes += copy_prefix(&**vfs, &segment.path, &dest, Some(segment.end))?;
        backup.segments += 1;
    }
    for sub in [WAL_DIR_NAME, CHECKPOINT_DIR_NAME] {
        let dir = to.join(sub);
        vfs.sync_dir(&dir)
            .map_err(|e| Error::io("sync directory", &dir, e))?;
    }
    vfs.sync_dir(to)
        .map_err(|e| Error::io("sync directory", to, e))?;
    // The identity the reader ended with: it names every generation the copied files were
    // written in (the follower reads it again when it meets a new one).
    identity::store(&**vfs, to, &source.inner().identity())?;
    Ok(backup)
}

/// The newest checkpoint of `dir` that reads back whole, if any.
fn newest_sound_checkpoint(dir: &DataDir) -> Result<Option<CheckpointFile>> {
    for file in list_checkpoints(dir)? {
        match read_checkpoint(dir, &file, &mut |_| Ok(())) {
            Ok(_) => return Ok(Some(file)),
            Err(e) if moved_on(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(file = %file.path.display(), error = %e, "not backing up a damaged checkpoint");
            }
        }
    }
    Ok(None)
}

/// Copies the first `end` bytes of `from` (all of it if `None`) to the new file `to`, extended
/// with zeros to `from`'s length (a segment keeps its preallocated size), and syncs it.
/// Returns the bytes copied.
fn copy_prefix(vfs: &dyn Vfs, from: &Path, to: &Path, end: Option<u64>) -> Result<u64> {
    let src = vfs
        .open(from, OpenMode::Read)
        .map_err(|e| Error::io("open", from, e))?;
    let len = src.len().map_err(|e| Error::io("inspect", from, e))?;
    let end = end.unwrap_or(len).min(len);
    let dst = vfs
        .open(to, OpenMode::CreateNew)
        .map_err(|e| Error::io("create", to, e))?;
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut at = 0u64;
    while at < end {
        let n = usize::try_from(end - at).map_or(CHUNK_BYTES, |left| left.min(CHUNK_BYTES));
        let chunk = buf.get_mut(..n).unwrap_or_default();
        read_exact_at(&*src, chunk, at).map_err(|e| Error::io("read", from, e))?;
        write_all_at(&*dst, chunk, at).map_err(|e| Error::io("write", to, e))?;
        at += n as u64;
    }
    dst.set_len(len)
        .and_then(|()| dst.sync_data())
        .map_err(|e| Error::io("write", to, e))?;
    Ok(end)
}

/// Removes the files an attempt copied into `to` (its empty subdirectories stay).
fn clear(vfs: &dyn Vfs, to: &Path) -> Result<()> {
    for sub in [WAL_DIR_NAME, CHECKPOINT_DIR_NAME] {
        let dir = to.join(sub);
        let names = match vfs.read_dir(&dir) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("list", &dir, e)),
        };
        for name in names {
            let path = dir.join(name);
            vfs.remove_file(&path)
                .map_err(|e| Error::io("remove", &path, e))?;
        }
    }
    Ok(())
}
