//! How a database connects to a shared store: `RemoteOptions`.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::options::{DurabilityMode, HistoryRetention};

/// How [`Database::connect`](crate::Database::connect) reaches the shared store and behaves
/// there. Start from [`RemoteOptions::new`] with the store's URL.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RemoteOptions {
    /// Where the store is: a PostgreSQL URL (`postgres://user@host:5432/db`, several hosts
    /// with `target_session_attrs=read-write` for failover) or a key-value connection string.
    pub url: String,
    /// This host's name among the hosts that share the store: it owns the runs it begins,
    /// and its lease says it is alive. Unique per process; by default the machine's host name,
    /// the process id and a random suffix.
    pub host_id: String,
    /// Memory this host may use to cache agents' data (bytes, approximate: keys and values plus
    /// a fixed overhead per version). Past it, the agents used least recently are evicted whole
    /// and loaded again from the store when next read; agents with runs this host owns, and
    /// agents a call or a live view is reading, stay (so the cache can exceed the budget when
    /// those alone do). See [`Database::cache_stats`](crate::Database::cache_stats).
    pub cache_bytes: u64,
    /// How long this host's lease lasts without renewal (300 ms to one hour); it is renewed
    /// every third of that. Another host may take over this host's active runs at once once it
    /// has run out, and a takeover while it holds waits out what is left of it.
    pub lease_ttl: Duration,
    /// Durability of commits, mapped onto the store's own commit settings (for PostgreSQL:
    /// `Strict` = `synchronous_commit = on`, `Batched` = `local`, `Async` = `off`).
    pub mode: DurabilityMode,
    /// PostgreSQL schema holding the tables (`None`: the connection's default, `public`).
    pub schema: Option<String>,
    /// Connections this host keeps open to the store (reads of runs and agents not cached, run
    /// changes and catch-ups use them side by side, one call each, and wait for one when all are
    /// busy; commits go one batch at a time).
    pub connections: usize,
    /// How long a commit that could not reach the store, or whose outcome was lost, is sent
    /// again (by its commit id, so never applied twice) before it fails. After a failure with
    /// an unknown outcome, this host sends no more commits (`RemoteError::Poisoned`): connect
    /// again. Long enough to ride out a failover.
    pub outage_limit: Duration,
    /// Whether connecting may create the store's schema where it is missing and migrate an
    /// older one (true, what a host does). With `false` a missing or older schema is an error
    /// and nothing is changed: for readers such as the `in-mem` tool, which must never migrate
    /// a production schema under the hosts that use it.
    pub migrate_schema: bool,
    /// What collections in the store keep of superseded versions, by age and count (as an
    /// embedded database's sweeps do: `OpenOptions::history`). Default 10 minutes, 1 version.
    pub history: HistoryRetention,
    /// How long an ended run's view stays readable whole (its own data stays readable for
    /// as long as the run exists). Default 10 minutes.
    pub ended_run_retention: Duration,
    /// How long an Interrupted run (its owner's lease ran out) keeps its view whole, counted
    /// from when the lease ran out: collections keep what it reads for that long, and a run
    /// taken over later reads what its view lost as `HistoryPruned`. Default 10 minutes (an
    /// embedded database's `OpenOptions::interrupted_run_grace`).
    pub interrupted_run_grace: Duration,
    /// How often this host asks the store to collect the agents it caches that grew since
    /// (zero: never in the background; `Database::sweep` still does). Default 10 s.
    pub collect_every: Duration,
}

impl RemoteOptions {
    /// Options for the store at `url`, with the defaults: a generated host id, a 1 GiB cache,
    /// a 10 s lease, `Strict` durability.
    pub fn new(url: impl Into<String>) -> Self {
        RemoteOptions {
            url: url.into(),
            host_id: default_host_id(),
            cache_bytes: 1 << 30,
            lease_ttl: Duration::from_secs(10),
            mode: DurabilityMode::Strict,
            schema: None,
            outage_limit: Duration::from_secs(30),
            connections: 4,
            migrate_schema: true,
            history: HistoryRetention::default(),
            ended_run_retention: Duration::from_secs(600),
            interrupted_run_grace: Duration::from_secs(600),
            collect_every: Duration::from_secs(10),
        }
    }

    /// What collections keep of superseded versions (see `history`).
    #[must_use]
    pub fn history(mut self, history: HistoryRetention) -> Self {
        self.history = history;
        self
    }

    /// How long an ended run's view stays readable whole (see `ended_run_retention`).
    #[must_use]
    pub fn ended_run_retention(mut self, retention: Duration) -> Self {
        self.ended_run_retention = retention;
        self
    }

    /// How long an Interrupted run keeps its view whole (see `interrupted_run_grace`).
    #[must_use]
    pub fn interrupted_run_grace(mut self, grace: Duration) -> Self {
        self.interrupted_run_grace = grace;
        self
    }

    /// How often this host asks the store to collect (see `collect_every`).
    #[must_use]
    pub fn collect_every(mut self, every: Duration) -> Self {
        self.collect_every = every;
        self
    }

    /// The store's collection policy these options ask for.
    pub(crate) fn gc_policy(&self) -> in_mem_remote::GcPolicy {
        in_mem_remote::GcPolicy {
            keep_for: self.history.keep_for,
            ended_retention: self.ended_run_retention,
            keep_min_versions: u32::try_from(self.history.keep_min_versions.max(1))
                .unwrap_or(u32::MAX),
            interrupted_grace: self.interrupted_run_grace,
        }
    }

    /// This host's name.
    #[must_use]
    pub fn host_id(mut self, host_id: impl Into<String>) -> Self {
        self.host_id = host_id.into();
        self
    }

    /// Whether connecting may create or migrate the store's schema (see
    /// [`RemoteOptions::migrate_schema`]).
    #[must_use]
    pub fn migrate_schema(mut self, migrate: bool) -> Self {
        self.migrate_schema = migrate;
        self
    }

    /// The cache's byte budget.
    #[must_use]
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// The lease's length.
    #[must_use]
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// The durability mode.
    #[must_use]
    pub fn mode(mut self, mode: DurabilityMode) -> Self {
        self.mode = mode;
        self
    }

    /// How long commits are sent again through an outage before they fail.
    #[must_use]
    pub fn outage_limit(mut self, limit: Duration) -> Self {
        self.outage_limit = limit;
        self
    }

    /// Connections to keep open to the store.
    #[must_use]
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// The PostgreSQL schema of the tables.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Refuses options that cannot work, saying which.
    pub(crate) fn check(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidOptions { reason });
        if self.host_id.is_empty() || self.host_id.len() > 200 {
            return invalid(format!(
                "host_id must be 1 to 200 bytes, it is {}",
                self.host_id.len()
            ));
        }
        if self.connections == 0 || self.connections > 1024 {
            return invalid(format!(
                "connections must be 1 to 1024, it is {}",
                self.connections
            ));
        }
        if self.lease_ttl < Duration::from_millis(300) {
            return invalid(format!(
                "lease_ttl is {:?}, below the minimum of 300 ms (it is renewed every third)",
                self.lease_ttl
            ));
        }
        if self.lease_ttl > LEASE_TTL_MAX {
            return invalid(format!(
                "lease_ttl is {:?}, above the maximum of one hour (a takeover of this host's \
                 runs waits out its lease)",
                self.lease_ttl
            ));
        }
        Ok(())
    }
}

/// The longest lease: taking over a live host's run waits out what is left of its lease.
const LEASE_TTL_MAX: Duration = Duration::from_secs(3600);

/// `<host name>-<pid>-<random>`: unique per process, readable in the store's tables.
fn default_host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let random = in_mem_core_types::RunId::new().to_string();
    format!("{name}-{}-{}", std::process::id(), &random[..8])
}
