//! **in-mem**: an embedded, durable, memory-resident database for AI agent state.
//!
//! Every operation is scoped to a *run* (one agent execution). A run sees its agent's memory as
//! it was when the run began, plus its own writes; runs executing side by side are isolated, and
//! a run begun after a crash reads what the crashed run wrote. Everything acknowledged survives
//! a crash as the chosen [`DurabilityMode`] promises.
//!
//! This crate only re-exports: the database lives in `in-mem-engine`, the typed primitives in
//! `in-mem-primitives`, the vocabulary in `in-mem-core-types`.
//!
//! Beyond key-value memory, a run keeps an append-only, hash-chained event log
//! ([`primitives::EventLog`]), versioned state cells and declared state machines
//! ([`primitives::StateMachine`]), and a trace of tool calls and decisions
//! ([`primitives::TraceStore`]); [`Database::transaction`] commits any mix of them atomically,
//! and [`primitives::RunIndex`] finds runs by agent, status, tag, time and parent.
//! A run's past stays readable ([`Database::run_view_at`]), forkable ([`Database::fork_run`])
//! and comparable ([`Database::diff_runs`]), and [`primitives::Cassette`] serves a run's recorded
//! tool answers to execute it again.
//!
//! The getting-started flow:
//!
//! ```
//! use std::time::Duration;
//! use in_mem::{Database, DurabilityMode, Namespace, RunId, primitives::KVStore};
//!
//! # fn main() -> in_mem::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("my-agent-db");
//! let db = Database::open(&path)?; // creates, or recovers after a crash
//! let run_id: RunId = db.begin_run(); // every operation is run-scoped
//!
//! db.put(run_id, b"user:123", b"Alice")?;
//! assert_eq!(db.get(run_id, b"user:123")?, Some(b"Alice".to_vec()));
//! db.put_with_ttl(run_id, b"session:abc", b"data", Duration::from_secs(3600))?;
//! for (key, value) in db.list(run_id, b"user:")? {
//!     println!("{} = {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&value));
//! }
//! assert!(db.delete(run_id, b"user:123")?);
//!
//! let kv = KVStore::new(&db); // typed values through serde
//! kv.put(run_id, "config:max_retries", 3)?;
//! let retries: i64 = kv.get(run_id, "config:max_retries")?.unwrap();
//! assert_eq!(retries, 3);
//!
//! let ns = Namespace::new("tenant1", "my-app", "agent-v1", run_id);
//! assert_eq!(ns.tenant(), "tenant1");
//!
//! db.end_run(run_id)?;
//! db.flush()?;
//! # drop(db);
//! // The same directory, reopened with an explicit mode.
//! let db = Database::open_with_mode(&path, DurabilityMode::Strict)?;
//! let reader = db.begin_run();
//! assert_eq!(kv_retries(&db, reader)?, 3);
//! # fn kv_retries(db: &Database, run: RunId) -> in_mem::Result<i64> {
//! #     Ok(KVStore::new(db).get(run, "config:max_retries")?.unwrap())
//! # }
//! # Ok(())
//! # }
//! ```

pub use in_mem_core_types::ConvertError;
pub use in_mem_core_types::{
    AgentId, BigU64, Key, Namespace, RunId, Timestamp, TypeTag, Value, Version, VersionedValue,
    limits,
};
/// History: a run's past ([`Database::run_view_at`]), forks ([`Database::fork_run`]), its
/// timeline, a key's versions, diffs and replays.
pub use in_mem_engine::{
    At, CellChange, EventsDiff, KeyHistory, KeyVersion, KvChange, Replay, ReplayStep, RunDiff,
    RunView, SpanChange, Step, Timeline,
};
pub use in_mem_engine::{
    CheckpointInfo, Clock, Damage, Database, DatabaseId, DatabaseStats, DurabilityMode, Error,
    HistoryRetention, ManualClock, Mismatch, OpenOptions, Quarantined, RecoveryMode,
    RecoveryReport, Result, RetryPolicy, RunInfo, RunOptions, RunQuery, RunStatus, Salvaged,
    SweepStats, SystemClock, TailState, Transaction,
};
/// A database's stored history as a [`Database::dump`] holds it, for export and restore.
pub use in_mem_engine::{Content, Dump, DumpEntry, RunFields};
pub use in_mem_engine::{FollowStop, Refreshed};

/// Shared mode: many hosts, one agent memory, in a shared store ([`Database::connect`], with
/// the `postgres` feature). [`remote`] is the backend boundary itself, for tests and for new
/// backends.
pub use in_mem_engine::{CacheStats, RemoteOptions, remote};

/// The agent primitives: `KVStore`, `EventLog`, `StateMachine`, `TraceStore`, `RunIndex`, and
/// `Cassette` (a run's recorded tool answers, to execute it again).
///
/// Each has `*_in` calls that take a [`Transaction`], so one
/// `Database::transaction` can change several of them atomically.
pub mod primitives {
    pub use in_mem_core_types::{from_value, to_value};
    pub use in_mem_engine::{Cells, Events, Spans};
    pub use in_mem_primitives::{
        Call, CallKind, Cassette, CassetteError, Cell, ChainSummary, Divergence, Event, EventIter,
        EventLog, FINGERPRINT_ATTRIBUTE, KVStore, MachineDefinition, NewSpan, RecordedCall,
        RunIndex, SPAN_TREE_DEPTH_MAX, Span, SpanId, SpanKind, SpanStatus, SpanTree, StateMachine,
        TraceStore, Transition,
    };
}

/// The README, the getting-started guide and the guides in `docs/primitives/`, compiled and run
/// as doc tests so their examples stay true.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../../README.md")]
    struct Readme;
    #[doc = include_str!("../../../docs/getting-started.md")]
    struct GettingStarted;
    #[doc = include_str!("../../../docs/primitives/kv.md")]
    struct Kv;
    #[doc = include_str!("../../../docs/primitives/event-log.md")]
    struct EventLog;
    #[doc = include_str!("../../../docs/primitives/state-machine.md")]
    struct StateMachine;
    #[doc = include_str!("../../../docs/primitives/trace-store.md")]
    struct TraceStore;
    #[doc = include_str!("../../../docs/primitives/run-index.md")]
    struct RunIndex;
    #[doc = include_str!("../../../docs/primitives/transactions.md")]
    struct Transactions;
    #[doc = include_str!("../../../docs/primitives/history.md")]
    struct History;
    #[doc = include_str!("../../../docs/REMOTE.md")]
    struct Remote;
}
