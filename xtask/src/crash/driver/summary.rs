//! The crash test's totals: what one iteration found, what a mode's iterations add up to, and
//! the lines that report them (`--verbose`, and the summary at the end).

use std::fmt::Write as _;
use std::time::Duration;

use super::{Options, Remote};
use crate::crash::failover::Failover;
use crate::crash::workload::{ASYNC_INTERVAL_MS, Mode};

/// Totals of one mode.
#[derive(Debug, Default)]
pub(super) struct ModeSummary {
    pub(super) iterations: u64,
    pub(super) kills: u64,
    pub(super) kills_in_open: u64,
    pub(super) kills_in_checkpoint: u64,
    pub(super) acked_commits: u64,
    pub(super) acked_primitive: u64,
    pub(super) forks: u64,
    pub(super) deleted_runs: u64,
    pub(super) refused_deletes: u64,
    pub(super) checkpoints: u64,
    pub(super) from_checkpoint: u64,
    pub(super) pruned: u64,
    pub(super) lost: u64,
    pub(super) oldest_loss_us: Option<u64>,
    pub(super) failed: bool,
    /// `--failover`: what the primaries' kills and the promotions did.
    pub(super) failovers: FailoverSummary,
}

/// `--failover`: the failovers of one mode.
#[derive(Debug, Default)]
pub(super) struct FailoverSummary {
    /// SIGKILLs of the primary, each followed by a promotion of its standby.
    pub(super) count: u64,
    /// The quickest and the slowest promotion (kill to a server taking writes).
    pub(super) promotion: Option<(Duration, Duration)>,
    /// The slowest reconnection (promotion to the child's first acknowledgement after it).
    pub(super) reconnect_max: Duration,
    /// Calls acknowledged after a promotion.
    pub(super) acks_after: u64,
    /// Calls made again after failing with the store out of reach (`RETRY` lines).
    pub(super) retries: u64,
}

impl ModeSummary {
    /// Adds an iteration that passed.
    pub(super) fn add(&mut self, report: &IterationReport) {
        self.kills += 1;
        self.kills_in_open += u64::from(report.in_open);
        self.kills_in_checkpoint += u64::from(report.in_checkpoint);
        self.acked_commits += report.acked_commits;
        self.acked_primitive += report.acked_primitive;
        self.forks += report.forks;
        self.deleted_runs += report.deleted_runs;
        self.refused_deletes += report.refused_deletes;
        self.checkpoints += report.checkpoints;
        self.from_checkpoint += u64::from(matches!(
            report.from,
            RecoveredFrom::Checkpoint | RecoveredFrom::PrunedLog
        ));
        self.pruned += u64::from(report.from == RecoveredFrom::PrunedLog);
        self.lost += report.lost;
        if let Some(age) = report.oldest_loss_us {
            self.oldest_loss_us = Some(self.oldest_loss_us.unwrap_or(0).max(age));
        }
        if let Some(done) = &report.failover {
            let f = &mut self.failovers;
            f.count += 1;
            let (lo, hi) = f.promotion.unwrap_or((done.promotion, done.promotion));
            f.promotion = Some((lo.min(done.promotion), hi.max(done.promotion)));
            f.reconnect_max = f.reconnect_max.max(done.reconnect);
            f.acks_after += done.acks_after;
            f.retries += report.retries;
        }
    }
}

pub(super) fn describe_summary(mode: Mode, s: &ModeSummary, options: &Options) -> String {
    if let Some(remote) = options.remote {
        return describe_shared_summary(mode, s, remote == Remote::Failover);
    }
    let mut text = format!(
        "{}: {} iterations, {} kills ({} during recovery, {} during a checkpoint), {} \
         acknowledged commits checked ({} on events, state and spans; {} forks, {} runs \
         deleted, {} deletions refused), {} checkpoints, {} recoveries from a checkpoint ({} \
         after log pruning), {} lost",
        mode.name(),
        s.iterations,
        s.kills,
        s.kills_in_open,
        s.kills_in_checkpoint,
        s.acked_commits,
        s.acked_primitive,
        s.forks,
        s.deleted_runs,
        s.refused_deletes,
        s.checkpoints,
        s.from_checkpoint,
        s.pruned,
        s.lost
    );
    if mode == Mode::Async {
        let _ = write!(
            text,
            " (allowed: acknowledged < {}+{} ms before the kill",
            ASYNC_INTERVAL_MS, options.async_slack_ms
        );
        if let Some(age) = s.oldest_loss_us {
            let _ = write!(text, "; oldest lost {} ms", age / 1000);
        }
        text.push(')');
    }
    if s.failed {
        text.push_str(" FAILED");
    }
    text
}

/// A mode's summary in shared mode, which has no recovery, checkpoints or run deletion to
/// count (a kill "during connect" lands while the child connects or loads the runs it shares
/// out); with `--failover`, what the failovers did instead (no kill comes during connect).
fn describe_shared_summary(mode: Mode, s: &ModeSummary, failover: bool) -> String {
    let checked = format!(
        "{} acknowledged commits checked ({} on events, state and spans; {} forks), {} lost",
        s.acked_commits, s.acked_primitive, s.forks, s.lost
    );
    let failed = if s.failed { " FAILED" } else { "" };
    if !failover {
        return format!(
            "{} (shared): {} iterations, {} kills ({} during connect), {checked}{failed}",
            mode.name(),
            s.iterations,
            s.kills,
            s.kills_in_open,
        );
    }
    let f = &s.failovers;
    let promotions = f.promotion.map_or_else(String::new, |(lo, hi)| {
        format!(" ({}-{} ms after the kill)", lo.as_millis(), hi.as_millis())
    });
    format!(
        "{} (shared, failover): {} iterations, {} kills of the child, {checked}; {} SIGKILLs of \
         the primary, each followed by a promotion of its synchronous standby{promotions} and \
         the child's reconnection (at most {} ms), {} calls acknowledged after a promotion, {} \
         calls made again after the store was out of reach{failed}",
        mode.name(),
        s.iterations,
        s.kills,
        f.count,
        f.reconnect_max.as_millis(),
        f.acks_after,
        f.retries
    )
}

/// One iteration's line under `--verbose`.
pub(super) fn print_iteration(mode: Mode, i: u64, report: &IterationReport, last_version: u64) {
    eprintln!(
        "{} #{i}: {} ops, {} acked commits ({} on primitives; {} forks, {} runs deleted, {} \
         deletions refused), {} lost, {} checkpoints{}, killed {}{} ({}), recovered from {}, \
         last version {}",
        mode.name(),
        report.ops,
        report.acked_commits,
        report.acked_primitive,
        report.forks,
        report.deleted_runs,
        report.refused_deletes,
        report.lost,
        report.checkpoints,
        report
            .longest_checkpoint_us
            .map_or(String::new(), |us| format!(" (longest {} ms)", us / 1000)),
        report.kill,
        if report.in_checkpoint {
            " during a checkpoint"
        } else {
            ""
        },
        report.tail,
        match report.from {
            RecoveredFrom::Log => "the log",
            RecoveredFrom::Checkpoint => "a checkpoint",
            RecoveredFrom::PrunedLog => "a checkpoint and a pruned log",
            RecoveredFrom::Store => "nothing (read from the store)",
        },
        last_version
    );
}

/// What one iteration found.
pub(super) struct IterationReport {
    pub(super) ops: usize,
    pub(super) acked_commits: u64,
    pub(super) acked_primitive: u64,
    pub(super) forks: u64,
    pub(super) deleted_runs: u64,
    pub(super) refused_deletes: u64,
    pub(super) lost: u64,
    pub(super) oldest_loss_us: Option<u64>,
    pub(super) in_open: bool,
    /// Checkpoints the child wrote (that returned).
    pub(super) checkpoints: u64,
    /// Whether a checkpoint was in progress at the kill.
    pub(super) in_checkpoint: bool,
    /// The longest checkpoint call that returned.
    pub(super) longest_checkpoint_us: Option<u64>,
    /// Where the parent's recovery started.
    pub(super) from: RecoveredFrom,
    pub(super) kill: String,
    pub(super) tail: String,
    /// `--failover`: what the failover did, and the calls made again through it.
    pub(super) failover: Option<Failover>,
    pub(super) retries: u64,
}

/// Where a recovery started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RecoveredFrom {
    /// The whole log.
    Log,
    /// A checkpoint and the log after it.
    Checkpoint,
    /// A checkpoint, and a log whose first segments an earlier checkpoint had deleted.
    PrunedLog,
    /// Nothing: shared mode reads the store.
    Store,
}
