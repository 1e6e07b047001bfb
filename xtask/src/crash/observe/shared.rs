//! The parent's side after a kill in shared mode. There is no directory to recover: the killed
//! child was one client host of the store. The check waits out that host's lease (its runs read
//! Interrupted only once it has run out), then connects as a fresh host twice, as embedded mode
//! recovers twice: both hosts must read the same runs, and the second reads everything back for
//! the oracle as embedded mode does (`read_back`).

use std::time::{Duration, Instant};

use in_mem::{Database, DurabilityMode, RunInfo, RunStatus};

use super::{Observed, Probe, finish, read_back};
use crate::crash::shared::{LEASE, Store};
use crate::crash::workload::now_us;

/// Beyond the lease: the killed host's last renewal may have reached the server a little after
/// the kill.
const LEASE_SLACK: Duration = Duration::from_millis(200);
/// How long the first host waits for every run to read ended or Interrupted before it reads on
/// anyway (and the oracle names the runs still Active).
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// Waits out the lease of the host killed at `kill_us`, connects twice (hosts `<host>-1` and
/// `<host>-2`), and reads back everything and what `probe` asks for.
pub fn observe_shared(
    store: &Store,
    kill_us: u64,
    host: &str,
    probe: &Probe,
) -> Result<Observed, Vec<String>> {
    let lease_end = kill_us.saturating_add(micros(LEASE + LEASE_SLACK));
    std::thread::sleep(Duration::from_micros(lease_end.saturating_sub(now_us())));

    let mut failures = Vec::new();
    let first = connect(store, &format!("{host}-1"))?;
    let first_runs = settled_runs(&first);
    first
        .close()
        .map_err(|e| vec![format!("closing the first check host failed: {e}")])?;

    let db = connect(store, &format!("{host}-2"))?;
    let runs = sorted_runs(&db);
    if runs != first_runs {
        failures.push(describe_difference(&first_runs, &runs));
    }
    let mut observed = Observed::default();
    read_back(&db, &runs, probe, &mut observed, &mut failures);
    // There is no one last version: these stand for it where a number is shown.
    let newest = |versions: &super::AgentVersions| versions.values().copied().max();
    observed.last_version = observed
        .agent_versions
        .as_ref()
        .and_then(newest)
        .unwrap_or(0);
    observed.final_version = newest(&observed.final_agent_versions).unwrap_or(0);
    finish(db, observed, failures)
}

fn connect(store: &Store, host: &str) -> Result<Database, Vec<String>> {
    store
        .connect(host, DurabilityMode::Strict)
        .map_err(|e| vec![e])
}

/// The runs once none reads Active any more (every host that began one is dead, so each must
/// come to read Interrupted once its host's lease has run out), or as they are after
/// `SETTLE_LIMIT`.
fn settled_runs(db: &Database) -> Vec<RunInfo> {
    let started = Instant::now();
    loop {
        let runs = sorted_runs(db);
        let live = runs
            .iter()
            .any(|r| matches!(r.status, RunStatus::Active | RunStatus::Paused));
        if !live || started.elapsed() > SETTLE_LIMIT {
            return runs;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sorted_runs(db: &Database) -> Vec<RunInfo> {
    let mut runs = db.runs();
    runs.sort_by_key(|r| r.run);
    runs
}

/// What two hosts that should have read the same runs read differently.
fn describe_difference(first: &[RunInfo], second: &[RunInfo]) -> String {
    let differing = first
        .iter()
        .zip(second)
        .find(|(a, b)| a != b)
        .map_or_else(String::new, |(a, b)| {
            format!("; first difference: {a:?} against {b:?}")
        });
    format!(
        "two fresh hosts read different runs ({} runs, then {}){differing}",
        first.len(),
        second.len()
    )
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
