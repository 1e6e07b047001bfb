//! `Database`: opening (durability mode and options), the database-wide calls (flush,
//! checkpoint, close, what recovery found), beginning and finding runs, and transactions; and
//! the history calls (forks, views of a run's past, timelines, key histories, diffs, replays,
//! cassettes), whose work is in `history/`.

use std::path::PathBuf;

use in_mem::{
    DurabilityMode, HistoryRetention, OpenOptions, RecoveryMode, RecoveryReport, RunOptions,
    RunQuery,
};
use in_mem::{RunStatus, TailState, Timestamp};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};

use crate::connect::{self, ConnectArgs};
use crate::convert::{duration, key_bytes, to_timestamp, to_value};
use crate::errors::{OrRaise, invalid};
use crate::history;
use crate::point::at_of;
use crate::records::{RunInfo, agent_of, quoted};
use crate::run::{Run, run_id_of};
use crate::shared::Shared;
use crate::transaction::{Transaction, with_retry};

/// An open in-mem database: a directory holding a write-ahead log and checkpoints, with every
/// live value in memory.
///
/// `Database(path)` creates the directory if needed and recovers it after a crash.
/// `durability` says when a commit returns: "strict" (after an fdatasync that covers it;
/// concurrent commits share one), "batched" (the default: written to the OS; a background sync
/// every `interval_ms`, default 100, or after `max_commits`, default 1000) or "async" (buffered
/// in the process; written and synced every `interval_ms`, default 1000). Use it as a context
/// manager, or call `close()`. `history_keep_for` (default 10 minutes) and
/// `history_keep_min_versions` (default 1) say how long superseded versions stay readable for
/// views of the past (`run_view_at`, `key_history`, `diff_run`, `replay`).
///
/// `Database.connect(url, ...)` connects to a shared store on PostgreSQL instead (shared mode,
/// see `connect`).
#[pyclass(module = "in_mem", frozen)]
pub(crate) struct Database {
    shared: Shared,
    place: Place,
    mode: DurabilityMode,
}

/// Where a database's data is.
enum Place {
    /// An embedded database's directory.
    Directory(PathBuf),
    /// A connected database: this host's id among those sharing the store.
    Host(String),
}

impl Database {
    /// The database the handle reaches (for `batch.rs`).
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// A handle on `db`, opened or connected with `mode`, its data at `place`.
    fn new(db: in_mem::Database, place: Place, mode: DurabilityMode) -> Self {
        Database {
            shared: Shared::new(db),
            place,
            mode,
        }
    }
}

#[pymethods]
impl Database {
    #[new]
    #[pyo3(signature = (
        path,
        durability = "batched",
        *,
        interval_ms = None,
        max_commits = None,
        segment_bytes = None,
        checkpoint_every_bytes = None,
        ended_run_retention = None,
        interrupted_run_grace = None,
        sweep_interval = None,
        history_keep_for = None,
        history_keep_min_versions = None,
        recovery_mode = "refuse",
    ))]
    #[allow(clippy::too_many_arguments)] // Python keywords, each optional
    fn py_new(
        py: Python<'_>,
        path: PathBuf,
        durability: &str,
        interval_ms: Option<u64>,
        max_commits: Option<u64>,
        segment_bytes: Option<u64>,
        checkpoint_every_bytes: Option<u64>,
        ended_run_retention: Option<&Bound<'_, PyAny>>,
        interrupted_run_grace: Option<&Bound<'_, PyAny>>,
        sweep_interval: Option<&Bound<'_, PyAny>>,
        history_keep_for: Option<&Bound<'_, PyAny>>,
        history_keep_min_versions: Option<usize>,
        recovery_mode: &str,
    ) -> PyResult<Self> {
        let mode = durability_mode(py, durability, interval_ms, max_commits)?;
        let mut options = OpenOptions::new().mode(mode);
        if let Some(bytes) = segment_bytes {
            options = options.segment_bytes(bytes);
        }
        if let Some(bytes) = checkpoint_every_bytes {
            options = options.checkpoint_every_bytes(bytes);
        }
        if let Some(d) = ended_run_retention {
            options = options.ended_run_retention(duration(d, "ended_run_retention")?);
        }
        if let Some(d) = interrupted_run_grace {
            options = options.interrupted_run_grace(duration(d, "interrupted_run_grace")?);
        }
        if let Some(d) = sweep_interval {
            options = options.sweep_interval(duration(d, "sweep_interval")?);
        }
        if history_keep_for.is_some() || history_keep_min_versions.is_some() {
            let mut retention = HistoryRetention::default();
            if let Some(d) = history_keep_for {
                retention.keep_for = duration(d, "history_keep_for")?;
            }
            if let Some(n) = history_keep_min_versions {
                retention.keep_min_versions = n;
            }
            options = options.history(retention);
        }
        options = options.recovery_mode(match recovery_mode {
            "refuse" => RecoveryMode::Refuse,
            "salvage" => RecoveryMode::Salvage,
            other => {
                return Err(invalid(
                    py,
                    format!("recovery_mode {other:?} is not one of \"refuse\", \"salvage\""),
                ));
            }
        });
        let open_path = path.clone();
        let db = py
            .detach(move || in_mem::Database::open_with_options(open_path, options))
            .or_raise(py)?;
        Ok(Database::new(db, Place::Directory(path), mode))
    }

    /// Connects to a store shared by many hosts (shared mode): `url` is a PostgreSQL URL
    /// (`postgres://user@host:5432/db`; several hosts with `target_session_attrs=read-write`
    /// ride out a failover). The calls are those of an embedded database; what differs (versions
    /// counted per agent, runs owned by the host that began them, a few calls not offered) is in
    /// docs/REMOTE.md. `durability` maps onto PostgreSQL's `synchronous_commit`: "strict" = on,
    /// "batched" (the default) = local, "async" = off. `host_id` names this host (unique per
    /// process; by default the machine's name, the process id and a random suffix);
    /// `lease_ttl` (seconds or a timedelta, default 10 s, at least 0.3 s) is how long this
    /// host's runs stay its own without it being heard from; `outage_limit` (default 30 s) how
    /// long a commit is sent again through an outage before it fails; `schema` the PostgreSQL
    /// schema of the tables; `connections` (default 4) the connections kept open;
    /// `cache_bytes` (default 1 GiB) the budget of this host's cache of agents: past it, the
    /// agents used least recently are dropped and read again from the store when next needed
    /// (see `cache_stats`). `history_keep_for`, `history_keep_min_versions`,
    /// `ended_run_retention` and `interrupted_run_grace` say what the store's collections keep,
    /// as for an embedded database; `collect_every` (default 10 s, 0: only on `sweep()`) how often this host asks
    /// the store to collect the agents it caches.
    #[staticmethod]
    #[pyo3(signature = (
        url,
        durability = "batched",
        *,
        interval_ms = None,
        max_commits = None,
        host_id = None,
        cache_bytes = None,
        lease_ttl = None,
        schema = None,
        connections = None,
        outage_limit = None,
        ended_run_retention = None,
        interrupted_run_grace = None,
        history_keep_for = None,
        history_keep_min_versions = None,
        collect_every = None,
    ))]
    #[allow(clippy::too_many_arguments)] // Python keywords, each optional
    fn connect(
        py: Python<'_>,
        url: String,
        durability: &str,
        interval_ms: Option<u64>,
        max_commits: Option<u64>,
        host_id: Option<String>,
        cache_bytes: Option<u64>,
        lease_ttl: Option<&Bound<'_, PyAny>>,
        schema: Option<String>,
        connections: Option<usize>,
        outage_limit: Option<&Bound<'_, PyAny>>,
        ended_run_retention: Option<&Bound<'_, PyAny>>,
        interrupted_run_grace: Option<&Bound<'_, PyAny>>,
        history_keep_for: Option<&Bound<'_, PyAny>>,
        history_keep_min_versions: Option<usize>,
        collect_every: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mode = durability_mode(py, durability, interval_ms, max_commits)?;
        let args = ConnectArgs {
            mode,
            host_id,
            cache_bytes,
            lease_ttl,
            schema,
            connections,
            outage_limit,
            ended_run_retention,
            interrupted_run_grace,
            history_keep_for,
            history_keep_min_versions,
            collect_every,
        };
        let (db, host_id) = connect::connect(py, url, args)?;
        Ok(Database::new(db, Place::Host(host_id), mode))
    }

    /// Whether this database is connected to a shared store (`Database.connect`).
    #[getter]
    fn connected(&self) -> bool {
        matches!(self.place, Place::Host(_))
    }

    /// Shared mode: makes this host the owner of the run (active, paused, or interrupted because
    /// its owner's lease ran out), so that it can write to it; its former owner's commits are
    /// refused from now on (`in_mem.Fenced`). A run whose owner is alive is handed over once
    /// that host's lease has run out (up to its `lease_ttl`; meanwhile it may still read the
    /// run from its cache), so this can block that long; an interrupted run is taken at once.
    /// An embedded database owns all its runs: `InvalidInput` there.
    fn take_over_run(&self, py: Python<'_>, run: &Bound<'_, PyAny>) -> PyResult<()> {
        let run = run_id_of(run)?;
        let db = self.shared.db(py)?;
        py.detach(move || db.take_over_run(run)).or_raise(py)
    }

    /// The database's directory; None for a connected database.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        match &self.place {
            Place::Directory(path) => Some(path.clone()),
            Place::Host(_) => None,
        }
    }

    /// Shared mode: this host's cache against its budget, as a dict with `bytes` (approximate:
    /// keys and values plus a fixed overhead per version), `limit` (`cache_bytes`), `agents`
    /// (agents with data cached) and `evictions` (agents dropped so far); None for an embedded
    /// database.
    fn cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(stats) = self.shared.db(py)?.cache_stats() else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        dict.set_item("bytes", stats.bytes)?;
        dict.set_item("limit", stats.limit)?;
        dict.set_item("agents", stats.agents)?;
        dict.set_item("evictions", stats.evictions)?;
        Ok(Some(dict))
    }

    /// Shared mode: what the store holds, counted over every agent and host, as a dict with
    /// `agents`, `commits`, `versions` (stored versions of keys), `keys`, `bytes` (on disk, or
    /// None), `live_hosts` (hosts whose lease holds) and `runs` (a dict from status name to
    /// count); None for an embedded database. A full count: it reads every stored version once.
    fn store_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let db = self.shared.db(py)?;
        let Some(stats) = py.detach(move || db.store_stats()).or_raise(py)? else {
            return Ok(None);
        };
        let runs = PyDict::new(py);
        for (status, count) in &stats.runs {
            runs.set_item(stored_status_name(*status), count)?;
        }
        let dict = PyDict::new(py);
        dict.set_item("agents", stats.agents)?;
        dict.set_item("commits", stats.commits)?;
        dict.set_item("versions", stats.versions)?;
        dict.set_item("keys", stats.keys)?;
        dict.set_item("bytes", stats.bytes)?;
        dict.set_item("live_hosts", stats.live_hosts)?;
        dict.set_item("runs", runs)?;
        Ok(Some(dict))
    }

    /// This host's id among those sharing the store; None for an embedded database.
    #[getter]
    fn host_id(&self) -> Option<String> {
        match &self.place {
            Place::Directory(_) => None,
            Place::Host(host) => Some(host.clone()),
        }
    }

    /// This handle's durability mode: "strict", "batched" or "async".
    #[getter]
    fn durability(&self) -> &'static str {
        match self.mode {
            DurabilityMode::Strict => "strict",
            DurabilityMode::Batched { .. } => "batched",
            DurabilityMode::Async { .. } => "async",
        }
    }

    /// Whether `close()` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Makes every commit acknowledged so far durable (written and fdatasynced), in any mode.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.shared.db(py)?;
        py.detach(move || db.flush()).or_raise(py)
    }

    /// Writes a checkpoint now (recovery then starts from it); returns what it wrote: `version`,
    /// `entries`, `bytes`, `path`, `segments_removed`, `checkpoints_removed`.
    fn checkpoint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.shared.db(py)?;
        let info = py.detach(move || db.checkpoint()).or_raise(py)?;
        let out = PyDict::new(py);
        out.set_item("version", info.version)?;
        out.set_item("entries", info.entries)?;
        out.set_item("bytes", info.bytes)?;
        out.set_item("path", info.path.display().to_string())?;
        out.set_item("segments_removed", info.segments_removed)?;
        out.set_item("checkpoints_removed", info.checkpoints_removed)?;
        Ok(out)
    }

    /// Reclaims expired values and versions no run can see any more, now; returns
    /// `versions_removed` and `keys_removed`.
    fn sweep<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.shared.db(py)?;
        let stats = py.detach(move || db.sweep());
        let out = PyDict::new(py);
        out.set_item("versions_removed", stats.versions_removed)?;
        out.set_item("keys_removed", stats.keys_removed)?;
        Ok(out)
    }

    /// Counts of memory use: `keys`, `versions`, `visible_version`, `runs`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.shared.db(py)?;
        let stats = py.detach(move || db.stats());
        let out = PyDict::new(py);
        out.set_item("keys", stats.keys)?;
        out.set_item("versions", stats.versions)?;
        out.set_item("visible_version", stats.visible_version)?;
        out.set_item("runs", stats.runs)?;
        Ok(out)
    }

    /// What recovery found when the database was opened, as a dict: `records_replayed`,
    /// `last_version`, `tail` ("clean", or a dict saying where it was cut and why), `bytes_cut`,
    /// `records_dropped`, `newest_dropped`, `salvaged`, `checkpoint`, `checkpoints_skipped`,
    /// `interrupted_runs` (run ids), `database_id`, `log_generation`, `quarantined`.
    fn recovery_report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.shared.db(py)?;
        report_dict(py, db.recovery_report())
    }

    /// Closes the database: everything acknowledged is made durable, background threads stop and
    /// the directory is unlocked (once no call is still running on it). Every later call through
    /// it, its runs or its transactions is `in_mem.ClosedError`. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        match self.shared.take() {
            Some(db) => py.detach(move || db.close()).or_raise(py),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the database. On an exception, an error from closing is dropped so that the
    /// block's own exception is the one raised.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyType>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let closed = self.close(py);
        if exc_type.is_none() {
            closed?;
        }
        Ok(false)
    }

    /// Begins a run of `agent` (an `AgentId` or a `(tenant, app, agent)` tuple; the default
    /// agent if omitted), with optional `tags`, `metadata` (any storable value), `parent` (a run
    /// it continues) and `id` (a run id made elsewhere). Its view is the agent's memory as of now
    /// plus its own writes.
    #[pyo3(signature = (agent = None, *, tags = Vec::new(), metadata = None, parent = None, id = None))]
    fn begin_run(
        &self,
        py: Python<'_>,
        agent: Option<&Bound<'_, PyAny>>,
        tags: Vec<String>,
        metadata: Option<&Bound<'_, PyAny>>,
        parent: Option<&Bound<'_, PyAny>>,
        id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Run> {
        let mut options = new_run_options(tags, metadata, id)?.agent(agent_of(agent)?);
        if let Some(parent) = parent {
            options = options.parent(run_id_of(parent)?);
        }
        let db = self.shared.db(py)?;
        let run = py.detach(move || db.begin_run_with(options)).or_raise(py)?;
        Ok(Run::new(self.shared.clone(), run))
    }

    /// `begin_run`, named for `with db.run(...) as run:` (the run ends with the block, and fails
    /// if the block raises).
    #[pyo3(signature = (agent = None, *, tags = Vec::new(), metadata = None, parent = None, id = None))]
    fn run(
        &self,
        py: Python<'_>,
        agent: Option<&Bound<'_, PyAny>>,
        tags: Vec<String>,
        metadata: Option<&Bound<'_, PyAny>>,
        parent: Option<&Bound<'_, PyAny>>,
        id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Run> {
        self.begin_run(py, agent, tags, metadata, parent, id)
    }

    /// The run with this id (a `Run`'s `id`), in any status; `in_mem.UnknownRun` if there is
    /// none.
    fn get_run(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Run> {
        let run = run_id_of(id)?;
        let db = self.shared.db(py)?;
        py.detach(move || db.run_info(run)).or_raise(py)?;
        Ok(Run::new(self.shared.clone(), run))
    }

    /// Every run the database knows, oldest first.
    fn runs(&self, py: Python<'_>) -> PyResult<Vec<RunInfo>> {
        let db = self.shared.db(py)?;
        let infos = py.detach(move || db.runs());
        infos.iter().map(|i| RunInfo::from_rust(py, i)).collect()
    }

    /// The runs that match every condition given, oldest first (`newest_first=True`: newest
    /// first), at most `limit`. `status` is a status name; `agent` an `AgentId` or tuple (one
    /// agent) or a str (an agent name in any tenant and app); `tenant`, `app`, `tag`, `parent`
    /// (a run), `forked_from` (a run: its forks only); `created_from` / `created_before` are
    /// `datetime`s.
    #[pyo3(signature = (
        *,
        status = None,
        agent = None,
        tenant = None,
        app = None,
        tag = None,
        parent = None,
        forked_from = None,
        created_from = None,
        created_before = None,
        limit = None,
        newest_first = false,
    ))]
    #[allow(clippy::too_many_arguments)] // Python keywords, each optional
    fn query_runs(
        &self,
        py: Python<'_>,
        status: Option<&str>,
        agent: Option<&Bound<'_, PyAny>>,
        tenant: Option<String>,
        app: Option<String>,
        tag: Option<String>,
        parent: Option<&Bound<'_, PyAny>>,
        forked_from: Option<&Bound<'_, PyAny>>,
        created_from: Option<&Bound<'_, PyAny>>,
        created_before: Option<&Bound<'_, PyAny>>,
        limit: Option<usize>,
        newest_first: bool,
    ) -> PyResult<Vec<RunInfo>> {
        let mut query = RunQuery::new();
        if let Some(status) = status {
            query = query.status(parse_status(py, status)?);
        }
        if let Some(agent) = agent {
            query = match agent.cast::<PyString>() {
                Ok(name) => query.agent(name.to_cow()?.into_owned()),
                Err(_) => query.agent_id(&agent_of(Some(agent))?),
            };
        }
        if let Some(tenant) = tenant {
            query = query.tenant(tenant);
        }
        if let Some(app) = app {
            query = query.app(app);
        }
        if let Some(tag) = tag {
            query = query.tag(tag);
        }
        if let Some(parent) = parent {
            query = query.parent(run_id_of(parent)?);
        }
        if let Some(forked_from) = forked_from {
            query = query.forked_from(run_id_of(forked_from)?);
        }
        if created_from.is_some() || created_before.is_some() {
            let from = created_from.map_or(Ok(Timestamp::EPOCH), to_timestamp)?;
            let before = created_before.map_or(Ok(Timestamp::MAX), to_timestamp)?;
            query = query.created_between(from, before);
        }
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        if newest_first {
            query = query.newest_first();
        }
        let db = self.shared.db(py)?;
        let infos = py.detach(move || db.query_runs(&query));
        infos.iter().map(|i| RunInfo::from_rust(py, i)).collect()
    }

    /// How many runs are in each status (every status present, 0 if none).
    fn run_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.shared.db(py)?;
        let counts = py.detach(move || db.run_counts());
        let out = PyDict::new(py);
        for (status, n) in counts {
            out.set_item(status.as_str(), n)?;
        }
        Ok(out)
    }

    /// Deletes an ended run and its own data (see `Run.delete`).
    fn delete_run(&self, py: Python<'_>, run: &Bound<'_, PyAny>) -> PyResult<()> {
        let run = run_id_of(run)?;
        let db = self.shared.db(py)?;
        py.detach(move || db.delete_run(run)).or_raise(py)
    }

    /// Forks `run` at a point of its history (keyword `version=`, `event=` or `time=`; none:
    /// as it is now) and returns the new, active run. The fork sees what the parent saw right
    /// after that point (the parent's snapshot of agent memory, its own keys, events, cells and
    /// spans up to the point), then its own writes; nothing is copied, so a fork costs the same
    /// whatever the parent's size. The parent may be active or ended; the fork's `RunInfo`
    /// (`parent`, `fork_point`) and `query_runs(forked_from=...)` give the lineage. `tags`,
    /// `metadata` and `id` are the fork's, as for `begin_run`, written in its first record.
    #[pyo3(signature = (
        run, *, version = None, event = None, time = None, tags = Vec::new(), metadata = None,
        id = None,
    ))]
    #[allow(clippy::too_many_arguments)] // Python keywords, each optional
    fn fork_run(
        &self,
        py: Python<'_>,
        run: &Bound<'_, PyAny>,
        version: Option<u64>,
        event: Option<u64>,
        time: Option<&Bound<'_, PyAny>>,
        tags: Vec<String>,
        metadata: Option<&Bound<'_, PyAny>>,
        id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Run> {
        let parent = run_id_of(run)?;
        let at = at_of(py, version, event, time)?;
        let options = new_run_options(tags, metadata, id)?;
        let db = self.shared.db(py)?;
        let fork = py
            .detach(move || db.fork_run_with(parent, at, options))
            .or_raise(py)?;
        Ok(Run::new(self.shared.clone(), fork))
    }

    /// Deletes an ended run and every run forked from it (forks first); every run in the tree
    /// must have ended. Returns how many runs were deleted. `delete_run` of a run that has
    /// forks raises `in_mem.HasForks`.
    fn delete_run_tree(&self, py: Python<'_>, run: &Bound<'_, PyAny>) -> PyResult<usize> {
        let run = run_id_of(run)?;
        let db = self.shared.db(py)?;
        py.detach(move || db.delete_run_tree(run)).or_raise(py)
    }

    /// `run` as it was right after a point of its history (keyword `version=`, `event=` or
    /// `time=`; none: as it is now): a read-only `RunView` whose `kv`, `events`, `state` and
    /// `trace` read what the run saw then (its snapshot of the agent's memory and its own
    /// writes up to the point). Writes through it raise `in_mem.ReadOnlyView`; reads that need
    /// a version retention reclaimed raise `in_mem.HistoryPruned`. `in_mem.UnknownPoint` if the
    /// point is not in the run's life.
    #[pyo3(signature = (run, *, version = None, event = None, time = None))]
    fn run_view_at(
        &self,
        py: Python<'_>,
        run: &Bound<'_, PyAny>,
        version: Option<u64>,
        event: Option<u64>,
        time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<history::View> {
        let run = run_id_of(run)?;
        let at = at_of(py, version, event, time)?;
        history::view_at(py, &self.shared, run, at)
    }

    /// `run`'s steps (its commits), oldest first, each with its version, time and what it
    /// wrote (keys of the agent's memory, events with their types, cells, machines, spans).
    /// Only steps with `start <= version < end` (each bound optional), at most `limit`.
    #[pyo3(signature = (run, *, start = None, end = None, limit = None))]
    fn run_timeline(
        &self,
        py: Python<'_>,
        run: &Bound<'_, PyAny>,
        start: Option<u64>,
        end: Option<u64>,
        limit: Option<usize>,
    ) -> PyResult<history::Timeline> {
        let run = run_id_of(run)?;
        history::timeline(py, &self.shared, run, start, end, limit)
    }

    /// The versions of `key` in the agent's memory that `run` can see (those up to its
    /// snapshot, its own, a fork's ancestors' up to the fork points), newest first.
    fn key_history(
        &self,
        py: Python<'_>,
        run: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<history::KeyHistory> {
        let run = run_id_of(run)?;
        history::key_history(py, &self.shared, run, key_bytes(key)?)
    }

    /// What differs between runs `a` and `b` as they are now (typically a run and its fork):
    /// keys of the agent's memory, the first diverging event and the events after it on each
    /// side, state cells, spans. `str()` of the result is a unified diff.
    fn diff_runs(
        &self,
        py: Python<'_>,
        a: &Bound<'_, PyAny>,
        b: &Bound<'_, PyAny>,
    ) -> PyResult<history::RunDiff> {
        history::diff_runs(py, &self.shared, run_id_of(a)?, run_id_of(b)?)
    }

    /// What changed in `run` from one point of its history to another: `from_version=`,
    /// `from_event=` or `from_time=`, and `to_version=`, `to_event=` or `to_time=` (at most one
    /// of each three; none: as the run is now).
    #[pyo3(signature = (
        run,
        *,
        from_version = None,
        from_event = None,
        from_time = None,
        to_version = None,
        to_event = None,
        to_time = None,
    ))]
    #[allow(clippy::too_many_arguments)] // Python keywords, each optional
    fn diff_run(
        &self,
        py: Python<'_>,
        run: &Bound<'_, PyAny>,
        from_version: Option<u64>,
        from_event: Option<u64>,
        from_time: Option<&Bound<'_, PyAny>>,
        to_version: Option<u64>,
        to_event: Option<u64>,
        to_time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<history::RunDiff> {
        let run = run_id_of(run)?;
        let from = at_of(py, from_version, from_event, from_time)?;
        let to = at_of(py, to_version, to_event, to_time)?;
        history::diff_run(py, &self.shared, run, from, to)
    }

    /// The recorded answers of `run`'s tool calls and queries as of a point (keyword
    /// `version=`, `event=` or `time=`; none: now), served back in order by the returned
    /// `Cassette` to execute the run again without calling anything.
    #[pyo3(signature = (run, *, version = None, event = None, time = None))]
    fn cassette(
        &self,
        py: Python<'_>,
        run: &Bound<'_, PyAny>,
        version: Option<u64>,
        event: Option<u64>,
        time: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<history::Cassette> {
        let run = run_id_of(run)?;
        let at = at_of(py, version, event, time)?;
        history::cassette(py, &self.shared, run, at)
    }

    /// Walks `run` step by step, oldest first: an iterator of `ReplayStep` (the step and a
    /// view of the run right after it), each verified before it is yielded (see `Replay`).
    fn replay(&self, py: Python<'_>, run: &Bound<'_, PyAny>) -> PyResult<history::Replay> {
        let run = run_id_of(run)?;
        history::replay(py, &self.shared, run)
    }

    /// Opens a transaction of `run` (a `Run` or a run id): `with db.transaction(run) as tx:`
    /// commits everything the block wrote through `tx.kv`, `tx.events`, `tx.state` and
    /// `tx.trace` atomically when it exits normally, and nothing if it raises.
    fn transaction(&self, py: Python<'_>, run: &Bound<'_, PyAny>) -> PyResult<Transaction> {
        let run = run_id_of(run)?;
        Transaction::begin(py, &self.shared, run)
    }

    /// Runs `f(tx)` in a transaction of `run` and commits it; if the commit conflicts, runs `f`
    /// again in a new transaction (after a short, growing wait), up to `max_attempts` times in
    /// all. `f` may run more than once, so it must not have effects outside the transaction.
    /// Returns what `f` returned.
    #[pyo3(signature = (run, f, *, max_attempts = 32))]
    fn transaction_with_retry(
        &self,
        py: Python<'_>,
        run: &Bound<'_, PyAny>,
        f: &Bound<'_, PyAny>,
        max_attempts: u32,
    ) -> PyResult<Py<PyAny>> {
        let run = run_id_of(run)?;
        with_retry(py, &self.shared, run, f, max_attempts)
    }

    fn __repr__(&self) -> String {
        let state = if self.shared.is_closed() {
            "closed"
        } else {
            "open"
        };
        let place = match &self.place {
            Place::Directory(path) => quoted(&path.display().to_string()),
            Place::Host(host) => format!("connected as host {}", quoted(host)),
        };
        format!("<in_mem.Database {place} ({}, {state})>", self.durability())
    }
}

/// The engine's durability mode from the constructor's arguments.
fn durability_mode(
    py: Python<'_>,
    name: &str,
    interval_ms: Option<u64>,
    max_commits: Option<u64>,
) -> PyResult<DurabilityMode> {
    match name {
        "strict" => {
            if interval_ms.is_some() || max_commits.is_some() {
                return Err(invalid(
                    py,
                    "strict durability syncs every commit; it takes no interval_ms or max_commits"
                        .to_owned(),
                ));
            }
            Ok(DurabilityMode::Strict)
        }
        "batched" => Ok(DurabilityMode::Batched {
            interval_ms: interval_ms.unwrap_or(100),
            max_commits: max_commits.unwrap_or(1000),
        }),
        "async" => {
            if max_commits.is_some() {
                return Err(invalid(
                    py,
                    "async durability syncs on a timer only; it takes no max_commits".to_owned(),
                ));
            }
            Ok(DurabilityMode::Async {
                interval_ms: interval_ms.unwrap_or(1000),
            })
        }
        other => Err(invalid(
            py,
            format!("durability {other:?} is not one of \"strict\", \"batched\", \"async\""),
        )),
    }
}

fn parse_status(py: Python<'_>, name: &str) -> PyResult<RunStatus> {
    RunStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            invalid(
                py,
                format!("run status {name:?} is not one of {}", names.join(", ")),
            )
        })
}

/// The recovery report as a dict (see `Database.recovery_report`).
fn report_dict<'py>(py: Python<'py>, report: &RecoveryReport) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("records_replayed", report.records_replayed)?;
    out.set_item("last_version", report.last_version)?;
    match &report.tail {
        TailState::Clean => out.set_item("tail", "clean")?,
        TailState::Cut {
            file,
            offset,
            bytes,
            reason,
        } => {
            let tail = PyDict::new(py);
            tail.set_item("file", file.display().to_string())?;
            tail.set_item("offset", offset)?;
            tail.set_item("bytes", bytes)?;
            tail.set_item("reason", reason)?;
            out.set_item("tail", tail)?;
        }
    }
    out.set_item("bytes_cut", report.bytes_cut)?;
    out.set_item("records_dropped", report.records_dropped)?;
    out.set_item("newest_dropped", report.newest_dropped)?;
    match &report.salvaged {
        None => out.set_item("salvaged", py.None())?,
        Some(salvaged) => {
            let s = PyDict::new(py);
            s.set_item("file", salvaged.file.display().to_string())?;
            s.set_item("offset", salvaged.offset)?;
            s.set_item("reason", salvaged.kind.to_string())?;
            s.set_item("first_lost", salvaged.first_lost.get())?;
            out.set_item("salvaged", s)?;
        }
    }
    out.set_item("checkpoint", report.checkpoint)?;
    out.set_item("checkpoints_skipped", report.checkpoints_skipped.clone())?;
    let interrupted: Vec<String> = report
        .interrupted_runs
        .iter()
        .map(ToString::to_string)
        .collect();
    out.set_item("interrupted_runs", interrupted)?;
    out.set_item("database_id", report.database_id.map(|id| id.to_string()))?;
    out.set_item("log_generation", report.log_generation)?;
    let quarantined = PyList::empty(py);
    for q in &report.quarantined {
        let entry = PyDict::new(py);
        entry.set_item("file", q.file.display().to_string())?;
        entry.set_item("moved_to", q.moved_to.display().to_string())?;
        entry.set_item("reason", q.mismatch.to_string())?;
        quarantined.append(entry)?;
    }
    out.set_item("quarantined", quarantined)?;
    Ok(out)
}

/// The options a new run (begun or forked) takes from Python keywords: tags, metadata, id.
fn new_run_options(
    tags: Vec<String>,
    metadata: Option<&Bound<'_, PyAny>>,
    id: Option<&Bound<'_, PyAny>>,
) -> PyResult<RunOptions> {
    let mut options = RunOptions::new();
    for tag in tags {
        options = options.tag(tag);
    }
    if let Some(metadata) = metadata {
        options = options.metadata(to_value(metadata)?);
    }
    if let Some(id) = id {
        options = options.id(run_id_of(id)?);
    }
    Ok(options)
}

/// A stored run status by the name the module gives run statuses everywhere else.
fn stored_status_name(status: in_mem::remote::StoredRunStatus) -> &'static str {
    use in_mem::remote::StoredRunStatus as Stored;
    match status {
        Stored::Active => RunStatus::Active.as_str(),
        Stored::Paused => RunStatus::Paused.as_str(),
        Stored::Completed => RunStatus::Completed.as_str(),
        Stored::Failed => RunStatus::Failed.as_str(),
        Stored::Cancelled => RunStatus::Cancelled.as_str(),
        Stored::Interrupted => RunStatus::Interrupted.as_str(),
    }
}
