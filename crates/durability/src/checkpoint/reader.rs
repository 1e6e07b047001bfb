//! Reading checkpoints back: listing them, verifying and streaming one, removing old ones.

use in_mem_core_types::Version;

use super::format::{
    FILE_SUFFIX, FRAME_HEADER_BYTES, HEADER_BYTES, PAYLOAD_BYTES_MAX, Payload, TEMP_SUFFIX,
    decode_header, decode_payload, frame_crc,
};
use super::{CheckpointEntry, CheckpointFile};
use crate::dir::DataDir;
use crate::error::{CorruptionKind, Error, Result};
use crate::vfs::{OpenMode, read_exact_at};
use crate::wal::ReplayRejected;

/// The checkpoints of `dir`, newest first. Leftover temp files (a checkpoint that never
/// finished) are deleted.
pub fn list_checkpoints(dir: &DataDir) -> Result<Vec<CheckpointFile>> {
    let vfs = dir.vfs();
    let path = dir.checkpoint_path();
    let names = vfs.read_dir(path).map_err(|e| Error::io("list", path, e))?;
    let mut found = Vec::new();
    for name in names {
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(TEMP_SUFFIX) {
            let temp = path.join(name);
            vfs.remove_file(&temp)
                .map_err(|e| Error::io("remove", &temp, e))?;
            tracing::info!(file = %temp.display(), "removed an unfinished checkpoint");
            continue;
        }
        let Some(digits) = name.strip_suffix(FILE_SUFFIX) else {
            continue;
        };
        if digits.len() == 20
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
/// discarded by the caller. Returns the number of entries.
pub fn read_checkpoint(
    dir: &DataDir,
    file: &CheckpointFile,
    entry: &mut dyn FnMut(CheckpointEntry) -> std::result::Result<(), ReplayRejected>,
) -> Result<u64> {
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
    let version = decode_header(&header).map_err(|reason| damaged(0, reason))?;
    if version != file.version {
        return Err(damaged(
            16,
            "the header names another version than the file name",
        ));
    }
    let mut offset = HEADER_BYTES as u64;
    let mut entries = 0u64;
    let mut frame_header = [0u8; FRAME_HEADER_BYTES];
    let mut payload = Vec::new();
    loop {
        if offset + FRAME_HEADER_BYTES as u64 > len {
            return Err(damaged(offset, "the file ends before its trailer"));
        }
        read_exact_at(&*handle, &mut frame_header, offset)
            .map_err(|e| Error::io("read", path, e))?;
        let [l0, l1, l2, l3, c0, c1, c2, c3] = frame_header;
        let frame_len = u32::from_le_bytes([l0, l1, l2, l3]);
        let crc = u32::from_le_bytes([c0, c1, c2, c3]);
        let payload_at = offset + FRAME_HEADER_BYTES as u64;
        if frame_len as usize > PAYLOAD_BYTES_MAX || payload_at + u64::from(frame_len) > len {
            return Err(damaged(
                offset,
                "a frame's length runs past the end of the file",
            ));
        }
        payload.resize(frame_len as usize, 0);
        read_exact_at(&*handle, &mut payload, payload_at)
            .map_err(|e| Error::io("read", path, e))?;
        if frame_crc(frame_len, &payload) != crc {
            return Err(damaged(offset, "a frame's checksum does not match"));
        }
        match decode_payload(&payload).map_err(|reason| damaged(offset, reason))? {
            Payload::Entry(decoded) => {
                if decoded.version > version {
                    return Err(damaged(
                        offset,
                        "an entry is above the checkpoint's version",
                    ));
                }
                entry(decoded).map_err(|ReplayRejected(reason)| Error::Corruption {
                    file: path.clone(),
                    offset,
                    kind: CorruptionKind::RecordRejected(reason),
                })?;
                entries += 1;
            }
            Payload::Trailer { entries: count } => {
                if count != entries {
                    return Err(damaged(offset, "the trailer's entry count does not match"));
                }
                if payload_at + u64::from(frame_len) != len {
                    return Err(damaged(offset, "there are bytes after the trailer"));
                }
                return Ok(entries);
            }
        }
        offset = payload_at + u64::from(frame_len);
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
