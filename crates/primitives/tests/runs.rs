#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)
//! `RunIndex`: the primitives' view of runs.

use in_mem_core_types::{AgentId, Value};
use in_mem_engine::{Database, RunOptions, RunQuery, RunStatus};
use in_mem_primitives::RunIndex;

#[test]
fn the_run_index_begins_ends_and_finds_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (done, failed, open_run) = {
        let db = Database::open(dir.path()).unwrap();
        let runs = RunIndex::new(&db);
        let agent = AgentId::new("acme", "support", "triage");
        let done = runs
            .begin(RunOptions::new().agent(agent.clone()).tag("eval"))
            .unwrap();
        let failed = runs
            .begin(RunOptions::new().agent(agent.clone()).parent(done))
            .unwrap();
        let open_run = runs.begin(RunOptions::new().agent(agent)).unwrap();
        runs.set_metadata(done, Value::from("gold set")).unwrap();
        runs.complete(done).unwrap();
        runs.fail(failed, "rate limited").unwrap();
        (done, failed, open_run)
    };
    let db = Database::open(dir.path()).unwrap();
    let runs = RunIndex::new(&db);
    assert_eq!(runs.get(done).unwrap().metadata, Value::from("gold set"));
    assert_eq!(runs.get(failed).unwrap().parent, Some(done));
    let interrupted: Vec<_> = runs.interrupted().iter().map(|r| r.run).collect();
    assert_eq!(interrupted, vec![open_run]);
    runs.resume(open_run).unwrap();
    runs.cancel(open_run).unwrap();
    let counts = runs.counts();
    assert_eq!(
        (
            counts[&RunStatus::Completed],
            counts[&RunStatus::Failed],
            counts[&RunStatus::Cancelled]
        ),
        (1, 1, 1)
    );
    let children: Vec<_> = runs
        .query(&RunQuery::new().parent(done))
        .iter()
        .map(|r| r.run)
        .collect();
    assert_eq!(children, vec![failed]);
    assert_eq!(
        runs.query(&RunQuery::new().tenant("acme").tag("eval"))
            .len(),
        1
    );
    assert!(runs.resume(done).is_err(), "no resurrection");
}
