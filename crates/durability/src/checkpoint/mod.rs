//! Checkpoints: a snapshot of every stored version up to a commit version, so that recovery
//! replays only the log after it and the log segments below it can be deleted.
//!
//! ```text
//! checkpoints/{version:020}.ckpt     (written as .ckpt.tmp, fsynced, renamed, directory fsynced)
//!
//! header (64 bytes):
//!   0  magic "INMEMCKP"           8 bytes
//!   8  format version (u32 LE)    4 bytes   (2)
//!  12  reserved, zero             4 bytes
//!  16  database id               16 bytes
//!  32  log generation (u64)       8 bytes   the generation it was written in
//!  40  checkpoint version (u64)   8 bytes   every entry's version is at or below it
//!  48  history from (u64)         8 bytes   below it, sweeps had reclaimed versions
//!  56  reserved, zero             4 bytes
//!  60  CRC-32C of bytes 0..60     4 bytes
//! frames, as in the log: [len: u32 LE][crc: u32 LE over len ++ payload][payload]
//!   entry:   0x01 | key len u32 | key | version u64 | writer 16 | timestamp u64
//!                 | op byte: 0x00 put | expires u64 (0: never) | value len u32 | value
//!                          0x01 tombstone
//!                   with flags or-ed in: 0x02 cut below, 0x04 cut above
//!   trailer: 0x02 | entries u64        (last frame; the file ends right after it)
//! ```
//! All integers little-endian. Entries come in (key ascending, version descending) order, as the
//! memtable holds them. The op byte's flags keep where sweeps removed versions of the key right
//! below (older than) or right above (newer than) the entry's version ([`CheckpointCuts`]), so
//! that a read of a past view that steps over them after a reload still knows its answer may be
//! gone; any other bit set is damage. A file without its trailer, with a wrong count, or with
//! anything after the trailer is damaged: recovery then falls back to the previous checkpoint.

pub(crate) mod format;
mod reader;
mod screen;
#[cfg(test)]
mod tests;
mod writer;

use std::path::PathBuf;

use std::sync::Arc;

use in_mem_core_types::{RunId, Timestamp, Version};

pub(crate) use reader::is_checkpoint_name;
pub use reader::{list_checkpoints, read_checkpoint, remove_checkpoints_below};
pub use screen::screen;
pub(crate) use screen::{generations, set_aside_from};
pub use writer::CheckpointWriter;

/// One stored version, as a checkpoint holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointEntry {
    /// The encoded key. Shared (`Arc`), so that loading a checkpoint hands the bytes read to
    /// the memtable without another allocation and copy per entry.
    pub key: Arc<[u8]>,
    /// The commit that wrote it.
    pub version: Version,
    /// The run that wrote it.
    pub writer: RunId,
    /// The commit's timestamp.
    pub timestamp: Timestamp,
    /// A value (with its expiry) or a tombstone.
    pub op: CheckpointOp,
    /// Whether sweeps removed versions of the key next to this one.
    pub cuts: CheckpointCuts,
}

/// Whether sweeps removed versions of a key right below or right above one of its versions, as
/// a checkpoint keeps it (the memtable's cut marks; this crate does not know the memtable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointCuts {
    /// Versions right below (older) were removed.
    pub below: bool,
    /// Versions right above (newer) were removed.
    pub above: bool,
}

impl CheckpointCuts {
    /// Nothing next to the version was removed (what every entry of a file written before the
    /// flags says).
    pub const NONE: CheckpointCuts = CheckpointCuts {
        below: false,
        above: false,
    };
}

/// What a checkpoint entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointOp {
    /// A value, expiring at `expires_at` if set.
    Put {
        value: Arc<[u8]>,
        expires_at: Option<Timestamp>,
    },
    /// A tombstone.
    Delete,
}

/// A checkpoint file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFile {
    /// Every entry is at or below this commit version; the log replays from the next one.
    pub version: Version,
    /// Where it is.
    pub path: PathBuf,
}

/// What reading a checkpoint found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointRead {
    /// Entries in it.
    pub entries: u64,
    /// History below this version may be missing: the writer's sweeps had reclaimed versions
    /// that views below it would have seen (see [`CheckpointWriter::create`]).
    pub history_from: Version,
}

/// What writing a checkpoint produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointWritten {
    /// The file.
    pub file: CheckpointFile,
    /// Entries in it.
    pub entries: u64,
    /// Its size in bytes.
    pub bytes: u64,
}
