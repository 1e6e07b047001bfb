//! The inspecting commands on a shared store: the database argument a PostgreSQL URL (the one
//! `INMEM_PG_URL` names; `cargo xtask pg-test` starts a server and runs this), the schema given
//! with `--schema`. Without a server the test says why and passes, unless `INMEM_PG_REQUIRED`
//! is set.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use common::{import, in_mem, ok};
use in_mem::primitives::{EventLog, NewSpan, SpanStatus, StateMachine, TraceStore};
use in_mem::{AgentId, Database, DurabilityMode, RemoteOptions, RunId, RunOptions, TypeTag, Value};

fn server_url() -> Option<String> {
    let url = std::env::var("INMEM_PG_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var_os("INMEM_PG_REQUIRED").is_none(),
            "INMEM_PG_REQUIRED is set but INMEM_PG_URL is not: run `cargo xtask pg-test`"
        );
        eprintln!("skipped: INMEM_PG_URL is not set (`cargo xtask pg-test` sets it)");
    }
    url
}

/// One finished run in a fresh schema: a fact, an event, a state cell and a tool call.
fn write_run(url: &str, schema: &str) -> RunId {
    let db = Database::connect(
        RemoteOptions::new(url)
            .schema(schema)
            .host_id("cli-test-writer")
            .mode(DurabilityMode::Strict),
    )
    .unwrap();
    let agent = AgentId::new("acme", "travel", "planner");
    let run = db
        .begin_run_with(RunOptions::new().agent(agent).tag("demo"))
        .unwrap();
    db.put_value(run, "fact:weather:Oslo", &Value::from("rain, 9 C"))
        .unwrap();
    EventLog::new(&db)
        .append(run, "observation", ("weather", "Oslo"))
        .unwrap();
    StateMachine::new(&db)
        .init(run, "phase", "deciding")
        .unwrap();
    let trace = TraceStore::new(&db);
    let span = trace
        .start(run, NewSpan::tool_call("weather", Value::from("Oslo")))
        .unwrap();
    trace.finish(run, span, SpanStatus::Ok).unwrap();
    db.end_run(run).unwrap();
    db.close().unwrap();
    run
}

#[test]
fn the_reading_commands_read_a_shared_store_and_the_file_commands_refuse_it() {
    let Some(url) = server_url() else { return };
    let schema = format!("cli_{}", RunId::new().to_string().replace('-', "_"));
    let run = write_run(&url, &schema);
    let id = run.to_string();
    let with = |args: &[&str]| -> String {
        let mut all = args.to_vec();
        all.extend(["--schema", &schema]);
        ok(&all)
    };
    let runs = with(&["runs", &url]);
    assert!(runs.lines().nth(1).unwrap().starts_with(&id[..8]), "{runs}");
    assert!(runs.contains("acme/travel/planner") && runs.contains("completed"));
    let show = with(&["show", &url, &id[..8]]);
    assert!(show.contains("1 events, 1 state cells"), "{show}");
    assert!(with(&["tree", &url, &id]).contains("weather"));
    assert!(with(&["events", &url, &id]).contains("observation"));
    assert!(with(&["state", &url, &id]).contains("deciding"));
    assert!(with(&["kv", &url, &id]).contains("rain, 9 C"));
    assert!(with(&["diff", &url, &id, &id]).contains("no differences"));
    // Another schema of the same server has no store: the tool says so and creates none.
    let other = format!("{schema}_empty");
    for _ in 0..2 {
        let out = in_mem(&["runs", &url, "--schema", &other]);
        assert_eq!(out.status.code(), Some(1));
        let refused = String::from_utf8_lossy(&out.stderr);
        assert!(
            refused.contains("no in-mem store") && refused.contains(&other),
            "{refused}"
        );
    }
    // libpq's keyword=value form names the same store.
    if let Some(keywords) = keyword_form(&url) {
        let runs = ok(&["runs", &keywords, "--schema", &schema]);
        assert!(runs.contains(&id[..8]), "{runs}");
    }
    // An export of the store imports into a directory that reads the same, and exports the
    // same bytes again.
    let export = with(&["export", &url]);
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("copy");
    import(&copy, export.as_bytes());
    let copy = copy.to_str().unwrap();
    assert_eq!(ok(&["kv", copy, &id]), with(&["kv", &url, &id]));
    assert_eq!(ok(&["events", copy, &id]), with(&["events", &url, &id]));
    assert_eq!(ok(&["export", copy]), export);
    // `verify` checks every run's records (the store's files are PostgreSQL's own).
    let verified = with(&["verify", &url]);
    assert!(
        verified.contains("1 runs, 1 events in their hash chains: ok"),
        "{verified}"
    );
    assert!(!verified.contains(&url), "{verified}");
    // What works on a directory's files says so, without echoing the URL (it may hold a
    // password).
    let out = in_mem(&["backup", &url, "/tmp/never-written", "--schema", &schema]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not on a shared store"), "{stderr}");
    assert!(!stderr.contains(&url), "{stderr}");
    // `stats` counts the store: one agent, its run completed, the run's keys and more (its
    // records), and never the URL.
    let stats = with(&["stats", &url]);
    assert!(stats.contains("agents       1"), "{stats}");
    assert!(stats.contains("runs         1 (1 completed)"), "{stats}");
    assert!(
        stats.contains("bytes on disk") && !stats.contains(&url),
        "{stats}"
    );
    let stats: serde_json::Value = serde_json::from_str(&with(&["stats", &url, "--json"])).unwrap();
    assert_eq!(stats["runs_by_status"]["completed"], 1, "{stats}");
    assert!(stats["keys"].as_u64().unwrap() >= 4, "{stats}");
    assert!(
        stats["versions"].as_u64().unwrap() >= stats["keys"].as_u64().unwrap(),
        "{stats}"
    );
}

#[test]
fn verify_finds_an_event_changed_in_the_store_behind_its_back() {
    let Some(url) = server_url() else { return };
    let schema = format!("cli_{}", RunId::new().to_string().replace('-', "_"));
    write_run(&url, &schema);
    // Someone with write access to the database changes the observation's payload in place.
    admin(
        &url,
        &format!(
            "UPDATE {schema}.inmem_version
             SET value = overlay(value PLACING convert_to('Olso', 'UTF8')
                                 FROM position(convert_to('Oslo', 'UTF8') IN value) FOR 4)
             WHERE tag = {} AND position(convert_to('Oslo', 'UTF8') IN value) > 0",
            TypeTag::Event.as_byte()
        ),
    );
    let out = in_mem(&["verify", &url, "--schema", &schema]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(16), "{text}");
    assert!(text.contains("event chain of run"), "{text}");
    assert!(text.contains("is broken at event 0"), "{text}");
    assert!(!text.contains(&url), "{text}");
}

/// Runs `sql` on a connection of its own.
fn admin(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        let changed = client.execute(sql, &[]).await.unwrap();
        assert_eq!(changed, 1, "one event row changed");
        drop(client);
        let _ = driver.await;
    });
}

/// `postgresql://user@host:port/dbname` in libpq's keyword form, if the URL has that shape.
fn keyword_form(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let (user, rest) = rest.split_once('@')?;
    let (host_port, dbname) = rest.split_once('/')?;
    let (host, port) = host_port.split_once(':')?;
    Some(format!(
        "host={host} port={port} user={user} dbname={dbname}"
    ))
}

#[test]
fn a_keyword_connection_string_is_never_echoed() {
    // No server needed: the file commands refuse any store, and the reading ones fail to reach
    // this one, without repeating what was given (it holds a password).
    let given = "host=127.0.0.1 port=1 user=nobody password=hunter2 connect_timeout=2";
    for command in [&["verify", given][..], &["stats", given], &["runs", given]] {
        let out = in_mem(command);
        assert_ne!(out.status.code(), Some(0), "{command:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("hunter2"), "{command:?}: {stderr}");
    }
}
