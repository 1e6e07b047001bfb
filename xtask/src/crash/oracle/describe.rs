//! Human-readable descriptions of operations, cells and mismatches, for failure messages.

use std::fmt::Write as _;

use in_mem::{RunId, Value};

use super::super::workload::{AgentIdx, Op};
use super::{
    Cell, EventExpect, EventRec, Expect, KvExpect, KvKey, Lineage, Observed, RunExpect, SpanExpect,
    SpanRec, Stored, first_event_difference, first_span_difference,
};

/// At most this many mismatching keys or runs are described per failure.
const DESCRIBE_MAX: usize = 6;
/// An op's text form, with long keys shortened.
pub(super) fn short_op(op: &Op) -> String {
    op.to_string()
        .split(' ')
        .map(|word| {
            if word.len() > 32 {
                format!("{}...", &word[..char_boundary(word, 24)])
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn describe_key(key: &KvKey) -> String {
    let (agent, name) = key;
    let name = if name.len() > 24 {
        format!("{}...", &name[..char_boundary(name, 24)])
    } else {
        name.clone()
    };
    format!("key {name:?} of agent {agent}")
}

pub(super) fn describe_cell(cell: &Cell) -> String {
    match cell {
        Cell::Kv(key) => describe_key(key),
        Cell::Run(run) => format!("run {run}"),
        Cell::Events(run) => format!("the event log of run {run}"),
        Cell::State((run, name)) => format!("state cell {name:?} of run {run}"),
        Cell::Spans(run) => format!("the trace of run {run}"),
    }
}

/// A short description of a value: type, size, and the start of its bytes.
pub(super) fn describe_value(value: &Value) -> String {
    match value {
        Value::Bytes(b) => {
            // Values the workload writes start with the id of the op that wrote them.
            let head = &b[..b.len().min(24)];
            match head.iter().position(|&c| c == b'|') {
                Some(end) if head[..end].iter().all(u8::is_ascii_graphic) => format!(
                    "{} bytes \"{}|...\"",
                    b.len(),
                    String::from_utf8_lossy(&head[..end])
                ),
                _ => format!("{} bytes {:02x?}", b.len(), &b[..b.len().min(8)]),
            }
        }
        other => {
            let mut text = format!("{other:?}");
            if text.len() > 60 {
                text.truncate(char_boundary(&text, 60));
                text.push_str("...");
            }
            text
        }
    }
}

pub(super) fn describe_stored(s: &Stored) -> String {
    let mut text = format!(
        "{} at version {} (time {})",
        describe_value(&s.value),
        s.version,
        s.timestamp_us
    );
    if let Some(ttl) = s.ttl_us {
        let _ = write!(text, " ttl {} ms", ttl / 1000);
    }
    text
}

pub(super) fn describe_mismatch(cell: &Cell, expect: &Expect, observed: &Observed) -> String {
    match (expect, cell) {
        (Expect::Gone { run, maybe, inner }, _) => {
            return describe_gone(cell, *run, *maybe, inner, observed);
        }
        (Expect::Events(expect), Cell::Events(run)) => {
            let got = observed.events.get(run).map_or(&[][..], Vec::as_slice);
            return describe_events(cell, expect, got);
        }
        (Expect::State(expect), Cell::State(key)) => {
            let wanted = expect.as_ref().map_or_else(
                || "absent".to_owned(),
                |e| {
                    format!(
                        "{} at version {} from {}",
                        describe_value(&e.value),
                        e.version,
                        e.source
                    )
                },
            );
            let got = observed.cells.get(key).map_or_else(
                || "absent".to_owned(),
                |g| {
                    format!(
                        "{} at version {} (time {})",
                        describe_value(&g.value),
                        g.version,
                        g.updated_us
                    )
                },
            );
            return format!(
                "{}: expected {wanted}, recovered {got}",
                describe_cell(cell)
            );
        }
        (Expect::Spans(expect), Cell::Spans(run)) => {
            let got = observed.spans.get(run).map_or(&[][..], Vec::as_slice);
            return describe_spans(cell, expect, got);
        }
        _ => {}
    }
    let wanted = match expect {
        Expect::Kv(states) => states
            .iter()
            .map(|e| match e {
                KvExpect::Absent => "absent".to_owned(),
                KvExpect::Present {
                    source,
                    value,
                    version,
                    ttl_us,
                    ..
                } => {
                    let versions = if version.0 == version.1 {
                        version.0.to_string()
                    } else if version.1 == u64::MAX {
                        format!("{}..", version.0)
                    } else {
                        format!("{}..={}", version.0, version.1)
                    };
                    let ttl = ttl_us.map_or(String::new(), |t| format!(" ttl {} ms", t / 1000));
                    format!(
                        "{} from {source} at version {versions}{ttl}",
                        describe_value(value)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(" or "),
        Expect::Run {
            agent,
            lineage,
            states,
        } => describe_run_expect(*agent, *lineage, states),
        Expect::Events(_) | Expect::State(_) | Expect::Spans(_) | Expect::Gone { .. } => {
            "(another kind of cell)".to_owned()
        }
    };
    let got = match cell {
        Cell::Kv(key) => observed
            .kv
            .get(key)
            .map_or_else(|| "absent".to_owned(), describe_stored),
        Cell::Run(run) => observed.runs.get(run).map_or_else(
            || "absent".to_owned(),
            |e| match e.parent {
                Some(p) => format!(
                    "{} of agent {}, parent {p}, fork point {:?}",
                    e.status, e.agent, e.fork_point
                ),
                None => format!("{} of agent {}", e.status, e.agent),
            },
        ),
        Cell::Events(_) | Cell::State(_) | Cell::Spans(_) => "(another kind of cell)".to_owned(),
    };
    format!(
        "{}: expected {wanted}, recovered {got}",
        describe_cell(cell)
    )
}

/// What a run was expected to be.
fn describe_run_expect(
    agent: Option<AgentIdx>,
    lineage: Option<Lineage>,
    alternatives: &[RunExpect],
) -> String {
    let agent = match (agent, lineage) {
        (Some(a), Some((Some(p), point))) => {
            format!(" of agent {a}, parent {p}, fork point {point:?}")
        }
        (Some(a), _) => format!(" of agent {a}"),
        (None, _) => String::new(),
    };
    let names: Vec<String> = alternatives
        .iter()
        .map(|s| match s {
            RunExpect::Absent => "absent".to_owned(),
            RunExpect::Is(status) => status.to_string(),
        })
        .collect();
    format!("{}{agent}", names.join(" or "))
}

/// A record of a deleted run that recovery holds, or a record missing from a run whose
/// deletion did not happen.
fn describe_gone(
    cell: &Cell,
    run: RunId,
    maybe: bool,
    inner: &Expect,
    observed: &Observed,
) -> String {
    if !observed.runs.contains_key(&run) {
        format!(
            "{}: its run {run} is deleted, but recovery holds records of it",
            describe_cell(cell)
        )
    } else if maybe {
        describe_mismatch(cell, inner, observed)
    } else {
        format!("{}: its run {run} was deleted", describe_cell(cell))
    }
}

pub(super) fn describe_events(cell: &Cell, expect: &[EventExpect], got: &[EventRec]) -> String {
    let at = first_event_difference(expect, got).unwrap_or(0);
    let wanted = expect.get(at).map_or_else(
        || "no event".to_owned(),
        |e| {
            format!(
                "{} {} from {}",
                e.event_type,
                describe_value(&e.payload),
                e.source
            )
        },
    );
    let found = got.get(at).map_or_else(
        || "none".to_owned(),
        |g| {
            format!(
                "sequence {} {} {} (time {})",
                g.sequence,
                g.event_type,
                describe_value(&g.payload),
                g.timestamp_us
            )
        },
    );
    format!(
        "{}: expected {} events, recovered {}; at position {at} expected {wanted}, recovered \
         {found}",
        describe_cell(cell),
        expect.len(),
        got.len()
    )
}

pub(super) fn describe_spans(cell: &Cell, expect: &[SpanExpect], got: &[SpanRec]) -> String {
    let at = first_span_difference(expect, got).unwrap_or(0);
    let wanted = expect.get(at).map_or_else(
        || "no span".to_owned(),
        |e| {
            format!(
                "a span of kind {} with parent {:?} and tags {:?} from {}",
                e.span.kind.name(),
                e.span.parent,
                e.span.tags,
                e.source
            )
        },
    );
    let found = got.get(at).map_or_else(
        || "none".to_owned(),
        |g| {
            format!(
                "span {} of kind {} with parent {:?} and tags {:?} (start {})",
                g.id,
                g.kind.name(),
                g.parent,
                g.tags,
                g.start_us
            )
        },
    );
    format!(
        "{}: expected {} spans, recovered {}; at position {at} expected {wanted}, recovered \
         {found}",
        describe_cell(cell),
        expect.len(),
        got.len()
    )
}

pub(super) fn list(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(DESCRIBE_MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > DESCRIBE_MAX {
        let _ = write!(text, "; and {} more", items.len() - DESCRIBE_MAX);
    }
    text
}

/// The largest char boundary of `text` at or below `at`.
pub(super) fn char_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}
