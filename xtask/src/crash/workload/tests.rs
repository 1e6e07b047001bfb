//! The line protocol round-trips, and values are a pure function of the operation id.

use in_mem::primitives::SpanStatus;

use super::*;

fn id() -> OpId {
    OpId {
        iteration: 3,
        thread: 2,
        seq: 41,
    }
}

/// One operation of every kind, with unusual values where there are any.
fn every_kind_of_op(run: RunId) -> Vec<Op> {
    let mut ops = kv_and_primitive_ops(run);
    ops.extend(history_ops(run));
    ops
}

fn kv_and_primitive_ops(run: RunId) -> Vec<Op> {
    vec![
        Op::Put {
            run,
            agent: 4,
            key: key_name(2, 15),
            payload: Payload::Bytes(300_000),
            ttl_ms: Some(250),
        },
        Op::Put {
            run,
            agent: 0,
            key: key_name(2, 3),
            payload: Payload::Typed(Typed::Note),
            ttl_ms: None,
        },
        Op::Delete {
            run,
            agent: 1,
            key: "t2/k01".to_owned(),
        },
        Op::Begin {
            agent: 0,
            how: BeginHow::Default,
        },
        Op::Begin {
            agent: 3,
            how: BeginHow::In,
        },
        Op::Begin {
            agent: 3,
            how: BeginHow::WithId(run),
        },
        Op::End { run },
        Op::Resume { run },
        Op::Flush,
        Op::Checkpoint,
        Op::EventAppend {
            run,
            event_type: "décision",
            payload: Payload::Typed(Typed::Note),
        },
        Op::StateCas {
            run,
            cell: "phase-ü",
            expected: 0,
            payload: Payload::Bytes(12),
        },
        Op::TraceSpan {
            run,
            span: SpanSpec {
                shape: SpanShape::Custom,
                parent: Some(41),
                tags: 0b111,
            },
        },
        Op::Mixed {
            run,
            agent: 3,
            key: key_name(2, 15),
            payload: Payload::Typed(Typed::Float),
            event_type: "plan-step",
            event_payload: Payload::Bytes(0),
            cell: "step",
            expected: 17,
            span: SpanSpec {
                shape: SpanShape::Error,
                parent: None,
                tags: 0,
            },
        },
        Op::Txn {
            run,
            agent: 2,
            writes: vec![
                TxnWrite::Put {
                    key: "t2/k01".to_owned(),
                    payload: Payload::Bytes(7),
                },
                TxnWrite::Delete {
                    key: "t2/k02".to_owned(),
                },
                TxnWrite::Put {
                    key: unique_key_name(2, 3, 41),
                    payload: Payload::Typed(Typed::List),
                },
            ],
        },
    ]
}

/// Forks and deletions.
fn history_ops(run: RunId) -> Vec<Op> {
    vec![
        Op::Fork {
            parent: run,
            agent: 4,
            at: ForkAt::Now,
        },
        Op::Fork {
            parent: run,
            agent: 0,
            at: ForkAt::Version {
                version: 1234,
                op: id(),
            },
        },
        Op::DeleteRun { run },
        Op::DeleteRefused { run, forks: 3 },
        Op::DeleteTree {
            run,
            members: vec![run, RunId::from_bytes([8; 16]), RunId::from_bytes([9; 16])],
        },
        Op::DeleteTree {
            run,
            members: vec![run],
        },
    ]
}

#[test]
fn every_line_round_trips_through_its_text() {
    let run = RunId::from_bytes([7; 16]);
    let ops = every_kind_of_op(run);
    let mut lines = vec![Line::Opening, Line::Ready { last_version: 12 }];
    for op in ops {
        lines.push(Line::Submit {
            id: id(),
            us: 99,
            op,
        });
    }
    for (version, result) in [
        (AckVersion::Exact(5), AckResult::Nothing),
        (AckVersion::Range { lo: 3, hi: 9 }, AckResult::Run(run)),
        (AckVersion::Range { lo: 3, hi: 3 }, AckResult::Deleted(true)),
        (AckVersion::None, AckResult::Deleted(false)),
        (AckVersion::Exact(8), AckResult::Deletes(0b101)),
        (AckVersion::Range { lo: 4, hi: 6 }, AckResult::Seq(0)),
        (
            AckVersion::Range { lo: 4, hi: 4 },
            AckResult::CellVersion(9),
        ),
        (AckVersion::Range { lo: 4, hi: 4 }, AckResult::Span(3)),
        (
            AckVersion::Exact(70),
            AckResult::Mixed {
                seq: 4,
                cell: 1,
                span: 12,
            },
        ),
        (AckVersion::None, AckResult::Checkpoint(77)),
        (
            AckVersion::Range { lo: 80, hi: 82 },
            AckResult::Fork {
                run,
                point: 79,
                kv: u64::MAX - 3,
            },
        ),
        (AckVersion::None, AckResult::Refused(2)),
        (AckVersion::Range { lo: 90, hi: 93 }, AckResult::Runs(4)),
        (AckVersion::Unbounded, AckResult::Run(run)),
    ] {
        lines.push(Line::Ack {
            id: id(),
            us: 100,
            version,
            result,
        });
    }
    lines.push(Line::Fail {
        id: id(),
        us: 1,
        message: "the log is poisoned: write failed".to_owned(),
    });
    lines.push(Line::Retry {
        id: id(),
        us: 2,
        message: "the store is unavailable: connection refused".to_owned(),
    });
    for line in lines {
        let text = line.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(text.parse::<Line>(), Ok(line), "{text}");
    }
}

#[test]
fn bad_lines_are_errors() {
    for text in [
        "",
        "ACK 1.2.3",
        "ACK 1.2 5 6 -",
        "SUBMIT 1.2.3 5 put",
        "SUBMIT 1.2.3 5 flush extra",
        "SUBMIT 1.2.3 5 txn 07070707-0707-0707-0707-070707070707 1",
        "SUBMIT 1.2.3 5 txn 07070707-0707-0707-0707-070707070707 1 put:k",
        "SUBMIT 1.2.3 5 event 07070707-0707-0707-0707-070707070707 unknown typed:int",
        "SUBMIT 1.2.3 5 cas 07070707-0707-0707-0707-070707070707 step x typed:int",
        "SUBMIT 1.2.3 5 span 07070707-0707-0707-0707-070707070707 thought - 8",
        "SUBMIT 1.2.3 5 span 07070707-0707-0707-0707-070707070707 dream - 0",
        "SUBMIT 1.2.3 5 checkpoint now",
        "ACK 1.2.3 5 - mixed:1/2",
        "ACK 1.2.3 5 - ckpt:x",
        "SUBMIT 1.2.3 5 fork 07070707-0707-0707-0707-070707070707 1 then",
        "SUBMIT 1.2.3 5 fork 07070707-0707-0707-0707-070707070707 1 v12",
        "SUBMIT 1.2.3 5 delete-tree 07070707-0707-0707-0707-070707070707 \
         08080808-0808-0808-0808-080808080808",
        "ACK 1.2.3 5 1..2 fork:07070707-0707-0707-0707-070707070707@3",
        "ACK 1.2.3 5 - refused:x",
        "READY x",
        "HELLO",
    ] {
        assert!(text.parse::<Line>().is_err(), "{text:?} parsed");
    }
}

#[test]
fn values_depend_only_on_the_operation_and_start_with_its_id() {
    let bytes = bytes_value(id(), 0, 1000);
    assert_eq!(bytes.len(), 1000);
    assert!(bytes.starts_with(b"3.2.41|"));
    assert_eq!(bytes, bytes_value(id(), 0, 1000));
    assert_ne!(
        bytes[..500],
        bytes_value(OpId { seq: 42, ..id() }, 0, 1000)[..500]
    );
    let second = bytes_value(id(), 1, 1000);
    assert!(second.starts_with(b"3.2.41#1|"));
    assert_ne!(bytes[10..500], second[10..500]);
    assert!(bytes_value(id(), 0, 0).is_empty());
    assert_eq!(bytes_value(id(), 0, 3), b"3.2");

    for typed in Typed::ALL {
        let a = Payload::Typed(typed).expected(id(), 0).unwrap();
        assert_eq!(a, Payload::Typed(typed).expected(id(), 0).unwrap());
    }
    assert_eq!(
        Payload::Typed(Typed::Null).expected(id(), 0).unwrap(),
        Value::Null
    );
}

#[test]
fn keys_and_agents_are_valid_and_distinct() {
    for n in 0..KEYS_PER_THREAD {
        let key = key_name(7, n);
        assert!(key.len() <= in_mem::limits::USER_KEY_BYTES_MAX);
        assert!(!key.contains(' '));
        assert!(key.starts_with("t7/"));
    }
    for idx in 0..AGENTS.len() {
        let idx = AgentIdx::try_from(idx).unwrap();
        let agent = agent_id(idx);
        agent.validate().unwrap();
        assert_eq!(agent_index(&agent), Some(idx));
    }
    assert_eq!(agent_id(0), AgentId::default_agent());
}

#[test]
fn primitive_values_are_stored_as_the_oracle_expects_them() {
    // The child hands `Value`s to `EventLog::append` and `StateMachine::cas`, which convert
    // them with `to_value`: that must be the identity, or the oracle would expect other values.
    for payload in Typed::ALL
        .into_iter()
        .map(Payload::Typed)
        .chain([Payload::Bytes(0), Payload::Bytes(3000)])
    {
        let value = payload.expected(id(), 1).unwrap();
        assert_eq!(to_value(&value).unwrap(), value, "{payload:?}");
    }
}

#[test]
fn spans_depend_only_on_the_operation_and_are_valid() {
    for shape in SpanShape::ALL {
        let spec = SpanSpec {
            shape,
            parent: Some(2),
            tags: 0b110,
        };
        let kind = spec.kind(id(), 3).unwrap();
        assert_eq!(kind.name(), shape.name());
        assert_eq!(kind, spec.kind(id(), 3).unwrap());
        assert_eq!(
            spec.new_span(id(), 3).unwrap(),
            spec.new_span(id(), 3).unwrap()
        );
        assert_ne!(
            spec.new_span(id(), 3).unwrap(),
            spec.new_span(OpId { seq: 42, ..id() }, 3).unwrap()
        );
        assert_eq!(
            spec.status(),
            if shape == SpanShape::Error {
                SpanStatus::Error
            } else {
                SpanStatus::Ok
            }
        );
    }
    let tags = SpanSpec {
        shape: SpanShape::Thought,
        parent: None,
        tags: 0b111,
    }
    .tag_names();
    let mut sorted = tags.clone();
    sorted.sort();
    assert_eq!(tags, sorted);
    assert_eq!(tags.len(), SPAN_TAGS.len());
    for name in EVENT_TYPES.iter().chain(&CELL_NAMES).chain(&SPAN_TAGS) {
        assert!(!name.contains(' ') && !name.is_empty(), "{name:?}");
    }
}

/// What a real database stores for each primitive operation is what the oracle expects, read
/// back the way the parent reads it: the harness must not report its own misunderstandings.
#[test]
fn a_real_database_stores_what_the_oracle_expects() {
    use in_mem::primitives::{EventLog, StateMachine, TraceStore};
    let dir = std::env::temp_dir().join(format!("in-mem-xtask-workload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = in_mem::Database::open(&dir).unwrap();
    let run = db.try_begin_run().unwrap();
    let spec = SpanSpec {
        shape: SpanShape::ToolCall,
        parent: None,
        tags: 0b101,
    };
    let payload = Payload::Typed(Typed::Note);
    EventLog::new(&db)
        .append(run, "décision", payload.expected(id(), 0).unwrap())
        .unwrap();
    StateMachine::new(&db)
        .init(run, "phase-ü", payload.expected(id(), 2).unwrap())
        .unwrap();
    let span = TraceStore::new(&db)
        .record(run, spec.new_span(id(), 3).unwrap())
        .unwrap();
    let child = SpanSpec {
        parent: Some(span),
        ..spec
    };
    TraceStore::new(&db)
        .record(run, child.new_span(id(), 0).unwrap())
        .unwrap();

    let event = EventLog::new(&db).read(run, 0).unwrap().unwrap();
    assert_eq!(event.payload, payload.expected(id(), 0).unwrap());
    let cell = StateMachine::new(&db)
        .read(run, "phase-ü")
        .unwrap()
        .unwrap();
    assert_eq!(
        (cell.value, cell.version),
        (payload.expected(id(), 2).unwrap(), 1)
    );
    let spans = TraceStore::new(&db).spans(run).unwrap();
    assert_eq!(spans[0].kind, spec.kind(id(), 3).unwrap());
    assert_eq!(spans[0].tags, spec.tag_names());
    assert_eq!(spans[0].attributes, SpanSpec::attributes(id()));
    assert_eq!(spans[0].status, spec.status());
    assert_eq!(spans[0].end, Some(spans[0].start));
    assert_eq!(spans[1].parent, Some(span));
    assert_eq!(spans[1].kind, child.kind(id(), 0).unwrap());
    db.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
