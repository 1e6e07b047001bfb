//! `Database::connect`: a database in shared mode.

use std::sync::Arc;

use in_mem_core_types::RunId;
use in_mem_remote::RemoteStore;

use super::Database;
#[cfg(not(feature = "postgres"))]
use crate::error::Error;
use crate::error::Result;
use crate::instance::Instance;
use crate::options::OpenOptions;
use crate::shared::{CacheStats, RemoteOptions};

impl Database {
    /// Connects to the shared store at `options.url` (PostgreSQL) as one of the hosts that
    /// share it: the same API as an opened database, with each agent's memory in the store
    /// and a cache of it here (see docs/REMOTE.md for what changes). Needs the `postgres`
    /// feature; without it this returns [`Error::InvalidOptions`] saying so.
    #[allow(clippy::needless_pass_by_value)] // As `open_with_options`: a builder chain.
    pub fn connect(options: RemoteOptions) -> Result<Database> {
        options.check()?;
        let store = connect_postgres(&options)?;
        Self::connect_store(store, options)
    }

    /// Connects to `store` (any implementation of the backend boundary, such as the in-process
    /// `MemStore` of tests) with `options`; `options.url` is not used.
    #[allow(clippy::needless_pass_by_value)] // As `connect`.
    pub fn connect_store(store: Arc<dyn RemoteStore>, options: RemoteOptions) -> Result<Database> {
        Self::connect_store_with(store, options, OpenOptions::new())
    }

    /// [`Database::connect_store`] with the engine options that apply in shared mode: the
    /// clock (TTL expiry of cached values is judged on it) and the run retention.
    #[allow(clippy::needless_pass_by_value)] // As `connect`.
    pub fn connect_store_with(
        store: Arc<dyn RemoteStore>,
        options: RemoteOptions,
        engine: OpenOptions,
    ) -> Result<Database> {
        let engine = engine.mode(options.mode);
        let instance = Instance::connect(store, &options, &engine)?;
        Ok(Database::from_instance(instance, options.mode))
    }

    /// True for a database from [`Database::connect`] (shared mode).
    pub fn is_connected(&self) -> bool {
        self.instance.shared().is_some()
    }

    /// Shared mode: makes this host the owner of `run`, which another host began (it may be
    /// Active, Paused, or Interrupted because its owner's lease ran out). Its former owner's
    /// commits are refused from now on (`RemoteError::Fenced`). If the former owner is alive
    /// (its lease holds), this returns only once that lease, as it stood at the takeover, has
    /// run out (up to its `lease_ttl`, 10 s by default): until then the former owner may still
    /// serve reads of the run from its cache, and by then it has learned of the takeover and
    /// reads the run as another host's. An Interrupted run is taken at once. In embedded mode
    /// this is an error: the process owns every run.
    pub fn take_over_run(&self, run: RunId) -> Result<()> {
        self.instance.take_over_run(run)
    }

    /// Shared mode: what the host's cache of agents holds against its budget
    /// (`RemoteOptions::cache_bytes`), and how many agents it has evicted; `None` for an
    /// embedded database. Bytes are approximate: keys and values plus a fixed overhead per
    /// cached version.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.instance
            .shared()
            .map(crate::shared::SharedLog::cache_stats)
    }

    /// Shared mode: what the store holds, counted over every agent and host (agents, commits,
    /// stored versions and keys, runs by status, hosts with a live lease, bytes on disk); `None`
    /// for an embedded database ([`Database::stats`] counts its memory). A full count: it reads
    /// every stored version once.
    pub fn store_stats(&self) -> Result<Option<in_mem_remote::StoreStats>> {
        let Some(shared) = self.instance.shared() else {
            return Ok(None);
        };
        Ok(Some(shared.store.stats()?))
    }
}

#[cfg(feature = "postgres")]
fn connect_postgres(options: &RemoteOptions) -> Result<Arc<dyn RemoteStore>> {
    use crate::options::DurabilityMode;
    use in_mem_pg::{PgOptions, PgStore, SynchronousCommit};
    let pg = PgOptions {
        schema: options.schema.clone(),
        migrate: options.migrate_schema,
        application_name: format!("in-mem {}", options.host_id),
        connections: options.connections,
        synchronous_commit: match options.mode {
            DurabilityMode::Strict => SynchronousCommit::On,
            DurabilityMode::Batched { .. } => SynchronousCommit::Local,
            DurabilityMode::Async { .. } => SynchronousCommit::Off,
        },
        ..PgOptions::default()
    };
    Ok(Arc::new(PgStore::connect(&options.url, &pg)?))
}

#[cfg(not(feature = "postgres"))]
fn connect_postgres(_options: &RemoteOptions) -> Result<Arc<dyn RemoteStore>> {
    // The URL is not repeated: it may carry a password.
    Err(Error::InvalidOptions {
        reason: "cannot connect to a shared store: this build has no shared-mode backend; \
                 enable the `postgres` feature of in-mem"
            .to_owned(),
    })
}
