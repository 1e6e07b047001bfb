//! The spans the workload records: their kinds, parents and tags ([`SpanSpec`]), the exact
//! [`SpanKind`] each records (derived from the operation id), and their text form.

use std::collections::BTreeMap;
use std::fmt;

use in_mem::Value;
use in_mem::primitives::{NewSpan, SpanKind, SpanStatus};

use super::{OpId, ToValue, Typed, parse_num};
use crate::crash::rng::Rng;

/// The tags a span may carry (a bit each in [`SpanSpec::tags`]).
pub const SPAN_TAGS: [&str; 3] = ["web", "retry", "slow-ü"];

/// The kinds of span the workload records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanShape {
    Thought,
    ToolCall,
    Decision,
    Query,
    Error,
    Custom,
}

impl SpanShape {
    pub const ALL: [SpanShape; 6] = [
        SpanShape::Thought,
        SpanShape::ToolCall,
        SpanShape::Decision,
        SpanShape::Query,
        SpanShape::Error,
        SpanShape::Custom,
    ];

    /// The kind's name as `TraceStore` names it.
    pub fn name(self) -> &'static str {
        match self {
            SpanShape::Thought => "thought",
            SpanShape::ToolCall => "tool_call",
            SpanShape::Decision => "decision",
            SpanShape::Query => "query",
            SpanShape::Error => "error",
            SpanShape::Custom => "custom",
        }
    }

    pub fn pick(rng: &mut Rng) -> SpanShape {
        SpanShape::ALL[rng.below(SpanShape::ALL.len() as u64) as usize]
    }
}

/// A span to record: its kind, its parent (an earlier span of the same run) and its tags. Its
/// content is derived from the operation id (see [`SpanSpec::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanSpec {
    pub shape: SpanShape,
    pub parent: Option<u64>,
    /// Bit `i`: the span carries `SPAN_TAGS[i]`.
    pub tags: u8,
}

impl SpanSpec {
    /// The exact kind (with its content) that part `part` of operation `id` records.
    pub fn kind(self, id: OpId, part: u16) -> Result<SpanKind, String> {
        let value = |typed: Typed, salt: u16| typed.with_value(id, part + salt, ToValue);
        let mut rng = Rng::new(id.seed() ^ (u64::from(part) << 40) ^ 0x5BA7);
        Ok(match self.shape {
            SpanShape::Thought => SpanKind::Thought {
                text: format!("thought {id}: weigh option {} ✓", rng.below(100)),
            },
            SpanShape::ToolCall => SpanKind::ToolCall {
                tool: format!("tool-{}", rng.below(8)),
                arguments: value(Typed::Note, 100)?,
                result: rng
                    .chance(700)
                    .then(|| value(Typed::List, 200))
                    .transpose()?,
                duration_us: rng.chance(700).then(|| rng.below(5_000_000)),
            },
            SpanShape::Decision => {
                let options: Vec<String> = (0..rng.range(1, 5))
                    .map(|i| format!("option {i}"))
                    .collect();
                let chosen = options[rng.below(options.len() as u64) as usize].clone();
                SpanKind::Decision {
                    question: format!("which way, {id}?"),
                    options,
                    chosen,
                    reasoning: "naïve but cheap".to_owned(),
                }
            }
            SpanShape::Query => SpanKind::Query {
                query: format!("select {} from memory", rng.below(1000)),
                result: rng
                    .chance(500)
                    .then(|| value(Typed::Text, 300))
                    .transpose()?,
            },
            SpanShape::Error => SpanKind::Error {
                message: format!("tool timed out after {} ms", rng.below(10_000)),
            },
            SpanShape::Custom => SpanKind::Custom {
                name: "checkpoint-note".to_owned(),
                data: value(Typed::pick(&mut rng), 400)?,
            },
        })
    }

    /// The span's tags, sorted, as the store keeps them.
    pub fn tag_names(self) -> Vec<String> {
        let mut tags: Vec<String> = SPAN_TAGS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.tags & (1 << i) != 0)
            .map(|(_, t)| (*t).to_owned())
            .collect();
        tags.sort();
        tags
    }

    /// The span's attributes: the id of the operation that recorded it.
    pub fn attributes(id: OpId) -> BTreeMap<String, Value> {
        BTreeMap::from([("op".to_owned(), Value::String(id.to_string()))])
    }

    /// The status `TraceStore::record` gives it: `Error` for an error span, else `Ok`.
    pub fn status(self) -> SpanStatus {
        match self.shape {
            SpanShape::Error => SpanStatus::Error,
            _ => SpanStatus::Ok,
        }
    }

    /// What the child records.
    pub fn new_span(self, id: OpId, part: u16) -> Result<NewSpan, String> {
        let mut span = NewSpan::new(self.kind(id, part)?);
        if let Some(parent) = self.parent {
            span = span.parent(parent);
        }
        for tag in self.tag_names() {
            span = span.tag(tag);
        }
        for (name, value) in Self::attributes(id) {
            span = span.attribute(name, value);
        }
        Ok(span)
    }
}

impl fmt::Display for SpanSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.shape.name())?;
        match self.parent {
            Some(p) => write!(f, "{p}")?,
            None => write!(f, "-")?,
        }
        write!(f, " {}", self.tags)
    }
}

pub(super) fn parse_span<'a>(
    words: &mut impl Iterator<Item = &'a str>,
) -> Result<SpanSpec, String> {
    let shape = words.next().ok_or("missing span kind")?;
    let shape = SpanShape::ALL
        .into_iter()
        .find(|s| s.name() == shape)
        .ok_or_else(|| format!("unknown span kind {shape:?}"))?;
    let parent = match words.next() {
        Some("-") => None,
        other => Some(parse_num(other, "parent span")?),
    };
    let tags: u8 = parse_num(words.next(), "span tags")?;
    if tags >> SPAN_TAGS.len() != 0 {
        return Err(format!("bad span tags {tags}"));
    }
    Ok(SpanSpec {
        shape,
        parent,
        tags,
    })
}
