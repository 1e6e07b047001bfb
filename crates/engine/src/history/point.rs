//! Points in a run's life (`At`) and the versions they name.
//!
//! A run's step is one of its commits; "the run at a point" is its view right after the newest
//! of its own commits at or before the point. Before its first commit a run reads as it began:
//! its snapshot of the agent's memory (a fork: its parent's view at the fork point).

use std::fmt;

use in_mem_core_types::{Timestamp, TypeTag, Version};

use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::runs::RunState;

/// A point in a run's life, for [`Database::run_view_at`](crate::Database::run_view_at),
/// [`Database::fork_run`](crate::Database::fork_run) and
/// [`Database::diff_run`](crate::Database::diff_run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Right after commit version `v` of the database: the run's own commits up to `v`.
    Version(u64),
    /// Right after the commit that appended event `sequence` to the run's own log.
    Event(u64),
    /// Right after the run's newest commit at or before this time, by the commits' own
    /// timestamps (each commit's, as its step in the timeline shows it). The times stored
    /// inside records (an event's `timestamp`, a cell's `updated_at`) are taken while the
    /// write is prepared, a little before its commit is stamped, so `At::Time` of such a time
    /// names the commit *before* that write; to land on an event, use `At::Event`.
    Time(Timestamp),
    /// The run as it is now.
    Now,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Version(v) => write!(f, "version {v}"),
            At::Event(sequence) => write!(f, "event {sequence}"),
            At::Time(t) => write!(f, "time {}us", t.as_micros()),
            At::Now => f.write_str("now"),
        }
    }
}

/// The version `at` names in `run`'s life.
pub(crate) fn resolve(instance: &Instance, run: &RunState, at: At) -> Result<Version> {
    let visible = instance.visible_for(&run.agent.id);
    let unknown = |reason: String| Error::UnknownPoint {
        run: run.id,
        at: at.to_string(),
        reason,
    };
    match at {
        At::Now => Ok(visible),
        At::Version(v) => {
            if v > visible.get() {
                return Err(unknown(format!(
                    "the newest committed version is {}",
                    visible.get()
                )));
            }
            Ok(Version::new(v))
        }
        At::Event(sequence) => {
            event_version(instance, run, sequence).map_err(|reason| unknown(reason.to_owned()))
        }
        At::Time(t) => {
            let steps = super::timeline::own_commits(instance, run);
            // The newest own commit at or before `t`; before the first, the run as it began.
            Ok(steps
                .iter()
                .rev()
                .find(|(_, timestamp)| *timestamp <= t)
                .map_or(run.snapshot, |(version, _)| *version))
        }
    }
}

/// The version of the commit that appended event `sequence` to `run`'s own log.
fn event_version(
    instance: &Instance,
    run: &RunState,
    sequence: u64,
) -> std::result::Result<Version, &'static str> {
    let suffix = [&[TypeTag::Event.as_byte()][..], &sequence.to_be_bytes()].concat();
    let key = [&run.data_prefix[..], &suffix].concat();
    let view = instance.view_of(run);
    let now = instance.now();
    if let Ok(Some(found)) = instance.lookup(run, &view, &key, now) {
        return Ok(found.version);
    }
    match instance.lookup_inherited(run, &view, &suffix, now) {
        Ok(Some(_)) => Err(
            "the event was inherited from the run this one was forked from; \
                            name that run's point instead",
        ),
        _ => Err("the run's log has no such event"),
    }
}
