//! Helpers of the tool's tests: run `in-mem` as a person would, and make databases the way the
//! agent example (`crates/in-mem/examples/agent.rs`) writes them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses some; tests may unwrap

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `in-mem ARGS`, with no terminal (so no colours, no progress bars).
pub fn in_mem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_in-mem"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run in-mem")
}

/// Runs `in-mem ARGS` and returns its stdout, failing the test if it failed.
pub fn ok(args: &[&str]) -> String {
    let out = in_mem(args);
    assert!(
        out.status.success(),
        "in-mem {args:?} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// The agent example's binary, built if the workspace build did not build it.
fn agent_binary() -> PathBuf {
    // Test binaries live in target/<profile>/deps; examples in target/<profile>/examples.
    let exe = std::env::current_exe().expect("the test's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let example = profile_dir.join("examples").join("agent");
    if !example.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "in-mem", "--example", "agent"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cannot build the agent example");
    }
    example
}

/// Runs the agent example in `dir` from `city`: one more run in the database there.
pub fn run_agent(dir: &Path, city: &str) {
    let out = Command::new(agent_binary())
        .args([path(dir), city])
        .output()
        .expect("run the agent example");
    assert!(
        out.status.success(),
        "agent example failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A database the agent example wrote: a run from Oslo (it rains: the agent takes the train
/// to Bergen), then one from Trondheim (sun: it stays).
pub fn agent_db(dir: &Path) {
    run_agent(dir, "Oslo");
    run_agent(dir, "Trondheim");
}

/// Every run's full id, newest first.
pub fn run_ids(dir: &Path) -> Vec<String> {
    ok(&["runs", path(dir), "--json"])
        .lines()
        .map(|line| {
            let json: serde_json::Value = serde_json::from_str(line).expect("JSON");
            json["run"].as_str().expect("a run id").to_owned()
        })
        .collect()
}
