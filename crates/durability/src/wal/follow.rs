//! `LogFollower`: reads the log of a database that another process may be writing, and goes
//! on reading what that process appends, without writing a byte.
//!
//! A follower sees a *consistent prefix* of the log: records in version order, each one
//! complete with its checksum right, up to the first position that does not (yet) hold one.
//! What lies there is never judged or cut: it may be a record the writer is writing right now,
//! a torn tail its next recovery will cut, or damage, and only the writer's recovery decides
//! which. [`LogFollower::read_new`] starts again from that position, so a record that was being
//! written is read once it is complete.
//!
//! The writer only ever appends to the log, rotates to a new segment (whose header names its
//! first version), removes segments wholly below a checkpoint, and, when it recovers after a
//! crash, overwrites with zeros what follows the last complete record (where a follower stops)
//! and begins a new generation in a new segment. So a follower moves to segment `n + 1` only
//! from the clean end of segment `n` and only when `n + 1` has a header that continues the
//! versions it read; a segment it needs that was removed before it opened it means the writer
//! moved on ([`Error::ReaderBehind`]): open again from the newest checkpoint. A segment it
//! already has open stays readable after its removal.

use std::path::PathBuf;
use std::sync::Arc;

use in_mem_core_types::Version;

use super::ReplayRejected;
use super::format::{HEADER_BYTES, HeaderRead, SegmentHeader, read_lag};
use super::frame::{self, LOG_PAYLOAD, Parsed};
use super::reader::{READ_CHUNK_BYTES, WindowReader};
use super::record::{CommitRecord, decode_body};
use super::recovery::check_version;
use super::segment::{self, EntryName};
use crate::dir::{DataDir, DirInner};
use crate::error::{CorruptionKind, Error, Result};
use crate::vfs::{OpenMode, VfsFile, read_exact_at};

/// Where a follower stopped before bytes it could not read as the next record: a record
/// being written, a torn tail, or damage. Nothing there was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowStop {
    pub file: PathBuf,
    pub offset: u64,
    pub kind: CorruptionKind,
}

/// What one read of a follower found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Followed {
    /// Records handed to the callback by this read.
    pub records_replayed: u64,
    /// The version of the last record read so far (or the `after` the follower began from).
    pub last_version: Version,
    /// Where this read stopped before bytes that are not (yet) a record; `None` when it
    /// stopped at the clean end of the log.
    pub stop: Option<FollowStop>,
}

/// One segment a follower read, for copies of what it saw: its file, and where its last
/// complete record ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRead {
    pub sequence: u64,
    pub path: PathBuf,
    /// Bytes from the start of the file up to the end of the last record read in it.
    pub end: u64,
}

/// The segment a follower is reading.
struct Cursor {
    sequence: u64,
    path: PathBuf,
    file: Box<dyn VfsFile>,
    /// The end of the last record read (the header's end before the first).
    offset: u64,
    first_version: Version,
    records: u64,
}

/// Reads a log that another process may be writing; see the module docs.
pub struct LogFollower {
    dir: Arc<DirInner>,
    /// Records at or below it are covered by the checkpoint the reader loaded: checked, not
    /// handed over.
    after: Version,
    /// The last version read (handed over or not).
    prev: Option<Version>,
    cursor: Option<Cursor>,
    /// The segments read so far (the last one is the cursor's), oldest first.
    read: Vec<SegmentRead>,
}

impl std::fmt::Debug for LogFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFollower")
            .field("dir", &self.dir.wal_path)
            .field("after", &self.after)
            .field("prev", &self.prev)
            .finish_non_exhaustive()
    }
}

/// What [`LogFollower::open_segment`] found under a segment's name.
enum Opened {
    /// No such file (not created yet, or removed).
    Missing,
    /// The file is there but its header is not written yet (zeros, or torn mid-write).
    NotBegun,
    /// A header: a cursor at the segment's first record.
    Begun(Cursor),
}

/// What the next frame position of the cursor holds.
enum Next {
    /// A record (handed over if above `after`): the frame's length, the record's version.
    Record { len: u64, version: Version },
    /// Zeros: the end of what was written in this segment so far.
    End,
    /// Bytes that are not the next record.
    Stop(CorruptionKind),
}

impl LogFollower {
    /// Begins reading the log of `dir` (opened read-only or not) after version `after` (the
    /// checkpoint the caller loaded), handing every record above it to `replay` in order, up
    /// to the end of what is written now.
    ///
    /// [`Error::ReaderBehind`] if the oldest segment left begins above `after + 1`: the writer
    /// removed the segments in between, so the caller's checkpoint is no longer the newest;
    /// load the newest one and begin again.
    pub fn open(
        dir: &DataDir,
        after: Version,
        replay: &mut dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected>,
    ) -> Result<(LogFollower, Followed)> {
        let mut follower = LogFollower {
            dir: Arc::clone(dir.inner()),
            after,
            prev: None,
            cursor: None,
            read: Vec::new(),
        };
        let outcome = follower.read_new(replay)?;
        Ok((follower, outcome))
    }

    /// Reads what was appended since the last read, handing each record to `replay`.
    pub fn read_new(
        &mut self,
        replay: &mut dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected>,
    ) -> Result<Followed> {
        let mut replayed = 0u64;
        let stop = loop {
            if self.cursor.is_none() {
                match self.first_segment()? {
                    Some(cursor) => self.enter(cursor),
                    None => break None,
                }
            }
            let Some(cursor) = self.cursor.as_ref() else {
                break None;
            };
            match self.next_frame(cursor, replay)? {
                Next::Record { len, version } => {
                    self.prev = Some(version);
                    if version > self.after {
                        replayed += 1;
                    }
                    if let Some(cursor) = self.cursor.as_mut() {
                        cursor.offset += len;
                        cursor.records += 1;
                        if let Some(last) = self.read.last_mut() {
                            last.end = cursor.offset;
                        }
                    }
                }
                Next::End => match self.following_segment(cursor)? {
                    Some(next) => self.enter(next),
                    None => break None,
                },
                Next::Stop(kind) => {
                    break Some(FollowStop {
                        file: cursor.path.clone(),
                        offset: cursor.offset,
                        kind,
                    });
                }
            }
        };
        Ok(Followed {
            records_replayed: replayed,
            last_version: self.last_version(),
            stop,
        })
    }

    /// The version of the last record read, or `after` if later.
    pub fn last_version(&self) -> Version {
        self.prev.map_or(self.after, |v| v.max(self.after))
    }

    /// The segments read so far, oldest first, each with the end of its last record read.
    pub fn segments_read(&self) -> &[SegmentRead] {
        &self.read
    }

    fn enter(&mut self, cursor: Cursor) {
        self.read.push(SegmentRead {
            sequence: cursor.sequence,
            path: cursor.path.clone(),
            end: cursor.offset,
        });
        self.cursor = Some(cursor);
    }

    /// The version the next record must have.
    fn expected_next(&self) -> Version {
        match self.prev {
            Some(p) if p >= self.after => p.next(),
            _ => self.after.next(),
        }
    }

    /// Reads the frame at `cursor`, handing its record over if it continues the log.
    fn next_frame(
        &self,
        cursor: &Cursor,
        replay: &mut dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected>,
    ) -> Result<Next> {
        let io = |e| Error::io("read segment", &cursor.path, e);
        let len = cursor.file.len().map_err(io)?;
        let mut reader = WindowReader::new(&*cursor.file, len, READ_CHUNK_BYTES);
        let (payload, frame_len) =
            match frame::read(&mut reader, cursor.offset, LOG_PAYLOAD).map_err(io)? {
                Parsed::Frame { payload, len } => (payload, len),
                Parsed::Zero => return Ok(Next::End),
                Parsed::Short => {
                    return Ok(match reader.first_nonzero(cursor.offset).map_err(io)? {
                        None => Next::End,
                        Some(_) => Next::Stop(CorruptionKind::TruncatedFrame),
                    });
                }
                Parsed::BadLength { len } => {
                    return Ok(Next::Stop(CorruptionKind::BadLength {
                        len: u64::from(len),
                    }));
                }
                Parsed::BadChecksum => return Ok(Next::Stop(CorruptionKind::BadRecordChecksum)),
            };
        let Some(version) = frame::log_version(payload) else {
            return Ok(Next::Stop(CorruptionKind::BadLength {
                len: payload.len() as u64,
            }));
        };
        let expected = if cursor.records == 0 && version != cursor.first_version {
            Err(cursor.first_version)
        } else {
            check_version(self.prev, version, self.after)
        };
        if let Err(expected) = expected {
            return Ok(Next::Stop(CorruptionKind::VersionGap {
                expected,
                found: version,
            }));
        }
        let rest = frame::log_rest(payload);
        let Some((_durable, lag_len)) = read_lag(version, rest) else {
            return Ok(Next::Stop(CorruptionKind::UndecodableBody {
                reason: "the durable version field is malformed".to_owned(),
            }));
        };
        if version > self.after {
            let record = match decode_body(version, rest.get(lag_len..).unwrap_or_default()) {
                Ok(record) => record,
                Err(reason) => return Ok(Next::Stop(CorruptionKind::UndecodableBody { reason })),
            };
            replay(record).map_err(|rejected| Error::Corruption {
                file: cursor.path.clone(),
                offset: cursor.offset,
                kind: CorruptionKind::RecordRejected(rejected),
            })?;
        }
        Ok(Next::Record {
            len: frame_len,
            version,
        })
    }

    /// The oldest segment of the log, if one has begun: where a new follower starts.
    fn first_segment(&self) -> Result<Option<Cursor>> {
        let wal = &self.dir.wal_path;
        let names = match self.dir.vfs.read_dir(wal) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("list the log directory", wal, e)),
        };
        let mut sequences: Vec<u64> = names
            .iter()
            .filter_map(|name| match segment::classify(name) {
                EntryName::Segment(sequence) => Some(sequence),
                EntryName::Temp | EntryName::Other => None,
            })
            .collect();
        sequences.sort_unstable();
        for sequence in sequences {
            let cursor = match self.open_segment(sequence)? {
                // Removed since it was listed: the writer checkpointed; try the next one.
                Opened::Missing => continue,
                Opened::NotBegun => return Ok(None),
                Opened::Begun(cursor) => cursor,
            };
            if cursor.first_version > self.after.next() {
                return Err(Error::ReaderBehind {
                    path: self.dir.path.clone(),
                    expected: self.after.next(),
                    found: cursor.first_version,
                });
            }
            return Ok(Some(cursor));
        }
        Ok(None)
    }

    /// The segment after the cursor's, if the writer has begun it and it continues the log.
    fn following_segment(&self, current: &Cursor) -> Result<Option<Cursor>> {
        let sequence = current.sequence + 1;
        match self.open_segment(sequence)? {
            // The same rule as recovery's: above `after` the next version exactly; at or
            // below it (records the checkpoint covers) any later one.
            Opened::Begun(next)
                if check_version(self.prev, next.first_version, self.after).is_ok() =>
            {
                Ok(Some(next))
            }
            // Begun but not continuing what was read: the writer's recovery is between cutting
            // a tail and writing on, or the log is damaged; either way nothing more to read.
            Opened::Begun(_) | Opened::NotBegun => Ok(None),
            Opened::Missing => {
                // Not there: not begun yet, unless later segments exist (it was removed).
                let later = self.oldest_segment_after(sequence)?;
                match later {
                    Some((_, first)) => Err(Error::ReaderBehind {
                        path: self.dir.path.clone(),
                        expected: self.expected_next(),
                        found: first,
                    }),
                    None => Ok(None),
                }
            }
        }
    }

    /// The oldest segment above `sequence` that has a header, with its first version.
    fn oldest_segment_after(&self, sequence: u64) -> Result<Option<(u64, Version)>> {
        let wal = &self.dir.wal_path;
        let names = self
            .dir
            .vfs
            .read_dir(wal)
            .map_err(|e| Error::io("list the log directory", wal, e))?;
        let mut later: Vec<u64> = names
            .iter()
            .filter_map(|name| match segment::classify(name) {
                EntryName::Segment(s) if s > sequence => Some(s),
                _ => None,
            })
            .collect();
        later.sort_unstable();
        for s in later {
            if let Opened::Begun(cursor) = self.open_segment(s)? {
                return Ok(Some((s, cursor.first_version)));
            }
        }
        Ok(None)
    }

    /// Opens segment `sequence` and reads its header. A complete header of another database, of a generation the
    /// identity does not list even after reading it again, or of another format is refused.
    fn open_segment(&self, sequence: u64) -> Result<Opened> {
        let path = self.dir.wal_path.join(segment::segment_file_name(sequence));
        let file = match self.dir.vfs.open(&path, OpenMode::Read) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Opened::Missing),
            Err(e) => return Err(Error::io("open segment", &path, e)),
        };
        let len = file
            .len()
            .map_err(|e| Error::io("read the length of", &path, e))?;
        if len < HEADER_BYTES as u64 {
            return Ok(Opened::NotBegun);
        }
        let mut bytes = [0u8; HEADER_BYTES];
        read_exact_at(&*file, &mut bytes, 0).map_err(|e| Error::io("read segment", &path, e))?;
        let header = match SegmentHeader::decode(&bytes) {
            HeaderRead::Valid(header) => header,
            HeaderRead::Zero | HeaderRead::Bad { torn: true, .. } => return Ok(Opened::NotBegun),
            HeaderRead::Bad { kind, torn: false } => {
                return Err(Error::Corruption {
                    file: path,
                    offset: 0,
                    kind,
                });
            }
            HeaderRead::OtherFormat { found } => {
                return Err(Error::Corruption {
                    file: path,
                    offset: 0,
                    kind: CorruptionKind::UnsupportedFormatVersion {
                        found,
                        supported: super::format::FORMAT_VERSION,
                    },
                });
            }
        };
        if header.sequence != sequence {
            return Err(Error::Corruption {
                file: path,
                offset: 0,
                kind: CorruptionKind::SequenceMismatch {
                    expected: sequence,
                    found: header.sequence,
                },
            });
        }
        let check = |identity: &crate::identity::Identity| {
            identity.check_segment(header.stamp, header.first_version)
        };
        if check(&self.dir.identity()).is_err() {
            // The writer may have begun a new generation since the identity was read.
            if let Err(mismatch) = check(&self.dir.reload_identity()?) {
                return Err(Error::FileMismatch {
                    file: path,
                    mismatch,
                });
            }
        }
        Ok(Opened::Begun(Cursor {
            sequence,
            path,
            file,
            offset: HEADER_BYTES as u64,
            first_version: header.first_version,
            records: 0,
        }))
    }
}

#[cfg(test)]
mod tests;
