//! Whether a recovered key, run, event log, state cell or trace is one of the states the
//! oracle accepts for it.

use super::super::workload::AgentIdx;
use super::{
    Cell, CellExpect, CellRec, EventExpect, EventRec, Expect, KvExpect, Observed, RunExpect,
    SpanExpect, SpanRec, Stored,
};

/// Whether an observed key matches one acceptable state.
pub(super) fn kv_matches(
    expect: &KvExpect,
    agent: AgentIdx,
    got: Option<&Stored>,
    observed: &Observed,
) -> bool {
    match (expect, got) {
        (KvExpect::Absent, None) => true,
        (KvExpect::Absent, Some(_)) => false,
        (
            KvExpect::Present {
                value,
                version,
                ts,
                ttl_us,
                ..
            },
            Some(s),
        ) => {
            s.value == *value
                && version.0 <= s.version
                && s.version <= version.1.min(observed.last_version_of(agent))
                && ts.0 <= s.timestamp_us
                && s.timestamp_us <= ts.1
                && s.ttl_us == *ttl_us
        }
        // Expired: possible from the earliest moment it could have expired.
        (KvExpect::Present { ts, ttl_us, .. }, None) => {
            ttl_us.is_some_and(|ttl| ts.0.saturating_add(ttl) <= observed.read_to_us)
        }
    }
}

/// Whether the observed cell is one of the acceptable states.
pub(super) fn cell_matches(expect: &Expect, cell: &Cell, observed: &Observed) -> bool {
    match (expect, cell) {
        (Expect::Kv(states), Cell::Kv(key)) => {
            let got = observed.kv.get(key);
            states.iter().any(|e| kv_matches(e, key.0, got, observed))
        }
        (
            Expect::Run {
                agent,
                lineage,
                states,
            },
            Cell::Run(run),
        ) => {
            let got = observed.runs.get(run);
            states.iter().any(|e| match (e, got) {
                (RunExpect::Absent, None) => true,
                (RunExpect::Is(status), Some(g)) => {
                    g.status == *status
                        && agent.is_none_or(|a| a == g.agent)
                        && lineage.is_none_or(|l| l == g.lineage())
                }
                _ => false,
            })
        }
        (Expect::Gone { run, maybe, inner }, cell) => {
            if observed.runs.contains_key(run) {
                *maybe && cell_matches(inner, cell, observed)
            } else {
                cell_is_empty(cell, observed)
            }
        }
        (Expect::Events(expect), Cell::Events(run)) => {
            let got = observed.events.get(run).map_or(&[][..], Vec::as_slice);
            first_event_difference(expect, got).is_none()
        }
        (Expect::State(expect), Cell::State(key)) => match (expect, observed.cells.get(key)) {
            (None, None) => true,
            (Some(e), Some(g)) => cell_state_matches(e, g),
            _ => false,
        },
        (Expect::Spans(expect), Cell::Spans(run)) => {
            let got = observed.spans.get(run).map_or(&[][..], Vec::as_slice);
            first_span_difference(expect, got).is_none()
        }
        _ => false,
    }
}

/// Whether recovery holds nothing in a run's event log, state cell or trace.
fn cell_is_empty(cell: &Cell, observed: &Observed) -> bool {
    match cell {
        Cell::Events(run) => observed.events.get(run).is_none_or(Vec::is_empty),
        Cell::State(key) => !observed.cells.contains_key(key),
        Cell::Spans(run) => observed.spans.get(run).is_none_or(Vec::is_empty),
        Cell::Kv(_) | Cell::Run(_) => false,
    }
}

fn event_matches(expect: &EventExpect, sequence: u64, got: &EventRec) -> bool {
    got.sequence == sequence
        && expect.hash.is_none_or(|h| h == got.hash)
        && got.event_type == expect.event_type
        && got.payload == expect.payload
        && expect.ts.0 <= got.timestamp_us
        && got.timestamp_us <= expect.ts.1
}

/// The first place where the recovered log differs from the expected one (`None`: they agree).
pub(super) fn first_event_difference(expect: &[EventExpect], got: &[EventRec]) -> Option<usize> {
    (0..expect.len().max(got.len())).find(|&i| match (expect.get(i), got.get(i)) {
        (Some(e), Some(g)) => !event_matches(e, i as u64, g),
        _ => true,
    })
}

fn cell_state_matches(expect: &CellExpect, got: &CellRec) -> bool {
    got.value == expect.value
        && got.version == expect.version
        && expect.ts.0 <= got.updated_us
        && got.updated_us <= expect.ts.1
}

fn span_matches(expect: &SpanExpect, id: u64, got: &SpanRec) -> bool {
    let e = &expect.span;
    got.id == id
        && got.parent == e.parent
        && got.kind == e.kind
        && got.status == e.status
        && got.tags == e.tags
        && got.attributes == e.attributes
        && expect.ts.0 <= got.start_us
        && got.start_us <= expect.ts.1
        && got.end_us == Some(got.start_us)
}

/// The first place where the recovered trace differs from the expected one.
pub(super) fn first_span_difference(expect: &[SpanExpect], got: &[SpanRec]) -> Option<usize> {
    (0..expect.len().max(got.len())).find(|&i| match (expect.get(i), got.get(i)) {
        (Some(e), Some(g)) => !span_matches(e, i as u64 + 1, g),
        _ => true,
    })
}
