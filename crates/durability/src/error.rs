//! The one error type of the durability crate, and the kinds of on-disk corruption it names.

use std::io;
use std::path::PathBuf;

use in_mem_core_types::Version;

use crate::database_id::{DatabaseId, IDENTITY_FILE_NAME};

/// Result of durability operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the durability layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory path is empty (it would name the process's working directory).
    #[error("the data directory path is empty; name the directory to open or create")]
    EmptyPath,
    /// An existing directory that does not look like an in-mem database: it has no identity
    /// file but holds other things. Nothing in it was changed.
    #[error(
        "{path} is not an in-mem database: it has no {IDENTITY_FILE_NAME} file but holds {found}; \
         open a new or empty directory, or the directory of an in-mem database (one written \
         by an unreleased build before identity files cannot be opened)",
        found = list_found(.found)
    )]
    NotADatabase { path: PathBuf, found: Vec<PathBuf> },
    /// A file that is not this database's, or that this build cannot read: another database's,
    /// an older copy's, a newer format's, or one in-mem never writes there.
    #[error("{file} {mismatch}")]
    FileMismatch { file: PathBuf, mismatch: Mismatch },
    /// A copy's destination already holds files.
    #[error("cannot copy a database into {path}: it is not empty; choose a new or empty directory")]
    CopyTargetNotEmpty { path: PathBuf },
    /// The data directory path names something that is not a directory.
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    /// Another process, or another open handle in this process, holds the directory lock.
    #[error("database directory {path} is locked by another process; close it there first")]
    Locked { path: PathBuf },
    /// A file-system operation failed.
    #[error("cannot {op} {path}: {source}{hint}", hint = io_hint(.source))]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The log holds bytes that recovery refuses to interpret.
    #[error("{file} is corrupt at offset {offset}: {kind}")]
    Corruption {
        file: PathBuf,
        offset: u64,
        kind: CorruptionKind,
    },
    /// An earlier write or fdatasync failed; the log accepts nothing more.
    #[error(
        "write-ahead log is poisoned by an earlier failed {op} of {}: {cause}; reopen the database",
        file.display()
    )]
    Poisoned {
        op: &'static str,
        file: PathBuf,
        /// The first failure, shared by every error the poisoned log returns since.
        #[source]
        cause: std::sync::Arc<std::io::Error>,
    },
    /// An encoded commit is larger than `COMMIT_BYTES_MAX`.
    #[error("commit of {len} bytes is larger than the limit of {max} bytes")]
    CommitTooLarge { len: usize, max: usize },
    /// The log was closed.
    #[error("write-ahead log is closed")]
    Closed,
    /// A `WalOptions` field is out of range.
    #[error("invalid write-ahead log option {option}: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    /// A write-ahead log is already open on this data directory handle.
    #[error("a write-ahead log is already open in {path}; drop or close it first")]
    WalAlreadyOpen { path: PathBuf },
}

/// The kinds of file in a data directory, each with its own format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// The identity file (`IDENTITY`).
    Identity,
    /// A write-ahead log segment (`wal/*.seg`).
    Segment,
    /// A checkpoint (`checkpoints/*.ckpt`).
    Checkpoint,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Identity => "identity file",
            FileKind::Segment => "log segment",
            FileKind::Checkpoint => "checkpoint",
        })
    }
}

/// Why a file does not belong in this database: what was expected, and what the file says.
/// Refused in [`RecoveryMode::Refuse`](crate::RecoveryMode::Refuse) as
/// [`Error::FileMismatch`]; set aside into `quarantine/` in
/// [`RecoveryMode::Salvage`](crate::RecoveryMode::Salvage).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// The file names another database.
    #[error(
        "belongs to database {found}, not to this database ({expected}): it was copied from \
         another database; move it away, or open with RecoveryMode::Salvage to set it aside"
    )]
    OtherDatabase {
        expected: DatabaseId,
        found: DatabaseId,
    },
    /// The file names a generation of the log that this database does not have (or no
    /// longer keeps any file of).
    #[error(
        "was written in generation {found} of the log, but this database has generations \
         {oldest} to {current}: it comes from another copy of this database{hint}; move it \
         away, or open with RecoveryMode::Salvage to set it aside",
        hint = generation_hint(*.found, *.current)
    )]
    UnknownGeneration {
        found: u64,
        oldest: u64,
        current: u64,
    },
    /// The file holds a version that its generation of the log does not: history that a
    /// later generation replaced after recovery cut the log.
    #[error(
        "holds version {found}, which generation {generation} of this database's log does not \
         ({range}): it comes from an older copy of this database, such as a backup taken \
         before recovery cut the log; move it away, or open with RecoveryMode::Salvage to set \
         it aside",
        range = generation_range(*.start, *.end)
    )]
    OutsideGeneration {
        generation: u64,
        found: Version,
        start: Version,
        end: Option<Version>,
    },
    /// The file was written by a newer in-mem, in a format this build cannot read.
    #[error(
        "was written by a newer in-mem ({kind} format version {found}; this build reads \
         version {supported}); open the database with a newer in-mem"
    )]
    NewerFormat {
        kind: FileKind,
        found: u32,
        supported: u32,
    },
    /// The file has a format version older than this build reads (one no released in-mem
    /// wrote).
    #[error(
        "uses {kind} format version {found}, which this build does not read (it reads version \
         {supported}); it was written by an unreleased build"
    )]
    OlderFormat {
        kind: FileKind,
        found: u32,
        supported: u32,
    },
    /// A file in-mem never writes where it was found.
    #[error(
        "is not a file in-mem writes there; move it out of the database directory, or open \
         with RecoveryMode::Salvage to set it aside"
    )]
    Unrecognized,
}

impl Mismatch {
    /// The mismatch of a file of `kind` whose header names format version `found` while this
    /// build reads `supported`.
    pub(crate) fn format(kind: FileKind, found: u32, supported: u32) -> Mismatch {
        if found > supported {
            Mismatch::NewerFormat {
                kind,
                found,
                supported,
            }
        } else {
            Mismatch::OlderFormat {
                kind,
                found,
                supported,
            }
        }
    }
}

fn generation_hint(found: u64, current: u64) -> &'static str {
    if found > current {
        " (or the identity file is older than the files: restored from a backup on its own)"
    } else {
        " (such as a backup)"
    }
}

fn generation_range(start: Version, end: Option<Version>) -> String {
    match end {
        None => format!("it began at version {start}"),
        Some(end) if end <= start => format!("it ended before holding any version, at {start}"),
        Some(end) => format!(
            "it holds versions {start} to {}",
            Version::new(end.get() - 1)
        ),
    }
}

fn list_found(found: &[PathBuf]) -> String {
    const SHOWN: usize = 5;
    let mut out: Vec<String> = found
        .iter()
        .take(SHOWN)
        .map(|p| p.display().to_string())
        .collect();
    if found.len() > SHOWN {
        out.push(format!("{} more", found.len() - SHOWN));
    }
    out.join(", ")
}

/// What recovery found wrong, at the file and offset an [`Error::Corruption`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// A checkpoint file that does not verify (header, a record's checksum, the trailer).
    #[error("checkpoint is damaged: {0}")]
    BadCheckpoint(&'static str),
    /// The identity file does not verify. It is written whole (temp file, fsync, rename), so
    /// this is damage, not a torn write; restore it from a backup of this database.
    #[error("identity file is damaged: {0}; restore it from a backup of this database")]
    BadIdentity(&'static str),
    /// The segment does not start with the log's magic bytes.
    #[error("segment header has the wrong magic bytes")]
    BadMagic,
    /// The segment was written by a format this build does not read.
    #[error(
        "segment format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedFormatVersion { found: u32, supported: u32 },
    /// The segment header's checksum does not match its bytes.
    #[error("segment header checksum mismatch")]
    BadHeaderChecksum,
    /// The file is shorter than a segment header.
    #[error("segment is shorter than its header")]
    TruncatedHeader,
    /// The header is all zeros but the segment holds data.
    #[error("segment header is missing but the segment holds data")]
    MissingHeader,
    /// The sequence in the header is not the one in the file name.
    #[error("segment header names sequence {found} but the file name says {expected}")]
    SequenceMismatch { expected: u64, found: u64 },
    /// A record's checksum does not match its bytes.
    #[error("record checksum mismatch")]
    BadRecordChecksum,
    /// A record's length field is impossible (too small, above the limit, or past the file end).
    #[error("record length {len} is impossible")]
    BadLength { len: u64 },
    /// Fewer bytes than a frame header remain, and they are not zeros.
    #[error("record frame is cut short")]
    TruncatedFrame,
    /// A zero frame header (the clean end) is followed by bytes that are not zero.
    #[error("non-zero bytes after the end of the log")]
    DataAfterEnd,
    /// A record's checksum matched but its body does not decode.
    #[error("record body does not decode: {reason}")]
    UndecodableBody { reason: String },
    /// Versions are not contiguous.
    #[error("expected version {expected} but found {found}")]
    VersionGap { expected: Version, found: Version },
    /// A segment sequence number is missing between two segments.
    #[error("segment {expected} is missing")]
    MissingSegment { expected: u64 },
    /// The replay callback rejected the record.
    #[error("record rejected during replay: {0}")]
    RecordRejected(#[source] crate::ReplayRejected),
}

/// A hint that says what to do about the I/O errors a user can fix, appended to the message.
fn io_hint(source: &io::Error) -> &'static str {
    match source.kind() {
        io::ErrorKind::PermissionDenied => {
            "; check that the user running the database may read and write there, or choose another directory"
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            "; the file system is read-only, choose a writable directory"
        }
        io::ErrorKind::StorageFull => "; the disk is full, free some space and reopen",
        _ => "",
    }
}

impl Error {
    /// An [`Error::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_say_what_to_do() {
        let err = Error::io(
            "create directory",
            "/x",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        let text = err.to_string();
        assert!(text.starts_with("cannot create directory /x: "), "{text}");
        assert!(text.contains("check that the user"), "{text}");
        let other = Error::io("read", "/x", io::Error::other("boom")).to_string();
        assert_eq!(other, "cannot read /x: boom");
    }

    #[test]
    fn mismatches_name_the_file_what_was_expected_and_what_was_found() {
        let id = |b| DatabaseId::from_bytes([b; 16]);
        let err = Error::FileMismatch {
            file: "/d/checkpoints/00000000000000000101.ckpt".into(),
            mismatch: Mismatch::OtherDatabase {
                expected: id(0xAA),
                found: id(0xBB),
            },
        };
        assert_eq!(
            err.to_string(),
            "/d/checkpoints/00000000000000000101.ckpt belongs to database \
             bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb, not to this database \
             (aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa): it was copied from another database; move \
             it away, or open with RecoveryMode::Salvage to set it aside"
        );
        let older = Mismatch::OutsideGeneration {
            generation: 1,
            found: Version::new(111),
            start: Version::new(1),
            end: Some(Version::new(111)),
        };
        assert!(
            older
                .to_string()
                .starts_with("holds version v111, which generation 1 of this database's log does not (it holds versions v1 to v110)"),
            "{older}"
        );
        let newer = Mismatch::format(FileKind::Segment, 3, 2);
        assert_eq!(
            newer.to_string(),
            "was written by a newer in-mem (log segment format version 3; this build reads \
             version 2); open the database with a newer in-mem"
        );
        assert!(matches!(
            Mismatch::format(FileKind::Segment, 1, 2),
            Mismatch::OlderFormat { .. }
        ));
        let found = (0..7).map(|i| PathBuf::from(format!("f{i}"))).collect();
        let err = Error::NotADatabase {
            path: "/home/u".into(),
            found,
        };
        assert!(
            err.to_string()
                .starts_with("/home/u is not an in-mem database: it has no IDENTITY file but holds f0, f1, f2, f3, f4, 2 more;"),
            "{err}"
        );
    }

    #[test]
    fn corruption_names_file_offset_and_reason() {
        let err = Error::Corruption {
            file: "/d/wal/00000000000000000001.seg".into(),
            offset: 96,
            kind: CorruptionKind::VersionGap {
                expected: Version::new(4),
                found: Version::new(6),
            },
        };
        assert_eq!(
            err.to_string(),
            "/d/wal/00000000000000000001.seg is corrupt at offset 96: expected version v4 but found v6"
        );
    }
}
