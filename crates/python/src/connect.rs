//! `Database.connect`: a database in shared mode, many hosts (processes, machines) sharing one
//! store on PostgreSQL, each with a cache of the agents it touches. Built when the crate's
//! `postgres` feature is on (the default); without it, `connect` raises `InvalidInput` naming
//! the feature, as the engine does.

use in_mem::{DurabilityMode, RemoteOptions};
use pyo3::prelude::*;

use crate::convert::duration;
use crate::errors::OrRaise;

/// What `Database.connect` takes besides the URL, each optional (the engine's default then).
pub(crate) struct ConnectArgs<'a, 'py> {
    pub(crate) mode: DurabilityMode,
    pub(crate) host_id: Option<String>,
    pub(crate) cache_bytes: Option<u64>,
    pub(crate) lease_ttl: Option<&'a Bound<'py, PyAny>>,
    pub(crate) schema: Option<String>,
    pub(crate) connections: Option<usize>,
    pub(crate) outage_limit: Option<&'a Bound<'py, PyAny>>,
    pub(crate) ended_run_retention: Option<&'a Bound<'py, PyAny>>,
    pub(crate) interrupted_run_grace: Option<&'a Bound<'py, PyAny>>,
    pub(crate) history_keep_for: Option<&'a Bound<'py, PyAny>>,
    pub(crate) history_keep_min_versions: Option<usize>,
    pub(crate) collect_every: Option<&'a Bound<'py, PyAny>>,
}

/// Connects to the store at `url` as one host; blocks (without the GIL) while it connects,
/// creates or migrates the schema and takes this host's lease. Returns the database and the
/// host's id.
pub(crate) fn connect(
    py: Python<'_>,
    url: String,
    args: ConnectArgs<'_, '_>,
) -> PyResult<(in_mem::Database, String)> {
    let mut options = RemoteOptions::new(url).mode(args.mode);
    if let Some(host_id) = args.host_id {
        options = options.host_id(host_id);
    }
    if let Some(bytes) = args.cache_bytes {
        options = options.cache_bytes(bytes);
    }
    if let Some(ttl) = args.lease_ttl {
        options = options.lease_ttl(duration(ttl, "lease_ttl")?);
    }
    if let Some(schema) = args.schema {
        options = options.schema(schema);
    }
    if let Some(connections) = args.connections {
        options = options.connections(connections);
    }
    if let Some(limit) = args.outage_limit {
        options = options.outage_limit(duration(limit, "outage_limit")?);
    }
    // What the store's collections keep, as an embedded database's sweeps (`Database(...)`).
    if let Some(d) = args.ended_run_retention {
        options = options.ended_run_retention(duration(d, "ended_run_retention")?);
    }
    if let Some(d) = args.interrupted_run_grace {
        options = options.interrupted_run_grace(duration(d, "interrupted_run_grace")?);
    }
    if let Some(d) = args.history_keep_for {
        options.history.keep_for = duration(d, "history_keep_for")?;
    }
    if let Some(n) = args.history_keep_min_versions {
        options.history.keep_min_versions = n;
    }
    if let Some(d) = args.collect_every {
        options = options.collect_every(duration(d, "collect_every")?);
    }
    let host_id = options.host_id.clone();
    let db = py
        .detach(move || in_mem::Database::connect(options))
        .or_raise(py)?;
    Ok((db, host_id))
}
