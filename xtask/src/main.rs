//! Project automation, as `cargo xtask <task>` (the rust-analyzer pattern: plain Rust, no
//! shell scripts to keep portable).
//!
//! - `cargo xtask test`: every test with a deadline, then the doc tests (`test_runner.rs`).
//! - `cargo xtask ci`: what CI runs: format check, clippy, the tests, the PostgreSQL tests
//!   (`pg-test`), the default crash test,
//!   loom, the quickstart and the replay example.
//! - `cargo xtask loom`: the loom model checks of every workspace package that has a
//!   `tests/loom.rs`, bounded (`RUSTFLAGS="--cfg inmem_loom" LOOM_MAX_PREEMPTIONS=2`), in release,
//!   in their own target directory (`<target>/loom`: the cfg changes every crate's build).
//! - `cargo xtask crash-test [flags]`: the kill-under-load crash test (`crash/`); what it does,
//!   its oracles and flags are described in `docs/TESTING.md`, "The crash test". With
//!   `--remote`, the same against shared mode: the children are client hosts of the PostgreSQL
//!   server `INMEM_PG_URL` names; with `--remote --failover`, on a primary with a synchronous
//!   standby that the task starts itself, whose primary it kills under load (`crash/failover.rs`).
//! - `cargo xtask pg-test`: the shared-mode tests (`crates/pg`, the engine's backend suite,
//!   `Database::connect` through the umbrella) against a private PostgreSQL that the task starts
//!   and stops (`pg.rs`), then the failover drills (`pg_failover.rs` on the store,
//!   `pg_failover_db.rs` through `Database`), the two-host drill (`pg_hosts.rs`, whose hosts
//!   are `cargo xtask pg-host`) and short shared-mode crash tests (`crash-test --remote`, then
//!   with `--failover`).
//! - `cargo xtask bench [--quick] [--plots]`: in-mem beside redb, fjall, sled, LMDB, `SQLite`
//!   and the raw `SkipMap` floor (`benches/peers`, a package outside the workspace, so that the
//!   tests never compile peer crates); see `docs/PERFORMANCE.md`. `cargo xtask bench --remote`:
//!   shared mode on a private PostgreSQL beside embedded mode and the fdatasync floor
//!   (`bench_remote.rs`; see `docs/REMOTE.md`).
//!
//! `tidy.rs` holds the repository's rules as tests.

mod bench_remote;
mod crash;
mod pg;
mod pg_failover;
mod pg_failover_db;
mod pg_hosts;
mod test_runner;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().cloned().unwrap_or_default();
    let rest = args.get(1..).unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        "test" => test_runner::test(),
        "loom" => loom(),
        "pg-test" => pg::pg_test(),
        "pg-run" => pg::pg_run(rest),
        "crash-test" => crash_test(rest),
        "bench" => bench(rest),
        "crash-child" => crash::crash_child(rest),
        "pg-host" => pg_hosts::host(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <test | ci | loom | pg-test | pg-run <command...> | crash-test [--remote [--failover]] [--help] | bench [--quick] [--plots] | bench --remote>"
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

/// Runs the peer comparison (see the module docs): `--quick` for the short mode (about 5
/// minutes on a busy 2-core VM), `--plots` to redraw the plots in `docs/`.
fn bench(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--remote") {
        return bench_remote(args);
    }
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
            "--features",
            "in-mem/postgres",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    test_runner::test()?;
    pg::pg_test()?;
    crash_test(&[])?;
    loom()?;
    cargo(&["run", "--release", "--example", "quickstart"], &[])?;
    // Record, replay from the cassette, fork and diff: the example checks its own claims.
    cargo(&["run", "--release", "--example", "replay"], &[])
}

/// `--remote`: shared mode beside embedded mode (`bench_remote.rs`), timed in a release build
/// of this task, against a private PostgreSQL.
fn bench_remote(args: &[String]) -> Result<(), String> {
    if let Some(other) = args.iter().find(|a| *a != "--remote") {
        return Err(format!("--remote takes no other flag (got {other:?})"));
    }
    if cfg!(debug_assertions) {
        cargo(
            &[
                "run",
                "--release",
                "--quiet",
                "-p",
                "xtask",
                "--",
                "bench",
                "--remote",
            ],
            &[],
        )
    } else {
        bench_remote::bench_remote()
    }
}

/// The crash test wants release speed (and so realistic timing); a debug build of the xtask
/// hands over to a release build of itself.
fn crash_test(args: &[String]) -> Result<(), String> {
    if cfg!(debug_assertions) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        release_crash_test(&args, &[])
    } else {
        crash::crash_test(args)
    }
}

/// `crash-test --remote <args>` against the server at `url`, in a release build of this task
/// (as `crash_test`) in a process of its own, which `INMEM_PG_URL` is set for.
fn crash_test_remote(url: &str, args: &[&str]) -> Result<(), String> {
    let mut remote_args = vec!["--remote"];
    remote_args.extend(args);
    release_crash_test(&remote_args, &[(crash::URL_VAR, url)])
}

/// `crash-test <args>` in a release build of this task, with `env` set.
fn release_crash_test(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let mut cargo_args = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        "xtask",
        "--",
        "crash-test",
    ];
    cargo_args.extend(args);
    cargo(&cargo_args, env)
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
