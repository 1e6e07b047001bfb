//! The line protocol round-trips, and values are a pure function of the operation id.

use super::*;

fn id() -> OpId {
    OpId {
        iteration: 3,
        thread: 2,
        seq: 41,
    }
}

#[test]
fn every_line_round_trips_through_its_text() {
    let run = RunId::from_bytes([7; 16]);
    let ops = [
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
    ];
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
