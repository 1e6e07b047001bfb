//! `cargo xtask test`: the README's test command. Every test with a deadline, so that a hang
//! fails the run with the name of the test that hung instead of stalling it.
//!
//! Through cargo-nextest when it is installed (`.config/nextest.toml` sets the deadline: a
//! test still running after 5 minutes is killed and reported as TIMEOUT with its name), then
//! the doc tests, which nextest does not run. Without nextest, `cargo test` runs under a
//! watchdog: libtest itself names any test still running after 60 seconds, and the watchdog
//! kills the run once it has taken `FALLBACK_DEADLINE`.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::{cargo, root};

/// How long the whole `cargo test` run may take when nextest is missing.
const FALLBACK_DEADLINE: Duration = Duration::from_mins(25);
/// How often the watchdog looks at the child.
const WATCHDOG_POLL: Duration = Duration::from_millis(200);

/// Runs every test of the workspace (unit, integration, doc), each with a deadline.
pub fn test() -> Result<(), String> {
    if nextest_installed() {
        cargo(&["nextest", "run", "--workspace"], &[])?;
    } else {
        eprintln!(
            "cargo-nextest is not installed (`cargo install cargo-nextest --locked` adds it); \
             running `cargo test` under a {}-minute watchdog instead",
            FALLBACK_DEADLINE.as_secs() / 60
        );
        cargo_test_with_watchdog()?;
    }
    cargo(&["test", "--workspace", "--doc"], &[])
}

pub fn nextest_installed() -> bool {
    Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn cargo_test_with_watchdog() -> Result<(), String> {
    let args = ["test", "--workspace", "--all-targets"];
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(root())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() {
                Ok(())
            } else {
                Err(format!("`cargo {}` failed ({status})", args.join(" ")))
            };
        }
        if started.elapsed() > FALLBACK_DEADLINE {
            // Killing cargo leaves the test binary to be reaped with the process group; the
            // names of the tests that ran too long were printed by libtest above.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the tests ran longer than {} minutes: a test hangs (libtest named every test \
                 running over 60 s above)",
                FALLBACK_DEADLINE.as_secs() / 60
            ));
        }
        std::thread::sleep(WATCHDOG_POLL);
    }
}
