//! `TraceStore`: the spans of a run (tool calls, decisions, queries, thoughts, errors, custom),
//! linked parent to child, with queries by kind, tag, time and as a tree.
//!
//! Each span is stored under `TypeTag::Trace` key = id (u64 big-endian). Its index entries
//! (`TypeTag::Index`: `trace-child:` parent id + id, `trace-kind:` kind 0x00 id, `trace-tag:` tag
//! 0x00 id, `trace-start:` start time + id) and the run's next span id (`trace-next`) are written
//! in the same commit as the span, so queries always agree with the spans.

mod span;

use std::collections::BTreeMap;

use in_mem_core_types::{RunId, Timestamp, TypeTag, Value};
use in_mem_engine::{Database, RetryPolicy, Transaction};

pub use span::{NewSpan, Span, SpanId, SpanKind, SpanStatus, SpanTree};

use crate::error::{Error, Result};
use crate::record::{Record, RecordBuilder, check_canonical, check_name, damaged};
use crate::value_serde::{from_value, to_value};

const NEXT_KEY: &[u8] = b"trace-next";
const CHILD_INDEX: &[u8] = b"trace-child:";
const KIND_INDEX: &[u8] = b"trace-kind:";
const TAG_INDEX: &[u8] = b"trace-tag:";
const START_INDEX: &[u8] = b"trace-start:";
/// Deepest span tree [`TraceStore::tree`] builds (it recurses once per level).
pub const SPAN_TREE_DEPTH_MAX: usize = 1000;

/// The traces of a database's runs.
///
/// ```
/// use in_mem_core_types::Value;
/// use in_mem_engine::Database;
/// use in_mem_primitives::{NewSpan, SpanStatus, TraceStore};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let run = db.begin_run();
/// let trace = TraceStore::new(&db);
/// let plan = trace.start(run, NewSpan::thought("find the weather"))?;
/// let call = trace.record(run, NewSpan::tool_call("weather", Value::from("Oslo")).parent(plan))?;
/// trace.finish(run, plan, SpanStatus::Ok)?;
/// assert_eq!(trace.children(run, plan)?[0].id, call);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TraceStore {
    db: Database,
}

impl TraceStore {
    /// The traces of `db`'s runs.
    pub fn new(db: &Database) -> Self {
        TraceStore { db: db.clone() }
    }

    /// Records a finished span; returns its id.
    // Spans are built by value (`NewSpan::thought(..).tag(..)`) at the call site; a retried
    // transaction clones it per attempt.
    #[allow(clippy::needless_pass_by_value)]
    pub fn record(&self, run: RunId, span: NewSpan) -> Result<SpanId> {
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                Self::record_in(tx, span.clone())
            })
    }

    /// [`TraceStore::record`] inside a transaction.
    pub fn record_in(tx: &mut Transaction<'_>, span: NewSpan) -> Result<SpanId> {
        let start = span.start.unwrap_or_else(|| tx.now());
        let end = span.end.unwrap_or(start);
        let status = span.status.unwrap_or(match span.kind {
            SpanKind::Error { .. } => SpanStatus::Error,
            _ => SpanStatus::Ok,
        });
        insert(tx, span, start, Some(end), status)
    }

    /// Starts a long span (status `Running`, no end); [`TraceStore::finish`] ends it.
    #[allow(clippy::needless_pass_by_value)] // as for `record`
    pub fn start(&self, run: RunId, span: NewSpan) -> Result<SpanId> {
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                Self::start_in(tx, span.clone())
            })
    }

    /// [`TraceStore::start`] inside a transaction.
    pub fn start_in(tx: &mut Transaction<'_>, span: NewSpan) -> Result<SpanId> {
        let start = span.start.unwrap_or_else(|| tx.now());
        insert(tx, span, start, None, SpanStatus::Running)
    }

    /// Finishes a running span now, with `status`.
    pub fn finish(&self, run: RunId, id: SpanId, status: SpanStatus) -> Result<Span> {
        self.finish_with(run, id, status, None)
    }

    /// Finishes a running span now, with `status` and, for a tool call or query, its result
    /// (a tool call's duration is set from its start to now).
    #[allow(clippy::needless_pass_by_value)] // as for `record`
    pub fn finish_with(
        &self,
        run: RunId,
        id: SpanId,
        status: SpanStatus,
        result: Option<Value>,
    ) -> Result<Span> {
        self.db
            .transaction_with_retry(run, RetryPolicy::default(), |tx| {
                Self::finish_in(tx, id, status, result.clone())
            })
    }

    /// [`TraceStore::finish_with`] inside a transaction.
    pub fn finish_in(
        tx: &mut Transaction<'_>,
        id: SpanId,
        status: SpanStatus,
        result: Option<Value>,
    ) -> Result<Span> {
        if status == SpanStatus::Running {
            return Err(Error::InvalidSpan {
                reason: "a span cannot be finished as running".into(),
            });
        }
        let mut span = read_span(tx, id)?.ok_or(Error::UnknownSpan { id })?;
        if span.status != SpanStatus::Running {
            return Err(Error::SpanFinished { id });
        }
        let end = tx.now();
        if let Some(value) = result {
            check_canonical(&value)?;
            match &mut span.kind {
                SpanKind::ToolCall { result, .. } | SpanKind::Query { result, .. } => {
                    *result = Some(value);
                }
                _ => {
                    return Err(Error::InvalidSpan {
                        reason: format!("a {} span has no result", span.kind.name()),
                    });
                }
            }
        }
        if let SpanKind::ToolCall { duration_us, .. } = &mut span.kind {
            *duration_us = Some(
                end.saturating_since(span.start)
                    .as_micros()
                    .try_into()
                    .unwrap_or(u64::MAX),
            );
        }
        span.status = status;
        span.end = Some(end);
        tx.put_run_value(TypeTag::Trace, &id.to_be_bytes(), &encode(&span)?)?;
        Ok(span)
    }

    /// The span with this id.
    pub fn get(&self, run: RunId, id: SpanId) -> Result<Option<Span>> {
        self.db.transaction(run, |tx| read_span(tx, id))
    }

    /// The spans whose parent is `id`, in id order.
    pub fn children(&self, run: RunId, id: SpanId) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| children_in(tx, id))
    }

    /// The spans without a parent, in id order.
    pub fn roots(&self, run: RunId) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| children_in(tx, 0))
    }

    /// `root` and every span inside it, as a tree.
    pub fn tree(&self, run: RunId, root: SpanId) -> Result<Option<SpanTree>> {
        self.db.transaction(run, |tx| {
            let Some(span) = read_span(tx, root)? else {
                return Ok(None);
            };
            tree_in(tx, span, 0).map(Some)
        })
    }

    /// The spans of a kind (`"tool_call"`, `"decision"`, `"query"`, `"thought"`, `"error"`,
    /// `"custom"`), in id order.
    pub fn by_kind(&self, run: RunId, kind: &str) -> Result<Vec<Span>> {
        check_name("span kind", kind)?;
        self.indexed(run, &[KIND_INDEX, kind.as_bytes(), &[0]].concat())
    }

    /// The spans carrying `tag`, in id order.
    pub fn by_tag(&self, run: RunId, tag: &str) -> Result<Vec<Span>> {
        check_name("span tag", tag)?;
        self.indexed(run, &[TAG_INDEX, tag.as_bytes(), &[0]].concat())
    }

    /// The spans that started at or after `from` and before `before`, in start order.
    pub fn started_between(
        &self,
        run: RunId,
        from: Timestamp,
        before: Timestamp,
    ) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| {
            let lo = [START_INDEX, &from.as_micros().to_be_bytes()].concat();
            let hi = [START_INDEX, &before.as_micros().to_be_bytes()].concat();
            let entries = tx.scan_run_range(TypeTag::Index, &lo, Some(&hi))?;
            entries
                .iter()
                .map(|(key, _)| span_named_by(tx, key))
                .collect()
        })
    }

    /// Every span of the run, in id order.
    pub fn spans(&self, run: RunId) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| {
            let rows = tx.scan_run_values(TypeTag::Trace, b"")?;
            rows.iter()
                .map(|(key, v)| decode(id_of(key)?, &v.value))
                .collect()
        })
    }

    fn indexed(&self, run: RunId, prefix: &[u8]) -> Result<Vec<Span>> {
        self.db.transaction(run, |tx| {
            let entries = tx.scan_run_values(TypeTag::Index, prefix)?;
            entries
                .iter()
                .map(|(key, _)| span_named_by(tx, key))
                .collect()
        })
    }
}

fn insert(
    tx: &mut Transaction<'_>,
    new: NewSpan,
    start: Timestamp,
    end: Option<Timestamp>,
    status: SpanStatus,
) -> Result<SpanId> {
    if let Some(parent) = new.parent
        && read_span(tx, parent)?.is_none()
    {
        return Err(Error::ParentSpanMissing { parent });
    }
    let mut tags = new.tags;
    for tag in &tags {
        check_name("span tag", tag)?;
    }
    tags.sort();
    tags.dedup();
    let next = match tx.get_run_value(TypeTag::Index, NEXT_KEY)? {
        Some(stored) => Record::new("span counter", &stored.value)?.count("next")?,
        None => 1,
    };
    let span = Span {
        id: next,
        parent: new.parent,
        kind: new.kind,
        status,
        start,
        end,
        tags,
        attributes: new.attributes,
    };
    let id_bytes = next.to_be_bytes();
    tx.put_run_value(TypeTag::Trace, &id_bytes, &encode(&span)?)?;
    let parent_bytes = span.parent.unwrap_or(0).to_be_bytes();
    tx.put_run_value(
        TypeTag::Index,
        &[CHILD_INDEX, &parent_bytes, &id_bytes].concat(),
        &Value::Null,
    )?;
    let kind_key = [KIND_INDEX, span.kind.name().as_bytes(), &[0], &id_bytes].concat();
    tx.put_run_value(TypeTag::Index, &kind_key, &Value::Null)?;
    for tag in &span.tags {
        tx.put_run_value(
            TypeTag::Index,
            &[TAG_INDEX, tag.as_bytes(), &[0], &id_bytes].concat(),
            &Value::Null,
        )?;
    }
    let start_key = [START_INDEX, &start.as_micros().to_be_bytes()[..], &id_bytes].concat();
    tx.put_run_value(TypeTag::Index, &start_key, &Value::Null)?;
    tx.put_run_value(
        TypeTag::Index,
        NEXT_KEY,
        &RecordBuilder::new().count("next", next + 1).build(),
    )?;
    Ok(next)
}

fn children_in(tx: &mut Transaction<'_>, parent: SpanId) -> Result<Vec<Span>> {
    let prefix = [CHILD_INDEX, &parent.to_be_bytes()].concat();
    let entries = tx.scan_run_values(TypeTag::Index, &prefix)?;
    entries
        .iter()
        .map(|(key, _)| span_named_by(tx, key))
        .collect()
}

fn tree_in(tx: &mut Transaction<'_>, span: Span, depth: usize) -> Result<SpanTree> {
    if depth >= SPAN_TREE_DEPTH_MAX {
        return Err(Error::InvalidSpan {
            reason: format!("span tree is deeper than the limit of {SPAN_TREE_DEPTH_MAX}"),
        });
    }
    let mut children = Vec::new();
    for child in children_in(tx, span.id)? {
        children.push(tree_in(tx, child, depth + 1)?);
    }
    Ok(SpanTree { span, children })
}

/// The span an index key names: its last 8 bytes are the span id.
fn span_named_by(tx: &mut Transaction<'_>, index_key: &[u8]) -> Result<Span> {
    let id = index_key
        .len()
        .checked_sub(8)
        .map(|at| id_of(&index_key[at..]))
        .ok_or_else(|| damaged("trace index", "key is too short"))??;
    read_span(tx, id)?.ok_or_else(|| damaged("trace index", format!("names missing span {id}")))
}

fn read_span(tx: &mut Transaction<'_>, id: SpanId) -> Result<Option<Span>> {
    let stored = tx.get_run_value(TypeTag::Trace, &id.to_be_bytes())?;
    stored.map(|v| decode(id, &v.value)).transpose()
}

fn id_of(key: &[u8]) -> Result<SpanId> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| damaged("span key", "is not an 8-byte id"))?;
    Ok(u64::from_be_bytes(bytes))
}

fn encode(span: &Span) -> Result<Value> {
    let kind = to_value(&span.kind).map_err(|e| Error::InvalidSpan { reason: e.0 })?;
    check_canonical(&kind)?;
    for value in span.attributes.values() {
        check_canonical(value)?;
    }
    let mut record = RecordBuilder::new()
        .field("kind", kind)
        .text("status", span.status.name())
        .time("start", span.start)
        .texts("tags", &span.tags)
        .field("attributes", Value::Map(span.attributes.clone()));
    if let Some(parent) = span.parent {
        record = record.count("parent", parent);
    }
    if let Some(end) = span.end {
        record = record.time("end", end);
    }
    Ok(record.build())
}

fn decode(id: SpanId, value: &Value) -> Result<Span> {
    let record = Record::new("span", value)?;
    let kind = from_value(record.value("kind")?.clone())
        .map_err(|e| damaged("span", format!("kind: {e}")))?;
    let status = SpanStatus::parse(record.text("status")?)
        .ok_or_else(|| damaged("span", "unknown status"))?;
    let attributes = match record.value("attributes")? {
        Value::Map(map) => map.clone(),
        _ => BTreeMap::new(),
    };
    Ok(Span {
        id,
        parent: record
            .optional("parent")
            .map(|_| record.count("parent"))
            .transpose()?,
        kind,
        status,
        start: record.time("start")?,
        end: record
            .optional("end")
            .map(|_| record.time("end"))
            .transpose()?,
        tags: record.texts("tags")?,
        attributes,
    })
}
