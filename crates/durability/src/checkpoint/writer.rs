//! Writing a checkpoint: entries streamed into a temp file, then trailer, fdatasync, rename and
//! directory fsync, so that a crash at any point leaves either no new checkpoint or a whole one.

use std::path::PathBuf;

use in_mem_core_types::{RunId, Timestamp, Version};

use super::format::{
    EntryFields, FILE_SUFFIX, HEADER_BYTES, HeaderFields, TEMP_SUFFIX, encode_entry, encode_header,
    encode_trailer, push_frame,
};
use super::{CheckpointCuts, CheckpointFile, CheckpointWritten};
use crate::dir::DataDir;
use crate::error::{Error, Result};
use crate::vfs::{OpenMode, VfsFile, write_all_at};

/// Bytes buffered before a write to the file.
const WRITE_CHUNK_BYTES: usize = 1 << 20;
/// Bytes written between syncs of a checkpoint being written. Unsynced, a checkpoint of a big
/// store (a gigabyte and more) piled up in the page cache and went to the disk at its final
/// sync, ahead of the log's syncs: a Batched commit waiting for one took up to 150-230 ms.
/// Small under test, so that the tests' checkpoints are synced as they are written.
const SYNC_EVERY_BYTES: u64 = if cfg!(test) { 64 << 10 } else { 32 << 20 };

/// A checkpoint being written. Dropping it without [`CheckpointWriter::finish`] leaves only a
/// temp file, which the next open deletes.
pub struct CheckpointWriter {
    dir: DataDir,
    version: Version,
    temp: PathBuf,
    file: Box<dyn VfsFile>,
    offset: u64,
    /// `offset` at the last sync.
    synced: u64,
    buffer: Vec<u8>,
    payload: Vec<u8>,
    entries: u64,
}

impl std::fmt::Debug for CheckpointWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointWriter")
            .field("version", &self.version)
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

pub(super) fn file_name(version: Version, suffix: &str) -> String {
    format!("{:020}{suffix}", version.get())
}

impl CheckpointWriter {
    /// Starts a checkpoint of every version up to `version` in `dir`. `history_from` says from
    /// which version on the history it holds is complete (the horizon of the sweeps that
    /// removed versions from what it copies; `Version::ZERO` if nothing was removed); the
    /// header keeps it for whoever loads the checkpoint.
    pub fn create(
        dir: &DataDir,
        version: Version,
        history_from: Version,
    ) -> Result<CheckpointWriter> {
        let temp = dir.checkpoint_path().join(file_name(version, TEMP_SUFFIX));
        let vfs = dir.vfs();
        // A leftover temp file of the same version is from an earlier attempt that died.
        if vfs
            .metadata(&temp)
            .map_err(|e| Error::io("inspect", &temp, e))?
            .is_some()
        {
            vfs.remove_file(&temp)
                .map_err(|e| Error::io("remove", &temp, e))?;
        }
        let file = vfs
            .open(&temp, OpenMode::CreateNew)
            .map_err(|e| Error::io("create", &temp, e))?;
        let mut buffer = Vec::with_capacity(WRITE_CHUNK_BYTES + 4096);
        let fields = HeaderFields {
            version,
            history_from,
        };
        buffer.extend_from_slice(&encode_header(dir.inner().stamp(), fields));
        Ok(CheckpointWriter {
            dir: dir.clone(),
            version,
            temp,
            file,
            offset: 0,
            synced: 0,
            buffer,
            payload: Vec::new(),
            entries: 0,
        })
    }

    /// Adds one stored version, a value (`Some((value, expires_at))`) or a tombstone (`None`),
    /// with where sweeps removed versions of the key next to it (`CheckpointCuts::NONE` if
    /// none did: a caller must say, so that no copy of a swept memtable drops the marks).
    ///
    /// # Panics
    /// If `version` is above the checkpoint's version (a caller bug: the checkpoint would claim
    /// to cover less than it holds).
    pub fn push(
        &mut self,
        key: &[u8],
        version: Version,
        writer: RunId,
        timestamp: Timestamp,
        value: Option<(&[u8], Option<Timestamp>)>,
        cuts: CheckpointCuts,
    ) -> Result<()> {
        assert!(
            version <= self.version,
            "entry {version} above checkpoint {}",
            self.version
        );
        self.payload.clear();
        let fields = EntryFields {
            version,
            writer,
            timestamp,
            value,
            cuts,
        };
        encode_entry(&mut self.payload, key, fields);
        push_frame(&mut self.buffer, &self.payload);
        self.entries += 1;
        if self.buffer.len() >= WRITE_CHUNK_BYTES {
            self.write_buffer()?;
        }
        Ok(())
    }

    fn write_buffer(&mut self) -> Result<()> {
        write_all_at(&*self.file, &self.buffer, self.offset)
            .map_err(|e| Error::io("write checkpoint", &self.temp, e))?;
        self.offset += self.buffer.len() as u64;
        self.buffer.clear();
        if self.offset - self.synced >= SYNC_EVERY_BYTES {
            self.file
                .sync_data()
                .map_err(|e| Error::io("sync checkpoint", &self.temp, e))?;
            self.synced = self.offset;
        }
        Ok(())
    }

    /// Writes the trailer and makes the checkpoint durable under its final name.
    pub fn finish(mut self) -> Result<CheckpointWritten> {
        push_frame(&mut self.buffer, &encode_trailer(self.entries));
        self.write_buffer()?;
        self.file
            .sync_data()
            .map_err(|e| Error::io("sync checkpoint", &self.temp, e))?;
        let path = self
            .dir
            .checkpoint_path()
            .join(file_name(self.version, FILE_SUFFIX));
        let vfs = self.dir.vfs();
        vfs.rename(&self.temp, &path)
            .map_err(|e| Error::io("rename checkpoint", &path, e))?;
        vfs.sync_dir(self.dir.checkpoint_path()).map_err(|e| {
            Error::io(
                "sync the checkpoint directory",
                self.dir.checkpoint_path(),
                e,
            )
        })?;
        let bytes = self.offset.max(HEADER_BYTES as u64);
        Ok(CheckpointWritten {
            file: CheckpointFile {
                version: self.version,
                path,
            },
            entries: self.entries,
            bytes,
        })
    }
}
