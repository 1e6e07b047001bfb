//! What each operation does to the recovered state: the cells it changes, and how.

use std::collections::BTreeMap;

use in_mem::Value;
use in_mem::primitives::{SpanKind, SpanStatus};

use super::super::workload::{AckResult, AgentIdx, BeginHow, Op, OpId, SpanSpec, TxnWrite};
use super::{Cell, OpRecord, Outcome};

/// What an op does to one cell.
#[derive(Debug, Clone)]
pub(super) enum Effect {
    Put {
        value: Value,
        ttl_us: Option<u64>,
    },
    Delete,
    /// A delete whose call never returned: it deletes if the key was in its run's view.
    MaybeDelete,
    /// Begin or resume: the run is active, so recovery reports it interrupted.
    Activate {
        agent: Option<AgentIdx>,
    },
    End,
    /// An event appended at the end of the run's log.
    Append {
        event_type: String,
        payload: Value,
    },
    /// A state cell set to `value` at version `expected + 1`.
    Cas {
        expected: u64,
        value: Value,
    },
    /// A span recorded with the next id of the run's trace.
    Span(Box<SpanEffect>),
}

/// What a recorded span holds besides its id and times.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SpanEffect {
    pub(super) parent: Option<u64>,
    pub(super) kind: SpanKind,
    pub(super) status: SpanStatus,
    pub(super) tags: Vec<String>,
    pub(super) attributes: BTreeMap<String, Value>,
}

impl SpanEffect {
    fn of(spec: SpanSpec, id: OpId, part: u16) -> Result<Effect, String> {
        Ok(Effect::Span(Box::new(SpanEffect {
            parent: spec.parent,
            kind: spec.kind(id, part)?,
            status: spec.status(),
            tags: spec.tag_names(),
            attributes: SpanSpec::attributes(id),
        })))
    }
}

/// The cells an op changes when it commits: one for a put, several for a transaction, four
/// for a mixed transaction (all applied together, so atomicity needs nothing more).
pub(super) fn effects_of(record: &OpRecord) -> Result<Vec<(Cell, Effect)>, String> {
    let acked = match &record.outcome {
        Outcome::Acked { result, .. } => Some(*result),
        _ => None,
    };
    Ok(match &record.op {
        Op::Put {
            agent,
            key,
            payload,
            ttl_ms,
            ..
        } => vec![(
            Cell::Kv((*agent, key.clone())),
            Effect::Put {
                value: payload.expected(record.id, 0)?,
                ttl_us: ttl_ms.map(|ms| ms * 1000),
            },
        )],
        Op::Txn { agent, writes, .. } => {
            let mut effects = Vec::new();
            for (write, part) in writes.iter().zip(0u16..) {
                match write {
                    TxnWrite::Put { key, payload } => effects.push((
                        Cell::Kv((*agent, key.clone())),
                        Effect::Put {
                            value: payload.expected(record.id, part)?,
                            ttl_us: None,
                        },
                    )),
                    TxnWrite::Delete { key } => {
                        let cell = Cell::Kv((*agent, key.clone()));
                        match acked {
                            Some(AckResult::Deletes(mask)) if mask & (1 << part) != 0 => {
                                effects.push((cell, Effect::Delete));
                            }
                            Some(_) => {}
                            None => effects.push((cell, Effect::MaybeDelete)),
                        }
                    }
                }
            }
            effects
        }
        Op::Delete { agent, key, .. } => {
            let cell = Cell::Kv((*agent, key.clone()));
            match acked {
                Some(AckResult::Deleted(true)) => vec![(cell, Effect::Delete)],
                Some(_) => vec![],
                None => vec![(cell, Effect::MaybeDelete)],
            }
        }
        Op::Begin { agent, how } => {
            let run = match (acked, how) {
                (Some(AckResult::Run(run)), _) => Some(run),
                (_, BeginHow::WithId(run)) => Some(*run),
                _ => None,
            };
            run.map(|run| {
                (
                    Cell::Run(run),
                    Effect::Activate {
                        agent: Some(*agent),
                    },
                )
            })
            .into_iter()
            .collect()
        }
        Op::Resume { run } => vec![(Cell::Run(*run), Effect::Activate { agent: None })],
        Op::End { run } => vec![(Cell::Run(*run), Effect::End)],
        Op::Flush | Op::Checkpoint => vec![],
        Op::EventAppend { .. } | Op::StateCas { .. } | Op::TraceSpan { .. } | Op::Mixed { .. } => {
            primitive_effects(record)?
        }
    })
}

/// The cells an operation on the primitives changes: the run's event log, a state cell, the
/// run's trace (and a key, for a mixed transaction).
pub(super) fn primitive_effects(record: &OpRecord) -> Result<Vec<(Cell, Effect)>, String> {
    Ok(match &record.op {
        Op::EventAppend {
            run,
            event_type,
            payload,
        } => vec![(
            Cell::Events(*run),
            Effect::Append {
                event_type: (*event_type).to_owned(),
                payload: payload.expected(record.id, 0)?,
            },
        )],
        Op::StateCas {
            run,
            cell,
            expected,
            payload,
        } => vec![(
            Cell::State((*run, (*cell).to_owned())),
            Effect::Cas {
                expected: *expected,
                value: payload.expected(record.id, 0)?,
            },
        )],
        Op::TraceSpan { run, span } => {
            vec![(Cell::Spans(*run), SpanEffect::of(*span, record.id, 0)?)]
        }
        Op::Mixed {
            run,
            agent,
            key,
            payload,
            event_type,
            event_payload,
            cell,
            expected,
            span,
        } => vec![
            (
                Cell::Kv((*agent, key.clone())),
                Effect::Put {
                    value: payload.expected(record.id, 0)?,
                    ttl_us: None,
                },
            ),
            (
                Cell::Events(*run),
                Effect::Append {
                    event_type: (*event_type).to_owned(),
                    payload: event_payload.expected(record.id, 1)?,
                },
            ),
            (
                Cell::State((*run, (*cell).to_owned())),
                Effect::Cas {
                    expected: *expected,
                    value: event_payload.expected(record.id, 2)?,
                },
            ),
            (Cell::Spans(*run), SpanEffect::of(*span, record.id, 3)?),
        ],
        _ => Vec::new(),
    })
}
