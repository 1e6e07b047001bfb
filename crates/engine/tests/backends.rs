//! The run model, transactions and primitives through `Database`, against every backend:
//! embedded (a local directory), shared mode on the in-process `MemStore`, and shared mode on
//! PostgreSQL when `INMEM_PG_URL` names a server (`cargo xtask pg-test` starts one and sets it;
//! without it the PostgreSQL round is skipped, saying why, unless `INMEM_PG_REQUIRED` is set).
//!
//! Each test runs once per backend. "Hosts" are `Database` handles: in embedded mode two handles
//! on one directory (one process owns everything), in shared mode two connections with their
//! own host ids, caches and leases, sharing one store. The tests after the shared ones hold
//! only in shared mode (takeovers, fencing, what shared mode refuses).

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod backend_kit;

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use backend_kit::{on_every_backend, on_shared_backends, store_of};
use in_mem_core_types::{AgentId, RunId, Value};
use in_mem_engine::remote::{MemStore, RemoteError, RemoteStore, StoredRunStatus};
use in_mem_engine::{
    At, Database, Error, NewSpan, RemoteOptions, RetryPolicy, RunOptions, RunQuery, RunStatus,
    SpanId, SpanKind, SpanStatus,
};

fn agent() -> AgentId {
    AgentId::new("tenant", "app", "agent")
}

#[test]
fn the_getting_started_calls_behave_as_written() {
    on_every_backend(|cluster| {
        let db = cluster.host("a");
        let run = db.begin_run();
        let v1 = db.put(run, b"user:123", b"Alice").unwrap();
        assert_eq!(db.get(run, b"user:123").unwrap(), Some(b"Alice".to_vec()));
        db.put_with_ttl(run, b"session:abc", b"data", Duration::from_secs(3600))
            .unwrap();
        let v2 = db.put(run, b"user:7", b"Bob").unwrap();
        assert!(v2 > v1, "versions go up: {v1} then {v2}");
        let listed: Vec<_> = db.list(run, b"user:").unwrap();
        assert_eq!(
            listed,
            vec![
                (b"user:123".to_vec(), b"Alice".to_vec()),
                (b"user:7".to_vec(), b"Bob".to_vec())
            ]
        );
        assert!(db.delete(run, b"user:123").unwrap());
        assert!(!db.delete(run, b"user:123").unwrap());
        assert_eq!(db.get(run, b"user:123").unwrap(), None);
        let versioned = db.get_versioned(run, b"user:7").unwrap().unwrap();
        assert_eq!(versioned.version, v2);
        db.flush().unwrap();
        db.end_run(run).unwrap();
        // The run's data stays readable; the run takes no more writes.
        assert_eq!(db.get(run, b"user:7").unwrap(), Some(b"Bob".to_vec()));
        assert!(matches!(
            db.put(run, b"k", b"v"),
            Err(Error::RunEnded { .. })
        ));
        assert_eq!(db.run_info(run).unwrap().status, RunStatus::Completed);
    });
}

#[test]
fn runs_side_by_side_are_isolated_and_later_runs_see_earlier_commits() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let b = cluster.host("b");
        let agent = agent();
        let first = a.begin_run_in(&agent).unwrap();
        a.put(first, b"fact", b"1").unwrap();
        // Begun on another host before the write below: it sees the first write only.
        let beside = b.begin_run_in(&agent).unwrap();
        a.put(first, b"fact", b"2").unwrap();
        a.put(first, b"only-first", b"x").unwrap();
        assert_eq!(b.get(beside, b"fact").unwrap(), Some(b"1".to_vec()));
        assert_eq!(b.get(beside, b"only-first").unwrap(), None);
        // Its own writes it sees; the first run does not.
        b.put(beside, b"only-beside", b"y").unwrap();
        assert_eq!(b.get(beside, b"only-beside").unwrap(), Some(b"y".to_vec()));
        assert_eq!(a.get(first, b"only-beside").unwrap(), None);
        assert_eq!(a.get(first, b"fact").unwrap(), Some(b"2".to_vec()));
        // A run begun later, on either host, sees both.
        for host in [&a, &b] {
            let later = host.begin_run_in(&agent).unwrap();
            assert_eq!(host.get(later, b"fact").unwrap(), Some(b"2".to_vec()));
            assert_eq!(
                host.get(later, b"only-beside").unwrap(),
                Some(b"y".to_vec())
            );
            let keys: Vec<_> = host
                .list(later, b"only-")
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            assert_eq!(keys, vec![b"only-beside".to_vec(), b"only-first".to_vec()]);
        }
        // Other agents see none of it.
        let stranger = a
            .begin_run_in(&AgentId::new("tenant", "app", "other"))
            .unwrap();
        assert_eq!(a.get(stranger, b"fact").unwrap(), None);
    });
}

#[test]
fn a_run_begun_on_one_host_is_read_on_another() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let run = a
            .begin_run_with(RunOptions::new().agent(agent()).tag("nightly"))
            .unwrap();
        a.put(run, b"result", b"42").unwrap();
        a.end_run(run).unwrap();
        let b = cluster.host("b");
        assert_eq!(b.get(run, b"result").unwrap(), Some(b"42".to_vec()));
        let info = b.run_info(run).unwrap();
        assert_eq!(info.status, RunStatus::Completed);
        assert_eq!(info.agent, agent());
        assert_eq!(info.tags, vec!["nightly".to_owned()]);
    });
}

#[test]
fn a_run_id_chosen_by_two_hosts_is_begun_once() {
    on_every_backend(|cluster| {
        let (a, b) = (cluster.host("a"), cluster.host("b"));
        let id = RunId::new();
        a.begin_run_with(RunOptions::new().agent(agent()).id(id))
            .unwrap();
        a.put(id, b"k", b"from a").unwrap();
        // The same error whichever host asks, and whatever agent it names.
        for (host, other_agent) in [
            (&a, agent()),
            (&b, agent()),
            (&b, AgentId::new("t", "a", "other")),
        ] {
            let again = host.begin_run_with(RunOptions::new().agent(other_agent).id(id));
            assert!(
                matches!(again, Err(Error::RunState { run, status: "existing", .. }) if run == id),
                "{again:?}"
            );
        }
        // The run is untouched, and reads the same from both hosts.
        for host in [&a, &b] {
            assert_eq!(host.get(id, b"k").unwrap(), Some(b"from a".to_vec()));
            assert_eq!(host.run_info(id).unwrap().agent, agent());
        }
    });
}

#[test]
fn a_fork_is_begun_with_its_id_tags_and_metadata() {
    on_every_backend(|cluster| {
        let (a, b) = (cluster.host("a"), cluster.host("b"));
        let parent = a.begin_run_in(&agent()).unwrap();
        a.put(parent, b"k", b"parent's").unwrap();
        let id = RunId::new();
        let options = || {
            RunOptions::new()
                .id(id)
                .tag("copy")
                .metadata(Value::from("of the parent"))
        };
        let fork = a.fork_run_with(parent, At::Now, options()).unwrap();
        assert_eq!(fork, id);
        for host in [&a, &b] {
            let info = host.run_info(fork).unwrap();
            assert_eq!(
                (info.parent, info.tags.clone(), info.metadata.clone()),
                (
                    Some(parent),
                    vec!["copy".to_owned()],
                    Value::from("of the parent")
                )
            );
            assert_eq!(host.get(fork, b"k").unwrap(), Some(b"parent's".to_vec()));
        }
        // The id is taken, from either host; a fork runs in its parent's agent.
        for host in [&a, &b] {
            let again = host.fork_run_with(parent, At::Now, options());
            assert!(
                matches!(
                    again,
                    Err(Error::RunState {
                        status: "existing",
                        ..
                    })
                ),
                "{again:?}"
            );
        }
        let elsewhere = a.fork_run_with(
            parent,
            At::Now,
            RunOptions::new().agent(AgentId::new("t", "a", "other")),
        );
        assert!(
            matches!(elsewhere, Err(Error::InvalidOptions { .. })),
            "{elsewhere:?}"
        );
    });
}

#[test]
fn a_transaction_that_read_a_key_changed_since_conflicts_and_retries() {
    on_every_backend(|cluster| {
        let db = cluster.host("a");
        let run = db.begin_run();
        db.put(run, b"counter", [0]).unwrap();
        let result = db.transaction(run, |tx| {
            let seen = tx.get(b"counter")?.unwrap();
            // Another commit of the same run changes the key meanwhile.
            db.put(run, b"counter", [9]).unwrap();
            tx.put(b"counter", [seen[0] + 1])
        });
        assert!(matches!(result, Err(Error::Conflict { .. })), "{result:?}");
        assert_eq!(db.get(run, b"counter").unwrap(), Some(vec![9]));
        let mut attempts = 0;
        db.transaction_with_retry(run, RetryPolicy::default(), |tx| {
            attempts += 1;
            let seen = tx.get(b"counter")?.unwrap();
            if attempts == 1 {
                db.put(run, b"counter", [20]).unwrap();
            }
            tx.put(b"counter", [seen[0] + 1])
        })
        .unwrap();
        assert_eq!(attempts, 2);
        assert_eq!(db.get(run, b"counter").unwrap(), Some(vec![21]));
    });
}

#[test]
fn concurrent_increments_of_one_run_lose_nothing() {
    on_every_backend(|cluster| {
        let db = cluster.host("a");
        let run = db.begin_run();
        db.put_value(run, b"n", &Value::I64(0)).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        let policy = RetryPolicy {
                            max_attempts: 1000,
                            ..RetryPolicy::default()
                        };
                        db.transaction_with_retry(run, policy, |tx| {
                            let Some(Value::I64(n)) = tx.get_value(b"n")? else {
                                unreachable!()
                            };
                            tx.put_value(b"n", &Value::I64(n + 1))
                        })
                        .unwrap();
                    }
                });
            }
        });
        assert_eq!(db.get_value(run, b"n").unwrap(), Some(Value::I64(40)));
    });
}

#[test]
fn events_cells_and_spans_work_and_are_read_on_another_host() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let run = a.begin_run_in(&agent()).unwrap();
        for i in 0..3 {
            a.transaction(run, |tx| {
                tx.events().append("step", &Value::I64(i)).map(|_| ())
            })
            .unwrap();
        }
        a.transaction(run, |tx| {
            tx.cells().init("phase", Value::from("plan")).map(|_| ())
        })
        .unwrap();
        let version = a
            .transaction(run, |tx| {
                Ok::<_, Error>(tx.cells().get("phase")?.unwrap().version)
            })
            .unwrap();
        a.transaction(run, |tx| {
            tx.cells()
                .cas("phase", version, Value::from("act"))
                .map(|_| ())
        })
        .unwrap();
        let stale = a.transaction(run, |tx| {
            tx.cells()
                .cas("phase", version, Value::from("again"))
                .map(|_| ())
        });
        assert!(
            matches!(stale, Err(Error::StaleVersion { .. })),
            "{stale:?}"
        );
        let b = cluster.host("b");
        b.transaction(run, |tx| {
            let mut events = tx.events();
            assert_eq!(events.len()?, 3);
            assert_eq!(events.verify_chain(run)?.events, 3);
            assert_eq!(events.get(1)?.unwrap().payload, Value::I64(1));
            assert_eq!(tx.cells().get("phase")?.unwrap().value, Value::from("act"));
            Ok::<_, Error>(())
        })
        .unwrap();
    });
}

#[test]
fn spans_and_ttls_hold_across_hosts() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let run = a.begin_run_in(&agent()).unwrap();
        let tool = SpanKind::ToolCall {
            tool: "search".into(),
            arguments: Value::from("agents"),
            result: None,
            duration_us: None,
        };
        let parent = a
            .transaction(run, |tx| tx.spans().start(NewSpan::new(tool.clone())))
            .unwrap();
        let child = a
            .transaction(run, |tx| {
                tx.spans()
                    .record(NewSpan::new(tool.clone()).parent(parent).tag("inner"))
            })
            .unwrap();
        a.transaction(run, |tx| {
            tx.spans()
                .finish(parent, SpanStatus::Ok, Some(Value::from("3 hits")))
                .map(drop)
        })
        .unwrap();
        a.put_with_ttl(run, b"short", b"lived", Duration::from_millis(300))
            .unwrap();
        a.put_with_ttl(run, b"long", b"lived", Duration::from_secs(3600))
            .unwrap();
        let b = cluster.host("b");
        b.transaction(run, |tx| {
            let mut spans = tx.spans();
            let finished = spans.get(parent)?.unwrap();
            assert_eq!(finished.status, SpanStatus::Ok);
            let children: Vec<SpanId> = spans.children(parent)?.iter().map(|s| s.id).collect();
            assert_eq!(children, vec![child]);
            assert_eq!(spans.by_tag("inner")?.len(), 1);
            Ok::<_, Error>(())
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        for host in [&a, &b] {
            assert_eq!(host.get(run, b"short").unwrap(), None, "expired");
            assert_eq!(host.get(run, b"long").unwrap(), Some(b"lived".to_vec()));
        }
    });
}

#[test]
fn run_transitions_hold_across_hosts() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let run = a.begin_run_in(&agent()).unwrap();
        a.pause_run(run).unwrap();
        assert!(
            a.put(run, b"k", b"v").is_err(),
            "a paused run takes no writes"
        );
        a.resume_run(run).unwrap();
        a.put(run, b"k", b"v").unwrap();
        a.fail_run(run, "tool crashed").unwrap();
        let b = cluster.host("b");
        let info = b.run_info(run).unwrap();
        assert_eq!(info.status, RunStatus::Failed);
        assert_eq!(b.get(run, b"k").unwrap(), Some(b"v".to_vec()));
        // A paused run takes tag changes, and can be ended without resuming it.
        let paused = a.begin_run_in(&agent()).unwrap();
        a.pause_run(paused).unwrap();
        a.set_run_tags(paused, ["waiting"]).unwrap();
        a.end_run(paused).unwrap();
        let info = b.run_info(paused).unwrap();
        assert_eq!(info.status, RunStatus::Completed);
        assert_eq!(info.tags, vec!["waiting".to_owned()]);
    });
}

// ----- shared mode only ------------------------------------------------------------------------

#[test]
fn versions_are_per_agent_and_dense() {
    on_shared_backends(|cluster| {
        let db = cluster.host("a");
        let run = db.begin_run_in(&agent()).unwrap();
        // Version 1 is the run's record; the puts follow it.
        assert_eq!(db.put(run, b"a", b"1").unwrap(), 2);
        assert_eq!(db.put(run, b"b", b"2").unwrap(), 3);
        let other = db
            .begin_run_in(&AgentId::new("tenant", "app", "second"))
            .unwrap();
        assert_eq!(db.put(other, b"a", b"1").unwrap(), 2);
    });
}

#[test]
fn commits_of_two_hosts_interleave_without_breaking_either_run() {
    on_shared_backends(|cluster| {
        let a = cluster.host("a");
        let b = cluster.host("b");
        let agent = agent();
        let run_a = a.begin_run_in(&agent).unwrap();
        let run_b = b.begin_run_in(&agent).unwrap();
        let mut seen = Vec::new();
        for i in 0u8..20 {
            seen.push(a.put(run_a, b"from-a", [i]).unwrap());
            seen.push(b.put(run_b, b"from-b", [i]).unwrap());
            // Each run reads its own newest write, never the other's.
            assert_eq!(a.get(run_a, b"from-a").unwrap(), Some(vec![i]));
            assert_eq!(b.get(run_b, b"from-b").unwrap(), Some(vec![i]));
            assert_eq!(a.get(run_a, b"from-b").unwrap(), None);
            assert_eq!(b.get(run_b, b"from-a").unwrap(), None);
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "every commit has its own version");
        let later = a.begin_run_in(&agent).unwrap();
        assert_eq!(a.get(later, b"from-b").unwrap(), Some(vec![19]));
        assert_eq!(a.refresh().unwrap().unread_tail, None);
    });
}

#[test]
fn a_run_taken_over_fences_its_former_owner() {
    on_shared_backends(|cluster| {
        let a = cluster.host("a");
        let b = cluster.host("b");
        let run = a.begin_run_in(&agent()).unwrap();
        a.put(run, b"step", b"1").unwrap();
        // Host b cannot write to a's run until it takes it over.
        assert!(matches!(
            b.put(run, b"step", b"x"),
            Err(Error::NotOwner { .. })
        ));
        b.take_over_run(run).unwrap();
        assert_eq!(b.get(run, b"step").unwrap(), Some(b"1".to_vec()));
        b.put(run, b"step", b"2").unwrap();
        // Host a learned of the takeover while b waited out a's lease (a renewal asks which
        // runs a still owns), so its late write is refused here already; one sent before it
        // learned would be fenced by the store (the conformance suite checks that).
        let late = a.put(run, b"step", b"late");
        assert!(
            matches!(
                late,
                Err(Error::NotOwner { .. } | Error::Remote(RemoteError::Fenced { .. }))
            ),
            "{late:?}"
        );
        assert_eq!(b.get(run, b"step").unwrap(), Some(b"2".to_vec()));
        b.end_run(run).unwrap();
        let c = cluster.host("c");
        assert_eq!(c.get(run, b"step").unwrap(), Some(b"2".to_vec()));
        assert_eq!(c.run_info(run).unwrap().status, RunStatus::Completed);
        // The fenced host let the run go: once it catches up, it sees the new owner's ending.
        a.refresh().unwrap();
        assert_eq!(a.run_info(run).unwrap().status, RunStatus::Completed);
        assert!(matches!(
            a.put(run, b"step", b"3"),
            Err(Error::RunEnded { .. })
        ));
    });
}

#[test]
fn a_former_owner_reads_what_the_new_owner_wrote() {
    on_shared_backends(|cluster| {
        let a = cluster.host("a");
        let b = cluster.host("b");
        let run = a.begin_run_in(&agent()).unwrap();
        a.put(run, b"step", b"1").unwrap();
        a.put(run, b"kept", b"yes").unwrap();
        assert_eq!(a.get(run, b"step").unwrap(), Some(b"1".to_vec()));
        // Host a is alive and reads the run from its cache: the handover waits out its lease.
        b.take_over_run(run).unwrap();
        b.put(run, b"step", b"2").unwrap();
        b.delete(run, b"kept").unwrap();
        // Host a no longer serves the run from what it had cached: it reads what b wrote.
        assert_eq!(a.get(run, b"step").unwrap(), Some(b"2".to_vec()));
        assert_eq!(a.get(run, b"kept").unwrap(), None);
        assert_eq!(a.list(run, b"").unwrap().len(), 1);
        assert!(matches!(
            a.put(run, b"step", b"3"),
            Err(Error::NotOwner { .. })
        ));
        b.end_run(run).unwrap();
    });
}

#[test]
fn an_owner_that_stops_renewing_its_lease_leaves_its_runs_interrupted() {
    on_shared_backends(|cluster| {
        let a = cluster.host("a");
        let run = a.begin_run_in(&agent()).unwrap();
        a.put(run, b"k", b"v").unwrap();
        let host_a = format!("a-{}", cluster.schema);
        drop(a);
        // Host a is gone (its lease thread stopped with it); a short lease ran out.
        let b = cluster.host("b");
        let store = store_of(cluster);
        store
            .renew_lease(&host_a, Duration::from_millis(1))
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let row = store.run(run).unwrap().unwrap();
        assert_eq!(row.status, StoredRunStatus::Interrupted);
        // Other hosts see it so too, in its description and in run queries.
        assert_eq!(b.run_info(run).unwrap().status, RunStatus::Interrupted);
        let interrupted = RunQuery::new().status(RunStatus::Interrupted);
        let found: Vec<RunId> = b
            .try_query_runs(&interrupted)
            .unwrap()
            .iter()
            .map(|i| i.run)
            .collect();
        assert_eq!(found, vec![run]);
        let c = cluster.host("c");
        let active = RunQuery::new().agent_id(&agent()).status(RunStatus::Active);
        assert!(c.try_query_runs(&active).unwrap().is_empty());
        assert_eq!(c.try_query_runs(&interrupted).unwrap().len(), 1);
        b.take_over_run(run).unwrap();
        b.put(run, b"k", b"after").unwrap();
        assert_eq!(
            store.run(run).unwrap().unwrap().status,
            StoredRunStatus::Active
        );
        assert_eq!(b.run_info(run).unwrap().status, RunStatus::Active);
        assert_eq!(c.run_info(run).unwrap().status, RunStatus::Active);
    });
}

#[test]
fn a_host_meeting_a_long_history_catches_up_in_chunks() {
    on_shared_backends(|cluster| {
        let a = cluster.host("a");
        let run = a.begin_run_in(&agent()).unwrap();
        // More commits than one catch-up request fetches.
        for i in 0u32..2_500 {
            a.put(run, format!("k{}", i % 100), i.to_be_bytes())
                .unwrap();
        }
        let b = cluster.host("b");
        let later = b.begin_run_in(&agent()).unwrap();
        assert_eq!(b.list(later, b"k").unwrap().len(), 100);
        assert_eq!(
            b.get(later, b"k99").unwrap(),
            Some(2_499u32.to_be_bytes().to_vec())
        );
        assert_eq!(
            b.get(run, b"k0").unwrap(),
            Some(2_400u32.to_be_bytes().to_vec())
        );
    });
}

#[test]
fn a_paused_run_taken_over_is_active_again_everywhere() {
    on_shared_backends(|cluster| {
        let a = cluster.host("a");
        let run = a.begin_run_in(&agent()).unwrap();
        a.pause_run(run).unwrap();
        let b = cluster.host("b");
        b.take_over_run(run).unwrap();
        assert_eq!(b.run_info(run).unwrap().status, RunStatus::Active);
        assert_eq!(
            store_of(cluster).run(run).unwrap().unwrap().status,
            StoredRunStatus::Active
        );
        b.put(run, b"k", b"v").unwrap();
        b.end_run(run).unwrap();
    });
}

#[test]
fn a_retagged_run_is_found_by_its_new_tags_from_every_host() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let run = a
            .begin_run_with(RunOptions::new().agent(agent()).tag("old").tag("kept"))
            .unwrap();
        a.set_run_tags(run, ["kept", "new"]).unwrap();
        let c = cluster.host("c");
        for (tag, found) in [("old", false), ("kept", true), ("new", true)] {
            let runs: Vec<RunId> = c
                .try_query_runs(&RunQuery::new().tag(tag))
                .unwrap()
                .into_iter()
                .map(|info| info.run)
                .collect();
            assert_eq!(runs.contains(&run), found, "tag {tag}: {runs:?}");
        }
        assert_eq!(
            c.run_info(run).unwrap().tags,
            vec!["kept".to_owned(), "new".to_owned()]
        );
    });
}

#[test]
fn run_queries_find_the_runs_of_every_host() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let b = cluster.host("b");
        let nightly = a
            .begin_run_with(RunOptions::new().agent(agent()).tag("nightly"))
            .unwrap();
        let other = b
            .begin_run_with(RunOptions::new().agent(agent()).tag("nightly"))
            .unwrap();
        let untagged = b.begin_run_in(&agent()).unwrap();
        b.end_run(other).unwrap();
        let c = cluster.host("c");
        let tagged: Vec<RunId> = c
            .try_query_runs(&RunQuery::new().tag("nightly"))
            .unwrap()
            .into_iter()
            .map(|info| info.run)
            .collect();
        assert_eq!(
            tagged,
            vec![nightly, other],
            "oldest first, from both hosts"
        );
        let active: Vec<RunId> = c
            .query_runs(&RunQuery::new().agent_id(&agent()).status(RunStatus::Active))
            .into_iter()
            .map(|info| info.run)
            .collect();
        assert_eq!(active, vec![nightly, untagged]);
        let counts = c.run_counts();
        assert_eq!(counts[&RunStatus::Active], 2);
        assert_eq!(counts[&RunStatus::Completed], 1);
    });
}

#[test]
fn run_queries_by_tenant_and_app_find_exactly_theirs_on_every_host() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let begin =
            |tenant: &str, app: &str| a.begin_run_in(&AgentId::new(tenant, app, "agent")).unwrap();
        let (mail, chat) = (begin("acme", "mail"), begin("acme", "chat"));
        // Names that extend another's: not that tenant's, not that app's.
        let (longer_app, longer_tenant) = (begin("acme", "mailx"), begin("acmex", "mail"));
        let c = cluster.host("c");
        let ids = |query: RunQuery| -> Vec<RunId> {
            let mut ids: Vec<RunId> = c
                .try_query_runs(&query)
                .unwrap()
                .into_iter()
                .map(|info| info.run)
                .collect();
            ids.sort_unstable();
            ids
        };
        let sorted = |mut runs: Vec<RunId>| {
            runs.sort_unstable();
            runs
        };
        assert_eq!(
            ids(RunQuery::new().tenant("acme")),
            sorted(vec![mail, chat, longer_app])
        );
        assert_eq!(ids(RunQuery::new().tenant("acme").app("mail")), vec![mail]);
        // An app without its tenant is not a prefix the store can use: still exact.
        assert_eq!(
            ids(RunQuery::new().app("mail")),
            sorted(vec![mail, longer_tenant])
        );
    });
}

#[test]
fn a_fork_sees_its_parent_up_to_the_fork_point_on_every_host() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let parent = a.begin_run_in(&agent()).unwrap();
        a.put(parent, b"plan", b"first").unwrap();
        let fork = a.fork_run(parent, At::Now).unwrap();
        a.put(parent, b"plan", b"second").unwrap();
        a.put(fork, b"alternative", b"yes").unwrap();
        let b = cluster.host("b");
        for host in [&a, &b] {
            assert_eq!(host.get(fork, b"plan").unwrap(), Some(b"first".to_vec()));
            assert_eq!(
                host.get(fork, b"alternative").unwrap(),
                Some(b"yes".to_vec())
            );
            assert_eq!(host.get(parent, b"plan").unwrap(), Some(b"second".to_vec()));
            assert_eq!(host.get(parent, b"alternative").unwrap(), None);
            let info = host.run_info(fork).unwrap();
            assert_eq!(info.parent, Some(parent));
        }
        // Another host forks a run it does not own, at its newest point.
        let second = b.fork_run(parent, At::Now).unwrap();
        assert_eq!(b.get(second, b"plan").unwrap(), Some(b"second".to_vec()));
        b.put(second, b"plan", b"third").unwrap();
        assert_eq!(a.get(second, b"plan").unwrap(), Some(b"third".to_vec()));
        assert_eq!(a.get(parent, b"plan").unwrap(), Some(b"second".to_vec()));
        let diff = a.diff_runs(parent, fork).unwrap();
        assert!(
            !diff.kv.is_empty(),
            "the fork and its parent differ: {diff:?}"
        );
    });
}

#[test]
fn what_shared_mode_does_not_offer_yet_is_refused_by_name() {
    on_shared_backends(|cluster| {
        let db = cluster.host("a");
        let run = db.begin_run();
        db.put(run, b"k", b"v").unwrap();
        assert!(matches!(
            db.checkpoint(),
            Err(Error::SharedModeUnsupported { .. })
        ));
        db.end_run(run).unwrap();
        assert!(matches!(
            db.delete_run(run),
            Err(Error::SharedModeUnsupported { .. })
        ));
        assert!(matches!(
            db.set_run_tags(run, ["late"]),
            Err(Error::SharedModeUnsupported { .. })
        ));
        assert!(db.is_connected());
        assert_eq!(db.sweep(), in_mem_engine::SweepStats::default());
    });
}

#[test]
fn a_dump_of_a_shared_store_restores_to_an_embedded_database_that_reads_the_same() {
    on_shared_backends(|cluster| {
        let a = cluster.host("a");
        let b = cluster.host("b");
        let planner = AgentId::new("tenant", "app", "planner");
        let critic = AgentId::new("tenant", "app", "critic");
        // Two agents written by two hosts, interleaved; a fork; a deletion; an event.
        let first = a.begin_run_in(&planner).unwrap();
        let other = b.begin_run_in(&critic).unwrap();
        a.put(first, b"plan", b"v1").unwrap();
        b.put(other, b"note", b"fine").unwrap();
        let point = a.put(first, b"plan", b"v2").unwrap();
        a.put(first, b"scratch", b"x").unwrap();
        a.delete(first, b"scratch").unwrap();
        let fork = a.fork_run(first, At::Version(point)).unwrap();
        a.put(fork, b"plan", b"forked").unwrap();
        a.end_run(first).unwrap();
        b.transaction(other, |tx| {
            tx.events().append("seen", &Value::from("plan v2"))
        })
        .unwrap();
        b.end_run(other).unwrap();
        let later = b.begin_run_in(&planner).unwrap();
        // Read from a third host, which caches nothing yet.
        let reader = cluster.host("reader");
        let dump = reader.dump(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let restored = Database::restore(dir.path().join("db"), &dump).unwrap();
        for run in [first, fork, other, later] {
            assert_eq!(
                restored.list(run, b"").unwrap(),
                reader.list(run, b"").unwrap(),
                "run {run}"
            );
            assert_eq!(
                restored.run_info(run).unwrap().parent,
                reader.run_info(run).unwrap().parent
            );
        }
        assert_eq!(restored.list(fork, b"").unwrap()[0].1, b"forked".to_vec());
        // A run begun after them reads the agent's memory as its newest commits left it.
        assert_eq!(restored.list(later, b"").unwrap()[0].1, b"forked".to_vec());
        assert_eq!(restored.list(first, b"").unwrap()[0].1, b"v2".to_vec());
        assert_eq!(
            restored
                .transaction(other, |tx| tx.events().verify_chain(other))
                .unwrap()
                .events,
            1
        );
        // Ranked once: the restored database dumps exactly the same.
        assert_eq!(restored.dump(None).unwrap(), dump);
        // One run with the runs it was forked from: their records and what they wrote.
        let of_fork = reader.dump(Some(&[fork, first])).unwrap();
        let writers: std::collections::BTreeSet<RunId> =
            of_fork.entries.iter().map(|e| e.writer).collect();
        assert_eq!(writers, [first, fork].into_iter().collect());
    });
}

#[test]
fn a_key_range_reads_the_runs_view_between_two_keys() {
    on_every_backend(|cluster| {
        let db = cluster.host("a");
        let run = db.begin_run_in(&agent()).unwrap();
        for key in ["log:1", "log:2", "log:3", "log:4", "other"] {
            db.put(run, key, key.as_bytes()).unwrap();
        }
        db.delete(run, "log:3").unwrap();
        // Written by a run begun later: not in this run's view.
        let later = db.begin_run_in(&agent()).unwrap();
        db.put(later, "log:25", b"later").unwrap();
        let keys = |pairs: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<String> {
            pairs
                .into_iter()
                .map(|(k, _)| String::from_utf8(k).unwrap())
                .collect()
        };
        assert_eq!(keys(db.range(run, "log:2".."log:4").unwrap()), ["log:2"]);
        assert_eq!(
            keys(db.range(run, "log:2"..="log:4").unwrap()),
            ["log:2", "log:4"]
        );
        assert_eq!(
            keys(db.range(run, "log:2"..).unwrap()),
            ["log:2", "log:4", "other"]
        );
        assert_eq!(
            keys(
                db.range::<&str>(run, (Bound::Excluded("log:2"), Bound::Unbounded))
                    .unwrap()
            ),
            ["log:4", "other"]
        );
        assert_eq!(
            keys(db.range(later, "log:2".."log:3").unwrap()),
            ["log:2", "log:25"]
        );
        assert!(db.range(run, "log:4".."log:1").unwrap().is_empty());
        let long = vec![b'k'; 100_000];
        assert!(db.range(run, long.as_slice()..).is_err());
    });
}

#[test]
fn store_stats_count_the_store_and_embedded_has_none() {
    on_every_backend(|cluster| {
        let a = cluster.host("a");
        let run = a.begin_run_in(&agent()).unwrap();
        a.put(run, b"k1", b"1").unwrap();
        a.put(run, b"k1", b"2").unwrap();
        a.put(run, b"k2", b"3").unwrap();
        a.end_run(run).unwrap();
        let Some(stats) = a.store_stats().unwrap() else {
            assert!(!cluster.shared(), "a connected database counts its store");
            return;
        };
        assert!(cluster.shared());
        assert_eq!(stats.agents, 1);
        // The run's records are commits and keys too.
        assert!(stats.commits >= 4, "{stats:?}");
        assert!(stats.keys >= 2 && stats.versions > stats.keys, "{stats:?}");
        assert_eq!(stats.runs, vec![(StoredRunStatus::Completed, 1)]);
        assert!(stats.live_hosts >= 1, "{stats:?}");
    });
}

#[test]
fn a_run_reads_its_acknowledged_write_once_a_failed_catch_up_succeeds_and_never_short_of_it() {
    let store = Arc::new(MemStore::new());
    let options = RemoteOptions::new("").lease_ttl(Duration::from_secs(600));
    let a = Database::connect_store(store.clone(), options.clone().host_id("a")).unwrap();
    let b = Database::connect_store(store.clone(), options.host_id("b")).unwrap();
    let run = a.begin_run_in(&agent()).unwrap();
    let other = b.begin_run_in(&agent()).unwrap();
    a.put(run, b"k", b"1").unwrap();
    // Host b's commit sits below host a's next one, and host a cannot fetch it for a while.
    b.put(other, b"elsewhere", b"x").unwrap();
    store.set_catch_up_unavailable(true);
    let version = a.put(run, b"k", b"2").unwrap();
    // Acknowledged, but the run's view would stop short of it: the read fails instead.
    assert!(matches!(a.get(run, b"k"), Err(Error::Remote(_))));
    store.set_catch_up_unavailable(false);
    assert_eq!(a.get(run, b"k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(
        a.get_versioned(run, b"k").unwrap().unwrap().version,
        version
    );
    a.put(run, b"k", b"3").unwrap();
    assert_eq!(a.get(run, b"k").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn connect_without_a_backend_says_which_feature_is_missing() {
    if cfg!(feature = "postgres") {
        return;
    }
    let err = Database::connect(RemoteOptions::new("postgres://localhost/x")).unwrap_err();
    assert!(err.to_string().contains("postgres"), "{err}");
}

#[test]
fn options_that_cannot_work_are_refused() {
    let store: Arc<dyn RemoteStore> = Arc::new(MemStore::new());
    let short = RemoteOptions::new("").lease_ttl(Duration::from_millis(10));
    assert!(matches!(
        Database::connect_store(Arc::clone(&store), short),
        Err(Error::InvalidOptions { .. })
    ));
    // A lease so long that a takeover would wait it out for a day.
    let long = RemoteOptions::new("").lease_ttl(Duration::from_secs(86_400));
    assert!(matches!(
        Database::connect_store(Arc::clone(&store), long),
        Err(Error::InvalidOptions { reason }) if reason.contains("one hour")
    ));
    let nameless = RemoteOptions::new("").host_id("");
    assert!(matches!(
        Database::connect_store(Arc::clone(&store), nameless),
        Err(Error::InvalidOptions { .. })
    ));
    let unconnected = RemoteOptions::new("").connections(0);
    assert!(matches!(
        Database::connect_store(store, unconnected),
        Err(Error::InvalidOptions { .. })
    ));
}
