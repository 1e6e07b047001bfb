//! The database's identity, and the generations of its log: what lets recovery tell this
//! database's files from another database's, and from an older copy of its own.
//!
//! - **The id** is 128 random bits chosen when the database is created, kept in `IDENTITY`
//!   and in the header of every segment and checkpoint. A file with another id was copied in
//!   from another database. A backup keeps the id (it *is* the database); an explicit copy
//!   that will live on beside the original takes a new one ([`crate::copy_database`]).
//! - **The generation** of the log starts at 1 and is bumped whenever recovery removes
//!   something from the log (cuts a torn tail, salvages damage, sets a file aside): from then
//!   on the versions after the cut are written again with different content, so the history
//!   forks there. `IDENTITY` lists, for each generation that files on disk still belong to,
//!   the version and the segment sequence it began at; every segment and checkpoint header
//!   names the generation it was written in. A generation `g` therefore holds versions from
//!   `start(g)` up to before `start(g + 1)`, and a file holding a version outside that range
//!   comes from an older copy of the database (a backup from before the cut) whose later
//!   history was replaced.
//!
//! After a bump, appends never continue in a segment of an older generation: the next
//! record starts a new segment. So only the last segment of a generation can hold versions of
//! the history that was cut (that is where the cut was), and recovery reads its records
//! against the bound before replaying anything (see `wal/screen.rs`).

mod format;
#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;

use in_mem_core_types::Version;

use crate::error::{CorruptionKind, Error, FileKind, Mismatch, Result};
use crate::vfs::{OpenMode, Vfs, read_exact_at, write_all_at};

pub use crate::database_id::{DatabaseId, IDENTITY_FILE_NAME};
pub(crate) use format::{FORMAT_VERSION, GENERATIONS_MAX};

/// Name of the identity file while it is written (renamed over `IDENTITY` once synced).
pub(crate) const IDENTITY_TEMP_NAME: &str = "IDENTITY.tmp";

/// What every segment and checkpoint header carries: the database and the generation of the
/// log it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) id: DatabaseId,
    pub(crate) generation: u64,
}

impl Stamp {
    /// A stamp for unit tests that build a log's state by hand.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Stamp {
        Stamp {
            id: DatabaseId::from_bytes([0x5A; 16]),
            generation: 1,
        }
    }
}

/// Where a generation of the log begins: its first version, and the sequence of the first
/// segment it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GenerationStart {
    pub(crate) version: Version,
    pub(crate) sequence: u64,
}

/// The contents of the identity file: the id, and the start of every generation from
/// `oldest` to the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) id: DatabaseId,
    /// The oldest generation listed; older ones have no file left on disk.
    pub(crate) oldest: u64,
    /// `starts[i]` is where generation `oldest + i` begins. Never empty.
    pub(crate) starts: Vec<GenerationStart>,
}

impl Identity {
    /// The identity of a new database: generation 1 begins at version 1 in segment 1.
    pub(crate) fn new(id: DatabaseId) -> Identity {
        Identity {
            id,
            oldest: 1,
            starts: vec![GenerationStart {
                version: Version::new(1),
                sequence: 1,
            }],
        }
    }

    /// The generation new files are written in.
    pub(crate) fn current(&self) -> u64 {
        self.oldest + self.starts.len() as u64 - 1
    }

    /// The stamp of files written now.
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp {
            id: self.id,
            generation: self.current(),
        }
    }

    /// Where generation `g` begins, if it is listed.
    fn start(&self, g: u64) -> Option<GenerationStart> {
        let i = usize::try_from(g.checked_sub(self.oldest)?).ok()?;
        self.starts.get(i).copied()
    }

    /// Checks the database and generation a file's header names.
    pub(crate) fn check_stamp(&self, stamp: Stamp) -> Result<(), Mismatch> {
        if stamp.id != self.id {
            return Err(Mismatch::OtherDatabase {
                expected: self.id,
                found: stamp.id,
            });
        }
        if stamp.generation < self.oldest || stamp.generation > self.current() {
            return Err(Mismatch::UnknownGeneration {
                found: stamp.generation,
                oldest: self.oldest,
                current: self.current(),
            });
        }
        Ok(())
    }

    /// The versions generation `g` (a listed one) holds: from its start up to before the
    /// next generation's start (`None`: the current generation, open-ended).
    fn versions(&self, g: u64) -> Option<(Version, Option<Version>)> {
        let start = self.start(g)?.version;
        Some((start, self.start(g + 1).map(|s| s.version)))
    }

    fn outside(&self, generation: u64, found: Version) -> Mismatch {
        let (start, end) = self.versions(generation).unwrap_or((Version::ZERO, None));
        Mismatch::OutsideGeneration {
            generation,
            found,
            start,
            end,
        }
    }

    /// Checks a segment header: its stamp, and that its first version lies in its generation.
    pub(crate) fn check_segment(
        &self,
        stamp: Stamp,
        first_version: Version,
    ) -> Result<(), Mismatch> {
        self.check_stamp(stamp)?;
        self.check_record(stamp.generation, first_version)?;
        match self.versions(stamp.generation) {
            Some((start, _)) if first_version < start => {
                Err(self.outside(stamp.generation, first_version))
            }
            _ => Ok(()),
        }
    }

    /// Checks that a record of generation `g` (a listed one) at `version` lies before the
    /// next generation's start.
    pub(crate) fn check_record(&self, g: u64, version: Version) -> Result<(), Mismatch> {
        match self.versions(g) {
            Some((_, Some(end))) if version >= end => Err(self.outside(g, version)),
            _ => Ok(()),
        }
    }

    /// Checks a checkpoint header: its stamp, and that its version is one its generation saw
    /// (a checkpoint of generation `g` is at least `start(g) - 1`, taken right after the
    /// recovery that began `g`, and below `start(g + 1)`).
    pub(crate) fn check_checkpoint(&self, stamp: Stamp, version: Version) -> Result<(), Mismatch> {
        self.check_stamp(stamp)?;
        match self.versions(stamp.generation) {
            Some((start, end))
                if version.next() < start || end.is_some_and(|end| version >= end) =>
            {
                Err(self.outside(stamp.generation, version))
            }
            _ => Ok(()),
        }
    }

    /// For a generation `g` that has ended: the sequence of the last segment it may have
    /// written (the segment before the next generation's first), which is where recovery cut
    /// the log when it began the next one, and so the only segment of `g` that may hold
    /// versions of the history that was cut.
    pub(crate) fn last_segment_of(&self, g: u64) -> Option<u64> {
        self.start(g + 1)?.sequence.checked_sub(1)
    }

    /// The identity after beginning a new generation at `start`, listing only the
    /// generations from `keep_from` on (those that files on disk still belong to). `None` if
    /// that would list more than `GENERATIONS_MAX` generations.
    ///
    /// If recovery cut the log back into an earlier generation (salvage can cut below where
    /// the current one began), the generations that began after the cut end where they began:
    /// they hold nothing any more, and every later file of theirs was removed with the cut.
    pub(crate) fn next_generation(
        &self,
        start: GenerationStart,
        keep_from: u64,
    ) -> Option<Identity> {
        let keep_from = keep_from.clamp(self.oldest, self.current() + 1);
        let skip = usize::try_from(keep_from - self.oldest).ok()?;
        let mut starts: Vec<GenerationStart> = self
            .starts
            .iter()
            .skip(skip)
            .map(|s| GenerationStart {
                version: s.version.min(start.version),
                sequence: s.sequence.min(start.sequence),
            })
            .collect();
        starts.push(start);
        (starts.len() <= GENERATIONS_MAX).then_some(Identity {
            id: self.id,
            oldest: keep_from,
            starts,
        })
    }

    /// The same database under another id (for a copy that lives on beside the original).
    pub(crate) fn with_id(&self, id: DatabaseId) -> Identity {
        Identity { id, ..self.clone() }
    }
}

/// Reads the identity file of the data directory `dir`: `None` if there is none.
pub(crate) fn load(vfs: &dyn Vfs, dir: &Path) -> Result<Option<Identity>> {
    let path = dir.join(IDENTITY_FILE_NAME);
    let file = match vfs.open(&path, OpenMode::Read) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let len = file.len().map_err(|e| Error::io("inspect", &path, e))?;
    let damaged = |offset, reason| Error::Corruption {
        file: path.clone(),
        offset,
        kind: CorruptionKind::BadIdentity(reason),
    };
    // Read no more than the largest identity plus one byte: a longer file is damaged, and a
    // huge one must not be read into memory.
    let want = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .min(format::IDENTITY_BYTES_MAX + 1);
    let mut bytes = vec![0u8; want];
    read_exact_at(&*file, &mut bytes, 0).map_err(|e| Error::io("read", &path, e))?;
    match format::decode(&bytes) {
        Ok(identity) => Ok(Some(identity)),
        Err(format::Unreadable::Format { found }) => Err(Error::FileMismatch {
            file: path,
            mismatch: Mismatch::format(FileKind::Identity, found, FORMAT_VERSION),
        }),
        Err(format::Unreadable::Damaged { offset, reason }) => Err(damaged(offset, reason)),
    }
}

/// Writes `identity` as the identity file of `dir`, atomically: a temp file, fdatasync,
/// rename over the old one, directory fsync. A crash leaves the old file or the new one.
pub(crate) fn store(vfs: &dyn Vfs, dir: &Path, identity: &Identity) -> Result<()> {
    let temp = dir.join(IDENTITY_TEMP_NAME);
    let path = dir.join(IDENTITY_FILE_NAME);
    remove_temp(vfs, dir)?;
    let file = vfs
        .open(&temp, OpenMode::CreateNew)
        .map_err(|e| Error::io("create", &temp, e))?;
    write_all_at(&*file, &format::encode(identity), 0)
        .and_then(|()| file.sync_data())
        .map_err(|e| Error::io("write", &temp, e))?;
    drop(file);
    vfs.rename(&temp, &path)
        .map_err(|e| Error::io("rename", &temp, e))?;
    vfs.sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// Removes a temp identity file left by a write that did not finish.
pub(crate) fn remove_temp(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let temp = dir.join(IDENTITY_TEMP_NAME);
    match vfs.remove_file(&temp) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", temp, e)),
    }
}
