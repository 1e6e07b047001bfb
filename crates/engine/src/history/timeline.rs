//! A run's steps: its commits, in order, with what each wrote (keys only, no values).
//!
//! Found from the versions the memtable keeps: every version under the run's own records (all
//! of them the run's) and every version of the agent's memory written by the run. Nothing is
//! logged for it. Retention may have reclaimed superseded versions; the timeline then says
//! below which version steps may be missing writes ([`Timeline::pruned_below`]).

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use in_mem_core_types::{Timestamp, TypeTag, Version};

use crate::instance::Instance;
use crate::records::{RecordKey, SpanId, classify};
use crate::runs::RunState;

/// One step of a run: one of its commits and what it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// The commit's version.
    pub version: u64,
    /// The commit's timestamp.
    pub timestamp: Timestamp,
    /// Keys of the agent's memory it wrote (or deleted), in key order.
    pub kv_keys: Vec<Vec<u8>>,
    /// Events it appended: (sequence, event type).
    pub events: Vec<(u64, String)>,
    /// State cells it wrote (created, set, deleted).
    pub cells: Vec<String>,
    /// Machines it defined or moved.
    pub machines: Vec<String>,
    /// Spans it recorded, started or finished.
    pub spans: Vec<SpanId>,
    /// Whether it changed the run's lifecycle (begun, ended, paused, tags, metadata).
    pub lifecycle: bool,
}

/// A run's steps, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// The steps.
    pub steps: Vec<Step>,
    /// `Some(v)`: retention reclaimed superseded versions below `v`, so steps below it may miss
    /// writes that later steps replaced (and a step whose every write was replaced may be
    /// missing). Events are never reclaimed while the run exists.
    pub pruned_below: Option<u64>,
}

/// The steps of `run` with versions in `range`, oldest first, at most `limit`.
pub(crate) fn timeline(
    instance: &Instance,
    run: &RunState,
    range: (Bound<u64>, Bound<u64>),
    limit: usize,
) -> Timeline {
    let mut steps: BTreeMap<Version, Step> = BTreeMap::new();
    let mut cut = false;
    for stored in instance.versions_under(&run.data_prefix) {
        if !range.contains(&stored.version.get()) {
            continue;
        }
        cut |= stored.cuts.any();
        let Some((&tag, key)) = stored
            .key
            .get(run.data_prefix.len()..)
            .and_then(<[u8]>::split_first)
        else {
            continue;
        };
        let Ok(tag) = TypeTag::try_from(tag) else {
            continue;
        };
        let step = step(&mut steps, stored.version, stored.timestamp);
        match classify(tag, key) {
            RecordKey::EventType {
                sequence,
                event_type,
            } => step.events.push((sequence, event_type)),
            RecordKey::Cell(name) => step.cells.push(name),
            RecordKey::MachineState(name) | RecordKey::Machine(name) => {
                if !step.machines.contains(&name) {
                    step.machines.push(name);
                }
            }
            RecordKey::Span(id) => step.spans.push(id),
            RecordKey::Run => step.lifecycle = true,
            RecordKey::Event(_) | RecordKey::Other => {}
        }
    }
    let strip = run.kv_prefix.len();
    for stored in instance.versions_under(&run.kv_prefix) {
        if stored.writer != run.id || !range.contains(&stored.version.get()) {
            continue;
        }
        cut |= stored.cuts.any();
        let key = stored.key.get(strip..).unwrap_or_default().to_vec();
        step(&mut steps, stored.version, stored.timestamp)
            .kv_keys
            .push(key);
    }
    let mut steps: Vec<Step> = steps.into_values().take(limit).collect();
    for step in &mut steps {
        step.events.sort();
        step.spans.sort_unstable();
        step.spans.dedup();
    }
    let horizon = instance.swept_horizon().get();
    Timeline {
        steps,
        pruned_below: (cut && horizon > 0).then_some(horizon),
    }
}

/// Every commit of `run` (version, timestamp), oldest first.
pub(crate) fn own_commits(instance: &Instance, run: &RunState) -> Vec<(Version, Timestamp)> {
    let all = (Bound::Unbounded, Bound::Unbounded);
    timeline(instance, run, all, usize::MAX)
        .steps
        .iter()
        .map(|s| (Version::new(s.version), s.timestamp))
        .collect()
}

/// The step of `version`, made on first use.
fn step(steps: &mut BTreeMap<Version, Step>, version: Version, timestamp: Timestamp) -> &mut Step {
    steps.entry(version).or_insert_with(|| Step {
        version: version.get(),
        timestamp,
        ..Step::default()
    })
}
