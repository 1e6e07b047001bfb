//! Screening checkpoints against the database's identity before recovery loads one: a
//! checkpoint of another database, of a generation of the log that does not hold its version
//! (an older copy's), or of a newer format is refused naming the file, or, in
//! `RecoveryMode::Salvage`, set aside into `quarantine/` unread. A checkpoint whose header
//! does not verify is left to the reader, which reports it as damaged so that recovery falls
//! back to an older one.

use std::path::PathBuf;

use in_mem_core_types::Version;

use super::format::{FORMAT_VERSION, HEADER_BYTES, HeaderError, decode_header};
use super::reader::list_in;
use crate::RecoveryMode;
use crate::dir::{DataDir, DirInner};
use crate::error::{Error, FileKind, Mismatch, Result};
use crate::identity::{Identity, Stamp};
use crate::quarantine::{Quarantined, refuse_or_set_aside, set_aside};
use crate::vfs::{OpenMode, read_exact_at};

/// What a checkpoint's header says, as far as it can be read.
enum Header {
    /// A header that verifies.
    Valid { stamp: Stamp, version: Version },
    /// A header of another format version.
    OtherFormat { found: u32 },
    /// Too short, or not verifying: damage, for the reader to report.
    Unreadable,
}

/// Checks every checkpoint of `dir` against the database's identity. In
/// [`RecoveryMode::Refuse`] the first that does not belong is the error
/// ([`Error::FileMismatch`]); in [`RecoveryMode::Salvage`] each is set aside and returned.
/// The engine calls this before it loads the newest checkpoint.
pub fn screen(dir: &DataDir, mode: RecoveryMode) -> Result<Vec<Quarantined>> {
    let inner = dir.inner();
    let identity = inner.identity();
    let mut set = Vec::new();
    for (path, header) in headers(inner)? {
        let mismatch = match header {
            Header::Valid { stamp, version } => identity.check_checkpoint(stamp, version).err(),
            Header::OtherFormat { found } => Some(Mismatch::format(
                FileKind::Checkpoint,
                found,
                FORMAT_VERSION,
            )),
            Header::Unreadable => None,
        };
        if let Some(mismatch) = mismatch {
            set.push(refuse_or_set_aside(
                &*inner.vfs,
                &inner.path,
                &path,
                mismatch,
                mode,
            )?);
        }
    }
    Ok(set)
}

/// Sets aside the checkpoints at or above `from` that `next` (the identity recovery is about
/// to store) would not accept.
pub(crate) fn set_aside_from(
    dir: &DirInner,
    next: &Identity,
    from: Version,
) -> Result<Vec<Quarantined>> {
    let mut set = Vec::new();
    for (path, header) in headers(dir)? {
        let Header::Valid { stamp, version } = header else {
            continue;
        };
        if version < from {
            continue;
        }
        let mismatch =
            next.check_checkpoint(stamp, version)
                .err()
                .unwrap_or(Mismatch::OutsideGeneration {
                    generation: stamp.generation,
                    found: version,
                    start: Version::ZERO,
                    end: Some(from),
                });
        set.push(set_aside(&*dir.vfs, &dir.path, &path, mismatch)?);
    }
    Ok(set)
}

/// The generations that the checkpoints' headers name.
pub(crate) fn generations(dir: &DirInner) -> Result<Vec<u64>> {
    Ok(headers(dir)?
        .into_iter()
        .filter_map(|(_, header)| match header {
            Header::Valid { stamp, .. } => Some(stamp.generation),
            _ => None,
        })
        .collect())
}

/// The header of every checkpoint of `dir`, newest first.
fn headers(dir: &DirInner) -> Result<Vec<(PathBuf, Header)>> {
    let mut out = Vec::new();
    for file in list_in(dir)? {
        let handle = match dir.vfs.open(&file.path, OpenMode::Read) {
            Ok(handle) => handle,
            // A reader beside a live writer: the writer removed it since it was listed.
            Err(e) if dir.read_only && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open", &file.path, e)),
        };
        let len = handle
            .len()
            .map_err(|e| Error::io("inspect", &file.path, e))?;
        let mut bytes = [0u8; HEADER_BYTES];
        let header = if len < HEADER_BYTES as u64 {
            Header::Unreadable
        } else {
            read_exact_at(&*handle, &mut bytes, 0).map_err(|e| Error::io("read", &file.path, e))?;
            match decode_header(&bytes) {
                Ok((stamp, fields)) => Header::Valid {
                    stamp,
                    version: fields.version,
                },
                Err(HeaderError::OtherFormat { found }) => Header::OtherFormat { found },
                Err(HeaderError::Damaged(_)) => Header::Unreadable,
            }
        };
        out.push((file.path, header));
    }
    Ok(out)
}
