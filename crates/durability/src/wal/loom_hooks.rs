//! What `tests/loom.rs` drives (only under `--cfg inmem_loom`): a log's group-commit state
//! without the background threads of a [`Wal`](super::Wal), so that the test's own loom
//! threads append, wait and flush through the real code of `writer.rs` and `writer/waits.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use in_mem_core_types::Version;

use super::generation;
use super::reader::READ_CHUNK_BYTES;
use super::record::CommitBody;
use super::writer::Shared;
use super::{RecoveryMode, SyncPolicy, Ticket, WaitFor};
use crate::dir::DataDir;
use crate::error::Result;
use crate::vfs::SimFs;

pub use crate::sync::Clock;

/// A log over `dir` whose time is `clock`, with no background thread.
pub struct LoomLog {
    shared: Arc<Shared>,
    /// The next version to allocate, as the engine's version counter would.
    next: AtomicU64,
}

impl LoomLog {
    /// Recovers the log of `dir` and opens it for appends.
    pub fn open(dir: &DataDir, segment_bytes: u64, clock: Clock) -> Result<LoomLog> {
        let inner = dir.inner();
        let (recovered, _) = generation::recover_dir(
            inner,
            Version::ZERO,
            &mut |_| Ok(()),
            READ_CHUNK_BYTES,
            RecoveryMode::Refuse,
        )?;
        let next = AtomicU64::new(recovered.last_version.get());
        let shared = Shared::new(
            Arc::clone(&inner.vfs),
            inner.wal_path.clone(),
            segment_bytes,
            recovered,
            clock,
        );
        Ok(LoomLog {
            shared: Arc::new(shared),
            next,
        })
    }

    /// [`Wal::append`](super::Wal::append), allocating the next version.
    pub fn append(&self, body: &CommitBody) -> Result<Ticket> {
        self.shared.append(body, || {
            Version::new(self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1)
        })
    }

    /// [`Wal::wait`](super::Wal::wait).
    pub fn wait(&self, ticket: Ticket, level: WaitFor) -> Result<()> {
        match level {
            WaitFor::Buffered => self.shared.wait_buffered(ticket.lsn),
            WaitFor::Written => self.shared.wait_written(ticket.lsn, ticket.version),
            WaitFor::Synced => self.shared.sync_through(ticket.lsn, true),
        }
    }

    /// [`Wal::flush`](super::Wal::flush).
    pub fn flush(&self) -> Result<()> {
        self.shared.flush()
    }

    /// Registers a sync cadence, as a `Batched` database does; only its `max_commits` matters
    /// here (there is no sync thread to keep the interval). The policy stays for the log's life.
    pub fn add_policy(&self, policy: SyncPolicy) {
        self.shared.add_policy(policy);
    }

    /// True once a write or fdatasync failed.
    pub fn is_poisoned(&self) -> bool {
        self.shared.lock().poison.is_some()
    }
}

/// The last version a power loss now would keep: recovery of exactly the durable bytes of the
/// log in `wal_dir` of `fs`.
///
/// # Panics
/// If the durable bytes do not recover: a model found a bug.
pub fn durable_version(fs: &SimFs, wal_dir: &Path) -> Version {
    let image = fs.crash_durable_only();
    let root = wal_dir
        .parent()
        .expect("the log directory is inside a data directory");
    let recovered = DataDir::open(Arc::new(image), root).and_then(|dir| {
        generation::recover_dir(
            dir.inner(),
            Version::ZERO,
            &mut |_| Ok(()),
            READ_CHUNK_BYTES,
            RecoveryMode::Refuse,
        )
    });
    match recovered {
        Ok((recovered, _)) => recovered.last_version,
        Err(e) => panic!("the durable bytes do not recover: {e}"),
    }
}
