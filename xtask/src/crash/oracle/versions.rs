//! Versions in the oracle: the recovered newest version against what can be true at all, the
//! run report, and how each op's version is bounded and placed in its thread's order.
//!
//! Embedded mode has one version counter: a thread's commits take increasing versions, and an
//! op is compared with the one recovered last version. Shared mode has one counter per agent
//! (docs/REMOTE.md, "The model"), so a thread's versions increase only per agent, an op is
//! compared with its own agent's newest version, and only exact versions (which name their
//! agent) bound anything: calls that return no version report none
//! (`AckVersion::Unbounded`), and the mode's promise alone says whether they are in.

use std::collections::BTreeSet;

use in_mem::{RunId, RunStatus};

use super::super::workload::{AckVersion, AgentIdx, Op};
use super::{AgentVersions, Observed, OpRecord, Outcome, State, describe_key};

/// An acknowledgement's place in the child's output: its line and time.
pub(super) type AckAt = (u64, u64);

/// One thread's order of versions, as its ops are bounded in program order.
pub(super) struct ThreadOrder<'o> {
    observed: &'o Observed,
    /// Embedded mode: the lower bound of the thread's previous commit.
    prev: u64,
    /// Shared mode: the thread's newest exact version of each agent, starting from what the
    /// previous check left.
    prev_by_agent: AgentVersions,
}

impl<'o> ThreadOrder<'o> {
    pub(super) fn new(base: &State, observed: &'o Observed) -> Self {
        ThreadOrder {
            observed,
            prev: base.last_version,
            prev_by_agent: base.agent_versions.clone(),
        }
    }

    /// Inclusive bounds of `record`'s version and when it was acknowledged, noting it as the
    /// thread's newest; `None` when it committed nothing.
    pub(super) fn bound(
        &mut self,
        record: &OpRecord,
        failures: &mut Vec<String>,
    ) -> Option<(u64, u64, Option<AckAt>)> {
        let (version, ack) = match &record.outcome {
            Outcome::Acked {
                version: AckVersion::None,
                ..
            } => return None,
            Outcome::Acked {
                version, line, us, ..
            } => (Some(*version), Some((*line, *us))),
            Outcome::InFlight | Outcome::Failed { .. } => (None, None),
        };
        if self.observed.agent_versions.is_some() {
            return Some(self.bound_shared(record, version, failures, ack));
        }
        let prev = self.prev;
        let (lo, hi) = match version {
            Some(AckVersion::Exact(x)) => {
                if x <= prev {
                    failures.push(format!(
                        "operation {} got version {x}, not above its thread's previous commit \
                         ({prev})",
                        record.id
                    ));
                }
                (x, x)
            }
            Some(AckVersion::Range { lo, hi }) => (lo.max(prev + 1), hi),
            _ => (prev + 1, u64::MAX),
        };
        self.prev = lo;
        Some((lo, hi, ack))
    }

    fn bound_shared(
        &mut self,
        record: &OpRecord,
        version: Option<AckVersion>,
        failures: &mut Vec<String>,
        ack: Option<AckAt>,
    ) -> (u64, u64, Option<AckAt>) {
        let Some(AckVersion::Exact(x)) = version else {
            // Anything from 1 (the first version of an agent) up.
            return (1, u64::MAX, ack);
        };
        let Some(agent) = record.op.agent() else {
            failures.push(format!(
                "harness: operation {} returned a version but names no agent",
                record.id
            ));
            return (x, x, ack);
        };
        let prev = self.prev_by_agent.get(&agent).copied().unwrap_or(0);
        if x <= prev {
            failures.push(format!(
                "operation {} got version {x} of agent {agent}, not above its thread's previous \
                 commit there (or what the previous check saw), {prev}",
                record.id
            ));
        }
        self.prev_by_agent.insert(agent, x);
        (x, x, ack)
    }

    /// The recovered newest version `record` is compared with: the one last version, or in
    /// shared mode its agent's (the newest of any agent's for calls that name none: a call on
    /// a run of agent `a` then stands as `maybe` where it could be `out`, never the reverse).
    pub(super) fn recovered(&self, record: &OpRecord) -> u64 {
        match (&self.observed.agent_versions, record.op.agent()) {
            (Some(versions), Some(agent)) => versions.get(&agent).copied().unwrap_or(0),
            _ => self.observed.last_version,
        }
    }
}

impl Op {
    /// The agent whose memory or runs this operation writes, where it names one.
    pub fn agent(&self) -> Option<AgentIdx> {
        match self {
            Op::Put { agent, .. }
            | Op::Delete { agent, .. }
            | Op::Txn { agent, .. }
            | Op::Mixed { agent, .. }
            | Op::Begin { agent, .. }
            | Op::Fork { agent, .. } => Some(*agent),
            _ => None,
        }
    }
}

/// The recovered last version against what can be true at all.
pub(super) fn check_versions(
    base: &State,
    ops: &[OpRecord],
    observed: &Observed,
    failures: &mut Vec<String>,
) {
    if let Some(versions) = &observed.agent_versions {
        check_agent_versions(base, versions, observed, failures);
        return;
    }
    let v = observed.last_version;
    if v < base.last_version {
        failures.push(format!(
            "recovered last version {v} is below {}, which the previous check made durable",
            base.last_version
        ));
    }
    let submitted: u64 = ops.iter().map(|r| r.op.commits_max()).sum();
    if v > base.last_version + submitted {
        failures.push(format!(
            "recovered last version {v} is beyond every commit submitted ({} + {submitted})",
            base.last_version
        ));
    }
    for (key, stored) in &observed.kv {
        if stored.version > v {
            failures.push(format!(
                "{} has version {} above the recovered last version {v}",
                describe_key(key),
                stored.version
            ));
        }
    }
}

/// Shared mode: no agent's newest version goes back, and no key has a version above its
/// agent's. (There is no bound from above by the ops submitted, as embedded mode has: the
/// store gives versions to commits this harness does not count, the run records a takeover
/// writes among them. Whatever was never submitted still fails the prefix check, which
/// explains every key, run and record from the ops.)
fn check_agent_versions(
    base: &State,
    versions: &AgentVersions,
    observed: &Observed,
    failures: &mut Vec<String>,
) {
    for (&agent, &before) in &base.agent_versions {
        let now = versions.get(&agent).copied().unwrap_or(0);
        if now < before {
            failures.push(format!(
                "agent {agent}'s newest version is {now}, below the {before} the previous check \
                 left"
            ));
        }
    }
    for (key, stored) in &observed.kv {
        let newest = versions.get(&key.0).copied().unwrap_or(0);
        if stored.version > newest {
            failures.push(format!(
                "{} has version {} above its agent's newest version {newest}",
                describe_key(key),
                stored.version
            ));
        }
    }
}

/// Runs after recovery: none active, and the report's interrupted list is exactly the
/// interrupted runs (embedded mode: shared mode recovers nothing, so there is no report; a run
/// of a dead host reads Interrupted once its lease has run out).
pub(super) fn check_run_report(observed: &Observed, failures: &mut Vec<String>) {
    if observed.agent_versions.is_none() {
        let interrupted: BTreeSet<RunId> = observed
            .runs
            .iter()
            .filter(|(_, e)| e.status == RunStatus::Interrupted)
            .map(|(r, _)| *r)
            .collect();
        let reported: BTreeSet<RunId> = observed.interrupted.iter().copied().collect();
        if interrupted != reported {
            failures.push(format!(
                "recovery reports {} interrupted runs, but {} runs are interrupted",
                reported.len(),
                interrupted.len()
            ));
        }
    }
    for (run, entry) in &observed.runs {
        if !matches!(entry.status, RunStatus::Interrupted | RunStatus::Completed) {
            failures.push(format!("run {run} is {} after recovery", entry.status));
        }
    }
}
