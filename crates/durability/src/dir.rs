//! `DataDir`: an opened data directory, held under an exclusive lock on `<dir>/LOCK`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::vfs::{LockGuard, Vfs};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE_NAME: &str = "LOCK";
/// Name of the write-ahead log's subdirectory.
pub const WAL_DIR_NAME: &str = "wal";
/// Name of the checkpoint directory inside a data directory.
pub const CHECKPOINT_DIR_NAME: &str = "checkpoints";

/// An opened, locked data directory. The lock is released when the `DataDir` and every log
/// opened in it are dropped.
#[derive(Clone)]
pub struct DataDir {
    inner: Arc<DirInner>,
}

/// What a `DataDir` shares with the logs opened in it: they keep the lock alive.
pub(crate) struct DirInner {
    pub(crate) vfs: Arc<dyn Vfs>,
    pub(crate) path: PathBuf,
    pub(crate) wal_path: PathBuf,
    pub(crate) checkpoint_path: PathBuf,
    /// True while a `Wal` is open on this directory: two logs appending to one directory would
    /// corrupt each other.
    pub(crate) wal_open: AtomicBool,
    _lock: LockGuard,
}

impl DataDir {
    /// Opens (creating if missing) the data directory at `path` and locks it.
    ///
    /// Errors: [`Error::NotADirectory`] if `path` is a file, [`Error::Locked`] if another
    /// process or another `DataDir` in this process holds it, [`Error::Io`] otherwise.
    pub fn open(vfs: Arc<dyn Vfs>, path: &Path) -> Result<DataDir> {
        match vfs.metadata(path) {
            Ok(Some(meta)) if meta.is_dir => {}
            Ok(Some(_)) => {
                return Err(Error::NotADirectory {
                    path: path.to_owned(),
                });
            }
            Ok(None) => create_dir(&*vfs, path)?,
            Err(e) => return Err(Error::io("inspect the data directory", path, e)),
        }
        let lock_path = path.join(LOCK_FILE_NAME);
        let lock = match vfs.try_lock(&lock_path) {
            Ok(Some(guard)) => guard,
            Ok(None) => {
                return Err(Error::Locked {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(Error::io("lock", lock_path, e)),
        };
        let wal_path = path.join(WAL_DIR_NAME);
        ensure_subdir(&*vfs, &wal_path, "inspect the log directory")?;
        let checkpoint_path = path.join(CHECKPOINT_DIR_NAME);
        ensure_subdir(&*vfs, &checkpoint_path, "inspect the checkpoint directory")?;
        Ok(DataDir {
            inner: Arc::new(DirInner {
                vfs,
                path: path.to_owned(),
                wal_path,
                checkpoint_path,
                wal_open: AtomicBool::new(false),
                _lock: lock,
            }),
        })
    }

    /// The directory's path, as given to [`DataDir::open`].
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The directory holding the write-ahead log segments (`<dir>/wal`).
    pub fn wal_path(&self) -> &Path {
        &self.inner.wal_path
    }

    /// The directory holding checkpoints (`<dir>/checkpoints`).
    pub fn checkpoint_path(&self) -> &Path {
        &self.inner.checkpoint_path
    }

    /// The file system this directory lives on.
    pub fn vfs(&self) -> &Arc<dyn Vfs> {
        &self.inner.vfs
    }

    pub(crate) fn inner(&self) -> &Arc<DirInner> {
        &self.inner
    }
}

/// Creates the subdirectory `path` if missing; refuses a file in its place.
fn ensure_subdir(vfs: &dyn Vfs, path: &Path, op: &'static str) -> Result<()> {
    match vfs.metadata(path) {
        Ok(Some(meta)) if meta.is_dir => Ok(()),
        Ok(Some(_)) => Err(Error::NotADirectory {
            path: path.to_owned(),
        }),
        Ok(None) => create_dir(vfs, path),
        Err(e) => Err(Error::io(op, path, e)),
    }
}

impl fmt::Debug for DataDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataDir")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl DirInner {
    /// Marks the log as open; false if one already is.
    pub(crate) fn claim_wal(&self) -> bool {
        !self.wal_open.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn release_wal(&self) {
        self.wal_open.store(false, Ordering::Release);
    }
}

/// Creates `path` and its missing parents, then syncs the parent of each directory created,
/// so that the new entries are durable.
fn create_dir(vfs: &dyn Vfs, path: &Path) -> Result<()> {
    let mut created = vec![path];
    let mut ancestor = path.parent();
    while let Some(dir) = ancestor.filter(|d| !d.as_os_str().is_empty()) {
        match vfs.metadata(dir) {
            Ok(Some(_)) => break,
            Ok(None) => created.push(dir),
            Err(e) => return Err(Error::io("inspect", dir, e)),
        }
        ancestor = dir.parent();
    }
    vfs.create_dir_all(path)
        .map_err(|e| Error::io("create directory", path, e))?;
    for dir in created.into_iter().rev() {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        vfs.sync_dir(parent)
            .map_err(|e| Error::io("sync directory", parent, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
