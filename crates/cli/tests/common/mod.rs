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

/// `in-mem import DIR < export`.
pub fn import(dir: &Path, export: &[u8]) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_in-mem"))
        .args(["import", path(dir)])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(export).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

/// A writer process: this test binary again, running its ignored `writer_child` test, which
/// writes into `dir` until it has made `commits` iterations (or forever, until killed), with
/// `pause` between them. Its stdout says `RUN <id>` first, then `ACK <n>` after each.
pub struct Writer {
    pub child: std::process::Child,
    pub run: String,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Writer {
    pub fn start(dir: &Path, commits: Option<u64>, pause_ms: u64) -> Writer {
        use std::io::BufRead;
        let mut command = Command::new(std::env::current_exe().expect("this test binary"));
        command
            .args([
                "--ignored",
                "--exact",
                "writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("IN_MEM_WRITER_DIR", dir)
            .env("IN_MEM_WRITER_PAUSE_MS", pause_ms.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if let Some(n) = commits {
            command.env("IN_MEM_WRITER_COMMITS", n.to_string());
        }
        let mut child = command.spawn().expect("start the writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let run = loop {
            let line = lines
                .next()
                .expect("the writer says its run")
                .expect("a line");
            // libtest prints `test writer_child ... ` first, on the same line.
            if let Some(at) = line.find("RUN ") {
                break line[at + 4..].trim().to_owned();
            }
        };
        Writer { child, run, lines }
    }

    /// Waits until the writer acknowledged iteration `n` (or it ended before that).
    pub fn wait_for(&mut self, n: u64) {
        for line in self.lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(acked) = line.strip_prefix("ACK ")
                && acked.parse::<u64>().is_ok_and(|a| a >= n)
            {
                return;
            }
        }
        panic!("the writer ended before iteration {n}");
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("kill the writer");
        self.child.wait().expect("reap the writer");
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The writer process's body (see [`Writer`]): a run of agent `acme/load/writer` that puts a
/// key, appends an event and records a tool-call span each iteration, on a log with small
/// segments and frequent checkpoints, so that readers beside it meet rotation, checkpoints and
/// removed segments.
pub fn writer_body() {
    use std::io::Write;
    let Some(dir) = std::env::var_os("IN_MEM_WRITER_DIR") else {
        return;
    };
    let env_number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let commits = env_number("IN_MEM_WRITER_COMMITS");
    let pause = std::time::Duration::from_millis(env_number("IN_MEM_WRITER_PAUSE_MS").unwrap_or(0));
    let options = in_mem::OpenOptions::new()
        .mode(in_mem::DurabilityMode::Batched {
            interval_ms: 10,
            max_commits: 100,
        })
        .segment_bytes(64 * 1024)
        .checkpoint_every_bytes(256 * 1024);
    let db = in_mem::Database::open_with_options(&dir, options).unwrap();
    let agent = in_mem::AgentId::new("acme", "load", "writer");
    let run = db
        .begin_run_with(in_mem::RunOptions::new().agent(agent).tag("live"))
        .unwrap();
    let trace = in_mem::primitives::TraceStore::new(&db);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "RUN {run}").unwrap();
    stdout.flush().unwrap();
    // Bounded even when nobody kills it: a test that forgot it does not leave it running.
    let started = std::time::Instant::now();
    let mut n = 0u64;
    while commits.is_none_or(|c| n < c) && started.elapsed() < std::time::Duration::from_secs(60) {
        let value = in_mem::Value::I64(i64::try_from(n).unwrap());
        db.put_value(run, format!("k{}", n % 50), &value).unwrap();
        db.transaction(run, |tx| tx.events().append("tick", &value))
            .unwrap();
        let span = trace
            .start(
                run,
                in_mem::primitives::NewSpan::tool_call("count", value.clone()),
            )
            .unwrap();
        trace
            .finish_with(run, span, in_mem::primitives::SpanStatus::Ok, Some(value))
            .unwrap();
        writeln!(stdout, "ACK {n}").unwrap();
        stdout.flush().unwrap();
        n += 1;
        std::thread::sleep(pause);
    }
    db.end_run(run).unwrap();
    db.close().unwrap();
}
