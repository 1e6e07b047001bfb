//! `in-mem-pg`: the shared-mode backend on PostgreSQL. [`PgStore`] implements the engine's
//! [`RemoteStore`] (the backend boundary) over `tokio-postgres`, with a synchronous API like the
//! rest of in-mem: a calling thread drives a connection itself, or, inside a tokio runtime,
//! hands the call to a private one.
//!
//! Agents are the shards: each has a clock row, and a commit takes the next version of its
//! agent's clock under that row's lock, so versions are dense and in commit order per agent.
//! A batch of commits is one call of the `inmem_commit_batch` function: one round trip and one
//! WAL flush for all of them. The schema and its functions are in `schema/v1.sql`; what the
//! mode changes for users is in docs/REMOTE.md.

mod driven;
mod errors;
mod pool;
mod rows;
mod schema;
mod statements;
mod store;

use std::time::Duration;

pub use in_mem_remote::RemoteStore;
pub use schema::SCHEMA_VERSION;
pub use statements::{COMMIT_ALONE, COMMIT_ONE};
pub use store::PgStore;

/// When PostgreSQL acknowledges a commit, set per connection (`synchronous_commit`): in-mem's
/// durability modes map onto it (docs/REMOTE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynchronousCommit {
    /// `on`: flushed locally and, where synchronous standbys are configured, on them (`Strict`).
    On,
    /// `local`: flushed to the primary's WAL (`Batched`).
    Local,
    /// `off`: written, flushed by the WAL writer within a few of its delays (`Async`).
    Off,
}

impl SynchronousCommit {
    fn setting(self) -> &'static str {
        match self {
            SynchronousCommit::On => "on",
            SynchronousCommit::Local => "local",
            SynchronousCommit::Off => "off",
        }
    }
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The PostgreSQL schema the store's tables live in (created if missing, when `migrate`);
    /// `None` for the connection's default `search_path`. Letters, digits and `_` only.
    pub schema: Option<String>,
    /// Whether connecting may change the database's schema: create it where it is missing and
    /// migrate an older one (what a host does). With `false` (what a reader such as the
    /// `in-mem` tool wants) the schema must exist at this build's version; a missing or older
    /// one is an error and nothing is written.
    pub migrate: bool,
    /// The `application_name` the connections report (in `pg_stat_activity`, the server log).
    pub application_name: String,
    /// How many connections to keep open: at most this many calls are made at once, and a
    /// caller beyond them waits for one to finish. Calls made from inside a tokio runtime use
    /// up to this many more, opened the first time such a call comes.
    pub connections: usize,
    /// When a commit is acknowledged.
    pub synchronous_commit: SynchronousCommit,
    /// How long a call waits for PostgreSQL before it fails (`Unavailable`, or `OutcomeUnknown`
    /// for a commit).
    pub request_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: None,
            migrate: true,
            application_name: "in-mem".to_owned(),
            connections: 4,
            synchronous_commit: SynchronousCommit::On,
            request_timeout: Duration::from_secs(30),
        }
    }
}
