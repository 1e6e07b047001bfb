//! The oracle on forks and run deletion, fed synthetic logs: a fork reads its parent's records
//! at the fork point plus its own, with its lineage, and neither sees the other's later
//! writes; views of the thread's keys match what the fork read before the kill; deletions are
//! whole, forks go before their parents, and a deleted run is unknown.

use super::*;
use crate::crash::workload::{ForkAt, kv_digest};

impl Log {
    /// A fork of `parent` (agent 1) at `at`, acknowledged at `version` as `(fork, point, kv)`.
    fn fork(
        &mut self,
        thread: u16,
        parent: RunId,
        at: ForkAt,
        ack: Option<(u64, RunId, u64, u64)>,
    ) -> OpId {
        self.push(
            thread,
            Op::Fork {
                parent,
                agent: 1,
                at,
            },
            ack.map(|(version, run, point, kv)| {
                Self::ranged(version, AckResult::Fork { run, point, kv })
            }),
        )
    }

    fn delete_run(&mut self, thread: u16, run: RunId, version: Option<u64>) -> OpId {
        self.push(
            thread,
            Op::DeleteRun { run },
            version.map(|v| Self::ranged(v, AckResult::Nothing)),
        )
    }

    fn delete_tree(&mut self, thread: u16, members: &[RunId], versions: Option<u64>) -> OpId {
        self.push(
            thread,
            Op::DeleteTree {
                run: members[0],
                members: members.to_vec(),
            },
            versions.map(|v| {
                (
                    AckVersion::Range {
                        lo: v,
                        hi: v + members.len() as u64 - 1,
                    },
                    AckResult::Runs(members.len()),
                )
            }),
        )
    }
}

fn fork_entry(status: RunStatus, parent: RunId, point: u64) -> RunEntry {
    RunEntry {
        agent: 1,
        status,
        parent: Some(parent),
        fork_point: Some(point),
    }
}

/// The parent `P` (events 0 and 1, cell "step" at version 1, key "t0/a") is forked right after
/// its put of "t0/a" at version 4, before its second event; the fork `F` appends an event,
/// swaps "step" and puts "t0/b".
struct Forked {
    log: Log,
    parent: RunId,
    fork: RunId,
    /// The fork's own put.
    fork_put: OpId,
    obs: Observed,
}

fn forked() -> Forked {
    let (p, f) = (run_id(1), run_id(2));
    let mut log = Log::new();
    log.begin(0, 1, p, 1);
    let e0 = log.event(0, p, Some((2, 0)));
    let c0 = log.cas(0, p, 0, Some(3));
    let point_op = log.put(0, p, "t0/a", Some(4));
    let e1 = log.event(0, p, Some((5, 1)));
    let at_point = |log: &Log| -> KvView {
        BTreeMap::from([("t0/a".to_owned(), (4, stored_of(log, point_op, 4).value))])
    };
    let digest = |view: &KvView| kv_digest(view.iter().map(|(k, (v, x))| (k.as_bytes(), *v, x)));
    let kv = digest(&at_point(&log));
    log.fork(
        0,
        p,
        ForkAt::Version {
            version: 4,
            op: point_op,
        },
        Some((6, f, 4, kv)),
    );
    let f0 = log.event(0, f, Some((7, 1)));
    let fc = log.cas(0, f, 1, Some(8));
    let fork_put = log.put(0, f, "t0/b", Some(9));

    let mut obs = observed(9);
    obs.runs.insert(p, interrupted(1));
    obs.runs.insert(f, fork_entry(RunStatus::Interrupted, p, 4));
    obs.interrupted = vec![p, f];
    obs.kv.insert(key("t0/a"), stored_of(&log, point_op, 4));
    obs.kv.insert(key("t0/b"), stored_of(&log, fork_put, 9));
    for id in [e0, c0, e1] {
        recover_primitives(&mut obs, &log, id);
    }
    // The fork's log begins with the parent's first event, hash and all.
    let inherited = obs.events[&p][0].clone();
    obs.events.insert(f, vec![inherited.clone()]);
    let parent_cell = obs.cells[&(p, "step".to_owned())].clone();
    for id in [f0, fc] {
        recover_primitives(&mut obs, &log, id);
    }
    let b = ("t0/b".to_owned(), (9, stored_of(&log, fork_put, 9).value));
    let mut fork_now = at_point(&log);
    fork_now.insert(b.0, b.1);
    obs.fork_views.insert(
        f,
        ForkView {
            parent: p,
            point: 4,
            parent_events: vec![inherited],
            parent_cells: BTreeMap::from([("step".to_owned(), parent_cell)]),
            parent_spans: Vec::new(),
            kv: Some(ForkKv {
                fork_at_point: at_point(&log),
                parent_at_point: at_point(&log),
                fork_now,
                parent_now: at_point(&log),
            }),
        },
    );
    Forked {
        log,
        parent: p,
        fork: f,
        fork_put,
        obs,
    }
}

fn check_forked(f: &Forked, obs: &Observed) -> Verdict {
    check(&lossless(), &State::default(), &f.log.records, obs)
}

#[test]
fn a_fork_reads_its_parents_records_at_the_point_then_its_own() {
    let f = forked();
    let verdict = check_forked(&f, &f.obs);
    assert_passes(&verdict);
    assert_eq!(verdict.acked_forks, 1);
    // The next check starts from the fork as it is, lineage included.
    assert_eq!(
        verdict.next_base.runs[&f.fork].lineage(),
        (Some(f.parent), Some(4))
    );
}

#[test]
fn a_fork_that_sees_its_parents_later_event_fails() {
    let f = forked();
    let mut obs = f.obs.clone();
    let later = obs.events[&f.parent][1].clone();
    let events = obs.events.get_mut(&f.fork).unwrap();
    events.insert(1, later);
    for (n, e) in events.iter_mut().enumerate() {
        e.sequence = n as u64;
    }
    assert_fails(&check_forked(&f, &obs), "the event log of run");
}

#[test]
fn a_parent_that_sees_its_forks_event_fails() {
    let f = forked();
    let mut obs = f.obs.clone();
    let mut theirs = obs.events[&f.fork][1].clone();
    theirs.sequence = 2;
    obs.events.get_mut(&f.parent).unwrap().push(theirs);
    assert_fails(
        &check_forked(&f, &obs),
        "no prefix of its operations explains",
    );
}

#[test]
fn an_inherited_event_with_another_hash_fails() {
    let f = forked();
    let mut obs = f.obs.clone();
    obs.events.get_mut(&f.fork).unwrap()[0].hash = [7; 32];
    assert_fails(&check_forked(&f, &obs), "hashes included");
}

#[test]
fn an_inherited_cell_at_the_wrong_version_fails() {
    let f = forked();
    let mut obs = f.obs.clone();
    // The fork's swap expected the parent's version 1; a fork that inherited nothing would
    // have been at version 1 after it.
    obs.cells
        .get_mut(&(f.fork, "step".to_owned()))
        .unwrap()
        .version = 1;
    assert_fails(&check_forked(&f, &obs), "state cell \"step\" of run");
}

#[test]
fn a_fork_with_the_wrong_lineage_fails() {
    let f = forked();
    for entry in [
        fork_entry(RunStatus::Interrupted, f.parent, 5),
        interrupted(1),
        fork_entry(RunStatus::Interrupted, run_id(9), 4),
    ] {
        let mut obs = f.obs.clone();
        obs.runs.insert(f.fork, entry);
        assert_fails(&check_forked(&f, &obs), &format!("run {}", f.fork));
    }
}

#[test]
fn a_fork_without_its_parent_fails() {
    let f = forked();
    let mut obs = f.obs.clone();
    obs.runs.remove(&f.parent);
    obs.interrupted = vec![f.fork];
    assert_fails(&check_forked(&f, &obs), "survives, but its parent");
}

/// The views of the thread's keys read for `fork`.
fn kv(obs: &mut Observed, fork: RunId) -> &mut ForkKv {
    obs.fork_views
        .get_mut(&fork)
        .and_then(|v| v.kv.as_mut())
        .unwrap()
}

#[test]
fn views_of_the_threads_keys_must_be_what_the_fork_read_and_stay_apart() {
    let f = forked();
    let fork = f.fork;
    // The parent's view at the point lost a key after recovery.
    let mut obs = f.obs.clone();
    kv(&mut obs, fork).parent_at_point.clear();
    assert_fails(&check_forked(&f, &obs), "is not what the fork read");
    // The fork's own view at the point changed.
    let mut obs = f.obs.clone();
    kv(&mut obs, fork).fork_at_point.get_mut("t0/a").unwrap().0 = 3;
    assert_fails(
        &check_forked(&f, &obs),
        "is not what it read when it was made",
    );
    // The fork sees a version of a key it never wrote (the parent's, say).
    let mut obs = f.obs.clone();
    kv(&mut obs, fork).fork_now.get_mut("t0/a").unwrap().0 = 5;
    assert_fails(&check_forked(&f, &obs), "never wrote");
    // The parent sees the fork's put.
    let mut obs = f.obs.clone();
    let b = stored_of(&f.log, f.fork_put, 9);
    kv(&mut obs, fork)
        .parent_now
        .insert("t0/b".to_owned(), (9, b.value));
    assert_fails(&check_forked(&f, &obs), "which its fork");
}

#[test]
fn a_fork_at_a_point_continues_the_parents_sequence_from_there() {
    let f = forked();
    let mut log = f.log;
    // The fork's event returned sequence 2: the parent's count now, not at the point.
    for record in &mut log.records {
        if let (Op::EventAppend { run, .. }, Outcome::Acked { result, .. }) =
            (&record.op, &mut record.outcome)
            && *run == f.fork
        {
            *result = AckResult::Seq(2);
        }
    }
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &f.obs),
        "EventLog::append returned sequence 2",
    );
}

#[test]
fn a_fork_whose_call_never_returned_holds_only_what_it_inherited() {
    let (p, u) = (run_id(1), run_id(3));
    let mut log = Log::new();
    log.begin(0, 1, p, 1);
    let e0 = log.event(0, p, Some((2, 0)));
    log.fork(0, p, ForkAt::Now, None);
    let mut obs = observed(3);
    obs.runs.insert(p, interrupted(1));
    obs.interrupted = vec![p];
    recover_primitives(&mut obs, &log, e0);
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));

    let inherited = obs.events[&p].clone();
    obs.runs.insert(u, fork_entry(RunStatus::Interrupted, p, 2));
    obs.interrupted = vec![p, u];
    obs.events.insert(u, inherited.clone());
    obs.chains.insert(u, Ok(1));
    obs.fork_views.insert(
        u,
        ForkView {
            parent: p,
            point: 2,
            parent_events: inherited,
            parent_cells: BTreeMap::new(),
            parent_spans: Vec::new(),
            kv: None,
        },
    );
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));

    let mut extra = obs.clone();
    let mut event = extra.events[&u][0].clone();
    event.sequence = 1;
    extra.events.get_mut(&u).unwrap().push(event);
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &extra),
        "made by a call that never returned",
    );
    // A fork of another run than the call named was never begun.
    let mut stranger = obs;
    stranger
        .runs
        .insert(u, fork_entry(RunStatus::Interrupted, run_id(8), 2));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &stranger),
        "never begun",
    );
}

/// A run `R` with an event that ended at version 3, and a deletion of it (`ack`: at version 4).
fn ended_then_deleted(ack: Option<u64>) -> (Log, RunId, Observed) {
    let r = run_id(1);
    let mut log = Log::new();
    log.begin(0, 1, r, 1);
    let e0 = log.event(0, r, Some((2, 0)));
    log.end(0, r, 3);
    log.delete_run(0, r, ack);
    let mut obs = observed(3);
    obs.runs.insert(
        r,
        RunEntry {
            status: RunStatus::Completed,
            ..interrupted(1)
        },
    );
    recover_primitives(&mut obs, &log, e0);
    (log, r, obs)
}

/// `obs` without run `r` and its records, with every read of it unknown.
fn without(obs: &Observed, r: RunId, last_version: u64) -> Observed {
    let mut gone = obs.clone();
    gone.last_version = last_version;
    gone.final_version = last_version;
    gone.runs.remove(&r);
    gone.events.remove(&r);
    gone.chains.remove(&r);
    gone.cells.retain(|(run, _), _| *run != r);
    gone.spans.remove(&r);
    gone.interrupted.retain(|x| *x != r);
    gone.unknown_reads.insert(r, Vec::new());
    gone
}

#[test]
fn an_acknowledged_delete_leaves_the_run_unknown() {
    let (log, r, obs) = ended_then_deleted(Some(4));
    let gone = without(&obs, r, 4);
    let verdict = check(&lossless(), &State::default(), &log.records, &gone);
    assert_passes(&verdict);
    assert_eq!(verdict.acked_deleted_runs, 1);

    let mut back = obs.clone();
    back.last_version = 4;
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &back),
        "no prefix of its operations explains",
    );
    // Gone from the index, but its log still there.
    let mut leftover = gone.clone();
    leftover.events.insert(r, obs.events[&r].clone());
    leftover.chains.insert(r, Ok(1));
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &leftover),
        "is deleted, but recovery holds records of it",
    );
    let mut readable = gone;
    readable
        .unknown_reads
        .insert(r, vec!["EventLog::len returns 1".to_owned()]);
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &readable),
        "deleted runs are still readable",
    );
}

#[test]
fn an_unacknowledged_delete_is_all_or_nothing() {
    let (log, r, obs) = ended_then_deleted(None);
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));
    let gone = without(&obs, r, 4);
    assert_passes(&check(&lossless(), &State::default(), &log.records, &gone));
    // The run is there, its log is not.
    let mut torn = obs;
    torn.events.remove(&r);
    torn.chains.remove(&r);
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &torn),
        "no prefix of its operations explains",
    );
}

#[test]
fn a_tree_delete_cut_short_has_deleted_forks_first() {
    // Root R, forked at version 2 as F; both ended; the tree's deletion in flight.
    let (r, f) = (run_id(1), run_id(2));
    let mut log = Log::new();
    log.begin(0, 1, r, 1);
    log.put(0, r, "t0/a", Some(2));
    log.fork(0, r, ForkAt::Now, Some((3, f, 2, kv_digest([]))));
    log.end(0, r, 4);
    log.end(0, f, 5);
    log.delete_tree(0, &[r, f], None);
    let put = log.records[1].id;
    let mut obs = observed(5);
    obs.kv.insert(key("t0/a"), stored_of(&log, put, 2));
    obs.runs.insert(
        r,
        RunEntry {
            status: RunStatus::Completed,
            ..interrupted(1)
        },
    );
    obs.runs.insert(f, fork_entry(RunStatus::Completed, r, 2));
    obs.fork_views.insert(
        f,
        ForkView {
            parent: r,
            point: 2,
            parent_events: Vec::new(),
            parent_cells: BTreeMap::new(),
            parent_spans: Vec::new(),
            kv: None,
        },
    );
    assert_passes(&check(&lossless(), &State::default(), &log.records, &obs));
    let forks_gone = without(&obs, f, 6);
    assert_passes(&check(
        &lossless(),
        &State::default(),
        &log.records,
        &forks_gone,
    ));
    let all_gone = without(&forks_gone, r, 7);
    assert_passes(&check(
        &lossless(),
        &State::default(),
        &log.records,
        &all_gone,
    ));
    // The root deleted before its fork.
    let root_gone = without(&obs, r, 6);
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &root_gone),
        "survives, but its parent",
    );
}

#[test]
fn a_refused_delete_changes_nothing() {
    let (r, f) = (run_id(1), run_id(2));
    let mut log = Log::new();
    log.begin(0, 1, r, 1);
    log.fork(0, r, ForkAt::Now, Some((2, f, 1, kv_digest([]))));
    log.push(
        0,
        Op::DeleteRefused { run: r, forks: 1 },
        Some((AckVersion::None, AckResult::Refused(1))),
    );
    let mut obs = observed(2);
    obs.runs.insert(r, interrupted(1));
    obs.runs.insert(f, fork_entry(RunStatus::Interrupted, r, 1));
    obs.interrupted = vec![r, f];
    obs.fork_views.insert(
        f,
        ForkView {
            parent: r,
            point: 1,
            parent_events: Vec::new(),
            parent_cells: BTreeMap::new(),
            parent_spans: Vec::new(),
            kv: None,
        },
    );
    let verdict = check(&lossless(), &State::default(), &log.records, &obs);
    assert_passes(&verdict);
    assert_eq!(verdict.refused_deletes, 1);
    let gone = without(&obs, r, 2);
    assert_fails(
        &check(&lossless(), &State::default(), &log.records, &gone),
        "no prefix of its operations explains",
    );
}
