//! The oracle fed synthetic logs and recovered states: the ones that must pass, and the ones
//! that must fail (a lost acknowledgement, a hole, a value never written, an `Async` loss older
//! than the window, a gap in an event log, a span without its parent, a state cell going back,
//! a torn mixed transaction, a checkpoint forgotten, ...); `tests/history.rs`: forks and run
//! deletion.

use super::*;
use crate::crash::workload::{Payload, SpanShape, SpanSpec, TxnWrite, Typed};

const KILL_US: u64 = 10_000_000;
const SECOND_US: u64 = 1_000_000;

fn run_id(n: u8) -> RunId {
    let mut bytes = [0u8; 16];
    bytes[0] = 1;
    bytes[15] = n;
    RunId::from_bytes(bytes)
}

fn op_id(thread: u16, seq: u32) -> OpId {
    OpId {
        iteration: 1,
        thread,
        seq,
    }
}

/// Builds a child's log: ops are acknowledged in the order they are added, one second apart
/// and all long before the kill unless a test says otherwise.
struct Log {
    records: Vec<OpRecord>,
    line: u64,
}

impl Log {
    fn new() -> Self {
        Log {
            records: Vec::new(),
            line: 0,
        }
    }

    fn next_seq(&self, thread: u16) -> u32 {
        self.records
            .iter()
            .filter(|r| r.id.thread == thread)
            .count() as u32
    }

    fn push(&mut self, thread: u16, op: Op, ack: Option<(AckVersion, AckResult)>) -> OpId {
        let id = op_id(thread, self.next_seq(thread));
        self.line += 1;
        let submit_line = self.line;
        let submit_us = submit_line * 1000;
        let outcome = match ack {
            None => Outcome::InFlight,
            Some((version, result)) => {
                self.line += 1;
                Outcome::Acked {
                    line: self.line,
                    us: submit_us + 500,
                    version,
                    result,
                }
            }
        };
        self.records.push(OpRecord {
            id,
            submit_line,
            submit_us,
            op,
            outcome,
            retries: 0,
        });
        id
    }

    fn begin(&mut self, thread: u16, agent: AgentIdx, run: RunId, version: u64) -> OpId {
        self.push(
            thread,
            Op::Begin {
                agent,
                how: BeginHow::In,
            },
            Some((
                AckVersion::Range {
                    lo: version,
                    hi: version,
                },
                AckResult::Run(run),
            )),
        )
    }

    fn put(&mut self, thread: u16, run: RunId, key: &str, version: Option<u64>) -> OpId {
        self.put_with(thread, run, key, version, None)
    }

    fn put_with(
        &mut self,
        thread: u16,
        run: RunId,
        key: &str,
        version: Option<u64>,
        ttl_ms: Option<u64>,
    ) -> OpId {
        self.push(
            thread,
            Op::Put {
                run,
                agent: 1,
                key: key.to_owned(),
                payload: Payload::Bytes(40),
                ttl_ms,
            },
            version.map(|v| (AckVersion::Exact(v), AckResult::Nothing)),
        )
    }

    fn delete(&mut self, thread: u16, run: RunId, key: &str, version: u64) -> OpId {
        self.push(
            thread,
            Op::Delete {
                run,
                agent: 1,
                key: key.to_owned(),
            },
            Some((
                AckVersion::Range {
                    lo: version,
                    hi: version,
                },
                AckResult::Deleted(true),
            )),
        )
    }

    fn end(&mut self, thread: u16, run: RunId, version: u64) -> OpId {
        self.push(
            thread,
            Op::End { run },
            Some((
                AckVersion::Range {
                    lo: version,
                    hi: version,
                },
                AckResult::Nothing,
            )),
        )
    }

    fn ranged(version: u64, result: AckResult) -> (AckVersion, AckResult) {
        (
            AckVersion::Range {
                lo: version,
                hi: version,
            },
            result,
        )
    }

    /// An event append acknowledged at `version` with sequence `seq` (`None`: in flight).
    fn event(&mut self, thread: u16, run: RunId, ack: Option<(u64, u64)>) -> OpId {
        self.push(
            thread,
            Op::EventAppend {
                run,
                event_type: "observation",
                payload: Payload::Typed(Typed::Note),
            },
            ack.map(|(version, seq)| Self::ranged(version, AckResult::Seq(seq))),
        )
    }

    /// A compare-and-swap of cell "step" from `expected`, acknowledged at `version`.
    fn cas(&mut self, thread: u16, run: RunId, expected: u64, version: Option<u64>) -> OpId {
        self.push(
            thread,
            Op::StateCas {
                run,
                cell: "step",
                expected,
                payload: Payload::Typed(Typed::Int),
            },
            version.map(|v| Self::ranged(v, AckResult::CellVersion(expected + 1))),
        )
    }

    /// A span with `parent`, acknowledged at `version` with id `id`.
    fn span(
        &mut self,
        thread: u16,
        run: RunId,
        parent: Option<u64>,
        ack: Option<(u64, u64)>,
    ) -> OpId {
        self.push(
            thread,
            Op::TraceSpan {
                run,
                span: spec(parent),
            },
            ack.map(|(version, id)| Self::ranged(version, AckResult::Span(id))),
        )
    }

    /// A mixed transaction (key "t0/m", cell "step" from `expected`, a span without parent),
    /// acknowledged at `version` with the results `(seq, cell, span)`.
    fn mixed(
        &mut self,
        thread: u16,
        run: RunId,
        expected: u64,
        ack: Option<(u64, (u64, u64, u64))>,
    ) -> OpId {
        self.push(
            thread,
            Op::Mixed {
                run,
                agent: 1,
                key: "t0/m".to_owned(),
                payload: Payload::Bytes(50),
                event_type: "plan-step",
                event_payload: Payload::Typed(Typed::Text),
                cell: "step",
                expected,
                span: spec(None),
            },
            ack.map(|(version, (seq, cell, span))| {
                (
                    AckVersion::Exact(version),
                    AckResult::Mixed { seq, cell, span },
                )
            }),
        )
    }

    fn checkpoint(&mut self, thread: u16, version: Option<u64>) -> OpId {
        self.push(
            thread,
            Op::Checkpoint,
            version.map(|v| (AckVersion::None, AckResult::Checkpoint(v))),
        )
    }

    fn record(&self, id: OpId) -> &OpRecord {
        self.records
            .iter()
            .find(|r| r.id == id)
            .expect("the op was added")
    }

    /// Moves every acknowledgement to `ms_before_kill` before the kill.
    fn acked_before_kill(&mut self, id: OpId, ms_before_kill: u64) {
        let record = self
            .records
            .iter_mut()
            .find(|r| r.id == id)
            .expect("the op was added");
        record.submit_us = KILL_US - ms_before_kill * 1000 - 100;
        if let Outcome::Acked { us, .. } = &mut record.outcome {
            *us = KILL_US - ms_before_kill * 1000;
        }
    }
}

/// What recovery would return if it kept exactly the ops up to `version` of `log`.
fn stored_of(log: &Log, id: OpId, version: u64) -> Stored {
    let record = log.record(id);
    let Op::Put {
        payload, ttl_ms, ..
    } = &record.op
    else {
        panic!("not a put");
    };
    Stored {
        value: payload.expected(id, 0).unwrap(),
        version,
        timestamp_us: record.submit_us + 200,
        ttl_us: ttl_ms.map(|ms| ms * 1000),
    }
}

fn key(name: &str) -> KvKey {
    (1, name.to_owned())
}

fn interrupted(agent: AgentIdx) -> RunEntry {
    RunEntry {
        agent,
        status: RunStatus::Interrupted,
        parent: None,
        fork_point: None,
    }
}

fn observed(last_version: u64) -> Observed {
    Observed {
        last_version,
        read_from_us: KILL_US + SECOND_US,
        read_to_us: KILL_US + SECOND_US + 1000,
        final_version: last_version,
        ..Observed::default()
    }
}

fn lossless() -> Params {
    Params {
        promise: Promise::Lossless,
        kill_us: KILL_US,
    }
}

fn window(ms: u64) -> Params {
    Params {
        promise: Promise::Window {
            window_us: ms * 1000,
        },
        kill_us: KILL_US,
    }
}

fn assert_passes(verdict: &Verdict) {
    assert!(verdict.failures.is_empty(), "{:#?}", verdict.failures);
}

fn assert_fails(verdict: &Verdict, needle: &str) {
    assert!(
        verdict.failures.iter().any(|f| f.contains(needle)),
        "expected a failure containing {needle:?}, got {:#?}",
        verdict.failures
    );
}

/// A run begun, two puts, a delete of the first key: versions 1 to 4.
fn four_commits() -> (Log, [OpId; 4]) {
    let mut log = Log::new();
    let r = run_id(1);
    let begin = log.begin(0, 1, r, 1);
    let a = log.put(0, r, "t0/a", Some(2));
    let b = log.put(0, r, "t0/b", Some(3));
    let del = log.delete(0, r, "t0/a", 4);
    (log, [begin, a, b, del])
}

fn all_four(log: &Log, b: OpId) -> Observed {
    let mut obs = observed(4);
    obs.kv.insert(key("t0/b"), stored_of(log, b, 3));
    obs.runs.insert(run_id(1), interrupted(1));
    obs.interrupted = vec![run_id(1)];
    obs
}

#[test]
fn a_complete_recovery_passes_and_counts_the_acknowledged_commits() {
    let (log, [_, _, b, _]) = four_commits();
    let verdict = check(
        &lossless(),
        &State::default(),
        &log.records,
        &all_four(&log, b),
    );
    assert_passes(&verdict);
    assert_eq!(verdict.acked_commits, 4);
    assert_eq!(verdict.lost, 0);
    assert_eq!(verdict.next_base.kv.len(), 1);
    assert_eq!(verdict.next_base.last_version, 4);
}

#[test]
fn a_lost_acknowledged_commit_fails_in_strict_and_batched() {
    let (log, [_, a, b, _]) = four_commits();
    // Recovery stopped at version 3: the acknowledged delete is gone, the key is back.
    let mut obs = all_four(&log, b);
    obs.last_version = 3;
    obs.kv.insert(key("t0/a"), stored_of(&log, a, 2));
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "acknowledged commits lost");
    assert_eq!(verdict.lost, 1);
}

#[test]
fn a_recent_loss_from_the_end_is_allowed_in_async() {
    let (mut log, [_, a, b, del]) = four_commits();
    log.acked_before_kill(del, 50);
    let mut obs = all_four(&log, b);
    obs.last_version = 3;
    obs.kv.insert(key("t0/a"), stored_of(&log, a, 2));
    let verdict = check(&window(500), &State::default(), &log.records, &obs);
    assert_passes(&verdict);
    assert_eq!(verdict.lost, 1);
    assert_eq!(verdict.oldest_loss_us, Some(50_000));
}

#[test]
fn an_async_loss_older_than_the_window_fails() {
    let (mut log, [_, a, b, del]) = four_commits();
    log.acked_before_kill(del, 800);
    let mut obs = all_four(&log, b);
    obs.last_version = 3;
    obs.kv.insert(key("t0/a"), stored_of(&log, a, 2));
    let verdict = check(&window(500), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "acknowledged commits lost");
}

#[test]
fn a_flush_that_returned_protects_earlier_acknowledgements_even_in_async() {
    let (mut log, [_, a, b, del]) = four_commits();
    log.acked_before_kill(del, 50);
    log.push(0, Op::Flush, Some((AckVersion::None, AckResult::Nothing)));
    let mut obs = all_four(&log, b);
    obs.last_version = 3;
    obs.kv.insert(key("t0/a"), stored_of(&log, a, 2));
    let verdict = check(&window(500), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "acknowledged commits lost");
}

#[test]
fn a_hole_in_the_commit_order_fails() {
    let mut log = Log::new();
    let r = run_id(1);
    log.begin(0, 1, r, 1);
    let a = log.put(0, r, "t0/a", Some(2));
    log.put(0, r, "t0/b", Some(3));
    let c = log.put(0, r, "t0/c", Some(4));
    for id in [a, c] {
        log.acked_before_kill(id, 10);
    }
    // Version 4 is there but version 3 is not: even where loss is allowed, not from the middle.
    let mut obs = observed(4);
    obs.kv.insert(key("t0/a"), stored_of(&log, a, 2));
    obs.kv.insert(key("t0/c"), stored_of(&log, c, 4));
    obs.runs.insert(r, interrupted(1));
    obs.interrupted = vec![r];
    let verdict = check(&window(500), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "no prefix of its operations explains");
    assert_fails(&verdict, "t0/b");
}

#[test]
fn a_hole_across_threads_fails() {
    let mut log = Log::new();
    let (r, s) = (run_id(1), run_id(2));
    log.begin(0, 1, r, 1);
    log.begin(1, 1, s, 2);
    let a = log.put(0, r, "t0/a", Some(3));
    let b = log.put(1, s, "t1/b", Some(4));
    for id in [a, b] {
        log.acked_before_kill(id, 10);
    }
    // Version 4 (thread 1) survived, version 3 (thread 0) did not.
    let mut obs = observed(4);
    obs.kv.insert(key("t1/b"), stored_of(&log, b, 4));
    obs.runs.insert(r, interrupted(1));
    obs.runs.insert(s, interrupted(1));
    obs.interrupted = vec![r, s];
    let verdict = check(&window(500), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "t0/a");
}

#[test]
fn a_value_never_written_fails() {
    let (log, [_, _, b, _]) = four_commits();
    let mut obs = all_four(&log, b);
    obs.kv.get_mut(&key("t0/b")).expect("present").value = Value::Bytes(b"garbage".to_vec());
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "t0/b");
}

#[test]
fn a_wrong_version_or_ttl_fails() {
    let (log, [_, _, b, _]) = four_commits();
    let mut obs = all_four(&log, b);
    obs.kv.get_mut(&key("t0/b")).expect("present").version = 2;
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "t0/b",
    );
    let mut obs = all_four(&log, b);
    obs.kv.get_mut(&key("t0/b")).expect("present").ttl_us = Some(5);
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "t0/b",
    );
}

#[test]
fn a_key_nobody_wrote_fails() {
    let (log, [_, a, b, _]) = four_commits();
    let mut obs = all_four(&log, b);
    let mut stray = stored_of(&log, a, 2);
    stray.value = Value::I64(7);
    obs.kv.insert((2, "t0/a".to_owned()), stray);
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "no operation touched");
}

#[test]
fn a_commit_in_flight_may_or_may_not_be_there() {
    let (mut log, [_, _, b, _]) = four_commits();
    let pending = log.put(0, run_id(1), "t0/c", None);
    let without = all_four(&log, b);
    assert_passes(&check(
        &lossless(),
        &State::default(),
        &log.records,
        &without,
    ));
    let mut with = all_four(&log, b);
    with.last_version = 5;
    with.kv.insert(key("t0/c"), stored_of(&log, pending, 5));
    assert_passes(&check(&lossless(), &State::default(), &log.records, &with));
    // But not at a version beyond the recovered last version.
    let mut beyond = all_four(&log, b);
    beyond.kv.insert(key("t0/c"), stored_of(&log, pending, 5));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &beyond),
        "above the recovered last version",
    );
}

#[test]
fn ended_runs_come_back_completed_and_active_ones_interrupted() {
    let mut log = Log::new();
    let (r, s) = (run_id(1), run_id(2));
    log.begin(0, 1, r, 1);
    log.begin(0, 3, s, 2);
    log.end(0, r, 3);
    let mut obs = observed(3);
    obs.runs.insert(
        r,
        RunEntry {
            agent: 1,
            status: RunStatus::Completed,
            parent: None,
            fork_point: None,
        },
    );
    obs.runs.insert(s, interrupted(3));
    obs.interrupted = vec![s];
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));

    let mut wrong = obs.clone();
    wrong.runs.insert(r, interrupted(1));
    wrong.interrupted = vec![r, s];
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &wrong),
        &format!("run {r}"),
    );

    let mut wrong_agent = obs.clone();
    wrong_agent.runs.insert(s, interrupted(2));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &wrong_agent),
        &format!("run {s}"),
    );

    let mut unreported = obs;
    unreported.interrupted = vec![];
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &unreported),
        "interrupted runs",
    );
}

#[test]
fn only_a_begin_that_never_returned_explains_an_unknown_run() {
    let mut log = Log::new();
    log.push(
        0,
        Op::Begin {
            agent: 2,
            how: BeginHow::In,
        },
        None,
    );
    let stranger = run_id(9);
    let mut obs = observed(1);
    obs.runs.insert(stranger, interrupted(2));
    obs.interrupted = vec![stranger];
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));

    let mut other_agent = obs.clone();
    other_agent.runs.insert(stranger, interrupted(3));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &other_agent),
        "never begun",
    );
    assert_fails(
        &check(&lossless(), &State::default(), &[], &obs),
        "never begun",
    );
}

#[test]
fn a_short_ttl_value_may_read_as_expired_only_once_it_can_have_expired() {
    let mut log = Log::new();
    let r = run_id(1);
    log.begin(0, 1, r, 1);
    let p = log.put_with(0, r, "t0/a", Some(2), Some(200));
    let mut obs = observed(2);
    obs.runs.insert(r, interrupted(1));
    obs.interrupted = vec![r];
    // Read long after the expiry: absent is right.
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));
    // Read before it could have expired: absent is a loss.
    let mut early = obs.clone();
    early.read_from_us = log.record(p).submit_us + 50_000;
    early.read_to_us = early.read_from_us + 1000;
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &early),
        "t0/a",
    );
    early.kv.insert(key("t0/a"), stored_of(&log, p, 2));
    assert_passes(&check(&lossless(), &State::default(), &log.records, &early));
}

#[test]
fn data_from_earlier_iterations_must_survive() {
    let mut base = State {
        last_version: 10,
        ..State::default()
    };
    let r = run_id(1);
    base.runs.insert(
        r,
        RunEntry {
            agent: 1,
            status: RunStatus::Completed,
            parent: None,
            fork_point: None,
        },
    );
    base.kv.insert(
        key("t0/old"),
        Stored {
            value: Value::I64(5),
            version: 7,
            timestamp_us: 1,
            ttl_us: None,
        },
    );
    let mut obs = observed(10);
    obs.runs = base.runs.clone();
    obs.kv = base.kv.clone();
    assert_passes(&check(&lossless(), &base, &[], &obs));

    let mut lost = obs.clone();
    lost.kv.clear();
    assert_fails(&check(&lossless(), &base, &[], &lost), "t0/old");

    let mut rolled_back = obs;
    rolled_back.last_version = 9;
    assert_fails(&check(&lossless(), &base, &[], &rolled_back), "below 10");
}

#[test]
fn typed_values_compare_exactly() {
    let mut log = Log::new();
    let r = run_id(1);
    log.begin(0, 1, r, 1);
    let id = log.push(
        0,
        Op::Put {
            run: r,
            agent: 1,
            key: "t0/n".to_owned(),
            payload: Payload::Typed(Typed::Note),
            ttl_ms: None,
        },
        Some((AckVersion::Exact(2), AckResult::Nothing)),
    );
    let mut obs = observed(2);
    obs.runs.insert(r, interrupted(1));
    obs.interrupted = vec![r];
    let mut stored = stored_of(&log, id, 2);
    obs.kv.insert(key("t0/n"), stored.clone());
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));
    if let Value::Map(fields) = &mut stored.value {
        fields.insert("done".to_owned(), Value::Null);
    }
    obs.kv.insert(key("t0/n"), stored);
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "t0/n",
    );
}

#[test]
fn a_transaction_is_recovered_whole_or_not_at_all() {
    let mut log = Log::new();
    let r = run_id(1);
    log.begin(0, 1, r, 1);
    let t = log.push(
        0,
        Op::Txn {
            run: r,
            agent: 1,
            writes: vec![
                TxnWrite::Put {
                    key: "t0/a".to_owned(),
                    payload: Payload::Bytes(30),
                },
                TxnWrite::Put {
                    key: "t0/b".to_owned(),
                    payload: Payload::Bytes(30),
                },
            ],
        },
        None,
    );
    let part = |part: u16, version: u64| Stored {
        value: Payload::Bytes(30).expected(t, part).unwrap(),
        version,
        timestamp_us: log.record(t).submit_us + 100,
        ttl_us: None,
    };
    let mut none = observed(1);
    none.runs.insert(r, interrupted(1));
    none.interrupted = vec![r];
    assert_passes(&check(&lossless(), &State::default(), &log.records, &none));

    let mut whole = none.clone();
    whole.last_version = 2;
    whole.kv.insert(key("t0/a"), part(0, 2));
    whole.kv.insert(key("t0/b"), part(1, 2));
    assert_passes(&check(&lossless(), &State::default(), &log.records, &whole));

    let mut half = whole.clone();
    half.kv.remove(&key("t0/b"));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &half),
        "no prefix of its operations explains",
    );
    // The parts swapped: each value belongs to the other key.
    let mut swapped = whole;
    swapped.kv.insert(key("t0/a"), part(1, 2));
    swapped.kv.insert(key("t0/b"), part(0, 2));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &swapped),
        "t0/a",
    );
}

// ----- the primitives ----------------------------------------------------------------------

fn spec(parent: Option<u64>) -> SpanSpec {
    SpanSpec {
        shape: SpanShape::ToolCall,
        parent,
        tags: 0b101,
    }
}

/// A stand-in for event `sequence`'s hash in `run`'s chain.
fn fake_hash(run: RunId, sequence: u64) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(&run.to_bytes());
    hash[16..24].copy_from_slice(&sequence.to_le_bytes());
    hash
}

/// What recovery returns for the writes of `id` to the primitives (its effects, exactly as the
/// database would store them), added to `obs`.
fn recover_primitives(obs: &mut Observed, log: &Log, id: OpId) {
    let record = log.record(id);
    let at = record.submit_us + 200;
    for (cell, effect) in effects_of(record).unwrap() {
        match (cell, effect) {
            (
                Cell::Events(run),
                Effect::Append {
                    event_type,
                    payload,
                },
            ) => {
                let events = obs.events.entry(run).or_default();
                events.push(EventRec {
                    sequence: events.len() as u64,
                    event_type,
                    payload,
                    timestamp_us: at,
                    hash: fake_hash(run, events.len() as u64),
                });
                obs.chains.insert(run, Ok(events.len() as u64));
            }
            (Cell::State(key), Effect::Cas { expected, value }) => {
                obs.cells.insert(
                    key,
                    CellRec {
                        value,
                        version: expected + 1,
                        updated_us: at,
                    },
                );
            }
            (Cell::Spans(run), Effect::Span(span)) => {
                let spans = obs.spans.entry(run).or_default();
                spans.push(SpanRec {
                    id: spans.len() as u64 + 1,
                    parent: span.parent,
                    kind: span.kind,
                    status: span.status,
                    start_us: at,
                    end_us: Some(at),
                    tags: span.tags,
                    attributes: span.attributes,
                });
            }
            (Cell::Kv(key), Effect::Put { value, ttl_us }) => {
                obs.kv.insert(
                    key,
                    Stored {
                        value,
                        version: obs.last_version,
                        timestamp_us: at,
                        ttl_us,
                    },
                );
            }
            _ => {}
        }
    }
}

/// A run begun at version 1, then: two events (2, 3), the cell "step" created (4) and swapped
/// (5), a span (6), a span inside it (7), a mixed transaction (8).
fn primitive_log() -> (Log, Vec<OpId>) {
    let mut log = Log::new();
    let r = run_id(1);
    let mut ids = vec![log.begin(0, 1, r, 1)];
    ids.push(log.event(0, r, Some((2, 0))));
    ids.push(log.event(0, r, Some((3, 1))));
    ids.push(log.cas(0, r, 0, Some(4)));
    ids.push(log.cas(0, r, 1, Some(5)));
    ids.push(log.span(0, r, None, Some((6, 1))));
    ids.push(log.span(0, r, Some(1), Some((7, 2))));
    ids.push(log.mixed(0, r, 2, Some((8, (2, 3, 3)))));
    (log, ids)
}

/// Recovery of everything up to `version` of [`primitive_log`].
fn primitives_up_to(log: &Log, ids: &[OpId], version: u64) -> Observed {
    let mut obs = observed(version);
    obs.runs.insert(run_id(1), interrupted(1));
    obs.interrupted = vec![run_id(1)];
    for (&id, v) in ids.iter().zip(1..=version).skip(1) {
        obs.last_version = v;
        recover_primitives(&mut obs, log, id);
    }
    obs.last_version = version;
    obs
}

#[test]
fn event_logs_state_cells_and_traces_recovered_in_full_pass() {
    let (log, ids) = primitive_log();
    let obs = primitives_up_to(&log, &ids, 8);
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_passes(&verdict);
    assert_eq!(verdict.acked_primitive, 7);
    let base = &verdict.next_base;
    assert_eq!(base.events[&run_id(1)].len(), 3);
    assert_eq!(base.cells[&(run_id(1), "step".to_owned())].version, 3);
    assert_eq!(base.spans[&run_id(1)].len(), 3);

    // The next iteration starts from that state: untouched, it must stay exactly so.
    let mut again = obs.clone();
    again.last_version = base.last_version;
    assert_passes(&check(&lossless(), base, &[], &again));
}

#[test]
fn a_lost_acknowledged_event_append_fails_in_strict() {
    let (log, ids) = primitive_log();
    // Recovery stopped at version 2: the second event, acknowledged, is gone with the rest.
    let obs = primitives_up_to(&log, &ids, 2);
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "acknowledged commits lost");
    assert_eq!(verdict.lost, 6);
    // The same loss is allowed in Async if it was acknowledged within the window, and from
    // the end only.
    let mut recent = log;
    for &id in &ids[2..] {
        recent.acked_before_kill(id, 20);
    }
    assert_passes(&check(
        &window(500),
        &State::default(),
        &recent.records,
        &obs,
    ));
}

#[test]
fn an_acknowledged_event_missing_below_the_recovered_version_fails() {
    let (log, ids) = primitive_log();
    let mut obs = primitives_up_to(&log, &ids, 8);
    // The log says version 8, but the first single event is gone: the log reads as 2 events.
    let events = obs.events.get_mut(&run_id(1)).unwrap();
    events.remove(0);
    for (seq, e) in events.iter_mut().enumerate() {
        e.sequence = seq as u64;
    }
    obs.chains.insert(run_id(1), Ok(2));
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "the event log of run");
    assert_fails(&verdict, "no prefix of its operations explains");
}

#[test]
fn a_gap_in_event_sequences_fails() {
    let (log, ids) = primitive_log();
    let mut obs = primitives_up_to(&log, &ids, 8);
    obs.events.get_mut(&run_id(1)).unwrap()[2].sequence = 3;
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "holds sequence 3 where sequence 2 belongs");
}

#[test]
fn an_event_chain_that_does_not_verify_fails() {
    let (log, ids) = primitive_log();
    let mut obs = primitives_up_to(&log, &ids, 8);
    obs.chains.insert(
        run_id(1),
        Err("its content does not match its hash".to_owned()),
    );
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "does not verify",
    );
    obs.chains.insert(run_id(1), Ok(2));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "verifies 2 events, but 3 were read",
    );
}

#[test]
fn an_event_of_the_wrong_type_payload_or_time_fails() {
    let (log, ids) = primitive_log();
    let good = primitives_up_to(&log, &ids, 8);
    let change = |f: &dyn Fn(&mut EventRec)| {
        let mut obs = good.clone();
        f(&mut obs.events.get_mut(&run_id(1)).unwrap()[1]);
        check(&lossless(), &State::default(), &log.records, &obs)
    };
    assert_fails(
        &change(&|e| e.event_type = "décision".to_owned()),
        "at position 1",
    );
    assert_fails(&change(&|e| e.payload = Value::Null), "at position 1");
    assert_fails(&change(&|e| e.timestamp_us = KILL_US * 2), "at position 1");
}

#[test]
fn a_span_whose_parent_is_missing_fails() {
    let (log, ids) = primitive_log();
    let mut obs = primitives_up_to(&log, &ids, 8);
    obs.spans.get_mut(&run_id(1)).unwrap()[1].parent = Some(7);
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "span 2 of run");
    assert_fails(&verdict, "has parent 7, which does not exist");

    // Also when the harness's expectation is missing (an untouched trace of an earlier run).
    let mut base = State::default();
    let mut spans = good_spans(&log, &ids);
    spans[0].parent = Some(2);
    base.spans.insert(run_id(1), spans);
    let mut obs = observed(0);
    obs.spans = base.spans.clone();
    obs.runs.insert(run_id(1), interrupted(1));
    obs.interrupted = vec![run_id(1)];
    base.runs = obs.runs.clone();
    assert_fails(&check(&lossless(), &base, &[], &obs), "has parent 2");
}

fn good_spans(log: &Log, ids: &[OpId]) -> Vec<SpanRec> {
    primitives_up_to(log, ids, 8).spans[&run_id(1)].clone()
}

#[test]
fn span_ids_must_be_dense_and_spans_exactly_as_recorded() {
    let (log, ids) = primitive_log();
    let good = primitives_up_to(&log, &ids, 8);
    let mut obs = good.clone();
    obs.spans.get_mut(&run_id(1)).unwrap()[2].id = 4;
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "holds span 4 where span 3 belongs",
    );
    let mut obs = good.clone();
    obs.spans.get_mut(&run_id(1)).unwrap()[0].tags = vec!["web".to_owned()];
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "the trace of run",
    );
    let mut obs = good;
    obs.spans.get_mut(&run_id(1)).unwrap()[0].kind = SpanKind::Thought {
        text: "not this".to_owned(),
    };
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "the trace of run",
    );
}

#[test]
fn a_state_version_going_backwards_fails() {
    let r = run_id(1);
    let key = (r, "step".to_owned());
    let mut base = State {
        last_version: 10,
        ..State::default()
    };
    base.runs.insert(r, interrupted(1));
    base.cells.insert(
        key.clone(),
        CellRec {
            value: Value::I64(5),
            version: 5,
            updated_us: 1,
        },
    );
    let mut obs = observed(10);
    obs.runs = base.runs.clone();
    obs.interrupted = vec![r];
    obs.cells = base.cells.clone();
    assert_passes(&check(&lossless(), &base, &[], &obs));

    let mut back = obs.clone();
    back.cells.get_mut(&key).unwrap().version = 3;
    assert_fails(&check(&lossless(), &base, &[], &back), "below the 5");
    let mut gone = obs;
    gone.cells.clear();
    assert_fails(&check(&lossless(), &base, &[], &gone), "is gone");
}

#[test]
fn a_state_cell_must_hold_the_value_and_version_of_the_last_cas_in_the_prefix() {
    let (mut log, ids) = primitive_log();
    // The mixed transaction was in flight; recovery kept everything before it, so the cell is
    // at version 2, from the second compare-and-swap.
    log.records[7].outcome = Outcome::InFlight;
    let good = primitives_up_to(&log, &ids, 7);
    assert_passes(&check(&lossless(), &State::default(), &log.records, &good));
    let key = (run_id(1), "step".to_owned());
    let mut stale = good.clone();
    let first = effects_of(log.record(ids[3])).unwrap();
    if let Some((_, Effect::Cas { value, .. })) = first.into_iter().next() {
        stale.cells.get_mut(&key).unwrap().value = value;
    }
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &stale),
        "state cell \"step\"",
    );
    let mut ahead = good;
    ahead.cells.get_mut(&key).unwrap().version = 3;
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &ahead),
        "state cell \"step\"",
    );
}

#[test]
fn primitive_calls_must_return_what_program_order_says() {
    let (mut log, ids) = primitive_log();
    let obs = primitives_up_to(&log, &ids, 8);
    // The second append said sequence 5.
    if let Outcome::Acked { result, .. } = &mut log.records[2].outcome {
        *result = AckResult::Seq(5);
    }
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &obs),
        "returned sequence 5",
    );
    // A compare-and-swap from a version the cell never had (and so could not have succeeded).
    let mut log = Log::new();
    let r = run_id(1);
    log.begin(0, 1, r, 1);
    log.cas(0, r, 3, Some(2));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &observed(2)),
        "expected version 3, but the cell was at 0",
    );
    // A span naming a parent the run does not have yet.
    let mut log = Log::new();
    log.begin(0, 1, r, 1);
    log.span(0, r, Some(1), Some((2, 1)));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &observed(2)),
        "names parent 1, but the run had 0 spans",
    );
}

#[test]
fn a_mixed_transaction_is_recovered_whole_or_not_at_all() {
    let mut log = Log::new();
    let r = run_id(1);
    log.begin(0, 1, r, 1);
    let m = log.mixed(0, r, 0, None);
    let none = primitives_up_to(&log, &[], 1);
    assert_passes(&check(&lossless(), &State::default(), &log.records, &none));
    let mut whole = none.clone();
    whole.last_version = 2;
    recover_primitives(&mut whole, &log, m);
    assert_passes(&check(&lossless(), &State::default(), &log.records, &whole));
    assert_eq!(whole.kv.len(), 1);

    // Each part alone, or all but one, is a torn transaction.
    let parts: [&dyn Fn(&mut Observed); 4] = [
        &|o| {
            o.kv.clear();
        },
        &|o| {
            o.events.clear();
            o.chains.clear();
        },
        &|o| o.cells.clear(),
        &|o| o.spans.clear(),
    ];
    for (n, tear) in parts.iter().enumerate() {
        let mut torn = whole.clone();
        tear(&mut torn);
        assert_fails(
            &check(&lossless(), &State::default(), &log.records, &torn),
            "no prefix of its operations explains",
        );
        let mut only = none.clone();
        only.last_version = 2;
        let mut part = whole.clone();
        for (k, other) in parts.iter().enumerate() {
            if k != n {
                other(&mut part);
            }
        }
        only.kv = part.kv;
        only.events = part.events;
        only.chains = part.chains;
        only.cells = part.cells;
        only.spans = part.spans;
        assert_fails(
            &check(&lossless(), &State::default(), &log.records, &only),
            "no prefix of its operations explains",
        );
    }
}

#[test]
fn a_run_with_primitive_data_missing_from_the_run_index_fails() {
    let (log, ids) = primitive_log();
    let mut obs = primitives_up_to(&log, &ids, 8);
    obs.runs.clear();
    obs.interrupted.clear();
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "but is not in the run index");
    assert_fails(&verdict, "does not list them as interrupted or completed");
}

#[test]
fn a_returned_checkpoint_protects_earlier_acknowledgements_even_in_async() {
    let (mut log, [_, a, b, del]) = four_commits();
    log.acked_before_kill(del, 50);
    log.checkpoint(0, Some(4));
    let mut obs = all_four(&log, b);
    obs.last_version = 3;
    obs.checkpoint = Some(3);
    obs.kv.insert(key("t0/a"), stored_of(&log, a, 2));
    let verdict = check(&window(500), &State::default(), &log.records, &obs);
    assert_fails(&verdict, "acknowledged commits lost");
    assert_fails(&verdict, "returned, but recovery ended at version 3");
    assert_fails(&verdict, "returned, but recovery started from version 3");
    assert_eq!(verdict.checkpoints, 1);
}

#[test]
fn recovery_must_start_from_the_newest_checkpoint() {
    let (mut log, [_, _, b, _]) = four_commits();
    log.checkpoint(0, Some(4));
    let mut obs = all_four(&log, b);
    obs.checkpoint = Some(4);
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));
    // A checkpoint in flight at the kill promises nothing.
    let (mut log2, _) = four_commits();
    log2.checkpoint(0, None);
    let mut plain = all_four(&log2, b);
    plain.checkpoint = None;
    let verdict = check(&lossless(), &State::default(), &log2.records, &plain);
    assert_passes(&verdict);
    assert!(verdict.killed_in_checkpoint);

    let mut none = obs.clone();
    none.checkpoint = None;
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &none),
        "started from no checkpoint",
    );
    let mut skipped = obs.clone();
    skipped.checkpoints_skipped = vec!["checkpoint 4: bad checksum".to_owned()];
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &skipped),
        "skipped 1 damaged checkpoints",
    );
    // Across iterations: the checkpoint the last recovery started from never goes away.
    let base = State {
        checkpoint: Some(9),
        last_version: 4,
        ..check(&lossless(), &State::default(), &log.records, &obs).next_base
    };
    let mut later = obs;
    later.checkpoint = Some(4);
    assert_fails(
        &check(&lossless(), &base, &[], &later),
        "the checkpoint at version 9",
    );
}

mod history;
mod shared;
