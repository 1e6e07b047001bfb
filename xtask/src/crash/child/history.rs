//! The child's operations on run history: sharing out the runs earlier children left (whole
//! fork trees, one owner each), choosing and performing forks and deletions, and what a thread
//! remembers to choose the next ones (each run's forks and parent, and the points it may be
//! forked at).

use std::collections::BTreeMap;

use in_mem::{At, Database, RunId, RunInfo, RunStatus};

use super::{PARKED_PER_MILLE, Prims, Worker};
use crate::crash::rng::derive;
use crate::crash::workload::{
    AckResult, AckVersion, AgentIdx, ForkAt, Op, OpId, agent_index, kv_digest, view_prefixes,
};

/// Most active runs a thread keeps when it forks one (beside `ACTIVE_RUNS_MAX` for begins).
const FORK_ACTIVE_MAX: usize = 5;
/// Points per run a thread remembers to fork at (the newest ones).
const POINTS_MAX: usize = 8;

/// The runs one thread owns when it starts: runs interrupted by earlier kills (to resume, end
/// or delete), runs that ended (to delete), and the forks among them.
#[derive(Debug, Default)]
pub(super) struct Owned {
    pub(super) leftovers: Vec<(RunId, AgentIdx)>,
    pub(super) ended: Vec<(RunId, AgentIdx)>,
    pub(super) lineage: Lineage,
}

/// The forks a thread knows of: each run's live forks and each fork's parent.
#[derive(Debug, Default, Clone)]
pub(super) struct Lineage {
    forks: BTreeMap<RunId, Vec<RunId>>,
    parents: BTreeMap<RunId, RunId>,
}

impl Lineage {
    fn add(&mut self, parent: RunId, fork: RunId) {
        self.forks.entry(parent).or_default().push(fork);
        self.parents.insert(fork, parent);
    }

    fn forks_of(&self, run: RunId) -> &[RunId] {
        self.forks.get(&run).map_or(&[], Vec::as_slice)
    }

    /// `run` and every run forked from it (and from those), `run` first.
    fn tree(&self, run: RunId) -> Vec<RunId> {
        let mut members = vec![run];
        let mut next = 0;
        while let Some(&current) = members.get(next) {
            members.extend_from_slice(self.forks_of(current));
            next += 1;
        }
        members
    }

    fn remove(&mut self, run: RunId) {
        self.forks.remove(&run);
        if let Some(parent) = self.parents.remove(&run)
            && let Some(siblings) = self.forks.get_mut(&parent)
        {
            siblings.retain(|r| *r != run);
        }
    }
}

/// Shares out the runs earlier children left among `threads` threads. A fork tree (a run that is
/// no fork, and every run forked from it, transitively) goes to one thread whole, so that each
/// run keeps one writer and a tree can be deleted by its owner; about half of the trees
/// (seeded by their root) are left alone by this child: runs that stay idle across checkpoints
/// and kills, and are resumed, written or deleted by a later child, when their state may be only
/// in a checkpoint.
pub(super) fn share_runs(db: &Database, seed: u64, threads: u16) -> Result<Vec<Owned>, String> {
    let runs: BTreeMap<RunId, RunInfo> = db.runs().into_iter().map(|r| (r.run, r)).collect();
    // At most `runs.len()` steps up: a cycle of parents (which the run index must never hold)
    // ends the walk rather than the child.
    let root_of = |mut run: RunId| {
        for _ in 0..runs.len() {
            match runs
                .get(&run)
                .filter(|info| info.fork_point.is_some())
                .and_then(|info| info.parent)
                .filter(|parent| runs.contains_key(parent))
            {
                Some(parent) => run = parent,
                None => break,
            }
        }
        run
    };
    let mut trees: BTreeMap<RunId, Vec<&RunInfo>> = BTreeMap::new();
    for info in runs.values() {
        trees.entry(root_of(info.run)).or_default().push(info);
    }
    let mut owned: Vec<Owned> = (0..threads.max(1)).map(|_| Owned::default()).collect();
    let kept = trees.into_iter().filter(|(root, _)| {
        let id = u128::from_le_bytes(root.to_bytes());
        derive(&[seed, 97, id as u64, (id >> 64) as u64]) % 1000 >= PARKED_PER_MILLE
    });
    let threads = owned.len();
    for (i, (_, members)) in kept.enumerate() {
        let mine = &mut owned[i % threads];
        for info in members {
            let agent = agent_index(&info.agent)
                .ok_or_else(|| format!("run {} has an unknown agent {:?}", info.run, info.agent))?;
            match info.status {
                RunStatus::Interrupted => mine.leftovers.push((info.run, agent)),
                _ => mine.ended.push((info.run, agent)),
            }
            if info.fork_point.is_some()
                && let Some(parent) = info.parent
            {
                mine.lineage.add(parent, info.run);
            }
        }
    }
    Ok(owned)
}

impl Worker<'_> {
    /// Whether the thread may fork one of its active runs now.
    pub(super) fn can_fork(&self) -> bool {
        !self.active.is_empty() && self.active.len() < FORK_ACTIVE_MAX
    }

    /// Whether the thread has a run it may delete (or try to). Never in shared mode, which
    /// refuses run deletion (`Error::SharedModeUnsupported`).
    pub(super) fn can_delete(&self) -> bool {
        !self.shared && (!self.ended.is_empty() || !self.leftovers.is_empty())
    }

    /// A fork of one of the thread's active runs: as it is now, or (more often, when the thread
    /// knows one) right after one of its recent acknowledged operations.
    pub(super) fn fork(&mut self) -> Op {
        let (parent, agent) = self.active[self.rng.below(self.active.len() as u64) as usize];
        let points = self.points.get(&parent).map_or(&[][..], Vec::as_slice);
        let at = if !points.is_empty() && self.rng.chance(600) {
            let (version, op, _) = points[self.rng.below(points.len() as u64) as usize];
            ForkAt::Version { version, op }
        } else {
            ForkAt::Now
        };
        Op::Fork { parent, agent, at }
    }

    /// A deletion of an ended or interrupted run: `delete_run` of one without forks; of one with
    /// forks, `delete_run_tree` when every run of its tree has ended, else (and sometimes even
    /// then) `delete_run`, which must be refused.
    pub(super) fn delete(&mut self) -> Op {
        let candidates: Vec<RunId> = self
            .ended
            .iter()
            .chain(&self.leftovers)
            .map(|(r, _)| *r)
            .collect();
        let run = candidates[self.rng.below(candidates.len() as u64) as usize];
        let forks = self.lineage.forks_of(run).len();
        if forks == 0 {
            return Op::DeleteRun { run };
        }
        let members = self.lineage.tree(run);
        let all_ended = members
            .iter()
            .all(|m| !self.active.iter().any(|(r, _)| r == m));
        if all_ended && self.rng.chance(700) {
            Op::DeleteTree { run, members }
        } else {
            Op::DeleteRefused { run, forks }
        }
    }

    /// Performs a fork or a deletion.
    pub(super) fn execute_history(
        &self,
        id: OpId,
        op: &Op,
    ) -> Result<(AckVersion, AckResult), String> {
        let db = self.db;
        match op {
            Op::Fork { parent, at, .. } => {
                let point = match at {
                    ForkAt::Now => At::Now,
                    ForkAt::Version { version, .. } => At::Version(*version),
                };
                let (run, range) =
                    self.ranged(|| self.again(id, || db.fork_run(*parent, point)))?;
                let info = self
                    .again(id, || db.run_info(run))
                    .map_err(|e| format!("the new fork {run} has no run info: {e}"))?;
                let fork_point = info
                    .fork_point
                    .ok_or_else(|| format!("the new fork {run} has no fork point"))?;
                if info.parent != Some(*parent) {
                    return Err(format!(
                        "fork {run} of {parent} names parent {:?}",
                        info.parent
                    ));
                }
                if let ForkAt::Version { version, .. } = at
                    && fork_point != *version
                {
                    return Err(format!(
                        "fork {run} of {parent} at version {version} has fork point {fork_point}"
                    ));
                }
                let kv = self.own_kv_digest(id, run)?;
                Ok((
                    range,
                    AckResult::Fork {
                        run,
                        point: fork_point,
                        kv,
                    },
                ))
            }
            Op::DeleteRun { run } => {
                let ((), range) = self.ranged(|| db.delete_run(*run))?;
                Ok((range, AckResult::Nothing))
            }
            Op::DeleteRefused { run, forks } => match db.delete_run(*run) {
                Err(in_mem::Error::HasForks {
                    run: r, forks: n, ..
                }) if r == *run && n == *forks => Ok((AckVersion::None, AckResult::Refused(n))),
                Err(e) => Err(format!(
                    "delete_run of {run} with {forks} forks: expected HasForks, got {e}"
                )),
                Ok(()) => Err(format!("delete_run of {run} with {forks} forks succeeded")),
            },
            Op::DeleteTree { run, members } => {
                let (n, range) = self.ranged(|| db.delete_run_tree(*run))?;
                if n != members.len() {
                    return Err(format!(
                        "delete_run_tree of {run} deleted {n} runs, its tree has {}",
                        members.len()
                    ));
                }
                Ok((range, AckResult::Runs(n)))
            }
            _ => Err(format!("{op} is not a history operation")),
        }
    }

    /// The [`kv_digest`] of `run`'s view of the keys this thread may change in this child
    /// (`view_prefixes`; its agent's, without a time to live), as it reads now.
    fn own_kv_digest(&self, id: OpId, run: RunId) -> Result<u64, String> {
        let view = self
            .again(id, || self.db.run_view_at(run, At::Now))
            .map_err(|e| format!("no view of {run}: {e}"))?;
        let mut entries = BTreeMap::new();
        for prefix in view_prefixes(self.thread, self.iteration) {
            let listed = self
                .again(id, || view.list_versioned(&prefix))
                .map_err(|e| format!("listing the view of {run}: {e}"))?;
            entries.extend(
                listed
                    .into_iter()
                    .filter(|(_, v)| v.ttl.is_none())
                    .map(|(k, v)| (k, (v.version, v.value))),
            );
        }
        Ok(kv_digest(
            entries.iter().map(|(k, (v, x))| (k.as_slice(), *v, x)),
        ))
    }

    /// Updates what the thread knows after an acknowledged history operation, and the points
    /// its runs may be forked at after any acknowledged operation with an exact version.
    pub(super) fn note_history(
        &mut self,
        id: OpId,
        op: &Op,
        version: AckVersion,
        result: AckResult,
    ) {
        match (op, result) {
            (Op::Fork { parent, agent, at }, AckResult::Fork { run, .. }) => {
                let prims = match at {
                    ForkAt::Now => self.prims.get(parent).cloned(),
                    ForkAt::Version { op, .. } => self.points.get(parent).and_then(|points| {
                        points
                            .iter()
                            .find(|(_, at, _)| at == op)
                            .map(|(_, _, p)| p.clone())
                    }),
                };
                self.active.push((run, *agent));
                self.prims.insert(run, prims.unwrap_or_default());
                self.lineage.add(*parent, run);
            }
            (Op::DeleteRun { run }, _) => self.forget(*run),
            (Op::DeleteTree { members, .. }, _) => {
                for member in members {
                    self.forget(*member);
                }
            }
            _ => {}
        }
        if let (
            AckVersion::Exact(v),
            Op::Put { run, .. } | Op::Txn { run, .. } | Op::Mixed { run, .. },
        ) = (version, op)
        {
            let prims = self.prims.get(run).cloned().unwrap_or_default();
            let points = self.points.entry(*run).or_default();
            if points.len() == POINTS_MAX {
                points.remove(0);
            }
            points.push((v, id, prims));
        }
    }

    /// Forgets a deleted run.
    fn forget(&mut self, run: RunId) {
        self.ended.retain(|(r, _)| *r != run);
        self.leftovers.retain(|(r, _)| *r != run);
        self.lineage.remove(run);
        self.points.remove(&run);
        self.prims.remove(&run);
    }
}

/// A point a run may be forked at: the exact version an acknowledged operation on it returned,
/// the operation, and what the run's primitives held right after it.
pub(super) type Point = (u64, OpId, Prims);
