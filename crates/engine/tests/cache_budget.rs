//! Shared mode's cache budget (`RemoteOptions::cache_bytes`): a host whose cached agents pass
//! it evicts the ones used least recently, and every read stays right: an evicted agent is
//! loaded again from the store before anything of it is read, a run owned here keeps its agent,
//! and a view held across evictions keeps reading what it read. On `MemStore`, and on
//! PostgreSQL under `cargo xtask pg-test` (see `backend_kit`).

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod backend_kit;

use backend_kit::{Cluster, on_shared_backends};
use in_mem_core_types::{AgentId, RunId};
use in_mem_engine::{At, Database, RunQuery, RunStatus};

const AGENTS: usize = 6;
const KEYS: usize = 12;
const VALUE_BYTES: usize = 1024;
/// Roughly what one agent of this test takes in the cache (its keys are about 60 bytes).
const AGENT_BYTES: u64 = (KEYS * (VALUE_BYTES + 60 + 320)) as u64;

fn agent(i: usize) -> AgentId {
    AgentId::new("tenant", "cache", format!("agent-{i}"))
}

fn key(k: usize) -> Vec<u8> {
    format!("key-{k:02}").into_bytes()
}

/// Each agent's values differ, and say whose they are.
fn value(agent: usize, k: usize, generation: usize) -> Vec<u8> {
    let mut v = format!("agent {agent} key {k} generation {generation} ").into_bytes();
    v.resize(VALUE_BYTES, b'.');
    v
}

/// Per agent, an ended run that wrote `KEYS` keys, and a live run with one key of its own.
struct Written {
    ended: Vec<RunId>,
    live: Vec<RunId>,
}

fn write_agents(db: &Database) -> Written {
    let mut written = Written {
        ended: Vec::new(),
        live: Vec::new(),
    };
    for i in 0..AGENTS {
        let run = db.begin_run_in(&agent(i)).unwrap();
        for k in 0..KEYS {
            db.put(run, key(k), value(i, k, 0)).unwrap();
        }
        db.end_run(run).unwrap();
        let live = db.begin_run_in(&agent(i)).unwrap();
        db.put(live, b"live", value(i, 0, 1)).unwrap();
        written.ended.push(run);
        written.live.push(live);
    }
    written
}

fn check_ended_run(db: &Database, i: usize, run: RunId) {
    for k in [0, KEYS / 2, KEYS - 1] {
        assert_eq!(
            db.get(run, key(k)).unwrap(),
            Some(value(i, k, 0)),
            "agent {i} key {k}"
        );
    }
    let listed = db.list(run, b"key-").unwrap();
    assert_eq!(listed.len(), KEYS, "agent {i}: every key listed");
    for (k, (listed_key, listed_value)) in listed.iter().enumerate() {
        assert_eq!((listed_key, listed_value), (&key(k), &value(i, k, 0)));
    }
}

fn small_cache(cluster: &Cluster, name: &str, bytes: u64) -> Database {
    cluster.host_with(name, |options| options.cache_bytes(bytes))
}

#[test]
fn a_host_over_its_budget_evicts_cold_agents_and_reads_them_again() {
    on_shared_backends(|cluster| {
        let writer = cluster.host("a");
        let written = write_agents(&writer);
        let reader = small_cache(cluster, "b", 2 * AGENT_BYTES);
        for round in 0..3 {
            for i in 0..AGENTS {
                check_ended_run(&reader, i, written.ended[i]);
                assert_eq!(
                    reader.get(written.live[i], b"live").unwrap(),
                    Some(value(i, 0, 1)),
                    "round {round}, agent {i}'s live run"
                );
                let stats = reader.cache_stats().unwrap();
                // The agent being read may take the cache past the budget by itself.
                assert!(
                    stats.bytes <= stats.limit + AGENT_BYTES,
                    "round {round}, agent {i}: {stats:?}"
                );
            }
        }
        let stats = reader.cache_stats().unwrap();
        // Six agents through a cache of two, three times over.
        assert!(stats.evictions >= 10, "{stats:?}");
        assert!(stats.agents < AGENTS, "{stats:?}");

        // A listing loads agent after agent, evicting the ones it loaded before: each run is
        // still described, its agent loaded again if need be (an ended run is described from
        // its record).
        for listing in [
            reader.runs(),
            reader.try_query_runs(&RunQuery::new()).unwrap(),
        ] {
            let ended = listing
                .iter()
                .filter(|info| info.status == RunStatus::Completed)
                .count();
            assert_eq!((listing.len(), ended), (2 * AGENTS, AGENTS), "{listing:?}");
        }

        // What the owner writes after an eviction is read too: the reload goes to the store's
        // newest commit, not just to where the cache had got.
        for i in 0..AGENTS {
            writer
                .put(written.live[i], b"live", value(i, 0, 2))
                .unwrap();
        }
        for i in (0..AGENTS).rev() {
            assert_eq!(
                reader.get(written.live[i], b"live").unwrap(),
                Some(value(i, 0, 2)),
                "agent {i}'s live run after its owner's second write"
            );
        }
        // `refresh` skips agents with nothing cached rather than loading them all.
        reader.refresh().unwrap();
        assert!(reader.cache_stats().unwrap().bytes <= 2 * AGENT_BYTES + AGENT_BYTES);
    });
}

#[test]
fn a_run_owned_here_keeps_its_agent_and_its_snapshot() {
    on_shared_backends(|cluster| {
        let writer = cluster.host("a");
        let written = write_agents(&writer);
        // Every agent not held or owned goes at the first catch-up past one byte.
        let host = small_cache(cluster, "b", 1);
        let mine = host.begin_run_in(&agent(0)).unwrap();
        host.put(mine, b"mine", b"1").unwrap();
        // After the run began: its snapshot does not include this.
        writer
            .put(written.live[0], b"after-my-begin", b"x")
            .unwrap();
        for i in 1..AGENTS {
            check_ended_run(&host, i, written.ended[i]);
        }
        assert!(host.cache_stats().unwrap().evictions >= 4);
        // Agent 0 stayed: the run reads its own write and the agent's memory at its snapshot
        // (the ended run's keys, not what was written after it began), and the ended run as it
        // was.
        assert_eq!(host.get(mine, b"mine").unwrap(), Some(b"1".to_vec()));
        assert_eq!(host.get(mine, key(3)).unwrap(), Some(value(0, 3, 0)));
        assert_eq!(host.get(mine, b"after-my-begin").unwrap(), None);
        check_ended_run(&host, 0, written.ended[0]);
        let info = host.run_info(mine).unwrap();
        assert!(!info.status.is_terminal());
        // Once the run ends, the agent may go like any other, and reads of it still work.
        host.end_run(mine).unwrap();
        for i in 1..AGENTS {
            check_ended_run(&host, i, written.ended[i]);
        }
        assert_eq!(host.get(mine, b"mine").unwrap(), Some(b"1".to_vec()));
        assert_eq!(host.get(mine, b"after-my-begin").unwrap(), None);
        check_ended_run(&host, 0, written.ended[0]);
    });
}

#[test]
fn a_view_held_across_evictions_reads_what_it_read() {
    on_shared_backends(|cluster| {
        let writer = cluster.host("a");
        let written = write_agents(&writer);
        let reader = small_cache(cluster, "b", 1);
        let view = reader.run_view_at(written.ended[2], At::Now).unwrap();
        let before = view.list(b"key-").unwrap();
        assert_eq!(before.len(), KEYS);
        for i in (0..AGENTS).filter(|&i| i != 2) {
            check_ended_run(&reader, i, written.ended[i]);
        }
        assert!(reader.cache_stats().unwrap().evictions >= 3);
        // The view holds its agent: nothing it reads went.
        assert_eq!(view.list(b"key-").unwrap(), before);
        assert_eq!(view.get(key(5)).unwrap(), Some(value(2, 5, 0)));
        drop(view);
        for i in 0..AGENTS {
            check_ended_run(&reader, i, written.ended[i]);
        }
    });
}

#[test]
fn threads_reading_while_agents_are_evicted_read_right() {
    on_shared_backends(|cluster| {
        let writer = cluster.host("a");
        let written = write_agents(&writer);
        // Budget for one agent: nearly every call evicts another thread's agent, or reloads
        // its own.
        let reader = small_cache(cluster, "b", AGENT_BYTES);
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let (reader, written) = (&reader, &written);
                scope.spawn(move || {
                    for step in 0..12 {
                        let i = (thread + step * 5) % AGENTS;
                        check_ended_run(reader, i, written.ended[i]);
                        assert_eq!(
                            reader.get(written.live[i], b"live").unwrap(),
                            Some(value(i, 0, 1)),
                            "thread {thread} step {step}"
                        );
                    }
                });
            }
        });
        assert!(reader.cache_stats().unwrap().evictions > 0);
    });
}
