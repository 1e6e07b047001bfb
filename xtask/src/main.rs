//! Project automation, as `cargo xtask <task>` (the rust-analyzer pattern: plain Rust, no
//! shell scripts to keep portable).
//!
//! - `cargo xtask ci`: what CI runs: format check, clippy, tests, doc tests, the default crash
//!   test, loom, quickstart.
//! - `cargo xtask loom`: the loom model checks of every workspace package that has a
//!   `tests/loom.rs`, bounded (`RUSTFLAGS="--cfg inmem_loom" LOOM_MAX_PREEMPTIONS=2`), in release,
//!   in their own target directory (`<target>/loom`: the cfg changes every crate's build).
//! - `cargo xtask crash-test [flags]`: the kill-under-load crash test, below.
//! - `cargo xtask bench [--quick] [--plots]`: in-mem beside redb, fjall, sled, LMDB, `SQLite`
//!   and the raw `SkipMap` floor, every workload of the performance plan, interleaved rounds, median;
//!   writes `target/bench/report.md` and `report.json` (and, with `--plots`, the plots in
//!   `docs/`). The peer crates live in `benches/peers`, a package outside the workspace, so
//!   `cargo test --workspace` never compiles them.
//!
//! # The crash test
//!
//! A parent process starts a child process (this program, as the hidden `crash-child`
//! subcommand) on a real data directory. The child opens it in the mode under test and runs a
//! seeded mixed workload on several writer threads (`--threads`, default 4) over five agents of
//! two tenants and several runs per thread: byte puts of 0 bytes to more than a log segment,
//! `KVStore` typed puts (integers, text, structs, `Null`, floats, lists, booleans), puts with a
//! long TTL and a few with a short one (100 ms to 1.5 s), deletes, multi-key transactions of
//! puts and deletes (`transaction_committed`), `begin_run_in` /
//! `try_begin_run` / `begin_run_with_namespace`, `end_run` of active and of interrupted runs,
//! `resume_run` of runs an earlier kill interrupted, the primitives of every active run
//! (`EventLog::append`; `StateMachine::init`, then `cas` from the cell's current version;
//! `TraceStore::record` of spans of every kind with tags, many with a parent among the run's
//! earlier spans), mixed transactions that put a key, append an event, swap a state cell and
//! record a span in one commit, a rare `flush`, and, in about half the children, a
//! `checkpoint` at a seeded moment. Some runs are ended, others stay active until the kill.
//! Each thread writes only its own keys (about a third of its puts to keys no other op
//! overwrites, so that each of those commits is checked on its own) and its own runs. Segment
//! sizes vary per iteration (64 KiB to 4 MiB), and some values are larger than a segment.
//! Before each call the child prints `SUBMIT <id> <time> <op>` and after it returns
//! `ACK <id> <time> <version> <result>`, one flushed line each (the result carries what the
//! primitives returned: sequence, cell version, span id, checkpoint version). Calls that
//! return no version (`delete`, `end_run`, `resume_run`, the `begin_run` family, the
//! primitives' own calls) report `lo..hi`: the visible version before the call plus one, and
//! after it. How to add operations is described in `crash/workload.rs`.
//!
//! The parent SIGKILLs the child at a seeded moment (mostly 50 ms to `--kill-max-ms` after its
//! open completed, sometimes within its first 50 ms, and about one time in seven during its
//! own recovery), then recovers the directory twice and checks the oracles of TESTING.md:
//!
//! 1. `open` never panics and returns no error; the second recovery finds exactly the state
//!    the first found (runs, versions, counts) and nothing more to cut.
//! 2. The recovered state is the previous check's state plus a prefix of the commit order of
//!    the submitted operations: every operation at or below the recovered last version is
//!    reflected, none above it, no holes in any thread's order, nothing that was never
//!    submitted, every value, version, timestamp and TTL exactly as written.
//!    Each run's event log is exactly the appends of that prefix (types, payloads, times),
//!    each state cell holds the value and version of the prefix's last compare-and-swap, each
//!    trace exactly its recorded spans (kind, parent, tags, attributes); a mixed transaction is
//!    there whole or not at all; each primitive call returned the sequence, cell version or
//!    span id its program order implies.
//! 3. `Strict` and `Batched` lose no acknowledged commit. `Async { interval_ms: 100 }` loses
//!    only commits acknowledged less than 100 ms plus `--async-slack-ms` (default 400 ms, for
//!    scheduling on a loaded machine) before the kill, and only from the end. In every mode, a
//!    commit acknowledged before a `flush` or `checkpoint` that returned survives.
//! 4. Runs active at the kill come back `Interrupted` (and are listed in the recovery report),
//!    ended runs `Completed`; a run appears only if a begin call for it was made; the run index
//!    agrees with itself (`runs`, `run_info`, `run_counts`, `query_runs`) and lists every run
//!    that wrote primitive data. Every event log is dense from sequence 0 and `verify_chain`
//!    succeeds; every trace is dense from span id 1 and every parent exists; no state cell's
//!    version goes backwards from one check to the next. Recovery starts from a checkpoint at
//!    least as new as any that returned and as the previous recovery's, and never finds a
//!    damaged one.
//!
//! The check then begins and ends one reader run per agent and closes cleanly, and the next
//! iteration's child continues on the same directory: later kills hit a log that has been
//! through recovery, and every check re-verifies all the data of the earlier iterations. Every
//! `--fresh-every` iterations (default 8) a mode starts again from an empty directory, which
//! bounds the log and so each recovery's time.
//!
//! Flags: `--mode strict|batched|async|all` (default all), `--iterations N` (per mode),
//! `--seed S` (default 1), `--duration SECS` (total, shared between the modes; default 75 s
//! unless `--iterations` is given), `--threads N`, `--kill-max-ms MS` (default 1200),
//! `--async-slack-ms MS`, `--fresh-every N`, `--dir PATH` (where data directories go; default a
//! temporary directory), `--keep` (keep them even on success), `--verbose` (a line per
//! iteration).
//! A failure prints the seed, the iteration and the command that replays it; the data
//! directory and the child's standard error are kept. The seed fixes each iteration's kill
//! moment and each thread's operations (and the segment size); the interleaving of threads,
//! and so how far each thread gets, is up to the machine.
//! The run ends with one summary line per mode: iterations, kills (during recovery, during a
//! checkpoint), acknowledged commits checked (and how many of them on events, state and
//! spans), checkpoints written, recoveries that started from a checkpoint (and from a log
//! whose first segments a checkpoint had deleted), commits lost. The exit status is non-zero
//! if any oracle failed.
//!
//! The crash test runs in release: from a debug build of this program, `crash-test` re-runs
//! itself with `cargo run --release`.

mod crash;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().cloned().unwrap_or_default();
    let rest = args.get(1..).unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        "loom" => loom(),
        "crash-test" => crash_test(rest),
        "bench" => bench(rest),
        "crash-child" => crash::crash_child(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | loom | crash-test [--help] | bench [--quick] [--plots]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the peer comparison (see the module docs): `--quick` for the short mode (about 2
/// minutes), `--plots` to redraw the plots in `docs/`.
fn bench(args: &[String]) -> Result<(), String> {
    let manifest = root().join("benches/peers/Cargo.toml");
    let manifest = manifest.to_string_lossy().into_owned();
    let mut cargo_args = vec![
        "run",
        "--release",
        "--manifest-path",
        manifest.as_str(),
        "--",
    ];
    for arg in args {
        match arg.as_str() {
            "--quick" => cargo_args.push("--quick"),
            "--plots" => cargo_args.extend(["--plots", "docs"]),
            other => {
                return Err(format!(
                    "unknown bench flag {other:?} (use --quick, --plots)"
                ));
            }
        }
    }
    cargo_args.extend(["--out", "target/bench"]);
    cargo(&cargo_args, &[])
}

/// The workspace root (this crate's parent directory).
fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Runs `cargo` with `args` (and extra environment) in the workspace root, failing on a
/// non-zero exit.
fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo(&["test", "--workspace"], &[])?;
    crash_test(&[])?;
    loom()?;
    cargo(&["run", "--release", "--example", "quickstart"], &[])
}

/// The crash test wants release speed (and so realistic timing); a debug build of the xtask
/// hands over to a release build of itself.
fn crash_test(args: &[String]) -> Result<(), String> {
    if cfg!(debug_assertions) {
        let mut cargo_args = vec![
            "run",
            "--release",
            "--quiet",
            "-p",
            "xtask",
            "--",
            "crash-test",
        ];
        cargo_args.extend(args.iter().map(String::as_str));
        cargo(&cargo_args, &[])
    } else {
        crash::crash_test(args)
    }
}

/// Loom checks run in their own target directory: `--cfg inmem_loom` changes every crate's
/// build, and sharing a directory would rebuild the normal build each time.
fn loom() -> Result<(), String> {
    let packages = loom_packages()?;
    if packages.is_empty() {
        return Err("no workspace package has a tests/loom.rs".to_owned());
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("loom"),
        None => root().join("target").join("loom"),
    };
    let target = target.to_string_lossy().into_owned();
    let mut args = vec!["test", "--release"];
    for package in &packages {
        args.extend(["-p", package.as_str()]);
    }
    args.extend(["--test", "loom"]);
    cargo(
        &args,
        &[
            ("RUSTFLAGS", "--cfg inmem_loom"),
            ("LOOM_MAX_PREEMPTIONS", "2"),
            ("CARGO_TARGET_DIR", &target),
        ],
    )
}

/// The names of the workspace members that have a `tests/loom.rs`, from the root manifest's
/// `members` list (plain paths, or a trailing `/*`).
fn loom_packages() -> Result<Vec<String>, String> {
    let root = root();
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let manifest = read(&root.join("Cargo.toml"))?;
    let start = manifest
        .lines()
        .scan(0, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| {
            line.trim_start()
                .strip_prefix("members")
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|(at, _)| at)
        .ok_or("the root Cargo.toml has no `members = [...]` list")?;
    let members = manifest[start..]
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .ok_or("the root Cargo.toml's `members` is not a list")?;
    let members: Vec<&str> = members
        .lines()
        .map(|line| line.split_once('#').map_or(line, |(code, _)| code))
        .flat_map(|line| line.split(','))
        .collect();
    let mut dirs = Vec::new();
    for member in members {
        let member = member.trim().trim_matches('"');
        if member.is_empty() {
            continue;
        }
        if let Some(parent) = member.strip_suffix("/*") {
            let entries = std::fs::read_dir(root.join(parent))
                .map_err(|e| format!("cannot list {parent}: {e}"))?;
            let mut found: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
            found.sort();
            dirs.extend(found);
        } else {
            dirs.push(root.join(member));
        }
    }
    let mut packages = Vec::new();
    for dir in dirs {
        if !dir.join("tests").join("loom.rs").is_file() {
            continue;
        }
        let manifest = read(&dir.join("Cargo.toml"))?;
        let name = manifest
            .split_once("[package]")
            .map(|(_, package)| package)
            .and_then(|package| {
                package.lines().find_map(|line| {
                    let (key, value) = line.split_once('=')?;
                    (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
                })
            })
            .ok_or_else(|| format!("{} has no package name", dir.display()))?;
        packages.push(name);
    }
    Ok(packages)
}
