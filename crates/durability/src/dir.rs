//! `DataDir`: an opened data directory, held under an exclusive lock on `<dir>/LOCK`, with
//! the database's identity loaded (or created, for a new database); or opened read-only
//! beside the process that writes it, without the lock, through a file system that refuses
//! every change.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::identity::{self, DatabaseId, IDENTITY_FILE_NAME, IDENTITY_TEMP_NAME, Identity, Stamp};
use crate::vfs::{LockGuard, ReadOnlyFs, Vfs};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE_NAME: &str = "LOCK";
/// Name of the write-ahead log's subdirectory.
pub const WAL_DIR_NAME: &str = "wal";
/// Name of the checkpoint directory inside a data directory.
pub const CHECKPOINT_DIR_NAME: &str = "checkpoints";

/// An opened, locked data directory. The lock is released when the `DataDir` and every log
/// opened in it are dropped. A directory opened with [`DataDir::open_read_only`] holds no lock.
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
    /// The identity file's contents; recovery replaces it when it begins a new generation.
    identity: Mutex<Identity>,
    /// True for a read-only open: `vfs` refuses every change, and nothing that would change
    /// the directory (a log, a checkpoint, removing leftovers) is attempted.
    pub(crate) read_only: bool,
    /// The directory lock; `None` for a read-only open.
    _lock: Option<LockGuard>,
}

impl DataDir {
    /// Opens (creating if missing) the data directory at `path`, locks it, and loads the
    /// database's identity, creating a new database in a missing or empty directory.
    ///
    /// Errors: [`Error::EmptyPath`] for an empty path, [`Error::NotADirectory`] if `path` is
    /// a file, [`Error::NotADatabase`] for an existing directory that holds other things but
    /// no identity file (nothing in it is changed), [`Error::Locked`] if another process or
    /// another `DataDir` in this process holds it, [`Error::FileMismatch`] for an identity
    /// file of a newer format, [`Error::Corruption`] for a damaged one, [`Error::Io`]
    /// otherwise.
    pub fn open(vfs: Arc<dyn Vfs>, path: &Path) -> Result<DataDir> {
        if path.as_os_str().is_empty() {
            return Err(Error::EmptyPath);
        }
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
        // Refuse a directory that is not a database before creating anything in it (the
        // check is repeated under the lock, where it decides).
        let has_identity = vfs
            .metadata(&path.join(IDENTITY_FILE_NAME))
            .map_err(|e| Error::io("inspect", path.join(IDENTITY_FILE_NAME), e))?
            .is_some();
        if !has_identity {
            check_unclaimed(&*vfs, path)?;
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
        let identity = if let Some(identity) = identity::load(&*vfs, path)? {
            identity::remove_temp(&*vfs, path)?;
            identity
        } else {
            check_unclaimed(&*vfs, path)?;
            // The identity comes first, before `wal/` and `checkpoints/`: a directory with
            // data and no identity is then never one this build wrote.
            let identity = Identity::new(DatabaseId::random());
            identity::store(&*vfs, path, &identity)?;
            tracing::info!(path = %path.display(), id = %identity.id, "created a new database");
            identity
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
                identity: Mutex::new(identity),
                read_only: false,
                _lock: Some(lock),
            }),
        })
    }

    /// Opens the database at `path` for reading only, beside any process that has it open for
    /// writing: no lock is taken (a writer opening it later is not disturbed), and every file
    /// access goes through a file system that refuses changes, so nothing in the directory is
    /// created, removed, renamed, synced or written (not even the leftovers a writer's
    /// recovery would clean up).
    ///
    /// Errors: [`Error::EmptyPath`], [`Error::NotADirectory`], [`Error::NoDatabase`] for a
    /// missing directory or one without an identity file, [`Error::FileMismatch`] and
    /// [`Error::Corruption`] for an identity file of a newer format or a damaged one,
    /// [`Error::Io`] otherwise.
    pub fn open_read_only(vfs: Arc<dyn Vfs>, path: &Path) -> Result<DataDir> {
        if path.as_os_str().is_empty() {
            return Err(Error::EmptyPath);
        }
        let vfs: Arc<dyn Vfs> = Arc::new(ReadOnlyFs::new(vfs));
        match vfs.metadata(path) {
            Ok(Some(meta)) if meta.is_dir => {}
            Ok(Some(_)) => {
                return Err(Error::NotADirectory {
                    path: path.to_owned(),
                });
            }
            Ok(None) => {
                return Err(Error::NoDatabase {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(Error::io("inspect the data directory", path, e)),
        }
        let Some(identity) = identity::load(&*vfs, path)? else {
            return Err(Error::NoDatabase {
                path: path.to_owned(),
            });
        };
        Ok(DataDir {
            inner: Arc::new(DirInner {
                vfs,
                path: path.to_owned(),
                wal_path: path.join(WAL_DIR_NAME),
                checkpoint_path: path.join(CHECKPOINT_DIR_NAME),
                wal_open: AtomicBool::new(false),
                identity: Mutex::new(identity),
                read_only: true,
                _lock: None,
            }),
        })
    }

    /// True if the directory was opened with [`DataDir::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The database's id (kept in `IDENTITY` and in every segment and checkpoint header).
    pub fn database_id(&self) -> DatabaseId {
        self.inner.identity().id
    }

    /// The generation of the log that new files are written in: 1 for a new database, bumped
    /// each time recovery cuts the log (see `docs/FORMAT.md`).
    pub fn log_generation(&self) -> u64 {
        self.inner.identity().current()
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
    /// The identity as last loaded or written.
    pub(crate) fn identity(&self) -> Identity {
        self.identity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The stamp of files written now.
    pub(crate) fn stamp(&self) -> Stamp {
        self.identity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stamp()
    }

    /// Reads the identity file again (a read-only open does, when a file names a generation
    /// that the writer began after the reader loaded it), and makes it the current one.
    pub(crate) fn reload_identity(&self) -> Result<Identity> {
        let loaded = identity::load(&*self.vfs, &self.path)?.ok_or_else(|| Error::NoDatabase {
            path: self.path.clone(),
        })?;
        *self.identity.lock().unwrap_or_else(PoisonError::into_inner) = loaded.clone();
        Ok(loaded)
    }

    /// Writes `identity` to the identity file (atomically) and makes it the current one.
    pub(crate) fn store_identity(&self, identity: Identity) -> Result<()> {
        let mut current = self.identity.lock().unwrap_or_else(PoisonError::into_inner);
        identity::store(&*self.vfs, &self.path, &identity)?;
        *current = identity;
        Ok(())
    }

    /// Marks the log as open; false if one already is.
    pub(crate) fn claim_wal(&self) -> bool {
        !self.wal_open.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn release_wal(&self) {
        self.wal_open.store(false, Ordering::Release);
    }
}

/// Checks that a directory without an identity file may become a new database: it holds
/// nothing but what creating one leaves behind before its identity file is written (the lock
/// file, a temp identity file, empty `wal/` and `checkpoints/`). Anything else means it is
/// not an in-mem database (or one written before identity files), and it is refused as
/// [`Error::NotADatabase`] naming what was found: never cut, never written to.
fn check_unclaimed(vfs: &dyn Vfs, path: &Path) -> Result<()> {
    let list = |dir: &Path| {
        let mut names = vfs.read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
        names.sort();
        Ok::<_, Error>(names)
    };
    let mut found = Vec::new();
    for name in list(path)? {
        let entry = Path::new(&name);
        if name == LOCK_FILE_NAME || name == IDENTITY_TEMP_NAME {
            continue;
        }
        let our_subdir = (name == WAL_DIR_NAME || name == CHECKPOINT_DIR_NAME)
            && vfs
                .metadata(&path.join(entry))
                .map_err(|e| Error::io("inspect", path.join(entry), e))?
                .is_some_and(|m| m.is_dir);
        if our_subdir {
            found.extend(list(&path.join(entry))?.into_iter().map(|n| entry.join(n)));
        } else {
            found.push(entry.to_owned());
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(Error::NotADatabase {
            path: path.to_owned(),
            found,
        })
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
