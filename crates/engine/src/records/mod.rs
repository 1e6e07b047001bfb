//! The records the agent primitives are made of (a run's events, state cells and machines,
//! spans) and the only calls that write them.
//!
//! The engine owns these records' keys, encodings and invariants (dense event sequences and
//! their hash chain, cell versions that never go back, span ids and their indexes) so that
//! nothing else can break them: a run's `TypeTag::Event`, `State`, `Trace` and `Index` keys are
//! reachable only through [`Events`], [`Cells`] and [`Spans`], which a
//! [`Transaction`](crate::Transaction) hands out (`tx.events()`, `tx.cells()`, `tx.spans()`).
//! They take and return [`Value`]s; the typed (serde) layer is `in-mem-primitives`.
//!
//! The accessors reach the run's data through [`RunData`], which the transaction implements;
//! this module knows nothing else of transactions.
//!
//! There is no other way in: a transaction has no call that writes, deletes or reads a record
//! by its raw key (those calls used to exist, and let a user reset a state cell to version 1,
//! delete a span so that `roots()` failed for good, or delete the event log's head so that the
//! log could never append again; the log has no head record now, its end is found from the
//! events themselves). Each of these stays a compile error:
//!
//! ```compile_fail
//! # use in_mem_core_types::{TypeTag, Value};
//! # use in_mem_engine::Database;
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = Database::open(dir.path()).unwrap();
//! # let run = db.begin_run();
//! // Resetting a state cell by overwriting its record:
//! db.transaction(run, |tx| tx.put_run_value(TypeTag::State, b"cell:attempts", &Value::Null));
//! ```
//!
//! ```compile_fail
//! # use in_mem_core_types::TypeTag;
//! # use in_mem_engine::Database;
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = Database::open(dir.path()).unwrap();
//! # let run = db.begin_run();
//! // Deleting a span:
//! db.transaction(run, |tx| tx.delete_run_value(TypeTag::Trace, &1u64.to_be_bytes()));
//! ```
//!
//! ```compile_fail
//! # use in_mem_core_types::TypeTag;
//! # use in_mem_engine::Database;
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = Database::open(dir.path()).unwrap();
//! # let run = db.begin_run();
//! // Deleting an event:
//! db.transaction(run, |tx| tx.delete_run_value(TypeTag::Event, &0u64.to_be_bytes()));
//! ```
//!
//! The same calls written against what does exist compile (so the examples above fail for the
//! reason they show, not for a typo):
//!
//! ```
//! # use in_mem_core_types::Value;
//! # use in_mem_engine::Database;
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = Database::open(dir.path()).unwrap();
//! # let run = db.begin_run();
//! db.transaction(run, |tx| tx.cells().init("attempts", Value::Null)).unwrap();
//! db.transaction(run, |tx| tx.delete(&1u64.to_be_bytes())).unwrap();
//! db.transaction(run, |tx| tx.delete(b"event-head")).unwrap();
//! ```

mod cells;
mod chain;
mod dense;
mod events;
mod fields;
mod keys;
mod machine;
mod span;
mod spans;

use std::sync::Arc;

use in_mem_core_types::{Timestamp, TypeTag};

use crate::error::Result;

pub use cells::{Cell, Cells};
pub(crate) use chain::{GENESIS, event_hash};
pub(crate) use dense::{RecordHints, Sequence};
pub use events::{ChainSummary, Event, Events};
pub use fields::NAME_BYTES_MAX;
pub(crate) use keys::{RecordKey, classify};
pub use machine::{MachineDefinition, Transition};
pub use span::{NewSpan, Span, SpanId, SpanKind, SpanStatus, SpanTree};
pub use spans::{SPAN_TREE_DEPTH_MAX, Spans};

/// Rows of a record scan: each key (below the run's namespace and the tag) with its stored
/// encoding, in key order.
pub(crate) type EncodedRows = Vec<(Vec<u8>, Arc<[u8]>)>;

/// A transaction's access to its run's own records, by type tag and key (the key below the
/// run's namespace and the tag). Reads see the run's view plus the transaction's writes and are
/// validated at commit like every other read. Reads return the stored encodings, which the
/// accessors read in place (`fields::EncodedRecord`) rather than decode whole.
pub(crate) trait RunData {
    /// The encoded value under `key`, if any.
    fn get(&mut self, tag: TypeTag, key: &[u8]) -> Result<Option<Arc<[u8]>>>;
    /// Stores the encoded `value` under `key` (event records refuse to be overwritten).
    fn put(&mut self, tag: TypeTag, key: &[u8], value: Arc<[u8]>) -> Result<()>;
    /// Every (key, encoded value) under `prefix`, in key order.
    fn scan(&mut self, tag: TypeTag, prefix: &[u8]) -> Result<EncodedRows>;
    /// Every (key, encoded value) with `start <= key < end` (`None`: to the end of the tag's
    /// keys).
    fn scan_range(&mut self, tag: TypeTag, start: &[u8], end: Option<&[u8]>)
    -> Result<EncodedRows>;
    /// The database clock's time now (what the commit will be stamped with).
    fn now(&self) -> Timestamp;
    /// Where `sequence` ends, as far as the run knows (0 when it does not): where
    /// [`dense::find_end`] starts looking. Only a hint; the reads decide.
    fn hint(&self, sequence: Sequence) -> u64 {
        let _ = sequence;
        0
    }
    /// Notes that this transaction's writes leave `sequence` `len` long, for the run's hint
    /// once it commits.
    fn extended(&mut self, sequence: Sequence, len: u64) {
        let _ = (sequence, len);
    }
}

/// An index entry's value: `Null` (its key says everything), encoded once for the process.
pub(crate) fn index_entry() -> Arc<[u8]> {
    static NULL: std::sync::OnceLock<Arc<[u8]>> = std::sync::OnceLock::new();
    Arc::clone(NULL.get_or_init(|| Arc::from(&[0u8][..])))
}
