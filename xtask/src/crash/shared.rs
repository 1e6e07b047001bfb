//! The crash test in shared mode (`cargo xtask crash-test --remote`): where its hosts connect
//! (the PostgreSQL server `INMEM_PG_URL` names, one schema per mode and `--fresh-every`
//! window), with what lease, and under which names. Each child is a client host that is
//! killed; the parent's checks are fresh hosts of their own (`observe/shared.rs`).

use std::time::Duration;

use in_mem::{Database, DurabilityMode, RemoteOptions};

use super::workload::{Mode, now_us};

/// The variable that names the PostgreSQL server, as for the shared-mode tests
/// (`cargo xtask pg-run` sets it).
pub const URL_VAR: &str = "INMEM_PG_URL";

/// Every host's lease: short, so that the parent waits little after a kill before the killed
/// child's runs read Interrupted; three renewals long (one every third), which a child keeps
/// up on a loaded two-core machine.
pub const LEASE: Duration = Duration::from_secs(1);

/// A schema of the shared store: what one mode's iterations share until `--fresh-every`
/// starts them on an empty one.
#[derive(Debug, Clone)]
pub struct Store {
    pub url: String,
    pub schema: String,
}

impl Store {
    /// Schema `schema` of the server `INMEM_PG_URL` names.
    pub fn from_env(schema: &str) -> Result<Store, String> {
        Ok(Store {
            url: url_from_env()?,
            schema: schema.to_owned(),
        })
    }

    /// Connects as host `host_id` in durability mode `mode`.
    pub fn connect(&self, host_id: &str, mode: DurabilityMode) -> Result<Database, String> {
        let options = RemoteOptions::new(self.url.as_str())
            .host_id(host_id)
            .schema(self.schema.as_str())
            .mode(mode)
            .lease_ttl(LEASE);
        Database::connect(options).map_err(|e| {
            format!(
                "host {host_id} cannot connect (schema {}): {e}",
                self.schema
            )
        })
    }
}

/// The PostgreSQL URL from `INMEM_PG_URL`, or an error that says how to get one.
pub fn url_from_env() -> Result<String, String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(url),
        _ => Err(format!(
            "--remote needs a PostgreSQL server: set {URL_VAR} to its URL \
             (postgresql://user@host:port/db), or let `cargo xtask pg-run` start a private \
             one: cargo xtask pg-run cargo xtask crash-test --remote"
        )),
    }
}

/// A name for one invocation of the crash test, part of its schemas' names: a server that
/// outlives it (a developer's own) never hands a later invocation the data of an earlier one.
pub fn invocation_tag() -> String {
    format!("{:x}_{}", now_us() / 1000, std::process::id())
}

/// The schema of mode `mode`'s `window`-th run of iterations (`--fresh-every`).
pub fn schema_name(tag: &str, mode: Mode, window: u64) -> String {
    format!("crash_{tag}_{}_{window}", mode.name())
}
