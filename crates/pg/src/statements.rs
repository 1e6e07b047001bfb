//! Every statement the store sends, prepared once per connection so that each call is one
//! round trip.

use tokio_postgres::{Client, Statement};

use in_mem_remote::RemoteResult;

use crate::errors::store_error;

/// The columns of a stored version, in the order `rows::stored_version` reads them.
const VERSION_COLUMNS: &str = "key, version, run_id, ts_us, expires_us, value";

/// The columns of a run as readers see it, in the order `rows::run_row` reads them.
pub const RUN_COLUMNS: &str = "run_id, tenant, app, name, parent, fork_point, start_version, \
     seen_status, owner_host, owner_epoch, created_us, updated_us, ended_us, tags, metadata, error";

/// One commit in one statement, on the path where every check passes: the run's row locked
/// and checked (live, owned at this epoch, of this agent), the agent's clock moved (and the
/// commit's time taken there), the commit and its versions inserted. No row back when a check
/// fails, and a unique violation when the commit id was committed already or an event's key
/// exists: nothing is changed then (the statement is its own transaction), and the caller asks
/// `commit_batch` for the answer, whose checks say which it was. `$writes` inserts the versions
/// (`w`), from `a.clock` and `a.us`.
macro_rules! commit_statement {
    ($writes:literal) => {
        concat!(
            "WITH r AS (
       SELECT 1 FROM inmem_run x
       WHERE x.run_id = $2 AND x.agent = $1 AND x.status = 0 AND x.owner_epoch = $3
       FOR SHARE
     ), a AS (
       UPDATE inmem_agent g SET clock = g.clock + 1
       WHERE g.agent = $1 AND EXISTS (SELECT 1 FROM r)
       RETURNING g.clock, inmem_now_us() AS us
     ), c AS (
       INSERT INTO inmem_commit (agent, version, commit_id, run_id, ts_us)
       SELECT $1, a.clock, $4, $2, a.us FROM a
       RETURNING version, ts_us
     ), w AS (",
            $writes,
            ")
     SELECT version, ts_us FROM c"
        )
    };
}

/// One commit in one statement (see `commit_statement!`), of any number of writes, as arrays
/// ($5 to $8: keys, tags, values, TTLs). Public, like [`COMMIT_ONE`], which the benchmark
/// (`cargo xtask bench --remote`) runs through pgbench.
pub const COMMIT_ALONE: &str = commit_statement!(
    "
       INSERT INTO inmem_version (agent, key, version, run_id, tag, ts_us, expires_us, value)
       SELECT $1, u.k, a.clock, $2, u.t, a.us, a.us + u.ttl, u.val
       FROM a, unnest($5::bytea[], $6::smallint[], $7::bytea[], $8::bigint[])
         AS u(k, t, val, ttl)
     "
);

/// [`COMMIT_ALONE`] for a commit of one write (most of them: a `put`, a `delete`), with the
/// write's key, tag, value and TTL as plain parameters ($5 to $8). The arrays' `unnest` and the
/// time's own subquery (which the arrays' statement had then) cost the server about 27 us a
/// commit together (~10 %: pgbench of the two statements in turns, 1 client); both statements
/// now take the time at the clock.
pub const COMMIT_ONE: &str = commit_statement!(
    "
       INSERT INTO inmem_version (agent, key, version, run_id, tag, ts_us, expires_us, value)
       SELECT $1, $5::bytea, a.clock, $2, $6::smallint, a.us, a.us + $8::bigint, $7::bytea FROM a
     "
);

macro_rules! statements {
    ($($name:ident = $sql:expr;)*) => {
        /// The prepared statements of one connection.
        pub struct Prepared {
            $(pub $name: Statement,)*
        }

        pub async fn prepare(client: &Client) -> RemoteResult<Prepared> {
            Ok(Prepared {
                $($name: client.prepare(&$sql).await.map_err(store_error)?,)*
            })
        }
    };
}

statements! {
    now = "SELECT inmem_now_us()";
    renew_lease = "INSERT INTO inmem_host (host_id, lease_until_us) VALUES ($1, inmem_now_us() + $2)
         ON CONFLICT (host_id) DO UPDATE SET lease_until_us = EXCLUDED.lease_until_us";
    begin_run = "SELECT o_status, o_snapshot FROM inmem_begin_run($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    take_over_run = "SELECT o_status, o_snapshot, o_epoch, o_run_status, o_former_lease_us
         FROM inmem_take_over_run($1, $2)";
    owned_runs = "SELECT run_id, owner_epoch FROM inmem_run
         WHERE owner_host = $1 AND status < 2 ORDER BY seq";
    update_run = "SELECT o_status, o_epoch, o_run_status FROM inmem_update_run($1, $2, $3, $4, $5, $6)";
    commit_batch = "SELECT o_status, o_version, o_ts_us, o_detail
         FROM inmem_commit_batch($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    commit_set = "SELECT o_status, o_version, o_ts_us, o_detail
         FROM inmem_commit_set($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    commit_alone = COMMIT_ALONE;
    commit_one = COMMIT_ONE;
    commit_status = "SELECT version FROM inmem_commit WHERE agent = $1 AND commit_id = $2";
    clock = "SELECT clock FROM inmem_agent WHERE agent = $1";
    catch_up_commits = "SELECT version, run_id, commit_id, ts_us FROM inmem_commit
         WHERE agent = $1 AND version > $2 AND version <= $3 ORDER BY version";
    catch_up_versions = format!("SELECT {VERSION_COLUMNS} FROM inmem_version
         WHERE agent = $1 AND version > $2 AND version <= $3 ORDER BY version, key");
    get = format!("SELECT {VERSION_COLUMNS} FROM inmem_version
         WHERE agent = $1 AND key = $2 AND (version <= $3 OR run_id = $4)
         ORDER BY version DESC LIMIT 1");
    // $3 is the first key after the prefix's range, NULL when there is none.
    scan = format!("SELECT {VERSION_COLUMNS} FROM (
           SELECT DISTINCT ON (key) {VERSION_COLUMNS} FROM inmem_version
           WHERE agent = $1 AND key >= $2 AND ($3::bytea IS NULL OR key < $3)
             AND (version <= $4 OR run_id = $5)
           ORDER BY key, version DESC) newest
         WHERE value IS NOT NULL AND (expires_us IS NULL OR expires_us > $6)
         ORDER BY key");
    run = format!("SELECT {RUN_COLUMNS} FROM inmem_run_seen WHERE run_id = $1");
    runs = format!("SELECT {RUN_COLUMNS} FROM inmem_run_seen
         WHERE ($1::bytea IS NULL OR agent = $1) AND ($2::smallint IS NULL OR seen_status = $2)
           AND ($3::text IS NULL OR tags @> ARRAY[$3::text]) AND ($4::uuid IS NULL OR parent = $4)
           AND ($6::bytea IS NULL OR (agent >= $6 AND ($7::bytea IS NULL OR agent < $7)))
         ORDER BY seq LIMIT $5");
    collect_garbage = "SELECT o_horizon, o_removed FROM inmem_collect_garbage($1, $2, $3, $4, $5)";
    gc_horizon = "SELECT coalesce((SELECT horizon FROM inmem_gc WHERE agent = $1), 0)";
    // Every table of the store is in the schema the connection's search_path names first.
    stats_counts = "SELECT (SELECT count(*) FROM inmem_agent),
           (SELECT coalesce(sum(clock), 0)::bigint FROM inmem_agent),
           (SELECT count(*) FROM inmem_version),
           (SELECT count(*) FROM (SELECT DISTINCT agent, key FROM inmem_version) k),
           (SELECT count(*) FROM inmem_host WHERE lease_until_us > inmem_now_us()),
           (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = current_schema() AND c.relkind = 'r'
                AND c.relname LIKE 'inmem\\_%')";
    stats_runs = "SELECT seen_status, count(*) FROM inmem_run_seen GROUP BY seen_status";
}
