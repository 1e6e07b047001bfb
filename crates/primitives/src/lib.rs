//! Agent primitives of in-mem, built on the engine's `Database`:
//!
//! - [`KVStore`]: the agent's memory with typed values through serde.
//! - [`EventLog`]: a run's append-only, hash-chained log of what happened.
//! - [`StateMachine`]: a run's versioned state cells with compare-and-swap, and declared
//!   machines whose transitions the store enforces.
//! - [`TraceStore`]: a run's spans (tool calls, decisions, queries, thoughts, errors) as a tree.
//! - [`RunIndex`]: the runs themselves: lifecycle, lineage, tags, metadata, queries.
//! - [`Cassette`]: the recorded answers of a run's tool calls and queries, served back in order
//!   to execute the run again, with every step where the new execution differs caught as a
//!   [`Divergence`].
//!
//! Every primitive has `*_in` calls that work inside `Database::transaction`, so one commit can
//! put a KV value, append an event, advance a state machine and record a span atomically:
//!
//! ```
//! use in_mem_engine::Database;
//! use in_mem_primitives::{EventLog, NewSpan, StateMachine, TraceStore};
//!
//! # fn main() -> Result<(), in_mem_primitives::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::open(dir.path())?;
//! let run = db.begin_run();
//! StateMachine::new(&db).init(run, "step", 0)?;
//! db.transaction(run, |tx| {
//!     tx.put(b"last-tool", b"search")?;
//!     EventLog::append_in(tx, "tool_called", "search")?;
//!     StateMachine::set_in(tx, "step", 1)?;
//!     TraceStore::record_in(tx, NewSpan::thought("searching"))?;
//!     Ok::<_, in_mem_primitives::Error>(())
//! })?;
//! assert_eq!(EventLog::new(&db).len(run)?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! The records themselves (their keys, encodings and invariants) belong to the engine, which
//! is the only code that writes them (`tx.events()`, `tx.cells()`, `tx.spans()` take and
//! return `Value`s); this crate is the typed layer: serde values in and out, and the
//! run-scoped calls that retry on conflict. It never touches storage or durability directly.

mod cassette;
mod convert;
mod events;
mod kv;
mod runs;
mod state;
mod trace;

pub use cassette::{
    Call, CallKind, Cassette, CassetteError, Divergence, FINGERPRINT_ATTRIBUTE, RecordedCall,
};
pub use events::{EventIter, EventLog};
pub use in_mem_core_types::value_serde;
pub use in_mem_engine::{
    Cell, ChainSummary, Error, Event, MachineDefinition, NewSpan, Result, SPAN_TREE_DEPTH_MAX,
    Span, SpanId, SpanKind, SpanStatus, SpanTree, Transition,
};
pub use kv::KVStore;
pub use runs::RunIndex;
pub use state::StateMachine;
pub use trace::TraceStore;
