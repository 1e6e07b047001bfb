//! A dump of a shared store (`Database::dump` on a connected database).
//!
//! Versions are per agent in a shared store, so there is no one commit order to rank by. A
//! dump ranks the commits of all its agents in one sequence that keeps each agent's commit
//! order and otherwise follows commit time: at each step, the earliest next commit of any
//! agent (the agent that sorts first on a tie). A run reads only its agent's memory and
//! records, so a restored run sees exactly what it saw in the store (its snapshot is the rank
//! of its agent's newest commit at or below it), and a restored database's history by time
//! follows the store's clock.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use in_mem_core_types::{RunId, Timestamp};

use super::{Dump, Taken, dumped, entry};
use crate::error::Result;
use crate::instance::Instance;
use crate::shared::SharedLog;

/// One agent's part of the dump.
struct AgentPart {
    taken: Vec<Taken>,
    /// Below this version, the host's cache may lack what a collection in the store removed.
    collected_below: u64,
    /// Its commits (versions, ascending) with their times, and each one's rank once merged.
    commits: Vec<(u64, Timestamp)>,
    ranks: Vec<u64>,
}

impl AgentPart {
    /// The rank of this agent's newest commit at or below `v` (0: none).
    fn rank(&self, v: u64) -> u64 {
        let newer = self.commits.partition_point(|&(c, _)| c <= v);
        newer.checked_sub(1).map_or(0, |i| self.ranks[i])
    }
}

pub(super) fn dump(
    instance: &Instance,
    shared: &SharedLog,
    runs: Option<&BTreeSet<RunId>>,
) -> Result<Dump> {
    let mut parts = Vec::new();
    for agent in instance.agents_to_dump(shared, runs)? {
        let mut taken = Vec::new();
        let (versions, collected_below) = instance.agent_versions(shared, &agent)?;
        let collected_below = collected_below.get();
        for stored in versions {
            if dumped(&stored, runs)? {
                let mut t = Taken::from(stored);
                // Versions next to it may be gone: cut marks tell a restored database's reads
                // of the past, as a sweep's do (answers its keep rules keep stay trusted).
                // At the horizon too: the survivor nearest above a removed stretch may be there.
                if t.version.get() <= collected_below {
                    t.cuts = (true, true);
                }
                taken.push(t);
            }
        }
        let mut commits: Vec<_> = taken
            .iter()
            .map(|t| (t.version.get(), t.timestamp))
            .collect();
        commits.sort_unstable_by_key(|&(version, _)| version);
        commits.dedup_by_key(|&mut (version, _)| version);
        let ranks = vec![0; commits.len()];
        parts.push(AgentPart {
            taken,
            collected_below,
            commits,
            ranks,
        });
    }
    merge_ranks(&mut parts);
    // Views below the newest collection's horizon (in ranks: past the agent's newest dumped
    // commit below it) may have lost versions.
    let history_from = parts
        .iter()
        .filter(|part| part.collected_below > 0)
        .map(|part| part.rank(part.collected_below - 1) + 1)
        .max()
        .unwrap_or(0);
    let mut entries = Vec::new();
    for part in &mut parts {
        let taken = std::mem::take(&mut part.taken);
        for t in taken {
            entries.push(entry(t, &|v| part.rank(v))?);
        }
    }
    entries.sort_by_key(|e| (e.version, e.key.encode()));
    Ok(Dump {
        history_from,
        entries,
    })
}

/// Ranks every agent's commits in one sequence: each agent's in its own order, the earliest
/// next commit first (by a heap of each agent's next commit: many agents stay cheap).
fn merge_ranks(parts: &mut [AgentPart]) {
    let mut heads: BinaryHeap<Reverse<(Timestamp, usize, usize)>> = parts
        .iter()
        .enumerate()
        .filter_map(|(agent, part)| part.commits.first().map(|&(_, at)| Reverse((at, agent, 0))))
        .collect();
    let mut rank = 0;
    while let Some(Reverse((_, agent, i))) = heads.pop() {
        rank += 1;
        let part = &mut parts[agent];
        part.ranks[i] = rank;
        if let Some(&(_, at)) = part.commits.get(i + 1) {
            heads.push(Reverse((at, agent, i + 1)));
        }
    }
}
