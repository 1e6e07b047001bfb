//! A run's spans (tool calls, decisions, queries, thoughts, errors, custom), linked parent to
//! child, with queries by kind, tag, time and as a tree.
//!
//! Each span is stored under `TypeTag::Trace` key = id (u64 big-endian). Its index entries
//! (`TypeTag::Index`: `trace-child:` parent id + id, `trace-kind:` kind 0x00 id, `trace-tag:` tag
//! 0x00 id, `trace-start:` start time + id) are written in the same commit as the span, so
//! queries always agree with the spans. Ids are dense from 1; the next one is found from the
//! run's hint (`dense.rs`). Databases written before kept a counter (`trace-next`); it is no
//! longer read or written.

use std::collections::BTreeMap;
use std::sync::Arc;

use in_mem_core_types::{Timestamp, TypeTag, Value};

use super::dense::{Sequence, find_end};
use super::fields::{EncodedRecord, RecordBuilder, check_canonical, check_name, damaged, naming};
use super::span::{NewSpan, Span, SpanId, SpanKind, SpanStatus, SpanTree};
use super::{RunData, index_entry};
use crate::error::{Error, Result};

const CHILD_INDEX: &[u8] = b"trace-child:";
const KIND_INDEX: &[u8] = b"trace-kind:";
const TAG_INDEX: &[u8] = b"trace-tag:";
const START_INDEX: &[u8] = b"trace-start:";
/// Deepest span tree [`Spans::tree`] builds (it recurses once per level).
pub const SPAN_TREE_DEPTH_MAX: usize = 1000;

/// A transaction's access to its run's spans (`tx.spans()`).
///
/// ```
/// use in_mem_core_types::Value;
/// use in_mem_engine::{Database, NewSpan, SpanStatus};
///
/// # fn main() -> Result<(), in_mem_engine::Error> {
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Database::open(dir.path())?;
/// let run = db.begin_run();
/// let plan = db.transaction(run, |tx| tx.spans().start(NewSpan::thought("find the weather")))?;
/// let call = db.transaction(run, |tx| {
///     tx.spans().record(NewSpan::tool_call("weather", Value::from("Oslo")).parent(plan))
/// })?;
/// db.transaction(run, |tx| tx.spans().finish(plan, SpanStatus::Ok, None))?;
/// let children = db.transaction(run, |tx| tx.spans().children(plan))?;
/// assert_eq!(children[0].id, call);
/// # Ok(())
/// # }
/// ```
pub struct Spans<'t> {
    data: &'t mut dyn RunData,
}

impl<'t> Spans<'t> {
    pub(crate) fn new(data: &'t mut dyn RunData) -> Self {
        Spans { data }
    }

    /// Records a finished span; returns its id.
    pub fn record(&mut self, span: NewSpan) -> Result<SpanId> {
        let start = span.start.unwrap_or_else(|| self.data.now());
        let end = span.end.unwrap_or(start);
        let status = span.status.unwrap_or(match span.kind {
            SpanKind::Error { .. } => SpanStatus::Error,
            _ => SpanStatus::Ok,
        });
        self.insert(span, start, Some(end), status)
    }

    /// Starts a long span (status `Running`, no end); [`Spans::finish`] ends it.
    pub fn start(&mut self, span: NewSpan) -> Result<SpanId> {
        let start = span.start.unwrap_or_else(|| self.data.now());
        self.insert(span, start, None, SpanStatus::Running)
    }

    /// Finishes a running span now, with `status` and, for a tool call or query, its result
    /// (a tool call's duration is set from its start to now).
    pub fn finish(
        &mut self,
        id: SpanId,
        status: SpanStatus,
        result: Option<Value>,
    ) -> Result<Span> {
        if status == SpanStatus::Running {
            return Err(Error::InvalidSpan {
                reason: "a span cannot be finished as running".into(),
            });
        }
        let mut span = self.get(id)?.ok_or(Error::UnknownSpan { id })?;
        if span.status != SpanStatus::Running {
            return Err(Error::SpanFinished { id });
        }
        let end = self.data.now();
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
        self.data
            .put(TypeTag::Trace, &id.to_be_bytes(), encode(&span)?)?;
        Ok(span)
    }

    /// The span with this id.
    pub fn get(&mut self, id: SpanId) -> Result<Option<Span>> {
        let stored = self.data.get(TypeTag::Trace, &id.to_be_bytes())?;
        stored.map(|v| decode(id, &v)).transpose()
    }

    /// The spans whose parent is `id`, in id order.
    pub fn children(&mut self, id: SpanId) -> Result<Vec<Span>> {
        let prefix = [CHILD_INDEX, &id.to_be_bytes()].concat();
        self.indexed(&prefix)
    }

    /// The spans without a parent, in id order.
    pub fn roots(&mut self) -> Result<Vec<Span>> {
        self.children(0)
    }

    /// `root` and every span inside it, as a tree.
    pub fn tree(&mut self, root: SpanId) -> Result<Option<SpanTree>> {
        let Some(span) = self.get(root)? else {
            return Ok(None);
        };
        self.tree_of(span, 0).map(Some)
    }

    /// The spans of a kind (`"tool_call"`, `"decision"`, `"query"`, `"thought"`, `"error"`,
    /// `"custom"`), in id order.
    pub fn by_kind(&mut self, kind: &str) -> Result<Vec<Span>> {
        check_name("span kind", kind)?;
        self.indexed(&[KIND_INDEX, kind.as_bytes(), &[0]].concat())
    }

    /// The spans carrying `tag`, in id order.
    pub fn by_tag(&mut self, tag: &str) -> Result<Vec<Span>> {
        check_name("span tag", tag)?;
        self.indexed(&[TAG_INDEX, tag.as_bytes(), &[0]].concat())
    }

    /// The spans that started at or after `from` and before `before`, in start order.
    pub fn started_between(&mut self, from: Timestamp, before: Timestamp) -> Result<Vec<Span>> {
        let lo = [START_INDEX, &from.as_micros().to_be_bytes()].concat();
        let hi = [START_INDEX, &before.as_micros().to_be_bytes()].concat();
        let entries = self.data.scan_range(TypeTag::Index, &lo, Some(&hi))?;
        entries.iter().map(|(key, _)| self.named_by(key)).collect()
    }

    /// Every span of the run, in id order.
    pub fn all(&mut self) -> Result<Vec<Span>> {
        let rows = self.data.scan(TypeTag::Trace, b"")?;
        rows.into_iter()
            .map(|(key, v)| decode(id_of(&key)?, &v))
            .collect()
    }

    fn indexed(&mut self, prefix: &[u8]) -> Result<Vec<Span>> {
        let entries = self.data.scan(TypeTag::Index, prefix)?;
        entries.iter().map(|(key, _)| self.named_by(key)).collect()
    }

    fn tree_of(&mut self, span: Span, depth: usize) -> Result<SpanTree> {
        if depth >= SPAN_TREE_DEPTH_MAX {
            return Err(Error::InvalidSpan {
                reason: format!("span tree is deeper than the limit of {SPAN_TREE_DEPTH_MAX}"),
            });
        }
        let mut children = Vec::new();
        for child in self.children(span.id)? {
            children.push(self.tree_of(child, depth + 1)?);
        }
        Ok(SpanTree { span, children })
    }

    /// The span an index key names: its last 8 bytes are the span id.
    fn named_by(&mut self, index_key: &[u8]) -> Result<Span> {
        let id = index_key
            .len()
            .checked_sub(8)
            .and_then(|at| index_key.get(at..))
            .ok_or_else(|| damaged("trace index", "key is too short"))
            .and_then(id_of)?;
        self.get(id)?
            .ok_or_else(|| damaged("trace index", format!("names missing span {id}")))
    }

    fn insert(
        &mut self,
        new: NewSpan,
        start: Timestamp,
        end: Option<Timestamp>,
        status: SpanStatus,
    ) -> Result<SpanId> {
        if let Some(parent) = new.parent
            && self.get(parent)?.is_none()
        {
            return Err(Error::ParentSpanMissing { parent });
        }
        let mut tags = new.tags;
        for tag in &tags {
            check_name("span tag", tag)?;
        }
        tags.sort();
        tags.dedup();
        // Position i of the dense sequence is span id i + 1.
        let hint = self.data.hint(Sequence::Spans);
        let data = &mut *self.data;
        let count = find_end(hint, |i| data.get(TypeTag::Trace, &(i + 1).to_be_bytes()))?.len;
        let next = count + 1;
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
        let data = &mut *self.data;
        data.put(TypeTag::Trace, &id_bytes, encode(&span)?)?;
        let parent_bytes = span.parent.unwrap_or(0).to_be_bytes();
        data.put(
            TypeTag::Index,
            &[CHILD_INDEX, &parent_bytes, &id_bytes].concat(),
            index_entry(),
        )?;
        let kind_key = [KIND_INDEX, span.kind.name().as_bytes(), &[0], &id_bytes].concat();
        data.put(TypeTag::Index, &kind_key, index_entry())?;
        for tag in &span.tags {
            data.put(
                TypeTag::Index,
                &[TAG_INDEX, tag.as_bytes(), &[0], &id_bytes].concat(),
                index_entry(),
            )?;
        }
        let start_key = [START_INDEX, &start.as_micros().to_be_bytes()[..], &id_bytes].concat();
        data.put(TypeTag::Index, &start_key, index_entry())?;
        data.extended(Sequence::Spans, next);
        Ok(next)
    }
}

impl std::fmt::Debug for Spans<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spans").finish_non_exhaustive()
    }
}

fn id_of(key: &[u8]) -> Result<SpanId> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| damaged("span key", "is not an 8-byte id"))?;
    Ok(u64::from_be_bytes(bytes))
}

fn encode(span: &Span) -> Result<Arc<[u8]>> {
    // The caller's values are checked as they are (the kind's wrapping is the record's own).
    for value in span.kind.caller_values().chain(span.attributes.values()) {
        check_canonical(value)?;
    }
    let mut record = RecordBuilder::new()
        .record("kind", span.kind.record())
        .text("status", span.status.as_str())
        .time("start", span.start)
        .texts("tags", &span.tags)
        .entries("attributes", &span.attributes);
    if let Some(parent) = span.parent {
        record = record.count("parent", parent);
    }
    if let Some(end) = span.end {
        record = record.time("end", end);
    }
    record.build()
}

fn decode(id: SpanId, encoded: &[u8]) -> Result<Span> {
    decode_fields(id, encoded).map_err(|e| naming(e, || format!("span {id}")))
}

fn decode_fields(id: SpanId, encoded: &[u8]) -> Result<Span> {
    let record = EncodedRecord::new("span", encoded)?;
    let status = SpanStatus::parse(record.text("status")?)
        .ok_or_else(|| damaged("span", "unknown status"))?;
    let parent = record
        .optional("parent")
        .map(|_| record.count("parent"))
        .transpose()?;
    let end = record
        .optional("end")
        .map(|_| record.time("end"))
        .transpose()?;
    let attributes = match record.value("attributes")? {
        Value::Map(map) => map,
        _ => BTreeMap::new(),
    };
    Ok(Span {
        id,
        parent,
        kind: SpanKind::from_record(&record)?,
        status,
        start: record.time("start")?,
        end,
        tags: record.texts("tags")?,
        attributes,
    })
}
