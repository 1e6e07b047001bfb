//! Reading checkpoints back: listing them, verifying and streaming one, removing old ones.
#![deny(clippy::indexing_slicing)]

use in_mem_core_types::Version;

use super::format::{
    CHECKPOINT_PAYLOAD, FILE_SUFFIX, FORMAT_VERSION, HEADER_BYTES, HeaderError, Payload,
    TEMP_SUFFIX, decode_header, decode_payload,
};
use super::{CheckpointEntry, CheckpointFile, CheckpointRead};
use crate::dir::{DataDir, DirInner};
use crate::error::{CorruptionKind, Error, FileKind, Mismatch, Result};
use crate::vfs::{OpenMode, read_exact_at};
use crate::wal::ReplayRejected;
use crate::wal::frame::{self, Parsed};
use crate::wal::reader::{READ_CHUNK_BYTES, WindowReader};

/// The checkpoints of `dir`, newest first. Leftover temp files (a checkpoint that never
/// finished) are deleted.
pub fn list_checkpoints(dir: &DataDir) -> Result<Vec<CheckpointFile>> {
    list_in(dir.inner())
}

/// True for the name of a checkpoint file (`{version:020}.ckpt`).
pub(crate) fn is_checkpoint_name(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .and_then(|n| n.strip_suffix(FILE_SUFFIX))
        .is_some_and(twenty_digits)
}

fn twenty_digits(digits: &str) -> bool {
    digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// [`list_checkpoints`] of a directory's shared state.
pub(super) fn list_in(dir: &DirInner) -> Result<Vec<CheckpointFile>> {
    let vfs = &*dir.vfs;
    let path = &dir.checkpoint_path;
    let names = vfs.read_dir(path).map_err(|e| Error::io("list", path, e))?;
    let mut found = Vec::new();
    for name in names {
        let Some(name) = name.to_str() else { continue };
        if name.strip_suffix(TEMP_SUFFIX).is_some_and(twenty_digits) {
            let temp = path.join(name);
            vfs.remove_file(&temp)
                .map_err(|e| Error::io("remove", &temp, e))?;
            tracing::info!(file = %temp.display(), "removed an unfinished checkpoint");
            continue;
        }
        let Some(digits) = name.strip_suffix(FILE_SUFFIX) else {
            continue;
        };
        if twenty_digits(digits)
            && let Ok(version) = digits.parse::<u64>()
        {
            found.push(CheckpointFile {
                version: Version::new(version),
                path: path.join(name),
            });
        }
    }
    found.sort_by_key(|c| std::cmp::Reverse(c.version));
    Ok(found)
}

/// Verifies `file` while streaming its entries to `entry`, in file order. Any damage is
/// [`Error::Corruption`] naming the file and offset: entries already streamed must then be
/// discarded by the caller. Returns what was read.
pub fn read_checkpoint(
    dir: &DataDir,
    file: &CheckpointFile,
    entry: &mut dyn FnMut(CheckpointEntry) -> std::result::Result<(), ReplayRejected>,
) -> Result<CheckpointRead> {
    let path = &file.path;
    let damaged = |offset: u64, reason: &'static str| Error::Corruption {
        file: path.clone(),
        offset,
        kind: CorruptionKind::BadCheckpoint(reason),
    };
    let handle = dir
        .vfs()
        .open(path, OpenMode::Read)
        .map_err(|e| Error::io("open", path, e))?;
    let len = handle.len().map_err(|e| Error::io("inspect", path, e))?;
    if len < HEADER_BYTES as u64 {
        return Err(damaged(0, "the file is shorter than its header"));
    }
    let mut header = [0u8; HEADER_BYTES];
    read_exact_at(&*handle, &mut header, 0).map_err(|e| Error::io("read", path, e))?;
    let (stamp, fields) = match decode_header(&header) {
        Ok(read) => read,
        Err(HeaderError::Damaged(reason)) => return Err(damaged(0, reason)),
        Err(HeaderError::OtherFormat { found }) => {
            return Err(Error::FileMismatch {
                file: path.clone(),
                mismatch: Mismatch::format(FileKind::Checkpoint, found, FORMAT_VERSION),
            });
        }
    };
    // Screening (`checkpoint::screen`) refuses or sets aside a checkpoint that is not this
    // database's before recovery gets here; the check is repeated for callers that read one
    // directly.
    let version = fields.version;
    if let Err(mismatch) = dir.inner().identity().check_checkpoint(stamp, version) {
        return Err(Error::FileMismatch {
            file: path.clone(),
            mismatch,
        });
    }
    if version != file.version {
        return Err(damaged(
            40,
            "the header names another version than the file name",
        ));
    }
    let mut offset = HEADER_BYTES as u64;
    let mut entries = 0u64;
    let mut reader = WindowReader::new(&*handle, len, READ_CHUNK_BYTES);
    loop {
        let (payload, frame_len) = match frame::read(&mut reader, offset, CHECKPOINT_PAYLOAD)
            .map_err(|e| Error::io("read", path, e))?
        {
            Parsed::Frame { payload, len } => (payload, len),
            Parsed::Short | Parsed::Zero => {
                return Err(damaged(offset, "the file ends before its trailer"));
            }
            Parsed::BadLength { .. } => {
                return Err(damaged(
                    offset,
                    "a frame's length runs past the end of the file",
                ));
            }
            Parsed::BadChecksum => {
                return Err(damaged(offset, "a frame's checksum does not match"));
            }
        };
        match decode_payload(payload).map_err(|reason| damaged(offset, reason))? {
            Payload::Entry(decoded) => {
                if decoded.version > version {
                    return Err(damaged(
                        offset,
                        "an entry is above the checkpoint's version",
                    ));
                }
                entry(decoded).map_err(|rejected| Error::Corruption {
                    file: path.clone(),
                    offset,
                    kind: CorruptionKind::RecordRejected(rejected),
                })?;
                entries += 1;
            }
            Payload::Trailer { entries: count } => {
                if count != entries {
                    return Err(damaged(offset, "the trailer's entry count does not match"));
                }
                if offset + frame_len != len {
                    return Err(damaged(offset, "there are bytes after the trailer"));
                }
                return Ok(CheckpointRead {
                    entries,
                    history_from: fields.history_from,
                });
            }
        }
        offset += frame_len;
    }
}

/// Deletes the checkpoints below `version`, oldest first, syncing the directory after each.
/// Returns how many were deleted.
pub fn remove_checkpoints_below(dir: &DataDir, version: Version) -> Result<usize> {
    let mut old: Vec<CheckpointFile> = list_checkpoints(dir)?
        .into_iter()
        .filter(|c| c.version < version)
        .collect();
    old.sort_by_key(|c| c.version);
    for file in &old {
        dir.vfs()
            .remove_file(&file.path)
            .map_err(|e| Error::io("remove", &file.path, e))?;
        dir.vfs()
            .sync_dir(dir.checkpoint_path())
            .map_err(|e| Error::io("sync the checkpoint directory", dir.checkpoint_path(), e))?;
    }
    Ok(old.len())
}
