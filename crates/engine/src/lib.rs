//! The in-mem `Database`: runs, the commit pipeline, recovery wiring and background work.
//!
//! This crate wires the memtable (`in-mem-storage`) to the write-ahead log
//! (`in-mem-durability`) and gives them the run model of the getting-started guide: every
//! operation names a run; a run sees its agent's memory as it was when the run began, plus its
//! own writes. It is *not* the typed layer: `KVStore` and the other primitives live in
//! `in-mem-primitives`, and most users take everything from the `in-mem` umbrella crate.
//!
//! ```
//! use in_mem_engine::{Database, DurabilityMode};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let db = Database::open_with_mode(dir.path(), DurabilityMode::Strict)?;
//! let run = db.begin_run();
//! let version = db.put(run, b"user:1", b"Ada")?;
//! assert_eq!(db.get(run, b"user:1")?, Some(b"Ada".to_vec()));
//! assert!(version > 0);
//! db.end_run(run)?;
//! db.close()?;
//! # Ok(())
//! # }
//! ```

mod background;
mod checkpoint;
mod clock;
mod database;
mod error;
mod history;
mod instance;
mod open_registry;
mod options;
mod records;
mod recovery;
pub use in_mem_remote as remote;
mod runs;
mod shared;
mod transaction;
mod transfer;
mod version_times;
mod write;

pub use checkpoint::CheckpointInfo;
pub use clock::{Clock, ManualClock, SystemClock};
pub use database::{Database, DatabaseStats, RunOptions};
pub use error::{Damage, Error, Result};
pub use history::{
    At, CellChange, EventsDiff, KeyHistory, KeyVersion, KvChange, Replay, ReplayStep, RunDiff,
    RunView, SpanChange, Step, Timeline,
};
pub use in_mem_durability::{
    DatabaseId, FileKind, FollowStop, Mismatch, Quarantined, RecoveryMode, Salvaged, TailState,
};
pub use in_mem_storage::SweepStats;
pub use instance::Refreshed;
pub use options::{DurabilityMode, HistoryRetention, OpenOptions};
pub use records::{
    Cell, Cells, ChainSummary, Event, Events, MachineDefinition, NAME_BYTES_MAX, NewSpan,
    SPAN_TREE_DEPTH_MAX, Span, SpanId, SpanKind, SpanStatus, SpanTree, Spans, Transition,
};
pub use recovery::RecoveryReport;
pub use runs::{RunInfo, RunQuery, RunStatus};
pub use shared::{CacheStats, RemoteOptions};
pub use transaction::{RetryPolicy, Transaction};
pub use transfer::{Content, Dump, DumpEntry, RunFields};
