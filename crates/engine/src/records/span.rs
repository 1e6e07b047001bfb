//! Spans: what a trace records (tool calls, decisions, queries, thoughts, errors, custom), and
//! how a new one is described.

use std::collections::BTreeMap;
use std::time::Duration;

use in_mem_core_types::{Timestamp, Value};
use serde::{Deserialize, Serialize};

use super::fields::{EncodedRecord, RecordBuilder, damaged};
use crate::error::Result;

/// A span's id: deterministic within its run (1, 2, 3 ... in the order spans were begun), so a
/// replayed run names its spans the same way. Never random.
pub type SpanId = u64;

/// What a span records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SpanKind {
    /// A call of a tool, with its arguments and, once known, its result and duration.
    ToolCall {
        tool: String,
        arguments: Value,
        result: Option<Value>,
        duration_us: Option<u64>,
    },
    /// A choice among options, with the reasoning.
    Decision {
        question: String,
        options: Vec<String>,
        chosen: String,
        reasoning: String,
    },
    /// A lookup (retrieval, search, database query) and, once known, its result.
    Query {
        query: String,
        result: Option<Value>,
    },
    /// A step of reasoning.
    Thought { text: String },
    /// Something that went wrong.
    Error { message: String },
    /// Anything else, named by the caller.
    Custom { name: String, data: Value },
}

impl SpanKind {
    /// The kind's name, as used by `Spans::by_kind`.
    pub fn name(&self) -> &'static str {
        match self {
            SpanKind::ToolCall { .. } => "tool_call",
            SpanKind::Decision { .. } => "decision",
            SpanKind::Query { .. } => "query",
            SpanKind::Thought { .. } => "thought",
            SpanKind::Error { .. } => "error",
            SpanKind::Custom { .. } => "custom",
        }
    }

    /// The stored form: `{ "<Variant>": { field: value ... } }`, `None` as `Null`, counts as
    /// integers (the shape serde's external tagging gives, which is what the first stored spans
    /// used). Written by hand so that the stored form is explicit and checked field by field.
    pub(crate) fn record(&self) -> RecordBuilder<'_> {
        let fields = match self {
            SpanKind::ToolCall {
                tool,
                arguments,
                result,
                duration_us,
            } => {
                let fields = RecordBuilder::new()
                    .text("tool", tool)
                    .field("arguments", arguments);
                let fields = match result {
                    Some(result) => fields.field("result", result),
                    None => fields.null("result"),
                };
                match duration_us {
                    Some(d) => fields.count("duration_us", *d),
                    None => fields.null("duration_us"),
                }
            }
            SpanKind::Decision {
                question,
                options,
                chosen,
                reasoning,
            } => RecordBuilder::new()
                .text("question", question)
                .texts("options", options)
                .text("chosen", chosen)
                .text("reasoning", reasoning),
            SpanKind::Query { query, result } => {
                let fields = RecordBuilder::new().text("query", query);
                match result {
                    Some(result) => fields.field("result", result),
                    None => fields.null("result"),
                }
            }
            SpanKind::Thought { text } => RecordBuilder::new().text("text", text),
            SpanKind::Error { message } => RecordBuilder::new().text("message", message),
            SpanKind::Custom { name, data } => {
                RecordBuilder::new().text("name", name).field("data", data)
            }
        };
        RecordBuilder::new().record(self.variant(), fields)
    }

    /// Reads the stored form written by [`SpanKind::record`] from a span record's `kind`
    /// field, in place: the caller's values are decoded straight from their bytes.
    pub(crate) fn from_record(span: &EncodedRecord<'_>) -> Result<SpanKind> {
        let bad = |reason: &str| damaged("span kind", reason);
        let outer = span.record("kind", "span kind")?;
        let [(variant, _)] = outer.fields() else {
            return Err(bad("is not one variant with its fields"));
        };
        let name = std::str::from_utf8(variant).map_err(|_| bad("names an unknown variant"))?;
        let fields = outer.record(name, "span kind")?;
        Ok(match *variant {
            b"ToolCall" => SpanKind::ToolCall {
                tool: fields.text("tool")?.to_owned(),
                arguments: fields.value("arguments")?,
                duration_us: match fields.encoded("duration_us")? {
                    field if field.is_null() => None,
                    field => {
                        let n = field
                            .as_i64()
                            .ok_or_else(|| bad("duration_us is not a count"))?;
                        Some(u64::try_from(n).map_err(|_| bad("duration_us is negative"))?)
                    }
                },
                result: fields.nullable("result")?,
            },
            b"Decision" => SpanKind::Decision {
                question: fields.text("question")?.to_owned(),
                options: fields.texts("options")?,
                chosen: fields.text("chosen")?.to_owned(),
                reasoning: fields.text("reasoning")?.to_owned(),
            },
            b"Query" => SpanKind::Query {
                query: fields.text("query")?.to_owned(),
                result: fields.nullable("result")?,
            },
            b"Thought" => SpanKind::Thought {
                text: fields.text("text")?.to_owned(),
            },
            b"Error" => SpanKind::Error {
                message: fields.text("message")?.to_owned(),
            },
            b"Custom" => SpanKind::Custom {
                name: fields.text("name")?.to_owned(),
                data: fields.value("data")?,
            },
            _ => return Err(bad("names an unknown variant")),
        })
    }

    /// The values the caller gave the kind (arguments, results, custom data).
    pub(crate) fn caller_values(&self) -> impl Iterator<Item = &Value> {
        let values: [Option<&Value>; 2] = match self {
            SpanKind::ToolCall {
                arguments, result, ..
            } => [Some(arguments), result.as_ref()],
            SpanKind::Query { result, .. } => [result.as_ref(), None],
            SpanKind::Custom { data, .. } => [Some(data), None],
            SpanKind::Decision { .. } | SpanKind::Thought { .. } | SpanKind::Error { .. } => {
                [None, None]
            }
        };
        values.into_iter().flatten()
    }

    fn variant(&self) -> &'static str {
        match self {
            SpanKind::ToolCall { .. } => "ToolCall",
            SpanKind::Decision { .. } => "Decision",
            SpanKind::Query { .. } => "Query",
            SpanKind::Thought { .. } => "Thought",
            SpanKind::Error { .. } => "Error",
            SpanKind::Custom { .. } => "Custom",
        }
    }
}

/// Where a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpanStatus {
    /// Started and not finished.
    Running,
    /// Finished well.
    Ok,
    /// Finished with an error.
    Error,
}

impl SpanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Running => "running",
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [SpanStatus::Running, SpanStatus::Ok, SpanStatus::Error]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// A span as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Its id within its run.
    pub id: SpanId,
    /// The span it happened inside, if any.
    pub parent: Option<SpanId>,
    /// What it records.
    pub kind: SpanKind,
    /// Where it is.
    pub status: SpanStatus,
    /// When it started.
    pub start: Timestamp,
    /// When it finished, if it has.
    pub end: Option<Timestamp>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// The caller's attributes.
    pub attributes: BTreeMap<String, Value>,
}

/// A span and everything that happened inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanTree {
    /// The span.
    pub span: Span,
    /// Its children's trees, in id order.
    pub children: Vec<SpanTree>,
}

/// A span to record or start. Build it from a kind, then add a parent, tags, attributes, times.
///
/// ```
/// use in_mem_core_types::Value;
/// use in_mem_engine::NewSpan;
/// let call = NewSpan::tool_call("search", Value::from("weather in Oslo"))
///     .tag("web")
///     .attribute("attempt", Value::I64(1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewSpan {
    pub(crate) kind: SpanKind,
    pub(crate) parent: Option<SpanId>,
    pub(crate) tags: Vec<String>,
    pub(crate) attributes: BTreeMap<String, Value>,
    pub(crate) start: Option<Timestamp>,
    pub(crate) end: Option<Timestamp>,
    pub(crate) status: Option<SpanStatus>,
}

impl NewSpan {
    /// A span of any kind.
    pub fn new(kind: SpanKind) -> Self {
        NewSpan {
            kind,
            parent: None,
            tags: Vec::new(),
            attributes: BTreeMap::new(),
            start: None,
            end: None,
            status: None,
        }
    }

    /// A tool call with its arguments (result and duration come with `result`/`duration` or
    /// when the span is finished).
    pub fn tool_call(tool: impl Into<String>, arguments: Value) -> Self {
        Self::new(SpanKind::ToolCall {
            tool: tool.into(),
            arguments,
            result: None,
            duration_us: None,
        })
    }

    /// A decision.
    pub fn decision(
        question: impl Into<String>,
        options: Vec<String>,
        chosen: impl Into<String>,
        reasoning: impl Into<String>,
    ) -> Self {
        Self::new(SpanKind::Decision {
            question: question.into(),
            options,
            chosen: chosen.into(),
            reasoning: reasoning.into(),
        })
    }

    /// A query.
    pub fn query(query: impl Into<String>) -> Self {
        Self::new(SpanKind::Query {
            query: query.into(),
            result: None,
        })
    }

    /// A thought.
    pub fn thought(text: impl Into<String>) -> Self {
        Self::new(SpanKind::Thought { text: text.into() })
    }

    /// An error.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(SpanKind::Error {
            message: message.into(),
        })
    }

    /// A custom span.
    pub fn custom(name: impl Into<String>, data: Value) -> Self {
        Self::new(SpanKind::Custom {
            name: name.into(),
            data,
        })
    }

    /// The span it happened inside (it must exist in the same run).
    #[must_use]
    pub fn parent(mut self, parent: SpanId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// A tag.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// An attribute.
    #[must_use]
    pub fn attribute(mut self, name: impl Into<String>, value: Value) -> Self {
        self.attributes.insert(name.into(), value);
        self
    }

    /// The start time (default: now).
    #[must_use]
    pub fn start_at(mut self, start: Timestamp) -> Self {
        self.start = Some(start);
        self
    }

    /// The end time, for a recorded span (default: its start).
    #[must_use]
    pub fn end_at(mut self, end: Timestamp) -> Self {
        self.end = Some(end);
        self
    }

    /// The status, for a recorded span (default: `Ok`, or `Error` for an error span).
    #[must_use]
    pub fn status(mut self, status: SpanStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// The result of a tool call or query.
    #[must_use]
    pub fn result(mut self, value: Value) -> Self {
        match &mut self.kind {
            SpanKind::ToolCall { result, .. } | SpanKind::Query { result, .. } => {
                *result = Some(value);
            }
            _ => {}
        }
        self
    }

    /// The duration of a tool call.
    #[must_use]
    pub fn duration(mut self, d: Duration) -> Self {
        if let SpanKind::ToolCall { duration_us, .. } = &mut self.kind {
            *duration_us = Some(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        }
        self
    }
}
