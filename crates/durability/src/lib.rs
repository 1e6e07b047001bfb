//! Durability of in-mem: the segmented write-ahead log, group commit, recovery, and the
//! file-system trait every file access goes through.
//!
//! API SKELETON: signatures are the contract the engine is written against; bodies are being
//! implemented.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{RunId, Timestamp, Version};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("database directory {path} is locked by another process; close it there first")]
    Locked { path: PathBuf },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt write-ahead log {file} at offset {offset}: {kind}")]
    Corruption { file: PathBuf, offset: u64, kind: CorruptionKind },
    #[error("write-ahead log is poisoned by an earlier failed {op} ({cause}); reopen the database")]
    Poisoned { op: &'static str, cause: String },
    #[error("commit of {len} bytes is larger than the limit of {max} bytes")]
    CommitTooLarge { len: usize, max: usize },
    #[error("write-ahead log is closed")]
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptionKind {
    #[error("record checksum mismatch")]
    BadRecordChecksum,
    #[error("record rejected during replay: {0}")]
    RecordRejected(String),
}

/// The file-system operations the log needs; `StdFs` is the real one.
pub trait Vfs: Send + Sync + std::fmt::Debug {}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;
impl Vfs for StdFs {}

/// An opened, locked data directory.
#[derive(Debug)]
pub struct DataDir {}
impl DataDir {
    pub fn open(vfs: Arc<dyn Vfs>, path: &Path) -> Result<DataDir> {
        let _ = (vfs, path);
        todo!()
    }
    pub fn path(&self) -> &Path {
        todo!()
    }
}

/// One write of a commit, borrowed, for encoding.
#[derive(Debug, Clone, Copy)]
pub struct WriteRef<'a> {
    pub key: &'a [u8],
    pub op: OpRef<'a>,
}
#[derive(Debug, Clone, Copy)]
pub enum OpRef<'a> {
    Put { value: &'a [u8], ttl: Option<Duration> },
    Delete,
}

/// One write of a commit, owned, as replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogWrite {
    pub key: Vec<u8>,
    pub op: LogOp,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOp {
    Put { value: Vec<u8>, ttl: Option<Duration> },
    Delete,
}

/// A commit as replayed from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    pub version: Version,
    pub timestamp: Timestamp,
    pub writer: RunId,
    pub writes: Vec<LogWrite>,
}

/// The encoded body of a commit (everything but its version), built outside the log lock.
#[derive(Debug)]
pub struct CommitBody {}
impl CommitBody {
    pub fn encode(timestamp: Timestamp, writer: RunId, writes: &[WriteRef<'_>]) -> Result<CommitBody> {
        let _ = (timestamp, writer, writes);
        todo!()
    }
}

#[derive(Debug, Clone)]
pub struct WalOptions {
    pub segment_bytes: u64,
}
impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_bytes: 32 << 20 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub version: Version,
    pub lsn: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    Buffered,
    Written,
    Synced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPolicy {
    pub interval: Duration,
    pub max_commits: Option<u64>,
}

/// Removes its policy from the log when dropped.
#[derive(Debug)]
pub struct SyncPolicyGuard {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailState {
    Clean,
    Cut { file: PathBuf, offset: u64, bytes: u64, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecovery {
    pub records_replayed: u64,
    pub last_version: Version,
    pub tail: TailState,
}

/// Rejection of a replayed record by the caller; recovery reports it as corruption at the
/// record's file and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRejected(pub String);

#[derive(Debug)]
pub struct Wal {}
impl Wal {
    pub fn open(
        dir: &DataDir,
        options: WalOptions,
        after: Version,
        replay: &mut dyn FnMut(CommitRecord) -> std::result::Result<(), ReplayRejected>,
    ) -> Result<(Wal, WalRecovery)> {
        let _ = (dir, options, after, replay);
        todo!()
    }
    pub fn append(&self, body: &CommitBody, allocate: impl FnOnce() -> Version) -> Result<Ticket> {
        let _ = (body, allocate);
        todo!()
    }
    pub fn wait(&self, ticket: Ticket, level: WaitFor) -> Result<()> {
        let _ = (ticket, level);
        todo!()
    }
    pub fn flush(&self) -> Result<()> {
        todo!()
    }
    pub fn add_sync_policy(&self, policy: SyncPolicy) -> SyncPolicyGuard {
        let _ = policy;
        todo!()
    }
    pub fn close(&self) -> Result<()> {
        todo!()
    }
    pub fn last_version(&self) -> Version {
        todo!()
    }
}
