//! Screening the log directory before recovery reads a record: every file in `wal/` must be
//! a segment (or a segment being prepared) of this database, of this format, and of a
//! generation that may hold what it holds (see `identity/mod.rs`). A file that is not is
//! refused with [`Error::FileMismatch`] naming it, what was expected and what it says, or, in
//! [`RecoveryMode::Salvage`], set aside into `quarantine/` unread.
//!
//! Only what a complete header says is judged here: a header that fails its checksum may be
//! a torn write, and is left to recovery's scan, which knows torn tails from damage.

use std::path::Path;

use super::RecoveryMode;
use super::format::{FORMAT_VERSION, HEADER_BYTES, HeaderRead, SegmentHeader};
use super::frame::{self, LOG_PAYLOAD, Parsed};
use super::reader::WindowReader;
use super::segment::{self, EntryName};
use crate::dir::DirInner;
use crate::error::{Error, FileKind, Mismatch, Result};
use crate::identity::Identity;
use crate::quarantine::{Quarantined, refuse_or_set_aside};
use crate::vfs::{OpenMode, Vfs, read_exact_at};

/// Screens every file of the log directory of `dir`, in name order; returns the files set
/// aside (only in `Salvage` mode: otherwise the first mismatch is the error).
pub(crate) fn screen_log(
    dir: &DirInner,
    mode: RecoveryMode,
    chunk: usize,
) -> Result<Vec<Quarantined>> {
    let vfs = &*dir.vfs;
    let identity = dir.identity();
    let mut names = vfs
        .read_dir(&dir.wal_path)
        .map_err(|e| Error::io("list the log directory", &dir.wal_path, e))?;
    names.sort();
    let mut set_aside = Vec::new();
    for name in names {
        let path = dir.wal_path.join(&name);
        let mismatch = match segment::classify(&name) {
            EntryName::Segment(sequence) => check_segment(vfs, &path, sequence, &identity, chunk)?,
            EntryName::Temp => None,
            EntryName::Other => Some(Mismatch::Unrecognized),
        };
        if let Some(mismatch) = mismatch {
            set_aside.push(refuse_or_set_aside(vfs, &dir.path, &path, mismatch, mode)?);
        }
    }
    Ok(set_aside)
}

/// What is wrong with segment `sequence` at `path`, if its header is complete and says it
/// does not belong.
fn check_segment(
    vfs: &dyn Vfs,
    path: &Path,
    sequence: u64,
    identity: &Identity,
    chunk: usize,
) -> Result<Option<Mismatch>> {
    let file = vfs
        .open(path, OpenMode::Read)
        .map_err(|e| Error::io("open segment", path, e))?;
    let len = file
        .len()
        .map_err(|e| Error::io("read the length of", path, e))?;
    if len < HEADER_BYTES as u64 {
        return Ok(None);
    }
    let mut bytes = [0u8; HEADER_BYTES];
    read_exact_at(&*file, &mut bytes, 0).map_err(|e| Error::io("read segment", path, e))?;
    let header = match SegmentHeader::decode(&bytes) {
        HeaderRead::Valid(header) => header,
        HeaderRead::OtherFormat { found } => {
            return Ok(Some(Mismatch::format(
                FileKind::Segment,
                found,
                FORMAT_VERSION,
            )));
        }
        HeaderRead::Zero | HeaderRead::Bad { .. } => return Ok(None),
    };
    if let Err(mismatch) = identity.check_segment(header.stamp, header.first_version) {
        return Ok(Some(mismatch));
    }
    // The last segment of an ended generation is where recovery cut the log when it began
    // the next one: a copy of it from before the cut still holds the history that was cut.
    let generation = header.stamp.generation;
    if identity.last_segment_of(generation) == Some(sequence) {
        let mut reader = WindowReader::new(&*file, len, chunk);
        let mut pos = HEADER_BYTES as u64;
        while let Parsed::Frame { payload, len } = frame::read(&mut reader, pos, LOG_PAYLOAD)
            .map_err(|e| Error::io("read segment", path, e))?
        {
            let Some(version) = frame::log_version(payload) else {
                break;
            };
            if let Err(mismatch) = identity.check_record(generation, version) {
                return Ok(Some(mismatch));
            }
            pos += len;
        }
    }
    Ok(None)
}
