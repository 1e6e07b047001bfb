//! A model test of the run model through `Database` on every backend (see `backend_kit`):
//! random operations of runs on two hosts sharing one agent, checked after each step against a
//! model that is only a list of commits and, per run, a snapshot into it and its own writes.
//! Whatever the backend, a run reads the agent's memory as of the commit it began after, plus
//! its own writes; `delete` says whether the key was there; ended runs refuse writes; any host
//! reads any run.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod backend_kit;

use std::collections::BTreeMap;

use backend_kit::{Cluster, backends};
use in_mem_core_types::{AgentId, RunId};
use in_mem_engine::{Database, Error};
use proptest::prelude::*;

const KEYS: u8 = 4;

#[derive(Debug, Clone)]
enum Op {
    Begin { host: usize },
    Put { run: usize, key: u8, value: u8 },
    Delete { run: usize, key: u8 },
    Get { run: usize, key: u8, via: usize },
    List { run: usize, via: usize },
    End { run: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..2usize).prop_map(|host| Op::Begin { host }),
        4 => (0..8usize, 0..KEYS, any::<u8>()).prop_map(|(run, key, value)| Op::Put { run, key, value }),
        2 => (0..8usize, 0..KEYS).prop_map(|(run, key)| Op::Delete { run, key }),
        3 => (0..8usize, 0..KEYS, 0..2usize).prop_map(|(run, key, via)| Op::Get { run, key, via }),
        1 => (0..8usize, 0..2usize).prop_map(|(run, via)| Op::List { run, via }),
        1 => (0..8usize).prop_map(|run| Op::End { run }),
    ]
}

/// One run as the model sees it.
struct ModelRun {
    id: RunId,
    host: usize,
    /// How many commits of the agent it sees.
    snapshot: usize,
    ended: bool,
}

/// The agent's commits in order: (writer, key, value or deletion).
type Commits = Vec<(usize, u8, Option<u8>)>;

/// What run `r` sees: the commits before its snapshot, then its own.
fn view(commits: &Commits, runs: &[ModelRun], r: usize) -> BTreeMap<u8, u8> {
    let mut seen = BTreeMap::new();
    for (i, &(writer, key, value)) in commits.iter().enumerate() {
        if i < runs[r].snapshot || writer == r {
            match value {
                Some(v) => seen.insert(key, v),
                None => seen.remove(&key),
            };
        }
    }
    seen
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k}").into_bytes()
}

fn check(cluster: &Cluster, ops: &[Op]) {
    let hosts: Vec<Database> = vec![cluster.host("a"), cluster.host("b")];
    let agent = AgentId::new("tenant", "model", "agent");
    let mut commits: Commits = Vec::new();
    let mut runs: Vec<ModelRun> = Vec::new();
    for op in ops {
        match *op {
            Op::Begin { host } => {
                let id = hosts[host].begin_run_in(&agent).unwrap();
                runs.push(ModelRun {
                    id,
                    host,
                    snapshot: commits.len(),
                    ended: false,
                });
            }
            Op::Put { run, key: k, value } if run < runs.len() => {
                let r = &runs[run];
                let done = hosts[r.host].put(r.id, key(k), [value]);
                if r.ended {
                    assert!(
                        matches!(done, Err(Error::RunEnded { .. })),
                        "{op:?}: {done:?}"
                    );
                } else {
                    done.unwrap();
                    commits.push((run, k, Some(value)));
                }
            }
            Op::Delete { run, key: k } if run < runs.len() => {
                let r = &runs[run];
                let expected = view(&commits, &runs, run).contains_key(&k);
                let done = hosts[r.host].delete(r.id, key(k));
                if r.ended {
                    assert!(
                        matches!(done, Err(Error::RunEnded { .. })),
                        "{op:?}: {done:?}"
                    );
                } else {
                    assert_eq!(done.unwrap(), expected, "{op:?}: did the key exist");
                    if expected {
                        // A delete of a key the run does not see commits nothing.
                        commits.push((run, k, None));
                    }
                }
            }
            Op::Get { run, key: k, via } if run < runs.len() => {
                let expected = view(&commits, &runs, run).get(&k).map(|v| vec![*v]);
                let found = hosts[via].get(runs[run].id, key(k)).unwrap();
                assert_eq!(found, expected, "{op:?}");
            }
            Op::List { run, via } if run < runs.len() => {
                let expected: Vec<(Vec<u8>, Vec<u8>)> = view(&commits, &runs, run)
                    .into_iter()
                    .map(|(k, v)| (key(k), vec![v]))
                    .collect();
                let found = hosts[via].list(runs[run].id, b"k").unwrap();
                assert_eq!(found, expected, "{op:?}");
            }
            Op::End { run } if run < runs.len() => {
                let r = &mut runs[run];
                let done = hosts[r.host].end_run(r.id);
                if r.ended {
                    assert!(done.is_err(), "{op:?}: ending twice");
                } else {
                    done.unwrap();
                    r.ended = true;
                }
            }
            _ => {}
        }
    }
    for host in hosts {
        host.close().unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn runs_on_two_hosts_match_the_model_on_every_backend(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        for backend in backends() {
            check(&Cluster::new(backend), &ops);
        }
    }
}
