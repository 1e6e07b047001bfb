//! `ReadOnlyFs`: a [`Vfs`] that reads through another one and refuses every change.
//!
//! A read-only open of a data directory (`DataDir::open_read_only`) goes through it, so that
//! "a reader writes nothing" is enforced by the file system it is given rather than by care at
//! every call site: a code path that tried to create, remove, rename, lock, sync or write a file
//! would fail with an error naming the refused operation instead of changing a database that
//! another process may be writing.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::{LockGuard, Metadata, OpenMode, Vfs, VfsFile};

/// Reads through the wrapped file system; refuses every operation that changes anything.
#[derive(Debug, Clone)]
pub(crate) struct ReadOnlyFs {
    inner: Arc<dyn Vfs>,
}

impl ReadOnlyFs {
    pub(crate) fn new(inner: Arc<dyn Vfs>) -> Self {
        ReadOnlyFs { inner }
    }
}

/// The error of a refused change.
fn refused(op: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("a read-only open does not {op}"),
    )
}

impl Vfs for ReadOnlyFs {
    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        Err(refused("create directories"))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        self.inner.read_dir(path)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn VfsFile>> {
        match mode {
            OpenMode::Read => Ok(Box::new(ReadOnlyFile(self.inner.open(path, mode)?))),
            OpenMode::ReadWrite | OpenMode::Create | OpenMode::CreateNew => {
                Err(refused("open files for writing"))
            }
        }
    }

    fn remove_file(&self, _path: &Path) -> io::Result<()> {
        Err(refused("remove files"))
    }

    fn rename(&self, _from: &Path, _to: &Path) -> io::Result<()> {
        Err(refused("rename files"))
    }

    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        Err(refused("sync directories"))
    }

    fn try_lock(&self, _path: &Path) -> io::Result<Option<LockGuard>> {
        Err(refused("take locks"))
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<Metadata>> {
        self.inner.metadata(path)
    }
}

/// A file opened for reading; its writing calls are refused before they reach the file.
#[derive(Debug)]
struct ReadOnlyFile(Box<dyn VfsFile>);

impl VfsFile for ReadOnlyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }

    fn write_at(&self, _buf: &[u8], _offset: u64) -> io::Result<usize> {
        Err(refused("write files"))
    }

    fn sync_data(&self) -> io::Result<()> {
        Err(refused("sync files"))
    }

    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }

    fn set_len(&self, _len: u64) -> io::Result<()> {
        Err(refused("change file lengths"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::StdFs;

    #[test]
    fn reads_pass_through_and_every_change_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"hello").unwrap();
        let fs = ReadOnlyFs::new(Arc::new(StdFs));
        let opened = fs.open(&file, OpenMode::Read).unwrap();
        let mut buf = [0u8; 5];
        assert_eq!(opened.read_at(&mut buf, 0).unwrap(), 5);
        assert_eq!(&buf, b"hello");
        assert_eq!(opened.len().unwrap(), 5);
        let denied = |r: io::Result<()>| {
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        };
        denied(opened.write_at(b"x", 0).map(|_| ()));
        denied(opened.sync_data());
        denied(opened.set_len(0));
        denied(fs.open(&file, OpenMode::ReadWrite).map(|_| ()));
        denied(fs.open(&tmp.path().join("g"), OpenMode::Create).map(|_| ()));
        denied(fs.remove_file(&file));
        denied(fs.rename(&file, &tmp.path().join("h")));
        denied(fs.sync_dir(tmp.path()));
        denied(fs.create_dir_all(&tmp.path().join("d")));
        denied(fs.try_lock(&tmp.path().join("LOCK")).map(|_| ()));
        assert_eq!(std::fs::read(&file).unwrap(), b"hello");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
