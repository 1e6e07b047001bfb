//! `SimFs`: an in-memory [`Vfs`] that models power loss and injects I/O errors, for tests.
//!
//! **The model.** Per file, the *durable* bytes (what completed fdatasyncs made durable) and the
//! *live* bytes (what reads see), with the writes and length changes in between. Per
//! directory, the entries created, renamed or removed since its last [`Vfs::sync_dir`] are not
//! durable. [`SimFs::crash`] returns the file system a power loss at this moment could leave,
//! chosen by a seed:
//! - every file keeps its durable bytes plus a random subset of its unsynced writes, applied in
//!   order: unsynced writes may persist *out of order* (a later one on disk, an earlier one
//!   not); the last one kept may be torn at any byte;
//! - length that unsynced writes or `set_len` added but whose data did not land reads as zeros
//!   or as garbage;
//! - unsynced directory entry changes are forgotten, or a prefix of them (in the order they
//!   were made) persists;
//! - locks are gone.
//!
//! A failed fdatasync (injected) decides at once which of the pending writes reached the disk;
//! the rest are lost for good, even if a later fdatasync succeeds, as after a writeback error
//! on Linux (this is why a failed fsync must never be retried).
//!
//! **Faults** ([`SimFaults`]): EIO on the n-th write or fdatasync (of every file, or of files
//! whose name contains a given string), ENOSPC once the files would hold more than a byte
//! budget, and short writes.
//!
//! **Crash points.** Every call that changes the disk (create, write, `set_len`, fdatasync,
//! rename, remove, directory sync) is one I/O call; [`SimFs::io_count`] counts them. After
//! [`SimFs::record`], the calls are recorded, and [`SimFs::timeline`] replays them one by one
//! so that a test can crash the disk as it was after each of them.
//!
//! Everything random comes from seeds, so a failure reproduces. Paths are taken as given (no
//! `..` or symlinks); `/` and `.` always exist.
//!
//! ```
//! use std::path::Path;
//! use in_mem_durability::{OpenMode, SimFs, Vfs};
//!
//! let fs = SimFs::new(1);
//! fs.create_dir_all(Path::new("/d")).unwrap();
//! fs.sync_dir(Path::new("/")).unwrap();
//! let f = fs.open(Path::new("/d/f"), OpenMode::CreateNew).unwrap();
//! fs.sync_dir(Path::new("/d")).unwrap();
//! f.write_at(b"synced", 0).unwrap();
//! f.sync_data().unwrap();
//! f.write_at(b" and not", 6).unwrap();
//! // Exactly what was synced survives when nothing else lands...
//! let lost = fs.crash_durable_only();
//! assert_eq!(lost.read_file(Path::new("/d/f")).unwrap(), b"synced");
//! // ...and any power loss keeps at least that.
//! let crashed = fs.crash(42);
//! assert!(crashed.read_file(Path::new("/d/f")).unwrap().starts_with(b"synced"));
//! ```

mod disk;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use disk::{Disk, Event, Node, Rng, is_root, parent};

use super::{LockGuard, Metadata, OpenMode, Vfs, VfsFile};

/// `EIO`, as the kernel reports a failed write or fdatasync.
const EIO: i32 = 5;
/// `ENOSPC`: no space left on the device.
const ENOSPC: i32 = 28;

/// I/O errors and short writes a [`SimFs`] injects. Counts start when the faults are set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimFaults {
    /// Fail the n-th write (1-based) with EIO.
    pub fail_write: Option<u64>,
    /// Fail the n-th fdatasync (1-based) with EIO.
    pub fail_sync: Option<u64>,
    /// Count writes and syncs only on files whose path contains this (e.g. `".seg"`).
    pub only_files_containing: Option<String>,
    /// Fail with ENOSPC a write or `set_len` that would make all files together longer than
    /// this many bytes. Writes inside a file's current length never fail.
    pub space_bytes: Option<u64>,
    /// Every write of more than one byte stores only a random, non-empty prefix.
    pub short_writes: bool,
}

impl SimFaults {
    /// No faults.
    pub fn none() -> SimFaults {
        SimFaults::default()
    }

    /// EIO on the n-th write.
    #[must_use]
    pub fn fail_write(mut self, nth: u64) -> SimFaults {
        self.fail_write = Some(nth);
        self
    }

    /// EIO on the n-th fdatasync.
    #[must_use]
    pub fn fail_sync(mut self, nth: u64) -> SimFaults {
        self.fail_sync = Some(nth);
        self
    }

    /// Counts writes and syncs only on files whose path contains `part`.
    #[must_use]
    pub fn only_files_containing(mut self, part: &str) -> SimFaults {
        self.only_files_containing = Some(part.to_owned());
        self
    }

    /// ENOSPC beyond `bytes` in all files together.
    #[must_use]
    pub fn space_bytes(mut self, bytes: u64) -> SimFaults {
        self.space_bytes = Some(bytes);
        self
    }

    /// Short writes.
    #[must_use]
    pub fn short_writes(mut self) -> SimFaults {
        self.short_writes = true;
        self
    }
}

/// The simulated file system. Cloning gives another handle to the same disk.
#[derive(Clone)]
pub struct SimFs {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    disk: Disk,
    /// Paths locked by `try_lock`; not on the disk.
    locks: Vec<PathBuf>,
    faults: SimFaults,
    writes_counted: u64,
    syncs_counted: u64,
    io_count: u64,
    rng: Rng,
    /// The disk when recording began, and every event since.
    history: Option<(Disk, Vec<Event>)>,
}

impl Default for SimFs {
    fn default() -> Self {
        SimFs::new(0)
    }
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("SimFs")
            .field("entries", &inner.disk.live.len())
            .field("io_count", &inner.io_count)
            .finish_non_exhaustive()
    }
}

impl SimFs {
    /// An empty file system; `seed` drives short writes and failed syncs.
    pub fn new(seed: u64) -> SimFs {
        SimFs::from_disk(Disk::default(), seed)
    }

    fn from_disk(disk: Disk, seed: u64) -> SimFs {
        SimFs {
            inner: Arc::new(Mutex::new(Inner {
                disk,
                locks: Vec::new(),
                faults: SimFaults::default(),
                writes_counted: 0,
                syncs_counted: 0,
                io_count: 0,
                rng: Rng::new(seed),
                history: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in a test thread while it held the lock leaves a consistent disk: every
        // change is applied under the lock in one step.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the faults to inject, and restarts their counts.
    pub fn set_faults(&self, faults: SimFaults) {
        let mut inner = self.lock();
        inner.faults = faults;
        inner.writes_counted = 0;
        inner.syncs_counted = 0;
    }

    /// Writes and fdatasyncs the faults have counted since they were set (those of the files
    /// they name): how far a fault can be placed.
    pub fn fault_counts(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.writes_counted, inner.syncs_counted)
    }

    /// I/O calls that changed the disk so far (each is a crash point).
    pub fn io_count(&self) -> u64 {
        self.lock().io_count
    }

    /// Starts recording every I/O call from the disk as it is now, for [`SimFs::timeline`].
    pub fn record(&self) {
        let mut inner = self.lock();
        inner.history = Some((inner.disk.clone(), Vec::new()));
    }

    /// The recorded I/O calls, to replay one at a time. Empty if [`SimFs::record`] was not
    /// called.
    pub fn timeline(&self) -> Timeline {
        let inner = self.lock();
        let (disk, events) = inner
            .history
            .clone()
            .unwrap_or_else(|| (inner.disk.clone(), Vec::new()));
        Timeline {
            disk,
            events,
            applied: 0,
        }
    }

    /// The file system a power loss now could leave, chosen by `seed` (see the module docs).
    /// The original is not changed.
    #[must_use]
    pub fn crash(&self, seed: u64) -> SimFs {
        let disk = self.lock().disk.crash(&mut Rng::new(seed), false);
        SimFs::from_disk(disk, seed)
    }

    /// The file system a power loss now leaves if no unsynced write or entry change lands:
    /// exactly what fdatasync and directory syncs made durable.
    #[must_use]
    pub fn crash_durable_only(&self) -> SimFs {
        let disk = self.lock().disk.crash(&mut Rng::new(0), true);
        SimFs::from_disk(disk, 0)
    }

    /// A copy of the disk as reads see it now, all of it durable (no faults, no history).
    #[must_use]
    pub fn snapshot(&self) -> SimFs {
        let mut disk = self.lock().disk.clone();
        disk.settle();
        SimFs::from_disk(disk, 0)
    }

    /// The bytes of the file at `path` as reads see them.
    pub fn read_file(&self, path: &Path) -> Option<Vec<u8>> {
        let inner = self.lock();
        match inner.disk.node(path)? {
            Node::File(inode) => Some(inner.disk.files[&inode].live.clone()),
            Node::Dir => None,
        }
    }

    /// Replaces (or creates) the file at `path` with `bytes`, durably, with any missing parent
    /// directories: for tests that craft a damaged disk. Not an I/O call.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) {
        let mut inner = self.lock();
        let mut missing = Vec::new();
        let mut dir = parent(path);
        while !is_root(&dir) && inner.disk.node(&dir).is_none() {
            missing.push(dir.clone());
            dir = parent(&dir);
        }
        for dir in missing.into_iter().rev() {
            inner.disk.apply(&Event::CreateDir(dir));
        }
        let inode = if let Some(Node::File(inode)) = inner.disk.node(path) {
            inode
        } else {
            let inode = inner.disk.next_inode();
            inner.disk.apply(&Event::CreateFile(path.to_owned()));
            inode
        };
        inner.disk.apply(&Event::SetLen { inode, len: 0 });
        inner.disk.apply(&Event::Write {
            inode,
            offset: 0,
            bytes: bytes.to_vec(),
        });
        inner.disk.settle();
    }

    /// Removes the file at `path`, durably: for tests that craft a damaged disk.
    pub fn remove_file_now(&self, path: &Path) {
        let mut inner = self.lock();
        if matches!(inner.disk.node(path), Some(Node::File(_))) {
            inner.disk.apply(&Event::Remove(path.to_owned()));
            inner.disk.settle();
        }
    }

    /// The names in directory `path` (empty if it does not exist).
    pub fn list(&self, path: &Path) -> Vec<String> {
        let inner = self.lock();
        children(&inner.disk, path)
            .map(|p| name_of(&p).to_string_lossy().into_owned())
            .collect()
    }
}

/// A recorded history of I/O calls, replayed one at a time (see [`SimFs::timeline`]).
#[derive(Debug, Clone)]
pub struct Timeline {
    disk: Disk,
    events: Vec<Event>,
    applied: usize,
}

impl Timeline {
    /// Number of recorded I/O calls.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Calls replayed so far: the disk is as it was after this many.
    pub fn position(&self) -> usize {
        self.applied
    }

    /// Replays the next call; false at the end.
    pub fn step(&mut self) -> bool {
        match self.events.get(self.applied) {
            Some(event) => {
                self.disk.apply(event);
                self.applied += 1;
                true
            }
            None => false,
        }
    }

    /// A short description of the next call, for failure messages.
    pub fn next_call(&self) -> String {
        match self.events.get(self.applied) {
            Some(Event::Write {
                inode,
                offset,
                bytes,
            }) => format!(
                "write of {} bytes at {offset} to file #{inode}",
                bytes.len()
            ),
            Some(event) => format!("{event:?}"),
            None => "end".to_owned(),
        }
    }

    /// [`SimFs::crash`] of the disk at this position.
    pub fn crash(&self, seed: u64) -> SimFs {
        SimFs::from_disk(self.disk.crash(&mut Rng::new(seed), false), seed)
    }

    /// [`SimFs::crash_durable_only`] of the disk at this position.
    pub fn crash_durable_only(&self) -> SimFs {
        SimFs::from_disk(self.disk.crash(&mut Rng::new(0), true), 0)
    }
}

fn name_of(path: &Path) -> OsString {
    path.file_name().map(OsString::from).unwrap_or_default()
}

/// The live entries directly inside `dir`.
fn children<'d>(disk: &'d Disk, dir: &'d Path) -> impl Iterator<Item = PathBuf> + 'd {
    disk.live.keys().filter(move |p| parent(p) == dir).cloned()
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    )
}

impl Inner {
    /// Records and applies an event: one I/O call.
    fn apply(&mut self, event: Event) {
        self.io_count += 1;
        self.disk.apply(&event);
        if let Some((_, events)) = &mut self.history {
            events.push(event);
        }
    }

    /// The live bytes all files hold together.
    fn used_bytes(&self) -> u64 {
        self.disk
            .live
            .values()
            .filter_map(|n| match n {
                Node::File(inode) => Some(self.disk.files[inode].live.len() as u64),
                Node::Dir => None,
            })
            .sum()
    }

    /// ENOSPC if growing a file by `grow` bytes passes the budget.
    fn check_space(&self, grow: u64) -> io::Result<()> {
        match self.faults.space_bytes {
            Some(max) if grow > 0 && self.used_bytes() + grow > max => {
                Err(io::Error::from_raw_os_error(ENOSPC))
            }
            _ => Ok(()),
        }
    }

    /// True if the faults count I/O on the file `inode`.
    fn counted(&self, inode: u64) -> bool {
        let Some(part) = &self.faults.only_files_containing else {
            return true;
        };
        self.disk.live.iter().any(|(path, node)| {
            *node == Node::File(inode) && path.to_string_lossy().contains(part.as_str())
        })
    }

    fn create_file(&mut self, path: &Path) -> io::Result<u64> {
        if !matches!(self.disk.node(&parent(path)), Some(Node::Dir)) {
            return Err(not_found(&parent(path)));
        }
        let inode = self.disk.next_inode();
        self.apply(Event::CreateFile(path.to_owned()));
        Ok(inode)
    }
}

impl Vfs for SimFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        let mut missing = Vec::new();
        let mut dir = path.to_path_buf();
        loop {
            match inner.disk.node(&dir) {
                Some(Node::Dir) => break,
                Some(Node::File(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("{} is a file", dir.display()),
                    ));
                }
                None => {
                    missing.push(dir.clone());
                    dir = parent(&dir);
                }
            }
        }
        for dir in missing.into_iter().rev() {
            inner.apply(Event::CreateDir(dir));
        }
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let inner = self.lock();
        match inner.disk.node(path) {
            Some(Node::Dir) => Ok(children(&inner.disk, path).map(|p| name_of(&p)).collect()),
            Some(Node::File(_)) => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is a file", path.display()),
            )),
            None => Err(not_found(path)),
        }
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        let mut inner = self.lock();
        let inode = match (inner.disk.node(path), mode) {
            (Some(Node::Dir), _) => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    format!("{} is a directory", path.display()),
                ));
            }
            (Some(Node::File(_)), OpenMode::CreateNew) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", path.display()),
                ));
            }
            (Some(Node::File(inode)), _) => inode,
            (None, OpenMode::Create | OpenMode::CreateNew) => inner.create_file(path)?,
            (None, OpenMode::Read | OpenMode::ReadWrite) => return Err(not_found(path)),
        };
        Ok(Box::new(SimFile {
            fs: self.clone(),
            inode,
            writable: mode != OpenMode::Read,
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        match inner.disk.node(path) {
            Some(Node::File(_)) => {
                inner.apply(Event::Remove(path.to_owned()));
                Ok(())
            }
            Some(Node::Dir) => Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{} is a directory", path.display()),
            )),
            None => Err(not_found(path)),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        if !matches!(inner.disk.node(from), Some(Node::File(_))) {
            return Err(not_found(from));
        }
        if !matches!(inner.disk.node(&parent(to)), Some(Node::Dir)) {
            return Err(not_found(&parent(to)));
        }
        if matches!(inner.disk.node(to), Some(Node::Dir)) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{} is a directory", to.display()),
            ));
        }
        inner.apply(Event::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.lock();
        match inner.disk.node(path) {
            Some(Node::Dir) => {
                inner.apply(Event::SyncDir(path.to_owned()));
                Ok(())
            }
            Some(Node::File(_)) => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is a file", path.display()),
            )),
            None => Err(not_found(path)),
        }
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        let mut inner = self.lock();
        match inner.disk.node(path) {
            Some(Node::File(_)) => {}
            Some(Node::Dir) => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    format!("{} is a directory", path.display()),
                ));
            }
            None => {
                inner.create_file(path)?;
            }
        }
        if inner.locks.iter().any(|p| p == path) {
            return Ok(None);
        }
        inner.locks.push(path.to_owned());
        Ok(Some(LockGuard::new(Box::new(SimLock {
            fs: self.clone(),
            path: path.to_owned(),
        }))))
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        let inner = self.lock();
        Ok(inner.disk.node(path).map(|node| match node {
            Node::Dir => Metadata {
                is_dir: true,
                len: 0,
            },
            Node::File(inode) => Metadata {
                is_dir: false,
                len: inner.disk.files[&inode].live.len() as u64,
            },
        }))
    }
}

/// A lock taken by [`SimFs::try_lock`]; released when dropped.
struct SimLock {
    fs: SimFs,
    path: PathBuf,
}

impl fmt::Debug for SimLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimLock")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.fs.lock().locks.retain(|p| *p != self.path);
    }
}

/// An open file of a [`SimFs`]: it names the file itself (an inode), so it keeps working
/// after a rename or removal of its entry, as on Unix.
struct SimFile {
    fs: SimFs,
    inode: u64,
    writable: bool,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("inode", &self.inode)
            .finish_non_exhaustive()
    }
}

impl SimFile {
    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file opened read-only",
            ))
        }
    }
}

impl VfsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let inner = self.fs.lock();
        let data = &inner.disk.files[&self.inode].live;
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= data.len() {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.check_writable()?;
        let mut inner = self.fs.lock();
        if inner.counted(self.inode) {
            inner.writes_counted += 1;
            if inner.faults.fail_write == Some(inner.writes_counted) {
                return Err(io::Error::from_raw_os_error(EIO));
            }
        }
        let mut n = buf.len();
        if inner.faults.short_writes && n > 1 {
            n = 1 + usize::try_from(inner.rng.below(n as u64 - 1)).unwrap_or(0);
        }
        let len = inner.disk.files[&self.inode].live.len() as u64;
        inner.check_space((offset + n as u64).saturating_sub(len))?;
        inner.apply(Event::Write {
            inode: self.inode,
            offset,
            bytes: buf[..n].to_vec(),
        });
        Ok(n)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut inner = self.fs.lock();
        if inner.counted(self.inode) {
            inner.syncs_counted += 1;
            if inner.faults.fail_sync == Some(inner.syncs_counted) {
                // Which pending writes reached the disk before the error is decided now.
                let pending = inner.disk.files[&self.inode].pending();
                let persisted = (0..pending).filter(|_| inner.rng.chance(2)).collect();
                inner.apply(Event::SyncFailed {
                    inode: self.inode,
                    persisted,
                });
                return Err(io::Error::from_raw_os_error(EIO));
            }
        }
        inner.apply(Event::Sync { inode: self.inode });
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.fs.lock().disk.files[&self.inode].live.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let mut inner = self.fs.lock();
        let current = inner.disk.files[&self.inode].live.len() as u64;
        inner.check_space(len.saturating_sub(current))?;
        inner.apply(Event::SetLen {
            inode: self.inode,
            len,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
