//! The oracle fed synthetic logs and recovered states: the ones that must pass, and the ones
//! that must fail (a lost acknowledgement, a hole, a value never written, an `Async` loss older
//! than the window, ...).

use super::*;
use crate::crash::workload::{Payload, TxnWrite, Typed};

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
