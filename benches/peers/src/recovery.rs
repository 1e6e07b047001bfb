//! in-mem's recovery phase: the time to open a database after a restart, from its log alone and
//! from a checkpoint. Each open runs in a fresh child process of this binary (`--open-child`):
//! in the parent, each open would follow the close of the last one, whose million freed entries
//! leave glibc's allocator a consolidation to do on the next large allocation (a quarter of an
//! open's time in a profile), which no process opening its database after a restart pays.

use std::path::Path;

use crate::bench::{Recovery, Results, Scratch};
use crate::engines::{Opened, Result, time_open};
use crate::workload::Plan;

/// in-mem's recovery: the open time of a database whose log holds `recovery_commits` one-put
/// commits (replay), and of one whose `recovery_commits` keys are in a checkpoint. Background
/// checkpoints are off for both, so each open reads exactly what it is meant to. Each open runs
/// in a child process of its own, as a user's open after a restart does.
pub fn recovery(plan: &Plan, scratch: &Scratch, results: &mut Results) -> Result<()> {
    let log = tempfile::tempdir_in(scratch.root())?;
    crate::engines::write_log(log.path(), plan.recovery_commits, false)?;
    let checkpointed = tempfile::tempdir_in(scratch.root())?;
    crate::engines::write_log(checkpointed.path(), plan.recovery_commits, true)?;
    let mut rec = Recovery {
        commits: plan.recovery_commits,
        records_replayed: 0,
        open_seconds: Vec::new(),
        checkpoint_keys: plan.recovery_commits,
        checkpoint_records_replayed: 0,
        checkpoint_open_seconds: Vec::new(),
    };
    for round in 0..=plan.rounds {
        if round == 0 {
            // The warm-up: both opens, untimed (page cache, allocator, code).
            open_in_child(log.path())?;
            open_in_child(checkpointed.path())?;
            continue;
        }
        let opened = open_in_child(log.path())?;
        rec.open_seconds.push(opened.seconds);
        rec.records_replayed = opened.records_replayed;
        let opened = open_in_child(checkpointed.path())?;
        if opened.checkpoint.is_none() {
            return Err("the checkpointed database opened without its checkpoint".into());
        }
        rec.checkpoint_open_seconds.push(opened.seconds);
        rec.checkpoint_records_replayed = opened.records_replayed;
    }
    results.recovery = Some(rec);
    Ok(())
}

/// The child's side: opens the database in `dir`, closes it, and prints what the open took and
/// read as one line of JSON.
pub fn open_child(dir: &Path) -> Result<()> {
    println!("{}", serde_json::to_string(&time_open(dir)?)?);
    Ok(())
}

/// Opens the database in `dir` in a child process (`--open-child`) and reads its line.
fn open_in_child(dir: &Path) -> Result<Opened> {
    let line = crate::child_stdout(
        "the open child",
        &["--open-child".as_ref(), dir.as_os_str()],
    )?;
    Ok(serde_json::from_str(line.trim())?)
}
