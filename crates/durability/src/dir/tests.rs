use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use super::*;
use crate::vfs::StdFs;

fn fs() -> Arc<dyn Vfs> {
    Arc::new(StdFs)
}

#[test]
fn creates_missing_directory_with_lock_and_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a/b/db");
    let dir = DataDir::open(fs(), &path).unwrap();
    assert_eq!(dir.path(), path);
    assert!(path.join("LOCK").is_file());
    assert!(path.join("wal").is_dir());
    assert_eq!(dir.wal_path(), path.join("wal"));
}

#[test]
fn second_open_is_locked_until_the_first_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let first = DataDir::open(fs(), tmp.path()).unwrap();
    let err = DataDir::open(fs(), tmp.path()).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { path } if path == tmp.path()),
        "{err}"
    );
    drop(first);
    DataDir::open(fs(), tmp.path()).unwrap();
}

#[test]
fn a_file_is_not_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let err = DataDir::open(fs(), &file).unwrap_err();
    assert!(
        matches!(&err, Error::NotADirectory { path } if *path == file),
        "{err}"
    );
}

/// A file system on which creating directories is not permitted.
#[derive(Debug)]
struct NoPermission;

impl Vfs for NoPermission {
    fn create_dir_all(&self, _: &Path) -> std::io::Result<()> {
        Err(std::io::ErrorKind::PermissionDenied.into())
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<std::ffi::OsString>> {
        StdFs.read_dir(path)
    }
    fn open(
        &self,
        path: &Path,
        mode: crate::vfs::OpenMode,
    ) -> std::io::Result<Box<dyn crate::vfs::VfsFile>> {
        StdFs.open(path, mode)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        StdFs.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        StdFs.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        StdFs.sync_dir(path)
    }
    fn try_lock(&self, path: &Path) -> std::io::Result<Option<LockGuard>> {
        StdFs.try_lock(path)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<Option<crate::vfs::Metadata>> {
        StdFs.metadata(path)
    }
}

#[test]
fn permission_problems_are_io_errors_that_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let err = DataDir::open(Arc::new(NoPermission), &path).unwrap_err();
    assert!(
        matches!(&err, Error::Io { op: "create directory", path: p, .. } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains("check that the user"), "{err}");
}

#[test]
fn real_permission_problems_are_io_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let read_only = tmp.path().join("ro");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o500)).unwrap();
    let result = DataDir::open(fs(), &read_only.join("db"));
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o700)).unwrap();
    match result {
        // Root ignores permission bits, so there the open succeeds; the fake file system above
        // checks the message in every environment.
        Ok(_) => {}
        Err(err) => assert!(matches!(err, Error::Io { .. }), "{err}"),
    }
}
