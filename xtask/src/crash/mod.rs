//! `cargo xtask crash-test`: real processes killed with SIGKILL under load keep every
//! acknowledged write (docs/TESTING.md, "Kill under load"). `docs/TESTING.md` ("The crash test") describes the
//! harness as a user sees it; this module is the code:
//!
//! - `driver.rs`: the parent: iterations of spawn, kill, recover, check; flags; the summary
//!   (`driver/summary.rs`);
//! - `child.rs`: the child (`xtask crash-child`, hidden): opens the directory (or connects to
//!   the shared store) and runs the seeded workload on several threads until killed, printing
//!   `SUBMIT` / `ACK` lines;
//! - `shared.rs`: shared mode (`--remote`): the store's URL and schemas, the hosts' lease;
//! - `failover.rs`: `--remote --failover`: the chain of primaries with a synchronous standby the
//!   parent runs, and the SIGKILL of the primary and promotion of the standby under load (the
//!   child makes calls again while the store is out of reach: `child/outage.rs`);
//! - `workload.rs`: the operations (the agents' memory, runs, event logs, state cells, traces,
//!   mixed transactions, forks and run deletion, flushes and checkpoints), the values they write, the modes, the line
//!   protocol, and the extension point;
//! - `observe.rs`: recovery twice (idempotence), then every key, run, event log (with its chain
//!   verified), state cell and trace read back, each fork's parent's view at the fork point
//!   (`run_view_at`), and every read of each deleted run; in shared mode (`observe/shared.rs`)
//!   the killed host's lease waited out and two fresh hosts connected instead of recoveries;
//! - `oracle.rs`: the oracles, a pure function of (previous state, ops, recovered state): the
//!   per-thread prefix check over every key, run, event log, state cell and trace, and (in
//!   `oracle/invariants.rs`) the checks of the state as a whole: primitive calls' returns,
//!   oracle 4, the run index, checkpoints; in `oracle/history.rs`, forks and deletion; in
//!   `oracle/versions.rs`, versions, one counter or one per agent); with unit tests that feed
//!   it synthetic logs;
//! - `rng.rs`, `args.rs`: a seeded generator and a flag reader, to keep the xtask dependency-free
//!   beyond the workspace's own crates.

mod args;
mod child;
mod driver;
mod failover;
mod observe;
mod oracle;
mod rng;
mod shared;
mod workload;

pub use shared::URL_VAR;

/// `cargo xtask crash-test [flags]` (see `driver::USAGE`).
pub fn crash_test(raw: &[String]) -> Result<(), String> {
    if raw.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", driver::USAGE);
        return Ok(());
    }
    let options = driver::Options::parse(raw).map_err(|e| format!("{e}\n{}", driver::USAGE))?;
    driver::run(&options)
}

/// The hidden `crash-child` subcommand the parent starts.
pub fn crash_child(raw: &[String]) -> Result<(), String> {
    child::main(raw)
}
