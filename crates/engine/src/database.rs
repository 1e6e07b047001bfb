//! `Database`: the handle users hold, with the getting-started API.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use in_mem_core_types::{AgentId, Key, Namespace, RunId, Value, Version, VersionedValue};
use in_mem_durability::{SyncPolicy, SyncPolicyGuard, WaitFor};
use in_mem_storage::StoredValue;

use crate::commit::{PendingOp, PendingWrite};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::open_registry;
use crate::options::{DurabilityMode, OpenOptions};
use crate::recovery::RecoveryReport;
use crate::runs::{Lifecycle, RunInfo, RunRecord, RunState, RunStatus, StoredStatus};
use crate::transaction::{RetryPolicy, Transaction};

/// A handle to an open database. Cheap to clone; `Send + Sync`; every method takes `&self`.
///
/// Opening a path that is already open in this process returns another handle to the same
/// database; each handle commits with its own durability mode. The database closes (flushing
/// everything) when its last handle is closed or dropped.
#[derive(Debug, Clone)]
pub struct Database {
    instance: Arc<Instance>,
    handle: Arc<Handle>,
}

/// What is particular to one handle: its durability mode and the log cadence it asked for.
#[derive(Debug)]
struct Handle {
    mode: DurabilityMode,
    wait: WaitFor,
    _policy: Option<SyncPolicyGuard>,
}

impl Database {
    /// Opens the database at `path`, creating it if missing and recovering it after a crash,
    /// in the default mode (`Batched { interval_ms: 100, max_commits: 1000 }`).
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        Self::open_with_options(path, OpenOptions::new())
    }

    /// Opens the database at `path` with the given durability mode.
    pub fn open_with_mode(path: impl AsRef<Path>, mode: DurabilityMode) -> Result<Database> {
        Self::open_with_options(path, OpenOptions::new().mode(mode))
    }

    /// Opens the database at `path` with every option spelled out.
    // Taken by value so that a builder chain reads naturally at the call site.
    #[allow(clippy::needless_pass_by_value)]
    pub fn open_with_options(path: impl AsRef<Path>, options: OpenOptions) -> Result<Database> {
        let (wait, policy) = match options.mode {
            DurabilityMode::Strict => (WaitFor::Synced, None),
            DurabilityMode::Batched {
                interval_ms,
                max_commits,
            } => {
                check_positive("Batched interval_ms", interval_ms)?;
                check_positive("Batched max_commits", max_commits)?;
                let policy = SyncPolicy {
                    interval: Duration::from_millis(interval_ms),
                    max_commits: Some(max_commits),
                };
                (WaitFor::Written, Some(policy))
            }
            DurabilityMode::Async { interval_ms } => {
                check_positive("Async interval_ms", interval_ms)?;
                let policy = SyncPolicy {
                    interval: Duration::from_millis(interval_ms),
                    max_commits: None,
                };
                (WaitFor::Buffered, Some(policy))
            }
        };
        if options.segment_bytes < 4096 {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "segment_bytes is {}, below the minimum of 4096",
                    options.segment_bytes
                ),
            });
        }
        let instance = open_registry::open(path.as_ref(), &options)?;
        let policy = policy.map(|p| instance.wal.add_sync_policy(p));
        Ok(Database {
            instance,
            handle: Arc::new(Handle {
                mode: options.mode,
                wait,
                _policy: policy,
            }),
        })
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.instance.path
    }

    /// This handle's durability mode.
    pub fn durability_mode(&self) -> DurabilityMode {
        self.handle.mode
    }

    /// What recovery found when the database was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.instance.recovery
    }

    // ----- runs -------------------------------------------------------------------------------

    /// Begins a run of the default agent (`default/default/default`). Its view is the agent's
    /// memory as of now plus its own writes.
    ///
    /// Infallible, as the getting-started guide uses it: if the run's record cannot be logged
    /// (the log is poisoned or closed), the run still exists in memory and its first write
    /// returns that error. Use [`Database::try_begin_run`] to see the error here.
    pub fn begin_run(&self) -> RunId {
        let run = RunId::new();
        if let Err(e) = self.begin(run, AgentId::default_agent(), true) {
            tracing::warn!(%run, error = %e, "could not log the beginning of a run");
        }
        run
    }

    /// Begins a run of the default agent, returning any error from logging its record.
    pub fn try_begin_run(&self) -> Result<RunId> {
        self.begin_run_in(&AgentId::default_agent())
    }

    /// Begins a run of the given agent (tenant, app, agent). Runs of one agent share its memory;
    /// different agents never see each other's data.
    pub fn begin_run_in(&self, agent: &AgentId) -> Result<RunId> {
        agent.validate()?;
        let run = RunId::new();
        self.begin(run, agent.clone(), false)?;
        Ok(run)
    }

    /// Begins a run with a caller-chosen id in the namespace's agent (for ids made elsewhere,
    /// e.g. `Namespace::new("tenant1", "my-app", "agent-v1", run_id)`).
    pub fn begin_run_with_namespace(&self, namespace: &Namespace) -> Result<RunId> {
        namespace.validate()?;
        let run = namespace.run();
        if run.is_nil() {
            return Err(in_mem_core_types::Error::NilRunId.into());
        }
        if self.instance.runs.get(run).is_ok() {
            return Err(Error::RunState {
                run,
                status: "existing",
                action: "begun again",
            });
        }
        self.begin(run, namespace.agent_id().clone(), false)?;
        Ok(run)
    }

    fn begin(&self, run: RunId, agent: AgentId, keep_on_failure: bool) -> Result<()> {
        let instance = &self.instance;
        let created_at = instance.clock.now();
        let snapshot = instance
            .runs
            .pins
            .pin_new(|| instance.memtable.versions().visible());
        let lifecycle = Lifecycle {
            status: RunStatus::Active,
            ended_at: None,
        };
        let state = Arc::new(RunState::new(run, agent, snapshot, created_at, lifecycle));
        instance.runs.insert(Arc::clone(&state));
        let record = RunRecord {
            status: StoredStatus::Active,
            snapshot,
            created_at,
            ended_at: None,
        };
        let result = self.write_run_record(&state, &record);
        if result.is_err() && !keep_on_failure {
            instance.runs.remove(run);
            instance.runs.pins.end(snapshot, created_at);
        }
        result
    }

    /// Ends a run: it takes no more writes and stays readable (its view is kept for
    /// `OpenOptions::ended_run_retention`). Ending an interrupted run is allowed.
    pub fn end_run(&self, run: RunId) -> Result<()> {
        let state = self.instance.runs.get(run)?;
        let mut lifecycle = state.transition();
        if lifecycle.status == RunStatus::Completed {
            return Err(Error::RunEnded { run });
        }
        let ended_at = self.instance.clock.now();
        let record = RunRecord {
            status: StoredStatus::Completed,
            snapshot: state.snapshot,
            created_at: state.created_at,
            ended_at: Some(ended_at),
        };
        self.write_run_record(&state, &record)?;
        lifecycle.status = RunStatus::Completed;
        lifecycle.ended_at = Some(ended_at);
        self.instance.runs.pins.end(state.snapshot, ended_at);
        Ok(())
    }

    /// Resumes a run that was interrupted by a crash: it takes writes again, with the view it
    /// had (its start snapshot plus its own writes).
    pub fn resume_run(&self, run: RunId) -> Result<()> {
        let state = self.instance.runs.get(run)?;
        let mut lifecycle = state.transition();
        if lifecycle.status != RunStatus::Interrupted {
            return Err(Error::RunState {
                run,
                status: lifecycle.status.as_str(),
                action: "resumed",
            });
        }
        let record = RunRecord {
            status: StoredStatus::Active,
            snapshot: state.snapshot,
            created_at: state.created_at,
            ended_at: None,
        };
        self.write_run_record(&state, &record)?;
        lifecycle.status = RunStatus::Active;
        Ok(())
    }

    /// A description of `run`.
    pub fn run_info(&self, run: RunId) -> Result<RunInfo> {
        Ok(self.instance.runs.get(run)?.info())
    }

    /// Every run this database knows, oldest first.
    pub fn runs(&self) -> Vec<RunInfo> {
        self.instance.runs.all()
    }

    fn write_run_record(&self, state: &RunState, record: &RunRecord) -> Result<()> {
        let value = record.to_value().encode()?;
        let write = PendingWrite {
            key: Arc::from(&*state.record_key),
            op: PendingOp::Put {
                value: Arc::from(value),
                ttl: None,
            },
        };
        self.instance
            .commit(state, &[write], &[], self.handle.wait)?;
        Ok(())
    }

    // ----- key-value data (the agent's memory) ------------------------------------------------

    /// Stores `value` (bytes) under `key` in `run`'s agent memory. Returns the commit version.
    pub fn put(&self, run: RunId, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<u64> {
        let value = Value::encode_bytes_shared(value.as_ref())?;
        self.put_encoded(run, key.as_ref(), value, None)
    }

    /// Like [`Database::put`], but the value reads as absent once `ttl` has passed.
    pub fn put_with_ttl(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<u64> {
        let value = Value::encode_bytes_shared(value.as_ref())?;
        self.put_encoded(run, key.as_ref(), value, Some(ttl))
    }

    /// Stores a typed [`Value`] under `key` (what `KVStore` builds on).
    pub fn put_value(&self, run: RunId, key: impl AsRef<[u8]>, value: &Value) -> Result<u64> {
        self.put_encoded(run, key.as_ref(), Arc::from(value.encode()?), None)
    }

    /// Stores a typed [`Value`] under `key` with a time to live.
    pub fn put_value_with_ttl(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
        value: &Value,
        ttl: Duration,
    ) -> Result<u64> {
        self.put_encoded(run, key.as_ref(), Arc::from(value.encode()?), Some(ttl))
    }

    fn put_encoded(
        &self,
        run: RunId,
        key: &[u8],
        value: Arc<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<u64> {
        Key::validate_user_key(key)?;
        let version = self.instance.runs.with(run, |state| {
            let _writable = state.writable()?;
            let write = PendingWrite {
                key: kv_key(state, key),
                op: PendingOp::Put { value, ttl },
            };
            self.instance.commit(state, &[write], &[], self.handle.wait)
        })?;
        if ttl.is_some() {
            self.instance.note_ttl_write();
        }
        Ok(version.get())
    }

    /// The bytes stored under `key` in `run`'s view, or `None`.
    pub fn get(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        match self.read(run, key)? {
            None => Ok(None),
            Some(stored) => bytes_of(key, &stored.value).map(|b| Some(b.to_vec())),
        }
    }

    /// The typed value under `key` in `run`'s view, with its version, timestamp and TTL.
    pub fn get_versioned(
        &self,
        run: RunId,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<VersionedValue>> {
        let key = key.as_ref();
        let Some(stored) = self.read(run, key)? else {
            return Ok(None);
        };
        let value = Value::decode(&stored.value).map_err(|e| damaged(key, &e))?;
        Ok(Some(VersionedValue {
            value,
            version: stored.version.get(),
            timestamp: stored.timestamp,
            ttl: stored
                .expires_at
                .map(|at| at.saturating_since(stored.timestamp)),
        }))
    }

    /// The typed value under `key` in `run`'s view.
    pub fn get_value(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        Ok(self.get_versioned(run, key)?.map(|v| v.value))
    }

    fn read(&self, run: RunId, key: &[u8]) -> Result<Option<StoredValue>> {
        Key::validate_user_key(key)?;
        let instance = &self.instance;
        instance.runs.with(run, |state| {
            let view = instance.view_of(state);
            let now = instance.clock.now();
            let found = with_joined(&state.kv_prefix, key, |full| {
                instance.memtable.get(full, &view, now)
            });
            instance.check_view_retained(state)?;
            Ok(found)
        })
    }

    /// Deletes `key` from `run`'s agent memory. Returns whether it existed in the run's view;
    /// an absent key writes nothing to the log. Of two concurrent deletes of one key in one run,
    /// exactly one returns `true`.
    pub fn delete(&self, run: RunId, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        self.transaction_with_retry(run, RetryPolicy::default(), |tx| tx.delete(key))
    }

    // ----- transactions -----------------------------------------------------------------------

    /// Runs `f` in a transaction of `run` and commits its writes atomically, as one log record
    /// with one version. Reads see the run's view as of now plus the transaction's own writes;
    /// if another commit of the same run changed a key `f` read before this one commits, nothing
    /// is written and the result is [`Error::Conflict`]. If `f` returns an error, nothing is
    /// written. A transaction that only reads writes nothing to the log.
    ///
    /// ```
    /// # use in_mem_engine::Database;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = Database::open(dir.path()).unwrap();
    /// let run = db.begin_run();
    /// db.transaction(run, |tx| {
    ///     let n = tx.get(b"counter")?.map_or(0, |b| b[0]);
    ///     tx.put(b"counter", [n + 1])?;
    ///     tx.put(b"last-step", b"counted")
    /// })?;
    /// assert_eq!(db.get(run, b"counter")?, Some(vec![1]));
    /// # Ok::<(), in_mem_engine::Error>(())
    /// ```
    pub fn transaction<T, E: From<Error>>(
        &self,
        run: RunId,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let state = self.instance.runs.get(run)?;
        let mut tx = Transaction::new(&self.instance, &state);
        let out = f(&mut tx)?;
        tx.commit(self.handle.wait)?;
        Ok(out)
    }

    /// Like [`Database::transaction`], but a conflict runs `f` again (after the commit that
    /// caused it is visible, and a short, growing, jittered wait), up to `policy.max_attempts`
    /// times. `f` may therefore run more than once: it must have no effects outside the
    /// transaction.
    pub fn transaction_with_retry<T, E: From<Error>>(
        &self,
        run: RunId,
        policy: RetryPolicy,
        mut f: impl FnMut(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let state = self.instance.runs.get(run)?;
        let salt = retry_salt();
        let mut attempt = 1;
        loop {
            let mut tx = Transaction::new(&self.instance, &state);
            let out = f(&mut tx)?;
            match tx.commit(self.handle.wait) {
                Ok(_) => return Ok(out),
                Err(Error::Conflict { found, .. }) if attempt < policy.max_attempts.max(1) => {
                    // The next attempt must read what the other commit wrote.
                    if let Some(found) = found {
                        self.instance
                            .memtable
                            .versions()
                            .wait_visible(Version::new(found));
                    }
                    attempt += 1;
                    std::thread::sleep(policy.delay(attempt, salt));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Every (key, bytes) pair in `run`'s view whose key starts with `prefix`, in key order.
    pub fn list(&self, run: RunId, prefix: impl AsRef<[u8]>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.scan(run, prefix.as_ref(), |key, stored| {
            bytes_of(key, &stored.value).map(<[u8]>::to_vec)
        })
    }

    /// Every (key, typed value) pair in `run`'s view whose key starts with `prefix`, in key order.
    pub fn list_values(
        &self,
        run: RunId,
        prefix: impl AsRef<[u8]>,
    ) -> Result<Vec<(Vec<u8>, Value)>> {
        self.scan(run, prefix.as_ref(), |key, stored| {
            Value::decode(&stored.value).map_err(|e| damaged(key, &e))
        })
    }

    fn scan<T>(
        &self,
        run: RunId,
        prefix: &[u8],
        mut convert: impl FnMut(&[u8], &StoredValue) -> Result<T>,
    ) -> Result<Vec<(Vec<u8>, T)>> {
        if prefix.len() > in_mem_core_types::limits::USER_KEY_BYTES_MAX {
            let max = in_mem_core_types::limits::USER_KEY_BYTES_MAX;
            return Err(in_mem_core_types::Error::KeyTooLong {
                len: prefix.len(),
                max,
            }
            .into());
        }
        let instance = &self.instance;
        instance.runs.with(run, |state| {
            let view = instance.view_of(state);
            let full_prefix = [&*state.kv_prefix, prefix].concat();
            let strip = state.kv_prefix.len();
            let now = instance.clock.now();
            let mut out = Vec::new();
            for (key, stored) in instance.memtable.scan_prefix(&full_prefix, view, now) {
                let user_key = &key[strip..];
                out.push((user_key.to_vec(), convert(user_key, &stored)?));
            }
            instance.check_view_retained(state)?;
            Ok(out)
        })
    }

    // ----- durability and lifetime ------------------------------------------------------------

    /// Makes every commit acknowledged so far durable (written and fdatasynced), in any mode.
    pub fn flush(&self) -> Result<()> {
        self.instance.wal.flush()?;
        Ok(())
    }

    /// Reclaims expired values and versions no run can see any more, now rather than at the
    /// next background sweep. Returns what was reclaimed.
    pub fn sweep(&self) -> in_mem_storage::SweepStats {
        self.instance.sweep()
    }

    /// Counts that describe the database's memory use.
    pub fn stats(&self) -> DatabaseStats {
        let memtable = &self.instance.memtable;
        DatabaseStats {
            keys: memtable.key_count() as u64,
            versions: memtable.version_count() as u64,
            visible_version: memtable.versions().visible().get(),
            runs: self.instance.runs.len() as u64,
        }
    }

    /// Closes this handle, making everything acknowledged durable first. When it is the last
    /// handle, the database shuts down (background threads stop, the directory lock is released)
    /// and any failure of the final flush is returned.
    pub fn close(self) -> Result<()> {
        if Arc::strong_count(&self.instance) == 1 {
            self.instance.shutdown()
        } else {
            self.flush()
        }
    }
}

/// Counts that describe a database's memory use (see [`Database::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseStats {
    /// Keys held in memory, including deleted and expired ones not yet swept.
    pub keys: u64,
    /// Versions held in memory (values and tombstones of every key); the sweeper reclaims those
    /// no run can see any more.
    pub versions: u64,
    /// The newest commit version every reader can see.
    pub visible_version: u64,
    /// Runs the database knows (active, interrupted and ended).
    pub runs: u64,
}

/// The full key of `user_key` in `state`'s agent memory, in one exact-size allocation.
fn kv_key(state: &RunState, user_key: &[u8]) -> Arc<[u8]> {
    in_mem_core_types::concat_shared(&[&state.kv_prefix, user_key])
}

thread_local! {
    /// Reused buffer for the full key of a point read, so a get allocates only its answer.
    static LOOKUP_KEY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `f` with `prefix + rest`, built in a per-thread buffer.
fn with_joined<T>(prefix: &[u8], rest: &[u8], f: impl FnOnce(&[u8]) -> T) -> T {
    LOOKUP_KEY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            buf.extend_from_slice(prefix);
            buf.extend_from_slice(rest);
            f(&buf)
        }
        Err(_) => f(&[prefix, rest].concat()),
    })
}

pub(crate) fn bytes_of<'a>(key: &[u8], encoded: &'a [u8]) -> Result<&'a [u8]> {
    match Value::decode_bytes(encoded) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(Error::NotBytes {
            key: String::from_utf8_lossy(key).into_owned(),
            found: Value::encoded_type_name(encoded),
        }),
        Err(e) => Err(damaged(key, &e)),
    }
}

pub(crate) fn damaged(key: &[u8], e: &in_mem_core_types::Error) -> Error {
    Error::Damaged {
        what: format!("key {:?}", String::from_utf8_lossy(key)),
        reason: e.to_string(),
    }
}

fn check_positive(what: &str, n: u64) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidOptions {
            reason: format!("{what} must be at least 1"),
        });
    }
    Ok(())
}

/// A per-thread number that spreads the retry delays of contending threads apart.
fn retry_salt() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::thread::current().id())
}
