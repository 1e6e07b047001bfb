//! `PgStore` against a real PostgreSQL: the backend boundary's conformance suite, migrations,
//! and connections that break. The server is named by `INMEM_PG_URL`; `cargo xtask pg-test`
//! starts a private one and sets it. Without it these tests skip, saying why, unless
//! `INMEM_PG_REQUIRED` is set (as `pg-test` and CI set it): then they fail.
//!
//! Each test works in a PostgreSQL schema of its own, so they run side by side on one server.

use std::fmt::Write as _;
use std::time::Duration;

use in_mem_core_types::{AgentId, RunId, Version};
use in_mem_pg::{PgOptions, PgStore, SCHEMA_VERSION, SynchronousCommit};
use in_mem_remote::conformance::{self, Kit};
use in_mem_remote::{
    BeginRun, CommitId, CommitOutcome, CommitRequest, GcPolicy, RemoteError, RemoteStore,
    RemoteWrite,
};

/// The server's URL, or `None` (after saying why) when the tests may skip.
fn server_url() -> Option<String> {
    match std::env::var("INMEM_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("INMEM_PG_REQUIRED").is_none(),
                "INMEM_PG_REQUIRED is set but INMEM_PG_URL is not: run `cargo xtask pg-test`, \
                 which starts PostgreSQL and sets both"
            );
            eprintln!(
                "skipped: INMEM_PG_URL is not set (`cargo xtask pg-test` starts a private \
                 PostgreSQL and runs these tests against it)"
            );
            None
        }
    }
}

fn fresh_schema() -> String {
    format!("t_{}", RunId::new().to_string().replace('-', "_"))
}

fn options(schema: &str) -> PgOptions {
    PgOptions {
        schema: Some(schema.to_owned()),
        request_timeout: Duration::from_secs(20),
        ..PgOptions::default()
    }
}

/// [`options`] with `connections` connections, reporting the schema as their
/// `application_name`, so that `pg_stat_activity` tells this store's connections from others'.
fn named(schema: &str, connections: usize) -> PgOptions {
    PgOptions {
        connections,
        application_name: schema.to_owned(),
        ..options(schema)
    }
}

fn connect(url: &str, schema: &str) -> PgStore {
    PgStore::connect(url, &options(schema)).expect("connect to the test server")
}

#[test]
fn pg_store_passes_the_conformance_suite() {
    let Some(url) = server_url() else { return };
    let store = connect(&url, &fresh_schema());
    conformance::run_all(&Kit {
        store: &store,
        pass_time: &std::thread::sleep,
    });
}

#[test]
fn every_durability_setting_commits() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    for setting in [
        SynchronousCommit::On,
        SynchronousCommit::Local,
        SynchronousCommit::Off,
    ] {
        let store = PgStore::connect(
            &url,
            &PgOptions {
                synchronous_commit: setting,
                ..options(&schema)
            },
        )
        .expect("connect");
        let (agent, run, epoch) = begun(&store);
        let outcome = store
            .commit_batch(&[request(&agent, run, epoch)])
            .expect("commit");
        assert_eq!(outcome[0].version(), Some(Version::new(1)), "{setting:?}");
    }
}

#[test]
fn hosts_starting_together_migrate_the_schema_once() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    let connected: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PgStore::connect(&url, &options(&schema)).is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert_eq!(connected, vec![true; 4], "every host connects");
    // And the schema works: one more connection commits.
    let store = connect(&url, &schema);
    let (agent, run, epoch) = begun(&store);
    assert!(store.commit_batch(&[request(&agent, run, epoch)]).is_ok());
}

#[test]
fn a_host_of_the_previous_schema_version_still_begins_runs() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    let store = connect(&url, &schema);
    store
        .renew_lease("old-host", Duration::from_secs(60))
        .expect("lease");
    // Schema version 4's call, as such a host makes it (its connection's search_path names the
    // store's schema): no request id.
    let run = RunId::new();
    admin(
        &url,
        &format!(
            "SET search_path = {schema};
             DO $$ DECLARE s smallint; BEGIN
               SELECT o_status INTO s FROM inmem_begin_run('\\x01'::bytea, 't', 'a',
                 'n', '{run}'::uuid, NULL, NULL, 'old-host', ARRAY[]::text[], NULL);
               IF s <> 0 THEN RAISE EXCEPTION 'status %', s; END IF; END $$"
        ),
    );
    let row = store.run(run).expect("read").expect("begun");
    assert_eq!((row.owner.as_str(), row.epoch), ("old-host", 1));
}

#[test]
fn a_host_of_the_previous_schema_version_still_collects() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    let store = connect(&url, &schema);
    let (agent, _run, _epoch) = begun(&store);
    let agent = hex(&agent.encode());
    // Schema version 6's call, as such a host makes it: four arguments, no interrupted grace.
    admin(
        &url,
        &format!(
            "SET search_path = {schema};
             DO $$ DECLARE h bigint; BEGIN
               SELECT o_horizon INTO h FROM inmem_collect_garbage('\\x{agent}'::bytea, 0, 0, 1);
               IF h IS NULL THEN RAISE EXCEPTION 'no horizon'; END IF; END $$"
        ),
    );
}

#[test]
fn an_agent_of_the_same_name_in_another_schema_takes_another_collection_lock() {
    let Some(url) = server_url() else { return };
    let (one, other) = (fresh_schema(), fresh_schema());
    let (first, second) = (connect(&url, &one), connect(&url, &other));
    let (agent, _, _) = begun(&first);
    second
        .renew_lease("host", Duration::from_secs(60))
        .expect("lease");
    let start = second
        .begin_run(&BeginRun::new(agent.clone(), RunId::new(), "host"))
        .expect("the same agent begun in the other schema");
    assert_eq!(start.epoch, 1);
    let policy = GcPolicy {
        keep_for: Duration::ZERO,
        ended_retention: Duration::ZERO,
        keep_min_versions: 1,
        interrupted_grace: Duration::ZERO,
    };
    // A collection of the agent in progress in the first schema (its lock held, as
    // `inmem_collect_garbage` holds it) turns away another there, and only there.
    let held = HeldTransaction::open(
        &url,
        &format!(
            "SET LOCAL search_path = {one};
             SELECT pg_advisory_xact_lock(inmem_gc_lock_key('\\x{}'::bytea))",
            hex(&agent.encode())
        ),
    );
    assert_eq!(
        first.collect_garbage(&agent, &policy).expect("collect"),
        None
    );
    assert!(
        second
            .collect_garbage(&agent, &policy)
            .expect("collect")
            .is_some(),
        "a collection in another schema must not wait for this one's lock"
    );
    drop(held);
    assert!(
        first
            .collect_garbage(&agent, &policy)
            .expect("collect")
            .is_some()
    );
}

#[test]
fn a_schema_newer_than_the_build_is_refused() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    drop(connect(&url, &schema));
    admin(
        &url,
        &format!(
            "UPDATE {schema}.inmem_schema SET version = {}",
            SCHEMA_VERSION + 1
        ),
    );
    match PgStore::connect(&url, &options(&schema)) {
        Err(RemoteError::Store(message)) => {
            assert!(message.contains("newer than this build"), "{message}");
        }
        other => panic!("a newer schema: {other:?}"),
    }
}

#[test]
fn a_connection_that_may_not_migrate_changes_no_schema() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    let reader = PgOptions {
        migrate: false,
        ..options(&schema)
    };
    let refused = |what: &str| match PgStore::connect(&url, &reader) {
        Err(RemoteError::Store(message)) => message,
        other => panic!("{what}: {other:?}"),
    };
    for attempt in [
        "a missing schema",
        "still missing: the first attempt created nothing",
    ] {
        let message = refused(attempt);
        assert!(
            message.contains("no in-mem store") && message.contains(&schema),
            "{attempt}: {message}"
        );
    }
    // A host creates it; then a reader connects and reads.
    let host = connect(&url, &schema);
    let (agent, run, epoch) = begun(&host);
    host.commit_batch(&[request(&agent, run, epoch)])
        .expect("commit");
    let store = PgStore::connect(&url, &reader).expect("the schema is there at this version");
    assert_eq!(store.clock(&agent).expect("clock"), Version::new(1));
    // An older schema is left as it is.
    admin(
        &url,
        &format!(
            "UPDATE {schema}.inmem_schema SET version = {}",
            SCHEMA_VERSION - 1
        ),
    );
    for attempt in ["an older schema", "still older"] {
        let message = refused(attempt);
        assert!(
            message.contains("older than this build"),
            "{attempt}: {message}"
        );
    }
}

#[test]
fn a_bad_schema_name_or_url_is_a_clear_error() {
    let Some(url) = server_url() else { return };
    for schema in ["", "Upper", "1st", "semi;colon", "x y"] {
        let err = PgStore::connect(&url, &options(schema)).expect_err(schema);
        assert!(err.to_string().contains("schema name"), "{schema:?}: {err}");
    }
    let err = PgStore::connect("not a url at all ===", &PgOptions::default()).expect_err("bad url");
    assert!(err.to_string().contains("connection string"), "{err}");
    let unreachable = PgStore::connect(
        "postgresql://postgres@127.0.0.1:1/postgres",
        &PgOptions {
            request_timeout: Duration::from_secs(5),
            ..PgOptions::default()
        },
    )
    .expect_err("nothing listens on port 1");
    assert!(
        matches!(unreachable, RemoteError::Unavailable(_)),
        "{unreachable}"
    );
}

#[test]
fn a_broken_connection_is_reopened_and_an_unknown_commit_resolved_by_its_id() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    let store = PgStore::connect(&url, &named(&schema, 1)).expect("connect");
    let (agent, run, epoch) = begun(&store);
    let first = store
        .commit_batch(&[request(&agent, run, epoch)])
        .expect("commit");
    assert_eq!(first[0].version(), Some(Version::new(1)));
    // Cut the store's connection (tests running beside this one keep theirs).
    admin(
        &url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{schema}'"
        ),
    );
    let second = request(&agent, run, epoch);
    let mut unknown = 0;
    let version = loop {
        match store.commit_batch(std::slice::from_ref(&second)) {
            Ok(outcomes) => break outcomes[0].version().expect("committed"),
            Err(RemoteError::OutcomeUnknown(_) | RemoteError::Unavailable(_)) if unknown < 3 => {
                unknown += 1;
                // Resolve by id, as a shipper does: if it landed, its version is known.
                if let Some(v) = store.commit_status(&agent, second.commit).ok().flatten() {
                    break v;
                }
            }
            Err(e) => panic!("commit after the connection broke: {e}"),
        }
    };
    assert_eq!(
        version,
        Version::new(2),
        "committed once, at the next version"
    );
    assert_eq!(store.clock(&agent).expect("clock"), Version::new(2));
    assert_eq!(
        store.commit_batch(&[second]).expect("resend")[0],
        CommitOutcome::AlreadyCommitted { version }
    );
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced_before_a_call_uses_it() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    let store = PgStore::connect(&url, &named(&schema, 1)).expect("connect");
    let (agent, _, _) = begun(&store);
    let ours = format!("FROM pg_stat_activity WHERE application_name = '{schema}'");
    admin(&url, &format!("SELECT pg_terminate_backend(pid) {ours}"));
    for _ in 0..200 {
        if admin_count(&url, &format!("SELECT count(*) {ours}")) == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(admin_count(&url, &format!("SELECT count(*) {ours}")), 0);
    // Nothing drove the idle connection when the server closed it; the call must notice
    // before it sends, and open another.
    assert_eq!(
        store
            .clock(&agent)
            .expect("a read after the server closed the idle connection"),
        Version::new(0)
    );
}

#[test]
fn callers_beyond_the_connection_limit_wait_for_a_connection() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    let store = PgStore::connect(&url, &named(&schema, 2)).expect("connect");
    let (agent, run, epoch) = begun(&store);
    let (threads, each) = (6u64, 25u64);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..each {
                    let outcome = store
                        .commit_batch(&[request(&agent, run, epoch)])
                        .expect("a commit while every connection may be busy");
                    assert!(outcome[0].version().is_some(), "{outcome:?}");
                }
            });
        }
    });
    assert_eq!(
        store.clock(&agent).expect("clock"),
        Version::new(threads * each)
    );
    let open = admin_count(
        &url,
        &format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{schema}'"),
    );
    assert!(
        (1..=2).contains(&open),
        "{open} connections open, at most 2 allowed"
    );
}

#[test]
fn a_call_that_outlives_its_timeout_gives_up_its_connection() {
    let Some(url) = server_url() else { return };
    let schema = fresh_schema();
    let store = PgStore::connect(
        &url,
        &PgOptions {
            connections: 1,
            request_timeout: Duration::from_millis(500),
            ..options(&schema)
        },
    )
    .expect("connect");
    let (agent, run, epoch) = begun(&store);
    // The agent's clock row locked: a commit waits for it past its timeout.
    let held = HeldTransaction::open(
        &url,
        &format!(
            "SET LOCAL search_path = {schema};
             SELECT 1 FROM inmem_agent WHERE agent = '\\x{}'::bytea FOR UPDATE",
            hex(&agent.encode())
        ),
    );
    let waited = store.commit_batch(&[request(&agent, run, epoch)]);
    assert!(
        matches!(waited, Err(RemoteError::OutcomeUnknown(_))),
        "{waited:?}"
    );
    // The only connection is still mid-request (its commit waits for the lock): the next call
    // must get a new one, rather than queue behind that commit (and time out) or wait for the
    // slot. A plain read is not blocked by the row lock.
    let version = store
        .clock(&agent)
        .expect("a read after a timed-out commit");
    assert_eq!(version, Version::new(0));
    drop(held);
}

#[test]
fn calls_from_async_code_go_through_the_stores_own_runtime() {
    let Some(url) = server_url() else { return };
    let store = std::sync::Arc::new(connect(&url, &fresh_schema()));
    let (agent, _, _) = begun(&store);
    // A thread running a runtime's tasks cannot drive a connection of its own (tokio refuses
    // `block_on` there); a call made there, or from `spawn_blocking`, must still be answered.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let in_task = runtime.block_on({
        let (store, agent) = (std::sync::Arc::clone(&store), agent.clone());
        async move { store.clock(&agent) }
    });
    assert_eq!(in_task.expect("a call inside a task"), Version::new(0));
    let blocking = runtime.block_on({
        let (store, agent) = (std::sync::Arc::clone(&store), agent.clone());
        async move { tokio::task::spawn_blocking(move || store.clock(&agent)).await }
    });
    assert_eq!(
        blocking.expect("join").expect("a call in spawn_blocking"),
        Version::new(0)
    );
    drop(runtime);
    assert_eq!(store.clock(&agent).expect("a call after"), Version::new(0));
}

/// Runs `sql` (one or more statements) on a connection of its own (for what the store itself
/// never does); the rows it returned, as text.
fn admin_rows(url: &str, sql: &str) -> Vec<tokio_postgres::SimpleQueryRow> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("admin connection");
        let driver = tokio::spawn(connection);
        let messages = client.simple_query(sql).await.expect(sql);
        drop(client);
        let _ = driver.await;
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
                _ => None,
            })
            .collect()
    })
}

fn admin(url: &str, sql: &str) {
    admin_rows(url, sql);
}

/// The first column of the first row `sql` returns, a count.
fn admin_count(url: &str, sql: &str) -> i64 {
    let rows = admin_rows(url, sql);
    let count = rows.first().and_then(|row| row.get(0)).expect(sql);
    count.parse().expect("a count")
}

/// A transaction left open on a connection of its own until dropped (for the locks it holds).
struct HeldTransaction {
    runtime: tokio::runtime::Runtime,
    client: Option<tokio_postgres::Client>,
}

impl HeldTransaction {
    fn open(url: &str, sql: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("held connection");
            tokio::spawn(connection);
            client
                .batch_execute(&format!("BEGIN; {sql}"))
                .await
                .expect(sql);
            client
        });
        HeldTransaction {
            runtime,
            client: Some(client),
        }
    }
}

impl Drop for HeldTransaction {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Ends the transaction before the connection closes, so its locks are gone when
            // the drop returns.
            let _ = self.runtime.block_on(client.batch_execute("ROLLBACK"));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

fn begun(store: &PgStore) -> (AgentId, RunId, u64) {
    let agent = AgentId::new("t", "pg", RunId::new().to_string());
    let run = RunId::new();
    store
        .renew_lease("host", Duration::from_secs(60))
        .expect("lease");
    let start = store
        .begin_run(&BeginRun::new(agent.clone(), run, "host"))
        .expect("begin");
    (agent, run, start.epoch)
}

fn request(agent: &AgentId, run: RunId, epoch: u64) -> CommitRequest {
    CommitRequest {
        agent: agent.clone(),
        run,
        epoch,
        commit: CommitId::new(),
        writes: vec![RemoteWrite::put(b"k", b"v")],
    }
}
