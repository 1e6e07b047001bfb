//! The file-system trait every file access of the durability layer goes through.
//!
//! [`StdFs`] is the real file system. Tests wrap it to count or fail operations, and
//! [`SimFs`], a simulated file system that models power loss (keeping only synced bytes plus
//! any subset of the rest, tearing the last write, forgetting unsynced directory entries) and
//! injects I/O errors, implements the same two traits. For that reason the
//! traits name every operation whose durability matters separately: data reaches the disk only
//! through [`VfsFile::sync_data`], and a directory entry only through [`Vfs::sync_dir`].

mod read_only;
mod sim;
mod std_fs;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;

pub use sim::{SimFaults, SimFs, Timeline};
pub use std_fs::StdFs;

pub(crate) use read_only::ReadOnlyFs;

/// How [`Vfs::open`] opens a file. Every mode but `Read` opens for reading and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; the file is created (empty) if it does not exist.
    Create,
    /// Read and write; the file must not exist yet and is created empty.
    CreateNew,
}

/// What [`Vfs::metadata`] reports about an existing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    /// True for a directory.
    pub is_dir: bool,
    /// Length in bytes (meaningful for files).
    pub len: u64,
}

/// Holds an exclusive lock on a lock file; dropping it releases the lock.
pub struct LockGuard {
    held: Box<dyn fmt::Debug + Send + Sync>,
}

impl LockGuard {
    /// A guard that keeps `held` (for example the locked file) alive until it is dropped.
    pub fn new(held: Box<dyn fmt::Debug + Send + Sync>) -> Self {
        LockGuard { held }
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LockGuard").field(&self.held).finish()
    }
}

/// The file-system operations the log needs. Paths are absolute or relative to the process's
/// working directory, as given to `DataDir::open`.
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Creates `path` and any missing parents (no sync: the caller syncs what it created).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names (not paths) of the entries of directory `path`, in no particular order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// Opens the file at `path`.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>>;
    /// Removes the file at `path` (durable only after [`Vfs::sync_dir`] of its directory).
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to`, replacing `to` (durable only after [`Vfs::sync_dir`]).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the entries of directory `path` (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on the file at `path`, creating it if needed. `Ok(None)` when
    /// someone else holds it: another process, or another guard in this process.
    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>>;
    /// Metadata of `path`, or `Ok(None)` if nothing exists there.
    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>>;
}

/// An open file. Every method takes `&self`: one thread may write while another syncs.
#[allow(clippy::len_without_is_empty)] // `len` is a file's length; emptiness is never asked.
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Reads into `buf` at `offset`; may read fewer bytes than asked (0 at the end of the file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes `buf` at `offset` (pwrite); may write fewer bytes than asked.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// Makes the file's data, and the metadata needed to read it back, durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// Reads exactly `buf.len()` bytes at `offset`, retrying short reads.
pub(crate) fn read_exact_at(
    file: &dyn VfsFile,
    mut buf: &mut [u8],
    mut offset: u64,
) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file ended before the bytes it should hold",
                ));
            }
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes all of `buf` at `offset`, retrying short writes.
pub(crate) fn write_all_at(file: &dyn VfsFile, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "write accepted no bytes",
                ));
            }
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes zeros over `[from, to)` of `file`, in blocks of 64 KiB.
///
/// Not larger: the page cache keeps what one write(2) filled as one folio, and ext4 (6.x, with
/// large folios) walks every block of a folio on each later write into it. A log record's
/// write of ~100 bytes into a segment zeroed in 1 MiB writes took ~1.1 us; zeroed in 64 KiB
/// writes, ~0.37 us, as cheap as appending to a fresh file, with the same fdatasync cost (the
/// zeroing itself takes ~45 ms per 64 MiB either way, on the background preparer).
pub(crate) fn write_zeros(file: &dyn VfsFile, from: u64, to: u64) -> io::Result<()> {
    const BLOCK_BYTES: usize = 64 << 10;
    let zeros =
        vec![0u8; BLOCK_BYTES.min(usize::try_from(to.saturating_sub(from)).unwrap_or(BLOCK_BYTES))];
    let mut at = from;
    while at < to {
        let n = usize::try_from(to - at).map_or(zeros.len(), |left| left.min(zeros.len()));
        write_all_at(file, &zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
