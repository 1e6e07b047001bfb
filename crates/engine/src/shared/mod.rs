//! Shared mode: a database whose data lives in a shared store (PostgreSQL) that many hosts use
//! at once, instead of a local log (see docs/REMOTE.md for the model).
//!
//! The engine keeps its shape: the memtable becomes this host's cache of the agents it has
//! touched, the run registry holds the runs it knows, and the commit pipeline validates a
//! transaction locally (a run has one owner) before the shipper sends the commit. What differs
//! lives here: `SharedLog` (the store, the shipper, the lease, one `AgentCache` per agent),
//! `Ownership` (the runs this host owns, confirmed with the store at each lease renewal),
//! `CacheBudget` (the bytes cached against `cache_bytes`); the
//! instance's side (opening, commits, the catch-up that fills an agent's cache with other hosts'
//! commits) is in `instance/shared.rs`, `shared_commit.rs` and `catch_up.rs`.

mod agent_cache;
mod cache_budget;
mod collector;
mod log;
mod options;
mod ownership;

pub(crate) use agent_cache::{AgentCache, BriefHold, CacheHold};
pub(crate) use cache_budget::CacheBudget;
pub use cache_budget::CacheStats;
pub(crate) use collector::{COLLECT_AFTER_COMMITS, Collector};
pub(crate) use log::SharedLog;
pub use options::RemoteOptions;
