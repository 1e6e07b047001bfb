//! Project automation, as `cargo xtask <task>` (the rust-analyzer pattern: plain Rust, no
//! shell scripts to keep portable).
//!
//! - `cargo xtask ci`: what CI runs: format check, clippy, tests, doc tests, loom, quickstart.
//! - `cargo xtask loom`: the loom model checks, bounded (`LOOM_MAX_PREEMPTIONS=2`).

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        "loom" => loom(),
        _ => {
            eprintln!("usage: cargo xtask <ci | loom>");
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

/// Runs `cargo` with `args` (and extra environment), failing on a non-zero exit.
fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .envs(env.iter().copied())
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
    loom()?;
    cargo(&["run", "--release", "--example", "quickstart"], &[])
}

/// Loom checks run in their own target directory: `--cfg inmem_loom` changes every crate's
/// build, and sharing a directory would rebuild the normal build each time.
fn loom() -> Result<(), String> {
    cargo(
        &[
            "test",
            "--release",
            "-p",
            "in-mem-storage",
            "--test",
            "loom",
        ],
        &[
            ("RUSTFLAGS", "--cfg inmem_loom"),
            ("LOOM_MAX_PREEMPTIONS", "2"),
            ("CARGO_TARGET_DIR", "target/loom"),
        ],
    )
}
