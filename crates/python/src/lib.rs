//! The native module of the `in_mem` Python package (`in_mem._native`), built by maturin from
//! `pyproject.toml`; the package's `__init__.py` re-exports it with the exception classes
//! (`_errors.py`) and the asyncio wrapper (`aio.py`).
//!
//! What it is not: a second engine. Every call maps onto the Rust API of the `in-mem` crate,
//! detached from the interpreter while the engine works (opening, commits and their syncs,
//! reads and scans, checkpoints), so other Python threads run meanwhile and concurrent `Strict`
//! commits from several threads share fdatasyncs.
//!
//! Code map: `database.rs` (the `Database` class), `run.rs` (`Run`), `transaction.rs`
//! (`Transaction` and the retry helper) over `worker.rs` (a transaction's thread), `target.rs`
//! (where accessor calls go: a run, a transaction or a view of a run's past), the accessors
//! `kv.rs`, `events.rs`, `state.rs`, `trace.rs`, `records.rs` (what calls return),
//! `history/` (views of a run's past, timelines and key histories, diffs, replays,
//! cassettes),
//! `point.rs` (points in a run's history), `convert.rs` (Python values and stored values),
//! `errors.rs` (engine errors as Python exceptions), `shared.rs` (the closable handle),
//! `connect.rs` (`Database.connect`: shared mode), `batch.rs` (`_commit_writes` and
//! `_read_many`: many writes in one commit, many reads in one snapshot, one engine call each,
//! for `in_mem.langgraph`), `langgraph/` (the saver's keys, writes and reads).
//!
//! ```python
//! import in_mem
//!
//! with in_mem.Database("./agent-db", durability="strict") as db:
//!     with db.run(agent=("acme", "support", "triage"), tags=["nightly"]) as run:
//!         run.kv.put("user:42", {"name": "Ada", "visits": 3})
//!         run.events.append("tool_result", {"tool": "search", "hits": 3})
//!         with db.transaction(run) as tx:
//!             tx.state.set("step", 2)
//!             tx.kv.put("last_tool", "search")
//! ```

mod batch;
mod connect;
mod convert;
mod database;
mod errors;
mod events;
mod history;
mod kv;
mod langgraph;
mod point;
mod records;
mod run;
mod shared;
mod state;
mod target;
mod trace;
mod transaction;
mod worker;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<database::Database>()?;
    m.add_class::<run::Run>()?;
    m.add_class::<transaction::Transaction>()?;
    m.add_class::<kv::Kv>()?;
    m.add_class::<events::Events>()?;
    m.add_class::<state::State>()?;
    m.add_class::<trace::Trace>()?;
    m.add_class::<records::AgentId>()?;
    m.add_class::<records::RunInfo>()?;
    m.add_class::<records::Versioned>()?;
    m.add_class::<records::Event>()?;
    m.add_class::<records::Chain>()?;
    m.add_class::<records::Cell>()?;
    m.add_class::<records::Transition>()?;
    m.add_class::<records::Span>()?;
    m.add_class::<records::SpanTree>()?;
    m.add_class::<history::View>()?;
    m.add_class::<history::Step>()?;
    m.add_class::<history::Timeline>()?;
    m.add_class::<history::KeyVersion>()?;
    m.add_class::<history::KeyHistory>()?;
    m.add_class::<history::RunDiff>()?;
    m.add_class::<history::KvChange>()?;
    m.add_class::<history::EventsDiff>()?;
    m.add_class::<history::CellChange>()?;
    m.add_class::<history::SpanChange>()?;
    m.add_class::<history::Replay>()?;
    m.add_class::<history::ReplayStep>()?;
    m.add_class::<history::Cassette>()?;
    m.add_class::<history::Recorded>()?;
    m.add_function(wrap_pyfunction!(batch::commit_writes, m)?)?;
    m.add_function(wrap_pyfunction!(batch::read_many, m)?)?;
    langgraph::register(m)?;
    Ok(())
}
