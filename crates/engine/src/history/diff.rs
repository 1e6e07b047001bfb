//! Comparing two views of runs (two runs, or one run at two points): the agent memory's keys,
//! the event logs, the state cells and the span trees.
//!
//! What is compared is content, not bookkeeping: KV values (not their versions), events by
//! sequence, type and payload (not timestamps, which every re-execution changes, nor hashes,
//! which cover them), cells by value and version, spans by position in the tree (the i-th root,
//! its j-th child ...) with kind, status, tags and attributes (not ids, times or a tool call's
//! duration).

use std::collections::BTreeMap;
use std::fmt;

use in_mem_core_types::{RunId, Value};

use super::RunView;
use crate::error::Result;
use crate::records::{Cell, Event, Span, SpanKind};

/// What differs between two views, from the first (`a`) to the second (`b`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunDiff {
    /// The first view: its run and version.
    pub a: (RunId, u64),
    /// The second view: its run and version.
    pub b: (RunId, u64),
    /// Keys of the agent's memory that differ, in key order.
    pub kv: Vec<KvChange>,
    /// Where the event logs part.
    pub events: EventsDiff,
    /// State cells that differ (value or version), by name.
    pub cells: Vec<CellChange>,
    /// Spans that differ, by position.
    pub spans: Vec<SpanChange>,
}

impl RunDiff {
    /// Whether the two views hold the same content.
    pub fn is_empty(&self) -> bool {
        self.kv.is_empty()
            && self.events.first_divergence.is_none()
            && self.cells.is_empty()
            && self.spans.is_empty()
    }
}

/// A key of the agent's memory that differs.
#[derive(Debug, Clone, PartialEq)]
pub enum KvChange {
    /// Only `b` has it.
    Added { key: Vec<u8>, value: Value },
    /// Only `a` has it.
    Removed { key: Vec<u8>, value: Value },
    /// Both have it, with different values.
    Changed {
        key: Vec<u8>,
        before: Value,
        after: Value,
    },
}

/// Where two event logs part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsDiff {
    /// The first sequence at which they differ (or one ends); `None` if they are the same.
    pub first_divergence: Option<u64>,
    /// `a`'s events from there on.
    pub only_a: Vec<Event>,
    /// `b`'s events from there on.
    pub only_b: Vec<Event>,
}

/// A state cell that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct CellChange {
    /// Its name.
    pub name: String,
    /// In `a` (`None`: absent).
    pub a: Option<Cell>,
    /// In `b` (`None`: absent).
    pub b: Option<Cell>,
}

/// A span that differs, at a position in the span forest: `[i]` is the i-th root (in id
/// order), `[i, j]` its j-th child, and so on.
#[derive(Debug, Clone, PartialEq)]
pub enum SpanChange {
    /// Only `b` has a span there.
    Added { position: Vec<usize>, span: Span },
    /// Only `a` has a span there.
    Removed { position: Vec<usize>, span: Span },
    /// Both have one, and they differ.
    Changed {
        position: Vec<usize>,
        a: Box<Span>,
        b: Box<Span>,
        /// Attributes that differ: name, in `a`, in `b`.
        attributes: Vec<(String, Option<Value>, Option<Value>)>,
    },
}

/// Compares view `a` with view `b`.
pub(crate) fn diff(a: &mut RunView, b: &mut RunView) -> Result<RunDiff> {
    Ok(RunDiff {
        a: (a.run(), a.version()),
        b: (b.run(), b.version()),
        kv: diff_kv(a, b)?,
        events: diff_events(a, b)?,
        cells: diff_cells(a, b)?,
        spans: diff_spans(a, b)?,
    })
}

fn diff_kv(a: &RunView, b: &RunView) -> Result<Vec<KvChange>> {
    let left: BTreeMap<Vec<u8>, Value> = a
        .list_versioned(b"")?
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect();
    let mut right: BTreeMap<Vec<u8>, Value> = b
        .list_versioned(b"")?
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect();
    let mut changes = Vec::new();
    for (key, before) in left {
        match right.remove(&key) {
            None => changes.push(KvChange::Removed { key, value: before }),
            Some(after) if after != before => {
                changes.push(KvChange::Changed { key, before, after });
            }
            Some(_) => {}
        }
    }
    changes.extend(
        right
            .into_iter()
            .map(|(key, value)| KvChange::Added { key, value }),
    );
    changes.sort_by(|x, y| kv_key(x).cmp(kv_key(y)));
    Ok(changes)
}

fn kv_key(change: &KvChange) -> &[u8] {
    match change {
        KvChange::Added { key, .. }
        | KvChange::Removed { key, .. }
        | KvChange::Changed { key, .. } => key,
    }
}

fn diff_events(a: &mut RunView, b: &mut RunView) -> Result<EventsDiff> {
    let left = a.events().range(0..u64::MAX)?;
    let right = b.events().range(0..u64::MAX)?;
    let same = |x: &Event, y: &Event| {
        x.sequence == y.sequence && x.event_type == y.event_type && x.payload == y.payload
    };
    let common = left
        .iter()
        .zip(&right)
        .take_while(|(x, y)| same(x, y))
        .count();
    if common == left.len() && common == right.len() {
        return Ok(EventsDiff::default());
    }
    Ok(EventsDiff {
        first_divergence: Some(common as u64),
        only_a: left[common..].to_vec(),
        only_b: right[common..].to_vec(),
    })
}

fn diff_cells(a: &mut RunView, b: &mut RunView) -> Result<Vec<CellChange>> {
    let left: BTreeMap<String, Cell> = a.cells().list()?.into_iter().collect();
    let mut right: BTreeMap<String, Cell> = b.cells().list()?.into_iter().collect();
    let same = |x: &Cell, y: &Cell| x.value == y.value && x.version == y.version;
    let mut changes = Vec::new();
    for (name, cell) in left {
        let other = right.remove(&name);
        if other.as_ref().is_none_or(|o| !same(&cell, o)) {
            changes.push(CellChange {
                name,
                a: Some(cell),
                b: other,
            });
        }
    }
    changes.extend(right.into_iter().map(|(name, cell)| CellChange {
        name,
        a: None,
        b: Some(cell),
    }));
    changes.sort_by(|x, y| x.name.cmp(&y.name));
    Ok(changes)
}

/// A span forest: each parent's children in id order (roots under `None`).
struct Forest(BTreeMap<Option<u64>, Vec<Span>>);

impl Forest {
    fn of(view: &mut RunView) -> Result<Self> {
        let mut children: BTreeMap<Option<u64>, Vec<Span>> = BTreeMap::new();
        for span in view.spans().all()? {
            children.entry(span.parent).or_default().push(span);
        }
        for list in children.values_mut() {
            list.sort_by_key(|s| s.id);
        }
        Ok(Forest(children))
    }

    fn children(&self, parent: Option<u64>) -> &[Span] {
        self.0.get(&parent).map_or(&[], Vec::as_slice)
    }
}

fn diff_spans(a: &mut RunView, b: &mut RunView) -> Result<Vec<SpanChange>> {
    let (left, right) = (Forest::of(a)?, Forest::of(b)?);
    let mut changes = Vec::new();
    let mut position = Vec::new();
    compare_level(
        (&left, left.children(None)),
        (&right, right.children(None)),
        &mut position,
        &mut changes,
    );
    Ok(changes)
}

/// Compares two lists of sibling spans position by position, then their children.
fn compare_level(
    (left, xs): (&Forest, &[Span]),
    (right, ys): (&Forest, &[Span]),
    position: &mut Vec<usize>,
    changes: &mut Vec<SpanChange>,
) {
    let children = |forest: &'_ Forest, span: Option<&Span>| -> Vec<Span> {
        span.map_or_else(Vec::new, |s| forest.children(Some(s.id)).to_vec())
    };
    for i in 0..xs.len().max(ys.len()) {
        position.push(i);
        let (x, y) = (xs.get(i), ys.get(i));
        match (x, y) {
            (Some(x), Some(y)) => {
                let attributes = attribute_changes(x, y);
                let differs = !same_kind(&x.kind, &y.kind)
                    || x.status != y.status
                    || x.tags != y.tags
                    || !attributes.is_empty();
                if differs {
                    changes.push(SpanChange::Changed {
                        position: position.clone(),
                        a: Box::new(x.clone()),
                        b: Box::new(y.clone()),
                        attributes,
                    });
                }
            }
            (Some(x), None) => changes.push(SpanChange::Removed {
                position: position.clone(),
                span: x.clone(),
            }),
            (None, Some(y)) => changes.push(SpanChange::Added {
                position: position.clone(),
                span: y.clone(),
            }),
            (None, None) => {}
        }
        let (below_x, below_y) = (children(left, x), children(right, y));
        compare_level((left, &below_x), (right, &below_y), position, changes);
        position.pop();
    }
}

/// Whether two spans record the same thing: their kinds equal but for a tool call's duration,
/// which (like start and end times) every execution changes.
fn same_kind(x: &SpanKind, y: &SpanKind) -> bool {
    match (x, y) {
        (
            SpanKind::ToolCall {
                tool,
                arguments,
                result,
                ..
            },
            SpanKind::ToolCall {
                tool: other_tool,
                arguments: other_arguments,
                result: other_result,
                ..
            },
        ) => tool == other_tool && arguments == other_arguments && result == other_result,
        _ => x == y,
    }
}

fn attribute_changes(x: &Span, y: &Span) -> Vec<(String, Option<Value>, Option<Value>)> {
    let mut names: Vec<&String> = x.attributes.keys().chain(y.attributes.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (a, b) = (x.attributes.get(name), y.attributes.get(name));
            (a != b).then(|| (name.clone(), a.cloned(), b.cloned()))
        })
        .collect()
}

// ----- Display: a unified diff ------------------------------------------------------------------

impl fmt::Display for RunDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- run {} at version {}", self.a.0, self.a.1)?;
        writeln!(f, "+++ run {} at version {}", self.b.0, self.b.1)?;
        if self.is_empty() {
            return writeln!(f, "(no differences)");
        }
        if !self.kv.is_empty() {
            writeln!(f, "@@ kv @@")?;
            for change in &self.kv {
                match change {
                    KvChange::Added { key, value } => writeln!(f, "+{} = {value}", show_key(key))?,
                    KvChange::Removed { key, value } => {
                        writeln!(f, "-{} = {value}", show_key(key))?;
                    }
                    KvChange::Changed { key, before, after } => {
                        writeln!(f, "-{} = {before}", show_key(key))?;
                        writeln!(f, "+{} = {after}", show_key(key))?;
                    }
                }
            }
        }
        if let Some(at) = self.events.first_divergence {
            writeln!(f, "@@ events from #{at} @@")?;
            for event in &self.events.only_a {
                writeln!(
                    f,
                    "-#{} {} {}",
                    event.sequence, event.event_type, event.payload
                )?;
            }
            for event in &self.events.only_b {
                writeln!(
                    f,
                    "+#{} {} {}",
                    event.sequence, event.event_type, event.payload
                )?;
            }
        }
        if !self.cells.is_empty() {
            writeln!(f, "@@ cells @@")?;
            for change in &self.cells {
                if let Some(cell) = &change.a {
                    writeln!(f, "-{} = {} (v{})", change.name, cell.value, cell.version)?;
                }
                if let Some(cell) = &change.b {
                    writeln!(f, "+{} = {} (v{})", change.name, cell.value, cell.version)?;
                }
            }
        }
        if !self.spans.is_empty() {
            writeln!(f, "@@ spans @@")?;
            for change in &self.spans {
                match change {
                    SpanChange::Added { position, span } => {
                        writeln!(f, "+{} {}", show_position(position), show_span(span))?;
                    }
                    SpanChange::Removed { position, span } => {
                        writeln!(f, "-{} {}", show_position(position), show_span(span))?;
                    }
                    SpanChange::Changed {
                        position,
                        a,
                        b,
                        attributes,
                    } => {
                        writeln!(f, "-{} {}", show_position(position), show_span(a))?;
                        writeln!(f, "+{} {}", show_position(position), show_span(b))?;
                        for (name, x, y) in attributes {
                            let show = |v: &Option<Value>| {
                                v.as_ref().map_or("(none)".to_owned(), Value::to_string)
                            };
                            writeln!(f, "  {name}: {} -> {}", show(x), show(y))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) => text.to_owned(),
        Err(_) => format!("b\"{}\"", key.escape_ascii()),
    }
}

fn show_position(position: &[usize]) -> String {
    let parts: Vec<String> = position.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join("."))
}

fn show_span(span: &Span) -> String {
    let kind = match &span.kind {
        SpanKind::ToolCall {
            tool,
            arguments,
            result,
            ..
        } => format!(
            "tool_call {tool}({arguments}) -> {}",
            show_result(result.as_ref())
        ),
        SpanKind::Query { query, result } => {
            format!("query {query:?} -> {}", show_result(result.as_ref()))
        }
        SpanKind::Decision {
            question, chosen, ..
        } => format!("decision {question:?}: {chosen:?}"),
        SpanKind::Thought { text } => format!("thought {text:?}"),
        SpanKind::Error { message } => format!("error {message:?}"),
        SpanKind::Custom { name, data } => format!("custom {name} {data}"),
    };
    format!("{kind} [{:?}]", span.status)
}

fn show_result(result: Option<&Value>) -> String {
    result.map_or_else(|| "(no result yet)".to_owned(), Value::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_call(result: i64, duration_us: Option<u64>) -> SpanKind {
        SpanKind::ToolCall {
            tool: "search".into(),
            arguments: Value::String("q".into()),
            result: Some(Value::I64(result)),
            duration_us,
        }
    }

    #[test]
    fn a_tool_call_that_only_took_longer_is_the_same() {
        assert!(same_kind(
            &tool_call(1, Some(10)),
            &tool_call(1, Some(9_000))
        ));
        assert!(same_kind(&tool_call(1, None), &tool_call(1, Some(5))));
    }

    #[test]
    fn a_tool_call_with_another_result_differs() {
        assert!(!same_kind(&tool_call(1, Some(10)), &tool_call(2, Some(10))));
    }
}
