//! Real processes: a child writing under load is killed with `SIGKILL`, and every write it acknowledged is
//! there after reopen; a second process opening a locked directory gets a clear error.
//!
//! The child is this test binary, re-run with `--exact child_process --ignored` and its orders
//! in environment variables.

#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml)

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use in_mem_core_types::RunId;
use in_mem_engine::{Database, DurabilityMode, RunStatus};

const DIR_VAR: &str = "IN_MEM_TEST_CHILD_DIR";
const MODE_VAR: &str = "IN_MEM_TEST_CHILD_MODE";

fn mode_named(name: &str) -> DurabilityMode {
    match name {
        "strict" | "hold" => DurabilityMode::Strict,
        "batched" => DurabilityMode::Batched {
            interval_ms: 100,
            max_commits: 1000,
        },
        other => panic!("unknown mode {other}"),
    }
}

/// The child: opens the directory and writes until killed, printing `ACK i version` after each
/// acknowledged put. In mode `hold` it only opens and waits.
#[test]
#[ignore = "run by the other tests as a child process"]
fn child_process() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let mode = std::env::var(MODE_VAR).unwrap();
    let db = Database::open_with_options(&dir, common::options(mode_named(&mode))).unwrap();
    let mut out = std::io::stdout().lock();
    // libtest has printed `test child_process ... ` without a newline; start a fresh line.
    writeln!(out).unwrap();
    if mode == "hold" {
        writeln!(out, "OPEN").unwrap();
        out.flush().unwrap();
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let run = db.begin_run();
    writeln!(out, "RUN {run}").unwrap();
    out.flush().unwrap();
    for i in 0u64.. {
        let version = db.put(run, format!("key:{i:08}"), value_of(i)).unwrap();
        writeln!(out, "ACK {i} {version}").unwrap();
        out.flush().unwrap();
    }
}

fn value_of(i: u64) -> Vec<u8> {
    format!("value {i} {}", "x".repeat((i % 97) as usize)).into_bytes()
}

fn spawn_child(dir: &Path, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir)
        .env(MODE_VAR, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills a writing child after `acks` acknowledgements and checks every one after reopen.
fn kill_under_load(mode: &str, acks: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child(dir.path(), mode);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut run = None;
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("RUN ") {
            run = Some(id.parse::<RunId>().unwrap());
        } else if let Some(rest) = line.strip_prefix("ACK ") {
            let (i, version) = rest.split_once(' ').unwrap();
            acked.push((i.parse::<u64>().unwrap(), version.parse::<u64>().unwrap()));
            if acked.len() as u64 == acks {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
        assert!(Instant::now() < deadline, "child too slow");
    }
    // Acknowledgements printed before the kill landed are acknowledged too.
    for line in lines.map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (i, version) = rest.split_once(' ').unwrap();
            acked.push((i.parse().unwrap(), version.parse().unwrap()));
        }
    }
    child.wait().unwrap();
    let run = run.expect("child began a run");
    assert!(acked.len() as u64 >= acks, "child died early");

    let db =
        Database::open_with_options(dir.path(), common::options(DurabilityMode::Strict)).unwrap();
    for &(i, version) in &acked {
        let got = db.get_versioned(run, format!("key:{i:08}")).unwrap();
        let got = got.unwrap_or_else(|| panic!("{mode}: acknowledged write {i} lost"));
        assert_eq!(got.version, version, "{mode}: write {i}");
        assert_eq!(
            db.get(run, format!("key:{i:08}")).unwrap(),
            Some(value_of(i))
        );
    }
    // What survived is a prefix: keys 0..n, nothing after a hole.
    let keys = db.list(run, b"key:").unwrap();
    for (n, (key, value)) in keys.iter().enumerate() {
        assert_eq!(
            key,
            format!("key:{n:08}").as_bytes(),
            "{mode}: hole before {key:?}"
        );
        assert_eq!(value, &value_of(n as u64));
    }
    assert_eq!(db.run_info(run).unwrap().status, RunStatus::Interrupted);
    assert_eq!(db.recovery_report().interrupted_runs, vec![run]);
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged_in_strict_mode() {
    kill_under_load("strict", 300);
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged_in_batched_mode() {
    kill_under_load("batched", 3_000);
}

#[test]
fn another_process_gets_a_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child(dir.path(), "hold");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let opened = lines.map_while(Result::ok).any(|line| line == "OPEN");
    assert!(opened, "the child opened the database");
    let err = Database::open(dir.path()).unwrap_err();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(err.is_locked(), "{err}");
    assert!(
        err.to_string().contains("locked by another process"),
        "{err}"
    );
    // Once the other process is gone, the directory opens.
    Database::open(dir.path()).unwrap();
}
