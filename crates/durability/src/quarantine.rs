//! Setting files aside: in `RecoveryMode::Salvage`, a file that does not belong to the
//! database (another database's, an older copy's, a newer format's, an unknown one) is moved
//! into `<dir>/quarantine/` instead of being read, cut or deleted, and reported.

use std::path::{Path, PathBuf};

use crate::error::{Error, Mismatch, Result};
use crate::vfs::Vfs;

/// Name of the directory, inside the data directory, that set-aside files are moved into.
pub const QUARANTINE_DIR_NAME: &str = "quarantine";

/// A file recovery set aside rather than read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quarantined {
    /// Where the file was.
    pub file: PathBuf,
    /// Where it is now, inside `quarantine/`.
    pub moved_to: PathBuf,
    /// Why it does not belong.
    pub mismatch: Mismatch,
}

/// Moves `file` (inside the data directory `data_dir`) into `<data_dir>/quarantine/`, named
/// after the subdirectory it came from (`wal-00000000000000000003.seg`) and numbered if that
/// name is taken; then syncs the quarantine directory and the one the file left, so that the
/// move is durable before recovery goes on without the file.
pub(crate) fn set_aside(
    vfs: &dyn Vfs,
    data_dir: &Path,
    file: &Path,
    mismatch: Mismatch,
) -> Result<Quarantined> {
    let quarantine = data_dir.join(QUARANTINE_DIR_NAME);
    match vfs.metadata(&quarantine) {
        Ok(Some(meta)) if meta.is_dir => {}
        Ok(Some(_)) => {
            return Err(Error::NotADirectory { path: quarantine });
        }
        Ok(None) => {
            vfs.create_dir_all(&quarantine)
                .map_err(|e| Error::io("create directory", &quarantine, e))?;
            vfs.sync_dir(data_dir)
                .map_err(|e| Error::io("sync directory", data_dir, e))?;
        }
        Err(e) => return Err(Error::io("inspect", quarantine, e)),
    }
    let from_dir = file.parent().unwrap_or(data_dir);
    let base = match (from_dir.file_name(), file.file_name()) {
        (Some(sub), Some(name)) if from_dir != data_dir => {
            format!("{}-{}", sub.to_string_lossy(), name.to_string_lossy())
        }
        (_, Some(name)) => name.to_string_lossy().into_owned(),
        (_, None) => "file".to_owned(),
    };
    let mut moved_to = quarantine.join(&base);
    let mut n = 0u32;
    loop {
        match vfs.metadata(&moved_to) {
            Ok(None) => break,
            Ok(Some(_)) => {
                n += 1;
                moved_to = quarantine.join(format!("{base}.{n}"));
            }
            Err(e) => return Err(Error::io("inspect", moved_to, e)),
        }
    }
    vfs.rename(file, &moved_to)
        .map_err(|e| Error::io("set aside", file, e))?;
    for dir in [quarantine.as_path(), from_dir] {
        vfs.sync_dir(dir)
            .map_err(|e| Error::io("sync directory", dir, e))?;
    }
    tracing::error!(
        file = %file.display(),
        moved_to = %moved_to.display(),
        reason = %mismatch,
        "set aside a file that does not belong to this database"
    );
    Ok(Quarantined {
        file: file.to_owned(),
        moved_to,
        mismatch,
    })
}

/// What recovery does with a file that does not belong: refuse it (the default) or set it
/// aside (salvage).
pub(crate) fn refuse_or_set_aside(
    vfs: &dyn Vfs,
    data_dir: &Path,
    file: &Path,
    mismatch: Mismatch,
    mode: crate::RecoveryMode,
) -> Result<Quarantined> {
    match mode {
        crate::RecoveryMode::Salvage => set_aside(vfs, data_dir, file, mismatch),
        _ => Err(Error::FileMismatch {
            file: file.to_owned(),
            mismatch,
        }),
    }
}
