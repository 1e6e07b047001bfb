//! What each operation does to the recovered state: the cells it changes, and how.

use std::collections::BTreeMap;

use in_mem::primitives::{SpanKind, SpanStatus};
use in_mem::{RunId, Value};

use super::super::workload::{
    AckResult, AgentIdx, BeginHow, CELL_NAMES, ForkAt, Op, OpId, SpanSpec, TxnWrite,
};
use super::{Cell, Lineage, OpRecord, Outcome};

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
    /// Begin, fork or resume: the run is active, so recovery reports it interrupted. Begin and
    /// fork say its agent and lineage.
    Activate {
        agent: Option<AgentIdx>,
        lineage: Option<Lineage>,
    },
    /// A fork's event log, state cell or trace: what `parent`'s was right after operation `at`
    /// (`None`: right before the fork).
    Inherit {
        parent: RunId,
        at: Option<OpId>,
    },
    /// The run is deleted with all its records (`maybe`: by a tree deletion that may have
    /// stopped before it).
    DeleteRun {
        run: RunId,
        maybe: bool,
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
                        lineage: Some((None, None)),
                    },
                )
            })
            .into_iter()
            .collect()
        }
        Op::Resume { run } => vec![(
            Cell::Run(*run),
            Effect::Activate {
                agent: None,
                lineage: None,
            },
        )],
        Op::End { run } => vec![(Cell::Run(*run), Effect::End)],
        Op::Flush | Op::Checkpoint | Op::DeleteRefused { .. } => vec![],
        Op::Fork { .. } => fork_effects(&record.op, acked),
        Op::DeleteRun { run } => deletion(&[*run], false),
        // Settled to certain by `settle_tree_deletes` when the whole call is in.
        Op::DeleteTree { members, .. } => deletion(members, true),
        Op::EventAppend { .. } | Op::StateCas { .. } | Op::TraceSpan { .. } | Op::Mixed { .. } => {
            primitive_effects(record)?
        }
    })
}

/// The cells a fork changes: the new run's entry (with its lineage), and its event log, state
/// cells and trace, which begin as its parent's at the fork point. A fork whose id was never
/// printed changes nothing the oracle can name (`check_unknown_runs` allows for it).
fn fork_effects(op: &Op, acked: Option<AckResult>) -> Vec<(Cell, Effect)> {
    let (Op::Fork { parent, agent, at }, Some(AckResult::Fork { run, point, .. })) = (op, acked)
    else {
        return Vec::new();
    };
    let at = match at {
        ForkAt::Now => None,
        ForkAt::Version { op, .. } => Some(*op),
    };
    let mut effects = vec![(
        Cell::Run(run),
        Effect::Activate {
            agent: Some(*agent),
            lineage: Some((Some(*parent), Some(point))),
        },
    )];
    effects.extend(data_cells(run).into_iter().map(|cell| {
        (
            cell,
            Effect::Inherit {
                parent: *parent,
                at,
            },
        )
    }));
    effects
}

/// A run's event log, state cells and trace.
pub(super) fn data_cells(run: RunId) -> Vec<Cell> {
    let mut cells = vec![Cell::Events(run), Cell::Spans(run)];
    cells.extend(
        CELL_NAMES
            .iter()
            .map(|name| Cell::State((run, (*name).to_owned()))),
    );
    cells
}

/// The cells a deletion of `runs` changes: each run's entry and all its records.
fn deletion(runs: &[RunId], maybe: bool) -> Vec<(Cell, Effect)> {
    runs.iter()
        .flat_map(|&run| {
            std::iter::once(Cell::Run(run))
                .chain(data_cells(run))
                .map(move |cell| (cell, Effect::DeleteRun { run, maybe }))
        })
        .collect()
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
