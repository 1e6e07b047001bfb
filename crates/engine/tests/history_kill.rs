//! History across a real crash: a child process writes a run, forks it at acknowledged points
//! (with checkpoints in between), writes in the forks, and is killed with `SIGKILL`. After
//! reopen, every acknowledged fork exists with its lineage, reads exactly its parent's view at
//! the fork point plus its own acknowledged writes, and every view of the parent's past reads
//! as it did before the crash.
//!
//! The child is this test binary, re-run with `--exact child_process --ignored`.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use in_mem_core_types::{RunId, Value};
use in_mem_engine::{At, Database, DurabilityMode, Error, RunQuery};

const DIR_VAR: &str = "IN_MEM_TEST_HISTORY_CHILD_DIR";

/// The child: a parent run appends events and puts keys; every third step it forks the parent
/// at that point and writes one key and one event in the fork; every 25 steps it checkpoints.
/// Prints `PARENT id`, then `STEP i version` and `FORK i fork point` once acknowledged.
#[test]
#[ignore = "run by the other test as a child process"]
fn child_process() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let db = Database::open_with_options(&dir, common::options(DurabilityMode::Strict)).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out).unwrap();
    let parent = db.begin_run();
    writeln!(out, "PARENT {parent}").unwrap();
    out.flush().unwrap();
    for i in 0u64.. {
        db.put(parent, format!("key:{i:05}"), format!("v{i}"))
            .unwrap();
        let version = db
            .transaction_committed(parent, in_mem_engine::RetryPolicy::default(), |tx| {
                tx.events().append("step", &Value::from(i))
            })
            .unwrap()
            .1
            .unwrap();
        writeln!(out, "STEP {i} {version}").unwrap();
        out.flush().unwrap();
        if i % 3 == 0 {
            let fork = db.fork_run(parent, At::Version(version)).unwrap();
            db.put(fork, "fork-own", format!("fork of step {i}"))
                .unwrap();
            db.transaction(fork, |tx| tx.events().append("fork-step", &Value::from(i)))
                .unwrap();
            writeln!(out, "FORK {i} {fork} {version}").unwrap();
            out.flush().unwrap();
        }
        if i % 25 == 24 {
            db.checkpoint().unwrap();
        }
    }
}

/// Keys and their values.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What the parent's past looked like at `version`: its keys and event sequences.
fn parent_at(db: &Database, parent: RunId, version: u64) -> (Entries, Vec<u64>) {
    let mut view = db.run_view_at(parent, At::Version(version)).unwrap();
    let keys = view.list(b"key:").unwrap();
    let events = view
        .events()
        .range(0..u64::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.sequence)
        .collect();
    (keys, events)
}

#[test]
fn forks_and_views_of_the_past_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut parent = None;
    let mut steps: Vec<(u64, u64)> = Vec::new();
    let mut forks: Vec<(u64, RunId, u64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut killed = false;
    for line in lines.map_while(Result::ok) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["PARENT", id] => parent = Some(id.parse::<RunId>().unwrap()),
            ["STEP", i, version] => steps.push((i.parse().unwrap(), version.parse().unwrap())),
            ["FORK", i, fork, point] => {
                forks.push((
                    i.parse().unwrap(),
                    fork.parse().unwrap(),
                    point.parse().unwrap(),
                ));
            }
            _ => {}
        }
        if !killed && forks.len() >= 40 {
            child.kill().unwrap(); // SIGKILL; lines already printed are read on
            killed = true;
        }
        assert!(Instant::now() < deadline, "child too slow");
    }
    child.wait().unwrap();
    assert!(forks.len() >= 40, "child died early");
    let parent = parent.unwrap();

    let db =
        Database::open_with_options(dir.path(), common::options(DurabilityMode::Strict)).unwrap();
    for &(i, fork, point) in &forks {
        let info = db.run_info(fork).unwrap();
        assert_eq!(
            (info.parent, info.fork_point),
            (Some(parent), Some(point)),
            "fork {i}"
        );
        // The fork reads the parent's view at the point, then its own writes.
        let (keys, events) = parent_at(&db, parent, point);
        assert_eq!(keys.len() as u64, i + 1, "the parent at step {i}");
        assert_eq!(db.list(fork, b"key:").unwrap(), keys, "fork {i}: keys");
        assert_eq!(
            db.get(fork, b"fork-own").unwrap(),
            Some(format!("fork of step {i}").into_bytes())
        );
        let fork_events = db
            .transaction(fork, |tx| {
                tx.events().verify_chain(fork)?;
                tx.events().range(0..u64::MAX)
            })
            .unwrap();
        assert_eq!(fork_events.len(), events.len() + 1, "fork {i}: events");
        assert_eq!(fork_events.last().unwrap().event_type, "fork-step");
    }
    // Every acknowledged step of the parent reads as it was.
    for &(i, version) in &steps {
        let (keys, events) = parent_at(&db, parent, version);
        assert_eq!(
            (keys.len() as u64, events.len() as u64),
            (i + 1, i + 1),
            "step {i}"
        );
    }
    let listed = db.query_runs(&RunQuery::new().forked_from(parent)).len();
    assert!(
        listed >= forks.len(),
        "{listed} forks listed, {} acknowledged",
        forks.len()
    );
    // A fork begun but killed before its acknowledgement is there or not, never half there.
    db.transaction(parent, |tx| tx.events().verify_chain(parent))
        .unwrap();
    // The parent (interrupted by the kill) cannot go without its forks.
    assert!(matches!(db.delete_run(parent), Err(Error::HasForks { .. })));
}
