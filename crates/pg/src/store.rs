//! `PgStore`: the backend boundary's calls as statements on PostgreSQL.

use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::Config;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use in_mem_core_types::{AgentId, RunId, Timestamp, TypeTag, Version};
use in_mem_remote::{
    BeginRun, CatchUp, CommitId, CommitOutcome, CommitRecord, CommitRequest, GcPolicy, GcReport,
    RemoteError, RemoteResult, RemoteRunQuery, RemoteStore, RemoteView, RunRow, RunStart,
    RunUpdate, StoreStats, StoredRunStatus, StoredVersion,
};

use crate::driven::{DrivenPool, Outcome};
use crate::errors::{commit_error, store_error};
use crate::pool::{Connection, Pool};
use crate::rows::{run_id, run_row, signed, status, stored_version, timestamp, unsigned, uuid};
use crate::{PgOptions, schema};

/// A [`RemoteStore`] on PostgreSQL. Calls block the calling thread. A thread outside any tokio
/// runtime drives a connection of its own for the call ([`DrivenPool`]). A thread in a
/// runtime's context runs the work on a private runtime of two threads with connections of its
/// own, opened when first needed: tokio refuses `block_on` on a thread running a runtime's
/// tasks and has no way to ask whether this thread may block (a `spawn_blocking` one may).
pub struct PgStore {
    runtime: Option<Runtime>,
    pool: Arc<Pool>,
    driven: DrivenPool,
    description: String,
    timeout: Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("at", &self.description)
            .finish_non_exhaustive()
    }
}

/// What a call that ran out of time may have done.
#[derive(Clone, Copy)]
enum IfNoAnswer {
    /// Nothing: a read, or a change whose caller re-reads before trusting it.
    Unavailable,
    /// Maybe committed: resolve by commit id.
    OutcomeUnknown,
}

impl PgStore {
    /// Connects to the PostgreSQL at `url` (a `postgresql://` URL or key=value string), creates
    /// the schema if it is missing and migrates it to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    pub fn connect(url: &str, options: &PgOptions) -> RemoteResult<PgStore> {
        let mut config: Config = url
            .parse()
            .map_err(|e| RemoteError::Store(format!("not a PostgreSQL connection string: {e}")))?;
        let mut settings = config.get_options().unwrap_or_default().to_owned();
        if let Some(schema) = &options.schema {
            check_schema_name(schema)?;
            settings.push_str(" -c search_path=");
            settings.push_str(schema);
        }
        settings.push_str(" -c synchronous_commit=");
        settings.push_str(options.synchronous_commit.setting());
        config.options(settings.trim());
        config.application_name(&options.application_name);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.request_timeout);
        }
        let description = describe_config(&config, options.schema.as_deref());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("in-mem-pg")
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Store(format!("cannot start the store's runtime: {e}")))?;
        let schema = options.schema.clone();
        let migrate = options.migrate;
        let setup_config = config.clone();
        runtime.block_on(async move {
            let (mut client, connection) = setup_config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(store_error)?;
            let driver = tokio::spawn(connection);
            if migrate {
                schema::migrate(&mut client, schema.as_deref()).await?;
            } else {
                schema::check(&client, schema.as_deref()).await?;
            }
            drop(client);
            let _ = driver.await;
            Ok::<_, RemoteError>(())
        })?;
        Ok(PgStore {
            runtime: Some(runtime),
            driven: DrivenPool::new(config.clone(), options.connections),
            pool: Arc::new(Pool::new(config, options.connections)),
            description,
            timeout: options.request_timeout,
        })
    }

    /// Runs `work` on a connection (driven by this thread, or on the private runtime inside a
    /// runtime's context) and waits for its answer, at most the request timeout.
    fn call<T, F, Fut>(&self, if_no_answer: IfNoAnswer, work: F) -> RemoteResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Connection>) -> Fut + Send + 'static,
        Fut: Future<Output = RemoteResult<T>> + Send,
    {
        let Some(runtime) = &self.runtime else {
            return Err(RemoteError::Unavailable("the store is closed".into()));
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return match self.driven.call(self.timeout, work) {
                Outcome::Answered(result) => result,
                Outcome::NoConnection(e) => Err(e),
                Outcome::TimedOut => Err(self.no_answer(if_no_answer)),
            };
        }
        let pool = Arc::clone(&self.pool);
        let (answer, answered) = sync_channel(1);
        runtime.spawn(async move {
            let result = match pool.get().await {
                Ok(connection) => work(connection).await,
                Err(e) => Err(e),
            };
            // The caller may have stopped waiting; then nobody needs the answer.
            let _ = answer.send(result);
        });
        match answered.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(self.no_answer(if_no_answer)),
            Err(RecvTimeoutError::Disconnected) => Err(RemoteError::Unavailable(
                "the store's runtime stopped before answering".into(),
            )),
        }
    }

    /// The error of a call that had no answer within the request timeout.
    fn no_answer(&self, if_no_answer: IfNoAnswer) -> RemoteError {
        let why = format!(
            "no answer from {} within {:?}",
            self.description, self.timeout
        );
        match if_no_answer {
            IfNoAnswer::Unavailable => RemoteError::Unavailable(why),
            IfNoAnswer::OutcomeUnknown => RemoteError::OutcomeUnknown(why),
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Not `drop(runtime)`: that blocks, and panics when the last handle goes inside
        // another runtime's task.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn check_schema_name(schema: &str) -> RemoteResult<()> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if valid {
        Ok(())
    } else {
        Err(RemoteError::Store(format!(
            "schema name {schema:?}: use 1 to 63 lowercase letters, digits and '_', not starting with a digit"
        )))
    }
}

fn describe_config(config: &Config, schema: Option<&str>) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "PostgreSQL at {}:{}, database {}, schema {}",
        hosts.join(","),
        ports.join(","),
        config.get_dbname().unwrap_or("(default)"),
        schema.unwrap_or("(search_path)")
    )
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn version_param(v: Version) -> RemoteResult<i64> {
    signed(v.get(), "version")
}

impl PgStore {
    /// One commit sent alone, in one statement (`commit_alone`, or `commit_one` for a single
    /// write): its outcome when it committed, `None` when a check failed or its commit id or an
    /// event key was there already, which changed nothing and which `inmem_commit_batch` then
    /// tells apart. One statement instead of a PL/pgSQL function's five is about a quarter less
    /// of the server's time per commit.
    fn commit_alone(&self, request: &CommitRequest) -> RemoteResult<Option<CommitOutcome>> {
        let a = BatchArrays::of(std::slice::from_ref(request))?;
        let (agent, run, epoch, commit) =
            (a.agents[0].clone(), a.runs[0], a.epochs[0], a.commits[0]);
        let row = self.call(IfNoAnswer::OutcomeUnknown, move |c| async move {
            let head: [&(dyn ToSql + Sync); 4] = [&agent, &run, &epoch, &commit];
            // One write goes as plain parameters (`COMMIT_ONE`), more as arrays.
            let (statement, writes): (_, [&(dyn ToSql + Sync); 4]) = if let [key] = &a.keys[..] {
                (
                    &c.statements.commit_one,
                    [key, &a.tags[0], &a.values[0], &a.ttls[0]],
                )
            } else {
                (
                    &c.statements.commit_alone,
                    [&a.keys, &a.tags, &a.values, &a.ttls],
                )
            };
            let params: Vec<&(dyn ToSql + Sync)> = head.into_iter().chain(writes).collect();
            let sent = c.client.query_opt(statement, &params).await;
            match sent {
                Ok(row) => Ok(row),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(None),
                Err(e) => Err(commit_error(e)),
            }
        })?;
        row.map(|row| {
            Ok(CommitOutcome::Committed {
                version: Version::new(unsigned(row.get(0), "version")?),
                timestamp: timestamp(row.get(1)),
            })
        })
        .transpose()
    }
}

fn commit_uuid(commit: CommitId) -> Uuid {
    Uuid::from_bytes(commit.0)
}

impl RemoteStore for PgStore {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn now(&self) -> RemoteResult<Timestamp> {
        self.call(IfNoAnswer::Unavailable, |c| async move {
            let row = c
                .client
                .query_one(&c.statements.now, &[])
                .await
                .map_err(store_error)?;
            Ok(timestamp(row.get(0)))
        })
    }

    fn renew_lease(&self, host: &str, ttl: Duration) -> RemoteResult<()> {
        let host = host.to_owned();
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            c.client
                .execute(&c.statements.renew_lease, &[&host, &micros(ttl)])
                .await
                .map_err(store_error)?;
            Ok(())
        })
    }

    fn begin_run(&self, begin: &BeginRun) -> RemoteResult<RunStart> {
        let begin = begin.clone();
        let fork_point = begin.fork_point.map(version_param).transpose()?;
        // Sent again after a lost answer, the same request answers as its first send did.
        self.call(IfNoAnswer::OutcomeUnknown, move |c| async move {
            let row = c
                .client
                .query_one(
                    &c.statements.begin_run,
                    &[
                        &begin.agent.encode(),
                        &begin.agent.tenant(),
                        &begin.agent.app(),
                        &begin.agent.agent(),
                        &uuid(begin.run),
                        &begin.parent.map(uuid),
                        &fork_point,
                        &begin.host,
                        &begin.tags,
                        &begin.metadata,
                        &begin.request,
                    ],
                )
                .await
                .map_err(commit_error)?;
            match row.get::<_, i16>(0) {
                0 => Ok(RunStart::begun(Version::new(unsigned(
                    row.get(1),
                    "snapshot",
                )?))),
                1 => Err(RemoteError::NoLease(begin.host)),
                3 => Err(RemoteError::ForkPruned {
                    parent: begin.parent.unwrap_or(begin.run),
                    horizon: Version::new(unsigned(row.get(1), "collection horizon")?),
                }),
                _ => Err(RemoteError::RunExists(begin.run)),
            }
        })
    }

    fn take_over_run(&self, run: RunId, host: &str) -> RemoteResult<RunStart> {
        let host = host.to_owned();
        // Sent again after a lost answer, a takeover takes the run at the next epoch once more.
        self.call(IfNoAnswer::OutcomeUnknown, move |c| async move {
            let row = c
                .client
                .query_one(&c.statements.take_over_run, &[&uuid(run), &host])
                .await
                .map_err(commit_error)?;
            match row.get::<_, i16>(0) {
                0 => Ok(RunStart {
                    snapshot: Version::new(unsigned(row.get(1), "snapshot")?),
                    epoch: unsigned(row.get(2), "epoch")?,
                    former_lease_left: Duration::from_micros(unsigned(row.get(4), "former lease")?),
                }),
                1 => Err(RemoteError::NoLease(host)),
                2 => Err(RemoteError::NoSuchRun(run)),
                _ => Err(RemoteError::RunEnded {
                    run,
                    status: status(row.get(3))?,
                }),
            }
        })
    }

    fn owned_runs(&self, host: &str) -> RemoteResult<Vec<(RunId, u64)>> {
        let host = host.to_owned();
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            c.client
                .query(&c.statements.owned_runs, &[&host])
                .await
                .map_err(store_error)?
                .iter()
                .map(|row| {
                    Ok((
                        run_id(row.get::<_, Uuid>(0)),
                        unsigned(row.get(1), "epoch")?,
                    ))
                })
                .collect()
        })
    }

    fn update_run(&self, update: &RunUpdate) -> RemoteResult<RunRow> {
        if update.status == Some(StoredRunStatus::Interrupted) {
            return Err(RemoteError::Store(
                "Interrupted is derived from the owner's lease and is never set".into(),
            ));
        }
        let run = update.run;
        let update = update.clone();
        let epoch = signed(update.epoch, "epoch")?;
        // Sent again after a lost answer, an update makes the same change (an end, the same end).
        let result = self.call(IfNoAnswer::OutcomeUnknown, move |c| async move {
            let row = c
                .client
                .query_one(
                    &c.statements.update_run,
                    &[
                        &uuid(update.run),
                        &epoch,
                        &update.status.map(StoredRunStatus::code),
                        &update.error,
                        &update.tags,
                        &update.metadata,
                    ],
                )
                .await
                .map_err(commit_error)?;
            match row.get::<_, i16>(0) {
                0 => Ok(()),
                1 => Err(RemoteError::Fenced {
                    run: update.run,
                    held: update.epoch,
                    current: unsigned(row.get(1), "epoch")?,
                }),
                2 => Err(RemoteError::NoSuchRun(update.run)),
                _ => Err(RemoteError::RunEnded {
                    run: update.run,
                    status: status(row.get(2))?,
                }),
            }
        });
        result?;
        match self.run(run) {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(RemoteError::Store("the updated run vanished".into())),
            // Made, but the row could not be read back: the caller cannot tell that from a
            // change that was lost, so it sends it again, which changes nothing more.
            Err(e) => Err(RemoteError::OutcomeUnknown(e.to_string())),
        }
    }

    fn commit_batch(&self, batch: &[CommitRequest]) -> RemoteResult<Vec<CommitOutcome>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if let [alone] = batch
            && let Some(outcome) = self.commit_alone(alone)?
        {
            return Ok(vec![outcome]);
        }
        let arrays = BatchArrays::of(batch)?;
        let sent = batch.len();
        // Several commits without create-only keys go in a fixed number of statements
        // (`inmem_commit_set`); the others are checked commit by commit (`inmem_commit_batch`).
        // A commit id twice in one batch is answered commit by commit too (the second is
        // "already committed"; set-wise both would reach the unique index and fail the batch).
        let set_wise = sent > 1
            && batch
                .iter()
                .flat_map(|r| &r.writes)
                .all(|w| w.tag != TypeTag::Event)
            && batch
                .iter()
                .map(|r| (&r.agent, r.commit))
                .collect::<std::collections::HashSet<_>>()
                .len()
                == sent;
        let rows = self.call(IfNoAnswer::OutcomeUnknown, move |c| async move {
            let a = arrays;
            let statement = if set_wise {
                &c.statements.commit_set
            } else {
                &c.statements.commit_batch
            };
            c.client
                .query(
                    statement,
                    &[
                        &a.agents, &a.runs, &a.epochs, &a.commits, &a.counts, &a.keys, &a.tags,
                        &a.values, &a.ttls,
                    ],
                )
                .await
                .map_err(commit_error)
        })?;
        if rows.len() != sent {
            return Err(RemoteError::Store(format!(
                "a batch of {sent} commits got {} outcomes",
                rows.len()
            )));
        }
        rows.iter()
            .map(|row| {
                let version = |what| -> RemoteResult<u64> { unsigned(row.get(1), what) };
                Ok(match row.get::<_, i16>(0) {
                    0 => CommitOutcome::Committed {
                        version: Version::new(version("version")?),
                        timestamp: timestamp(row.get(2)),
                    },
                    1 => CommitOutcome::Fenced {
                        current: version("epoch")?,
                    },
                    2 => CommitOutcome::RunNotWritable,
                    3 => CommitOutcome::AlreadyCommitted {
                        version: Version::new(version("version")?),
                    },
                    _ => CommitOutcome::CreateOnlyExists { key: row.get(3) },
                })
            })
            .collect()
    }

    fn commit_status(&self, agent: &AgentId, commit: CommitId) -> RemoteResult<Option<Version>> {
        let agent = agent.encode();
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            let row = c
                .client
                .query_opt(&c.statements.commit_status, &[&agent, &commit_uuid(commit)])
                .await
                .map_err(store_error)?;
            row.map(|r| unsigned(r.get(0), "version").map(Version::new))
                .transpose()
        })
    }

    fn clock(&self, agent: &AgentId) -> RemoteResult<Version> {
        let agent = agent.encode();
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            let row = c
                .client
                .query_opt(&c.statements.clock, &[&agent])
                .await
                .map_err(store_error)?;
            Ok(Version::new(match row {
                Some(r) => unsigned(r.get(0), "clock")?,
                None => 0,
            }))
        })
    }

    fn catch_up(&self, agent: &AgentId, after: Version, through: Version) -> RemoteResult<CatchUp> {
        let agent = agent.encode();
        let (after, through) = (version_param(after)?, version_param(through)?);
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                [&agent, &after, &through];
            let of_agent: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&agent];
            // Sent in this order on one connection, so run in it: the horizon is read after the
            // versions, and covers any collection that removed some of them.
            let (commits, versions, horizon) = tokio::try_join!(
                c.client.query(&c.statements.catch_up_commits, &params),
                c.client.query(&c.statements.catch_up_versions, &params),
                c.client.query_one(&c.statements.gc_horizon, &of_agent),
            )
            .map_err(store_error)?;
            Ok(CatchUp {
                gc_horizon: Version::new(unsigned(horizon.get(0), "collection horizon")?),
                commits: commits
                    .iter()
                    .map(|r| {
                        Ok(CommitRecord {
                            version: Version::new(unsigned(r.get(0), "version")?),
                            run: run_id(r.get(1)),
                            commit: CommitId(r.get::<_, Uuid>(2).into_bytes()),
                            timestamp: timestamp(r.get(3)),
                        })
                    })
                    .collect::<RemoteResult<_>>()?,
                versions: versions
                    .iter()
                    .map(stored_version)
                    .collect::<RemoteResult<_>>()?,
            })
        })
    }

    fn get(
        &self,
        agent: &AgentId,
        key: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Option<StoredVersion>> {
        let (agent, key) = (agent.encode(), key.to_vec());
        let snapshot = version_param(view.snapshot)?;
        let own = view.own.map(uuid);
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            c.client
                .query_opt(&c.statements.get, &[&agent, &key, &snapshot, &own])
                .await
                .map_err(store_error)?
                .as_ref()
                .map(stored_version)
                .transpose()
        })
    }

    fn scan(
        &self,
        agent: &AgentId,
        prefix: &[u8],
        view: &RemoteView,
    ) -> RemoteResult<Vec<StoredVersion>> {
        let (agent, start, end) = (agent.encode(), prefix.to_vec(), prefix_end(prefix));
        let snapshot = version_param(view.snapshot)?;
        let own = view.own.map(uuid);
        let now = signed(view.now.as_micros(), "time")?;
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            c.client
                .query(
                    &c.statements.scan,
                    &[&agent, &start, &end, &snapshot, &own, &now],
                )
                .await
                .map_err(store_error)?
                .iter()
                .map(stored_version)
                .collect()
        })
    }

    fn run(&self, run: RunId) -> RemoteResult<Option<RunRow>> {
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            c.client
                .query_opt(&c.statements.run, &[&uuid(run)])
                .await
                .map_err(store_error)?
                .as_ref()
                .map(run_row)
                .transpose()
        })
    }

    fn runs(&self, query: &RemoteRunQuery) -> RemoteResult<Vec<RunRow>> {
        let agent = query.agent.as_ref().map(AgentId::encode);
        // Interrupted is derived as 5 by the view; the others are their stored codes.
        let status = query.status.map(|s| match s {
            StoredRunStatus::Interrupted => 5,
            other => other.code(),
        });
        let tag = query.tag.clone();
        let parent = query.parent.map(uuid);
        let limit = query.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        // A tenant (and app) is a prefix of the agent's encoding: a range of the agent column.
        let from = query
            .tenant_app
            .as_ref()
            .map(|(tenant, app)| AgentId::encoded_prefix(tenant, app.as_deref()));
        let until = from.as_deref().and_then(prefix_end);
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            c.client
                .query(
                    &c.statements.runs,
                    &[&agent, &status, &tag, &parent, &limit, &from, &until],
                )
                .await
                .map_err(store_error)?
                .iter()
                .map(run_row)
                .collect()
        })
    }

    fn collect_garbage(
        &self,
        agent: &AgentId,
        policy: &GcPolicy,
    ) -> RemoteResult<Option<GcReport>> {
        let agent = agent.encode();
        let (keep_for, retention) = (micros(policy.keep_for), micros(policy.ended_retention));
        let grace = micros(policy.interrupted_grace);
        let keep_min = i32::try_from(policy.keep_min_versions).unwrap_or(i32::MAX);
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            let row = c
                .client
                .query_one(
                    &c.statements.collect_garbage,
                    &[&agent, &keep_for, &retention, &keep_min, &grace],
                )
                .await
                .map_err(store_error)?;
            let Some(horizon) = row.get::<_, Option<i64>>(0) else {
                return Ok(None);
            };
            Ok(Some(GcReport {
                horizon: Version::new(unsigned(horizon, "horizon")?),
                removed: unsigned(row.get(1), "count")?,
            }))
        })
    }

    fn stats(&self) -> RemoteResult<StoreStats> {
        self.call(IfNoAnswer::Unavailable, move |c| async move {
            let counts = c
                .client
                .query_one(&c.statements.stats_counts, &[])
                .await
                .map_err(store_error)?;
            let count = |i: usize, what: &str| unsigned(counts.get(i), what);
            let mut runs = Vec::new();
            for row in c
                .client
                .query(&c.statements.stats_runs, &[])
                .await
                .map_err(store_error)?
            {
                runs.push((status(row.get(0))?, unsigned(row.get(1), "run count")?));
            }
            runs.sort_unstable();
            Ok(StoreStats {
                agents: count(0, "agent count")?,
                commits: count(1, "commit count")?,
                versions: count(2, "version count")?,
                keys: count(3, "key count")?,
                runs,
                live_hosts: count(4, "host count")?,
                bytes: Some(count(5, "byte count")?),
            })
        })
    }
}

/// The first key after every key that starts with `prefix`; `None` when there is none (an
/// empty prefix, or one of only 0xff bytes).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|b| *b != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

/// A batch as the parallel arrays `inmem_commit_batch` takes.
struct BatchArrays {
    agents: Vec<Vec<u8>>,
    runs: Vec<Uuid>,
    epochs: Vec<i64>,
    commits: Vec<Uuid>,
    counts: Vec<i32>,
    keys: Vec<Vec<u8>>,
    tags: Vec<i16>,
    values: Vec<Option<Vec<u8>>>,
    ttls: Vec<Option<i64>>,
}

impl BatchArrays {
    fn of(batch: &[CommitRequest]) -> RemoteResult<Self> {
        let writes: usize = batch.iter().map(|r| r.writes.len()).sum();
        let mut a = BatchArrays {
            agents: Vec::with_capacity(batch.len()),
            runs: Vec::with_capacity(batch.len()),
            epochs: Vec::with_capacity(batch.len()),
            commits: Vec::with_capacity(batch.len()),
            counts: Vec::with_capacity(batch.len()),
            keys: Vec::with_capacity(writes),
            tags: Vec::with_capacity(writes),
            values: Vec::with_capacity(writes),
            ttls: Vec::with_capacity(writes),
        };
        for request in batch {
            a.agents.push(request.agent.encode());
            a.runs.push(uuid(request.run));
            a.epochs.push(signed(request.epoch, "epoch")?);
            a.commits.push(commit_uuid(request.commit));
            a.counts
                .push(i32::try_from(request.writes.len()).map_err(|_| {
                    RemoteError::Store(format!("a commit of {} writes", request.writes.len()))
                })?);
            for write in &request.writes {
                a.keys.push(write.key.clone());
                a.tags.push(i16::from(write.tag.as_byte()));
                a.values.push(write.value.clone());
                a.ttls.push(write.ttl.map(micros));
            }
        }
        Ok(a)
    }
}
