//! The table of every run: a compact summary per run (agent, lineage, snapshot, status, tags)
//! and the indexes that answer `query_runs` without looking at every run (by creation time,
//! status, agent, tag and parent, each ordered by creation time).
//!
//! What a summary leaves out (metadata, error text, update time) stays in the run's record in
//! the memtable and is read from there when a run is described. Agents and tags are interned,
//! so 100,000 runs of one agent hold one copy of its name.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use in_mem_core_types::{AgentId, RunId, Timestamp, Version};

use super::query::RunQuery;
use super::state::{Agent, Ancestor, data_prefix};
use super::{RunState, RunStatus};

/// A position in an index: creation time, then run id (runs created in the same microsecond
/// stay distinct).
type Slot = (Timestamp, RunId);

/// Hash maps of the table, with a seeded foldhash (run ids are random already).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// What the table keeps of one run.
#[derive(Debug, Clone)]
pub(crate) struct RunSummary {
    pub agent: Arc<Agent>,
    pub parent: Option<RunId>,
    /// For a fork: the version of its parent's view it starts from.
    pub fork_point: Option<Version>,
    pub snapshot: Version,
    pub created_at: Timestamp,
    pub status: RunStatus,
    pub tags: Box<[Arc<str>]>,
    /// The pin it holds on its snapshot (beside an ended run's, kept apart: see `pins.rs`).
    pub pin: Pin,
    /// The state of a run that has not ended; ended runs have none (it is rebuilt on demand).
    pub live: Option<Arc<RunState>>,
    /// Set while the run is being deleted: no fork of it may begin.
    pub deleting: bool,
}

/// What pin a run holds on its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pin {
    /// For as long as it lives (active, paused, resumed).
    Live,
    /// Until a time: an interrupted run's grace.
    Until(Timestamp),
    /// None of its own (ended runs, whose pins are bucketed by expiry; a run resumed after its
    /// grace).
    None,
}

impl RunSummary {
    fn slot(&self, run: RunId) -> Slot {
        (self.created_at, run)
    }
}

/// Every run's summary and the indexes over them.
#[derive(Debug, Default)]
pub(crate) struct RunTable {
    summaries: HashMap<RunId, RunSummary>,
    agents: HashMap<AgentId, Arc<Agent>>,
    /// The same agents by their encoding (recovery meets them as key bytes).
    agents_by_encoding: HashMap<Box<[u8]>, Arc<Agent>>,
    /// True while recovery fills the table: the indexes are built once, at the end.
    deferred: bool,
    tag_names: HashSet<Arc<str>>,
    by_created: BTreeSet<Slot>,
    by_status: HashMap<RunStatus, BTreeSet<Slot>>,
    by_agent: HashMap<AgentId, BTreeSet<Slot>>,
    by_tag: HashMap<Arc<str>, BTreeSet<Slot>>,
    by_parent: HashMap<RunId, BTreeSet<Slot>>,
}

impl RunTable {
    /// The interned agent for `id`.
    pub fn agent(&mut self, id: &AgentId) -> Arc<Agent> {
        if let Some(agent) = self.agents.get(id) {
            return Arc::clone(agent);
        }
        let agent = Arc::new(Agent::new(id.clone()));
        self.agents.insert(id.clone(), Arc::clone(&agent));
        self.agents_by_encoding
            .insert(agent.encoded.clone(), Arc::clone(&agent));
        agent
    }

    /// The interned agent whose encoding is `encoded`, if the table has met it.
    pub fn agent_by_encoding(&self, encoded: &[u8]) -> Option<Arc<Agent>> {
        self.agents_by_encoding.get(encoded).cloned()
    }

    /// Stops keeping the indexes in step (recovery is about to put every run).
    pub fn defer_indexes(&mut self) {
        self.deferred = true;
    }

    /// Builds the indexes from the summaries and keeps them in step again.
    pub fn build_indexes(&mut self) {
        self.deferred = false;
        // Built from sorted runs, so each set is bulk-loaded rather than inserted into.
        let mut slots: Vec<(Slot, &RunSummary)> = self
            .summaries
            .iter()
            .map(|(run, summary)| (summary.slot(*run), summary))
            .collect();
        slots.sort_unstable_by_key(|(slot, _)| *slot);
        self.by_created = slots.iter().map(|(slot, _)| *slot).collect();
        let mut by_status: HashMap<RunStatus, Vec<Slot>> = HashMap::default();
        let mut by_agent: HashMap<AgentId, Vec<Slot>> = HashMap::default();
        let mut by_tag: HashMap<Arc<str>, Vec<Slot>> = HashMap::default();
        let mut by_parent: HashMap<RunId, Vec<Slot>> = HashMap::default();
        for (slot, summary) in &slots {
            by_status.entry(summary.status).or_default().push(*slot);
            by_agent
                .entry(summary.agent.id.clone())
                .or_default()
                .push(*slot);
            for tag in &summary.tags {
                by_tag.entry(Arc::clone(tag)).or_default().push(*slot);
            }
            if let Some(parent) = summary.parent {
                by_parent.entry(parent).or_default().push(*slot);
            }
        }
        self.by_status = into_sets(by_status);
        self.by_agent = into_sets(by_agent);
        self.by_tag = into_sets(by_tag);
        self.by_parent = into_sets(by_parent);
    }

    /// Every run's summary, to change in place (recovery only, while indexes are deferred).
    pub fn summaries_mut(&mut self) -> impl Iterator<Item = (&RunId, &mut RunSummary)> {
        debug_assert!(self.deferred, "indexes would go out of step");
        self.summaries.iter_mut()
    }

    /// Interned tags.
    pub fn tags(&mut self, tags: &[String]) -> Box<[Arc<str>]> {
        tags.iter()
            .map(|tag| {
                if let Some(name) = self.tag_names.get(tag.as_str()) {
                    return Arc::clone(name);
                }
                let name: Arc<str> = Arc::from(tag.as_str());
                self.tag_names.insert(Arc::clone(&name));
                name
            })
            .collect()
    }

    pub fn get(&self, run: RunId) -> Option<&RunSummary> {
        self.summaries.get(&run)
    }

    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    /// Adds or replaces `run`'s summary, keeping the indexes in step.
    pub fn put(&mut self, run: RunId, summary: RunSummary) {
        if let Some(old) = self.summaries.remove(&run) {
            self.unindex(run, &old);
        }
        self.index(run, &summary);
        self.summaries.insert(run, summary);
    }

    /// Changes `run`'s summary in place (status, tags, pin, live state), keeping the indexes in
    /// step. Returns what `change` returned, or `None` if there is no such run.
    pub fn update<T>(
        &mut self,
        run: RunId,
        change: impl FnOnce(&mut RunSummary) -> T,
    ) -> Option<T> {
        let mut summary = self.summaries.remove(&run)?;
        self.unindex(run, &summary);
        let out = change(&mut summary);
        self.index(run, &summary);
        self.summaries.insert(run, summary);
        Some(out)
    }

    /// Takes `run` out of the table.
    pub fn remove(&mut self, run: RunId) -> Option<RunSummary> {
        let summary = self.summaries.remove(&run)?;
        self.unindex(run, &summary);
        Some(summary)
    }

    /// The ancestors a fork's view includes (see `state::Ancestor`), from the summaries' parent
    /// links: empty for a run that is not a fork.
    pub fn ancestors(&self, run: RunId) -> Vec<Ancestor> {
        let mut ancestors: Vec<Ancestor> = Vec::new();
        let mut child = self.summaries.get(&run);
        while let Some(summary) = child {
            let (Some(parent), Some(point)) = (summary.parent, summary.fork_point) else {
                break;
            };
            let Some(parent_summary) = self.summaries.get(&parent) else {
                break;
            };
            let upto = ancestors
                .last()
                .map_or(point, |nearer| nearer.upto.min(point));
            ancestors.push(Ancestor {
                run: parent,
                data_prefix: data_prefix(&parent_summary.agent.id, parent).into(),
                upto,
            });
            child = Some(parent_summary);
        }
        ancestors
    }

    /// For every run some live fork's view includes, the versions up to which it must keep its
    /// newest writes (the forks' bounds on it).
    pub fn fork_bounds(&self) -> HashMap<RunId, Vec<Version>> {
        let mut bounds: HashMap<RunId, Vec<Version>> = HashMap::default();
        for (run, summary) in &self.summaries {
            if summary.fork_point.is_none() {
                continue;
            }
            for ancestor in self.ancestors(*run) {
                bounds.entry(ancestor.run).or_default().push(ancestor.upto);
            }
        }
        bounds
    }

    /// The runs forked from `run` that still exist.
    pub fn forks_of(&self, run: RunId) -> Vec<RunId> {
        self.by_parent.get(&run).map_or_else(Vec::new, |children| {
            children
                .iter()
                .map(|(_, child)| *child)
                .filter(|child| {
                    self.summaries
                        .get(child)
                        .is_some_and(|s| s.fork_point.is_some())
                })
                .collect()
        })
    }

    /// The runs matching `query`, in creation order (or its reverse), at most its limit. Walks
    /// the smallest index the query names (status, tag, parent, exact agent, else all runs)
    /// inside the creation-time range, checking the other conditions on each summary.
    pub fn query(&self, query: &RunQuery) -> Vec<RunId> {
        let empty = BTreeSet::new();
        debug_assert!(!self.deferred, "queried while recovering");
        let exact_agent = match (&query.tenant, &query.app, &query.agent) {
            (Some(tenant), Some(app), Some(agent)) => {
                Some(AgentId::new(tenant.as_str(), app.as_str(), agent.as_str()))
            }
            _ => None,
        };
        let candidates: Vec<&BTreeSet<Slot>> = [
            query
                .status
                .map(|s| self.by_status.get(&s).unwrap_or(&empty)),
            query
                .tag
                .as_deref()
                .map(|t| self.by_tag.get(t).unwrap_or(&empty)),
            query
                .parent
                .map(|p| self.by_parent.get(&p).unwrap_or(&empty)),
            exact_agent
                .as_ref()
                .map(|a| self.by_agent.get(a).unwrap_or(&empty)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let set = candidates
            .into_iter()
            .min_by_key(|set| set.len())
            .unwrap_or(&self.by_created);
        let lower = query
            .created_from
            .map_or(Bound::Unbounded, |t| Bound::Included((t, RunId::NIL)));
        let upper = query
            .created_before
            .map_or(Bound::Unbounded, |t| Bound::Excluded((t, RunId::NIL)));
        let in_range = set.range((lower, upper));
        let slots: Box<dyn Iterator<Item = &Slot>> = if query.newest_first {
            Box::new(in_range.rev())
        } else {
            Box::new(in_range)
        };
        let limit = query.limit.unwrap_or(usize::MAX);
        slots
            .filter(|(_, run)| self.summaries.get(run).is_some_and(|s| matches(query, s)))
            .map(|&(_, run)| run)
            .take(limit)
            .collect()
    }

    /// How many runs are in each status.
    pub fn counts(&self) -> impl Iterator<Item = (RunStatus, usize)> + '_ {
        self.by_status.iter().map(|(s, set)| (*s, set.len()))
    }

    fn index(&mut self, run: RunId, summary: &RunSummary) {
        if self.deferred {
            return;
        }
        let slot = summary.slot(run);
        self.by_created.insert(slot);
        self.by_status
            .entry(summary.status)
            .or_default()
            .insert(slot);
        self.by_agent
            .entry(summary.agent.id.clone())
            .or_default()
            .insert(slot);
        for tag in &summary.tags {
            self.by_tag.entry(Arc::clone(tag)).or_default().insert(slot);
        }
        if let Some(parent) = summary.parent {
            self.by_parent.entry(parent).or_default().insert(slot);
        }
    }

    fn unindex(&mut self, run: RunId, summary: &RunSummary) {
        if self.deferred {
            return;
        }
        let slot = summary.slot(run);
        self.by_created.remove(&slot);
        remove_from(&mut self.by_status, &summary.status, &slot);
        remove_from(&mut self.by_agent, &summary.agent.id, &slot);
        for tag in &summary.tags {
            remove_from(&mut self.by_tag, tag, &slot);
        }
        if let Some(parent) = summary.parent {
            remove_from(&mut self.by_parent, &parent, &slot);
        }
    }
}

/// Sorted runs per key as sets (bulk-loaded, as each list is sorted).
fn into_sets<K: std::hash::Hash + Eq>(map: HashMap<K, Vec<Slot>>) -> HashMap<K, BTreeSet<Slot>> {
    map.into_iter()
        .map(|(key, slots)| (key, slots.into_iter().collect()))
        .collect()
}

/// Takes `slot` out of the set under `key`, and the set out of the map once it is empty.
fn remove_from<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, BTreeSet<Slot>>,
    key: &K,
    slot: &Slot,
) {
    if let Some(set) = map.get_mut(key) {
        set.remove(slot);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// Whether `summary` satisfies every condition of `query` (the index walked satisfies one).
fn matches(query: &RunQuery, summary: &RunSummary) -> bool {
    let agent = &summary.agent.id;
    let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    same(&query.tenant, agent.tenant())
        && same(&query.app, agent.app())
        && same(&query.agent, agent.agent())
        && query.status.is_none_or(|s| s == summary.status)
        && query
            .tag
            .as_deref()
            .is_none_or(|t| summary.tags.iter().any(|have| &**have == t))
        && query.parent.is_none_or(|p| summary.parent == Some(p))
        && (!query.forks_only || summary.fork_point.is_some())
}
